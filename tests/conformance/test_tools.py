"""Conformance cells for tool use: definitions and tool_choice, parallel calls, tool results, streamed calls."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from bifrost.testing.fake_provider import FakeProvider
from conftest import GatewayProcess
from openapi_schema import validate_openai

from .helpers import (
    anthropic_client,
    anthropic_message,
    check_anthropic_upstream,
    check_openai_upstream,
    model_for,
    openai_chat,
    openai_client,
    upstream,
)
from .matrix import ANTHROPIC_NATIVE, ANTHROPIC_ROUTE, CLAUDE, OPENAI_TO_ANTHROPIC, WIRE_COLUMNS, cells

WEATHER_SCHEMA = {
    "type": "object",
    "properties": {"city": {"type": "string"}, "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}},
    "required": ["city"],
}
TIME_SCHEMA = {"type": "object", "properties": {"tz": {"type": "string"}}, "required": ["tz"]}
OPENAI_TOOLS: list[dict[str, Any]] = [
    {
        "type": "function",
        "function": {"name": "get_weather", "description": "Weather for a city", "parameters": WEATHER_SCHEMA},
    },
    {"type": "function", "function": {"name": "get_time", "description": "Time in a zone", "parameters": TIME_SCHEMA}},
]
ANTHROPIC_TOOLS: list[dict[str, Any]] = [
    {"name": "get_weather", "description": "Weather for a city", "input_schema": WEATHER_SCHEMA},
    {"name": "get_time", "description": "Time in a zone", "input_schema": TIME_SCHEMA},
]
ASK = [{"role": "user", "content": "What is the weather in Paris, and the time in Tokyo?"}]

# Argument texts as a model streams them: spacing, unicode and escapes must survive reassembly byte for byte.
WEATHER_ARGS = '{"city": "Paris", "unit": "celsius", "note": "na\\u00efve \\"quoted\\" \u2603"}'
TIME_ARGS = '{"tz": "Asia/Tokyo", "nested": {"deep": [1, 2, {"x": null}]}}'
TWO_CALLS = [
    {"name": "get_weather", "arguments": WEATHER_ARGS, "id": "toolu_01weather"},
    {"name": "get_time", "arguments": TIME_ARGS, "id": "toolu_02time"},
]
OPENAI_TWO_CALLS = [
    {"name": "get_weather", "arguments": WEATHER_ARGS, "id": "call_weather_1"},
    {"name": "get_time", "arguments": TIME_ARGS, "id": "call_time_2"},
]


def anthropic_tool_uses(content: list[Any]) -> list[tuple[str, str, Any]]:
    return [(b.id, b.name, b.input) for b in content if b.type == "tool_use"]


def openai_tool_calls(message: Any) -> list[tuple[str, str, str]]:
    return [(c.id, c.function.name, c.function.arguments) for c in message.tool_calls or ()]


# --- tools (definitions, tool_choice) ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("tool_choice", "expected"),
    [
        (None, None),
        ("auto", {"type": "auto"}),
        ("required", {"type": "any"}),
        ({"type": "function", "function": {"name": "get_weather"}}, {"type": "tool", "name": "get_weather"}),
        ("none", {"type": "none"}),
    ],
    ids=["absent", "auto", "required", "named", "none"],
)
@pytest.mark.parametrize("col", cells("tools", OPENAI_TO_ANTHROPIC))
def test_tools_openai_route(
    gateway: GatewayProcess, fake: FakeProvider, col: str, tool_choice: Any, expected: Any
) -> None:
    fake.control.script(
        {"tool_calls": [{"name": "get_weather", "arguments": {"city": "Paris", "unit": "celsius"}, "id": "toolu_01A"}]}
    )
    tools = copy.deepcopy(OPENAI_TOOLS)
    tools[0]["function"]["strict"] = True  # no Anthropic equivalent: dropped
    extra = {} if tool_choice is None else {"tool_choice": tool_choice}
    ex = openai_chat(gateway, model=model_for(col), messages=ASK, tools=tools, **extra)
    body = check_anthropic_upstream(upstream(fake))
    assert body["tools"] == ANTHROPIC_TOOLS
    assert body.get("tool_choice") == expected
    choice = ex.obj.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.content is None
    [call] = choice.message.tool_calls
    assert (call.id, call.type, call.function.name) == ("toolu_01A", "function", "get_weather")
    assert json.loads(call.function.arguments) == {"city": "Paris", "unit": "celsius"}


@pytest.mark.parametrize(
    ("tool_choice", "expected"),
    [
        (None, None),
        ({"type": "auto"}, "auto"),
        ({"type": "any"}, "required"),
        ({"type": "tool", "name": "get_weather"}, {"type": "function", "function": {"name": "get_weather"}}),
        ({"type": "none"}, "none"),
    ],
    ids=["absent", "auto", "any", "named", "none"],
)
@pytest.mark.parametrize("col", cells("tools", *ANTHROPIC_ROUTE))
def test_tools_anthropic_route(
    gateway: GatewayProcess, fake: FakeProvider, col: str, tool_choice: Any, expected: Any
) -> None:
    call_id = "toolu_01A" if col == ANTHROPIC_NATIVE else "call_01A"
    fake.control.script(
        {"tool_calls": [{"name": "get_weather", "arguments": {"city": "Paris", "unit": "celsius"}, "id": call_id}]}
    )
    extra = {} if tool_choice is None else {"tool_choice": tool_choice}
    ex = anthropic_message(gateway, model=model_for(col), max_tokens=256, messages=ASK, tools=ANTHROPIC_TOOLS, **extra)
    if col == ANTHROPIC_NATIVE:
        body = check_anthropic_upstream(upstream(fake), version=ex.sent_headers["anthropic-version"])
        assert body == {**ex.sent, "model": CLAUDE}
    else:
        body = check_openai_upstream(upstream(fake))
        assert body["tools"] == OPENAI_TOOLS
        assert body.get("tool_choice") == expected
        assert "parallel_tool_calls" not in body
    msg = ex.obj
    assert msg.stop_reason == "tool_use"
    assert anthropic_tool_uses(msg.content) == [(call_id, "get_weather", {"city": "Paris", "unit": "celsius"})]
    assert [b.type for b in msg.content] == ["tool_use"]


# --- parallel tool calls ----------------------------------------------------------------------------


@pytest.mark.parametrize("col", cells("parallel tool calls", OPENAI_TO_ANTHROPIC))
def test_parallel_tool_calls_openai_route(gateway: GatewayProcess, fake: FakeProvider, col: str) -> None:
    fake.control.script({"reply": "Let me check both.", "tool_calls": TWO_CALLS})
    ex = openai_chat(gateway, model=model_for(col), messages=ASK, tools=OPENAI_TOOLS)
    message = ex.obj.choices[0].message
    assert message.content == "Let me check both."
    assert [(i, n, json.loads(a)) for i, n, a in openai_tool_calls(message)] == [
        ("toolu_01weather", "get_weather", json.loads(WEATHER_ARGS)),
        ("toolu_02time", "get_time", json.loads(TIME_ARGS)),
    ]
    assert ex.obj.choices[0].finish_reason == "tool_calls"


@pytest.mark.parametrize(
    ("tool_choice", "expected"),
    [
        (None, {"type": "auto", "disable_parallel_tool_use": True}),
        ("required", {"type": "any", "disable_parallel_tool_use": True}),
    ],
    ids=["no-choice", "required"],
)
@pytest.mark.parametrize("col", cells("parallel tool calls", OPENAI_TO_ANTHROPIC))
def test_parallel_tool_calls_disabled_openai_route(
    gateway: GatewayProcess, fake: FakeProvider, col: str, tool_choice: Any, expected: Any
) -> None:
    fake.control.script({"tool_calls": TWO_CALLS[:1]})
    extra = {} if tool_choice is None else {"tool_choice": tool_choice}
    openai_chat(gateway, model=model_for(col), messages=ASK, tools=OPENAI_TOOLS, parallel_tool_calls=False, **extra)
    body = check_anthropic_upstream(upstream(fake))
    assert body["tool_choice"] == expected
    assert "parallel_tool_calls" not in body


@pytest.mark.parametrize("col", cells("parallel tool calls", *ANTHROPIC_ROUTE))
def test_parallel_tool_calls_anthropic_route(gateway: GatewayProcess, fake: FakeProvider, col: str) -> None:
    calls = TWO_CALLS if col == ANTHROPIC_NATIVE else OPENAI_TWO_CALLS
    fake.control.script({"reply": "Let me check both.", "tool_calls": calls})
    ex = anthropic_message(gateway, model=model_for(col), max_tokens=256, messages=ASK, tools=ANTHROPIC_TOOLS)
    msg = ex.obj
    assert [b.type for b in msg.content] == ["text", "tool_use", "tool_use"]
    assert msg.content[0].text == "Let me check both."
    assert anthropic_tool_uses(msg.content) == [
        (calls[0]["id"], "get_weather", json.loads(WEATHER_ARGS)),
        (calls[1]["id"], "get_time", json.loads(TIME_ARGS)),
    ]
    assert msg.stop_reason == "tool_use"


@pytest.mark.parametrize("col", cells("parallel tool calls", *ANTHROPIC_ROUTE))
def test_parallel_tool_calls_disabled_anthropic_route(gateway: GatewayProcess, fake: FakeProvider, col: str) -> None:
    fake.control.script({"tool_calls": (TWO_CALLS if col == ANTHROPIC_NATIVE else OPENAI_TWO_CALLS)[:1]})
    choice = {"type": "auto", "disable_parallel_tool_use": True}
    ex = anthropic_message(
        gateway, model=model_for(col), max_tokens=256, messages=ASK, tools=ANTHROPIC_TOOLS, tool_choice=choice
    )
    if col == ANTHROPIC_NATIVE:
        assert check_anthropic_upstream(upstream(fake), version=None)["tool_choice"] == choice
    else:
        body = check_openai_upstream(upstream(fake))
        assert body["tool_choice"] == "auto" and body["parallel_tool_calls"] is False
    assert len(anthropic_tool_uses(ex.obj.content)) == 1


# --- tool results -----------------------------------------------------------------------------------


@pytest.mark.parametrize("col", cells("tool results", OPENAI_TO_ANTHROPIC))
def test_tool_results_openai_route(gateway: GatewayProcess, fake: FakeProvider, col: str) -> None:
    fake.control.script({"reply": "Paris is 18°C and sunny; Tokyo is 25°C."})
    messages: list[dict[str, Any]] = [
        *ASK,
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": WEATHER_ARGS}},
                {"id": "call_2", "type": "function", "function": {"name": "get_time", "arguments": TIME_ARGS}},
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": "18°C and sunny"},
        {"role": "tool", "tool_call_id": "call_2", "content": [{"type": "text", "text": "25°C"}]},
        {"role": "user", "content": "Summarise, please."},
    ]
    ex = openai_chat(gateway, model=model_for(col), messages=messages, tools=OPENAI_TOOLS)
    body = check_anthropic_upstream(upstream(fake))
    assert body["messages"] == [
        {"role": "user", "content": [{"type": "text", "text": ASK[0]["content"]}]},
        {
            "role": "assistant",
            "content": [
                {"type": "tool_use", "id": "call_1", "name": "get_weather", "input": json.loads(WEATHER_ARGS)},
                {"type": "tool_use", "id": "call_2", "name": "get_time", "input": json.loads(TIME_ARGS)},
            ],
        },
        {
            "role": "user",  # the tool results first, then the user's text, in one turn
            "content": [
                {"type": "tool_result", "tool_use_id": "call_1", "content": "18°C and sunny"},
                {"type": "tool_result", "tool_use_id": "call_2", "content": [{"type": "text", "text": "25°C"}]},
                {"type": "text", "text": "Summarise, please."},
            ],
        },
    ]
    assert ex.obj.choices[0].message.content == "Paris is 18°C and sunny; Tokyo is 25°C."
    assert ex.obj.choices[0].finish_reason == "stop"


ANTHROPIC_HISTORY: list[dict[str, Any]] = [
    *ASK,
    {
        "role": "assistant",
        "content": [
            {"type": "text", "text": "Checking."},
            {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Paris"}},
            {"type": "tool_use", "id": "toolu_2", "name": "get_time", "input": {"tz": "Asia/Tokyo"}},
        ],
    },
    {
        "role": "user",
        "content": [
            {"type": "tool_result", "tool_use_id": "toolu_1", "content": "18°C and sunny"},
            {
                "type": "tool_result",
                "tool_use_id": "toolu_2",
                "is_error": True,
                "content": [{"type": "text", "text": "time service down"}],
            },
            {"type": "text", "text": "Summarise, please."},
        ],
    },
]


@pytest.mark.parametrize("col", cells("tool results", *ANTHROPIC_ROUTE))
def test_tool_results_anthropic_route(gateway: GatewayProcess, fake: FakeProvider, col: str) -> None:
    fake.control.script({"reply": "Paris is 18°C; the time is unknown."})
    ex = anthropic_message(
        gateway, model=model_for(col), max_tokens=256, messages=ANTHROPIC_HISTORY, tools=ANTHROPIC_TOOLS
    )
    if col == ANTHROPIC_NATIVE:
        body = check_anthropic_upstream(upstream(fake), version=ex.sent_headers["anthropic-version"])
        assert body == {**ex.sent, "model": CLAUDE}
    else:
        body = check_openai_upstream(upstream(fake))
        messages = copy.deepcopy(body["messages"])
        for call in messages[1].get("tool_calls") or ():
            call["function"]["arguments"] = json.loads(call["function"]["arguments"])
        assert messages == [
            ASK[0],
            {
                "role": "assistant",
                "content": "Checking.",
                "tool_calls": [
                    {
                        "id": "toolu_1",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": {"city": "Paris"}},
                    },
                    {
                        "id": "toolu_2",
                        "type": "function",
                        "function": {"name": "get_time", "arguments": {"tz": "Asia/Tokyo"}},
                    },
                ],
            },
            {"role": "tool", "tool_call_id": "toolu_1", "content": "18°C and sunny"},
            {"role": "tool", "tool_call_id": "toolu_2", "content": "Error: time service down"},
            {"role": "user", "content": "Summarise, please."},
        ]
    assert [b.text for b in ex.obj.content] == ["Paris is 18°C; the time is unknown."]
    assert ex.obj.stop_reason == "end_turn"


# --- streaming tool calls ---------------------------------------------------------------------------


@pytest.mark.parametrize("col", cells("streaming tool calls", OPENAI_TO_ANTHROPIC))
def test_streaming_tool_calls_openai_route(gateway: GatewayProcess, fake: FakeProvider, col: str) -> None:
    fake.control.script({"reply": "Let me check.", "tool_calls": TWO_CALLS})
    done: list[tuple[int, str, str]] = []
    chunks: list[Any] = []
    with openai_client(gateway).chat.completions.stream(
        model=model_for(col), messages=ASK, tools=OPENAI_TOOLS
    ) as stream:
        for event in stream:
            if event.type == "chunk":
                chunks.append(event.chunk)
                validate_openai("CreateChatCompletionStreamResponse", event.chunk.to_dict())
            elif event.type == "tool_calls.function.arguments.done":
                done.append((event.index, event.name, event.arguments))
        final = stream.get_final_completion()
    assert check_anthropic_upstream(upstream(fake))["stream"] is True
    # the SDK's stream helper reassembles each call's arguments exactly as the model produced them
    assert done == [(0, "get_weather", WEATHER_ARGS), (1, "get_time", TIME_ARGS)]
    message = final.choices[0].message
    assert message.content == "Let me check."
    assert openai_tool_calls(message) == [
        ("toolu_01weather", "get_weather", WEATHER_ARGS),
        ("toolu_02time", "get_time", TIME_ARGS),
    ]
    assert final.choices[0].finish_reason == "tool_calls"
    # OpenAI's chunk shape: id, type and name once per call, then argument fragments for its index
    deltas = [tc for c in chunks if c.choices for tc in c.choices[0].delta.tool_calls or ()]
    heads = [d for d in deltas if d.id is not None]
    assert [(d.index, d.id, d.type, d.function.name) for d in heads] == [
        (0, "toolu_01weather", "function", "get_weather"),
        (1, "toolu_02time", "function", "get_time"),
    ]
    assert all(d.id is None and d.function.name is None for d in deltas if d not in heads)
    assert len(deltas) > len(heads)  # arguments arrived in fragments
    assert len({c.id for c in chunks}) == 1


@pytest.mark.parametrize("col", cells("streaming tool calls", *ANTHROPIC_ROUTE))
def test_streaming_tool_calls_anthropic_route(gateway: GatewayProcess, fake: FakeProvider, col: str) -> None:
    calls = TWO_CALLS if col == ANTHROPIC_NATIVE else OPENAI_TWO_CALLS
    fake.control.script({"reply": "Let me check.", "tool_calls": calls})
    partial: dict[int, str] = {}
    with anthropic_client(gateway).messages.stream(
        model=model_for(col), max_tokens=256, messages=ASK, tools=ANTHROPIC_TOOLS
    ) as stream:
        events = list(stream)
        final = stream.get_final_message()
    if col != ANTHROPIC_NATIVE:
        assert check_openai_upstream(upstream(fake))["stream"] is True
    for event in events:
        if event.type == "content_block_delta" and event.delta.type == "input_json_delta":
            partial[event.index] = partial.get(event.index, "") + event.delta.partial_json
    # fragments concatenate to the exact argument text the model produced
    assert partial == {1: WEATHER_ARGS, 2: TIME_ARGS}
    starts = [e for e in events if e.type == "content_block_start"]
    assert [(e.index, e.content_block.type) for e in starts] == [(0, "text"), (1, "tool_use"), (2, "tool_use")]
    assert [(e.content_block.id, e.content_block.name) for e in starts[1:]] == [
        (calls[0]["id"], "get_weather"),
        (calls[1]["id"], "get_time"),
    ]
    stops = [e.index for e in events if e.type == "content_block_stop"]
    assert stops == [0, 1, 2]
    assert [b.type for b in final.content] == ["text", "tool_use", "tool_use"]
    assert final.content[0].text == "Let me check."
    assert anthropic_tool_uses(final.content) == [
        (calls[0]["id"], "get_weather", json.loads(WEATHER_ARGS)),
        (calls[1]["id"], "get_time", json.loads(TIME_ARGS)),
    ]
    assert final.stop_reason == "tool_use"


@pytest.mark.parametrize("col", cells("streaming tool calls", *WIRE_COLUMNS))
def test_streaming_tool_call_without_arguments(gateway: GatewayProcess, fake: FakeProvider, col: str) -> None:
    """A tool without parameters: Anthropic streams its input as one empty ``partial_json``; OpenAI clients
    expect the arguments ``"{}"`` (what OpenAI sends), never ``""``, which no JSON parser accepts."""
    call_id = "call_noargs" if col == "anthropic-to-openai" else "toolu_noargs"
    fake.control.script({"tool_calls": [{"name": "screenshot", "arguments": "", "id": call_id}]})
    if col == OPENAI_TO_ANTHROPIC:
        tools = [{"type": "function", "function": {"name": "screenshot", "parameters": {"type": "object"}}}]
        chunks: list[Any] = []
        with openai_client(gateway).chat.completions.stream(model=model_for(col), messages=ASK, tools=tools) as stream:
            for event in stream:
                if event.type == "chunk":
                    chunks.append(event.chunk)
                    validate_openai("CreateChatCompletionStreamResponse", event.chunk.to_dict())
            final = stream.get_final_completion()
        assert openai_tool_calls(final.choices[0].message) == [(call_id, "screenshot", "{}")]
        assert final.choices[0].finish_reason == "tool_calls"
        return
    anthropic_tools = [{"name": "screenshot", "input_schema": {"type": "object"}}]
    with anthropic_client(gateway).messages.stream(
        model=model_for(col), max_tokens=64, messages=ASK, tools=anthropic_tools
    ) as astream:
        list(astream)
        message = astream.get_final_message()
    assert anthropic_tool_uses(message.content) == [(call_id, "screenshot", {})]
    assert message.stop_reason == "tool_use"
