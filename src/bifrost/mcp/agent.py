"""Agent mode: the gateway runs the model's calls of `tools_to_auto_execute` tools and asks the model again.

Works on canonical (OpenAI Chat Completions) requests and answers; the route supplies `ask`, which sends
one round through the engine (routing, keys, retries and fallbacks apply to every round).

Rules (non-streaming and streaming alike)
-----------------------------------------
* Only the first choice is looked at. A round whose tool calls are all auto-executable MCP tools is run:
  the calls concurrently, each bounded by `tool_execution_timeout`; the assistant turn and one `tool`
  message per call are appended, and the model is called again.
* At most `max_agent_depth` such rounds; when the model still calls tools after that, its answer goes to
  the client as it is (`extra_fields.mcp_agent.max_depth_reached: true`).
* A round that also calls tools the gateway may not run (the client's own, or MCP tools without
  auto-execution) stops the loop: the auto-executable calls of that round are run, their results are
  put in the message `content` (so the next turn the client sends carries them to the model), and only
  the pending calls are returned in `tool_calls`, `finish_reason: "tool_calls"`.
* Every executed call is listed in `extra_fields.mcp_agent.executed` (`id`, `name`, `client`, `ok`,
  `latency_ms`); usage is summed over the rounds.
* Streaming: each round is requested as a stream. Text deltas go to the client as they arrive; tool-call
  deltas, finish chunks and usage chunks are held until the round ends. A round of auto calls is then
  run (progress as SSE comments: `: bifrost-mcp {"tool": ..., "status": "running"|"ok"|"error"}`) and
  the next round streams on; the final round's finish chunk closes the one message the client sees.
"""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING, Any

import orjson

from bifrost.mcp.inject import inject_chat, select_tools
from bifrost.mcp.tools import MCPTool, ToolOutcome

if TYPE_CHECKING:
    from bifrost.mcp.manager import MCPManager
from bifrost.providers.base import ChatStream

Ask = Callable[[dict[str, Any]], Awaitable[Any]]
StreamEvent = tuple[dict[str, Any], bytes]


def prepare_chat(
    manager: MCPManager, body: dict[str, Any], headers: Any
) -> tuple[dict[str, Any], AgentRun | None]:
    """The request with its MCP tools, and the agent run when one of them is auto-executable."""
    tools = select_tools(manager.registry, headers)
    if not tools:
        return body, None
    body = inject_chat(body, tools)
    if manager.registry.has_auto and any(t.auto for t in tools):
        return body, AgentRun(manager, tools, body)
    return body, None


async def continue_agent(run: AgentRun, result: Any, ask: Ask) -> Any:
    """The route's first answer (a dict or a `ChatStream`) carried through agent mode."""
    if isinstance(result, ChatStream):
        run.current = result
        return _AgentStream(result.provider, result.model, run.stream(result, ask), run)
    return await run.complete(result, ask)


class _AgentStream(ChatStream):
    """Closing it closes the round in flight even when the client left before the first chunk."""

    __slots__ = ("run",)

    def __init__(self, provider: str, model: str, events: AsyncIterator[StreamEvent], run: AgentRun) -> None:
        super().__init__(provider, model, events)
        self.run = run

    async def aclose(self) -> None:
        try:
            await super().aclose()
        finally:
            if self.run.current is not None:
                await self.run.current.aclose()


class AgentRun:
    """One request's agent loop: its tools by name, the executed calls, the depth reached."""

    def __init__(self, manager: MCPManager, tools: tuple[MCPTool, ...], body: dict[str, Any]) -> None:
        self.manager = manager
        self.by_name = {t.exposed: t for t in tools}
        self.body = body
        self.messages: list[Any] = list(body.get("messages") or ())
        self.executed: list[dict[str, Any]] = []
        self.depth = 0
        self.max_depth = manager.config.max_agent_depth
        self.depth_reached = False
        self.usage: dict[str, int] = {}
        self.current: Any = None  # the round's ChatStream while streaming

    # -- shared ----------------------------------------------------------------------------------------
    def summary(self) -> dict[str, Any]:
        return {"rounds": self.depth, "executed": self.executed, "max_depth_reached": self.depth_reached}

    def split(self, calls: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """(auto-executable calls, pending calls)."""
        auto: list[dict[str, Any]] = []
        pending: list[dict[str, Any]] = []
        for call in calls:
            tool = self.by_name.get(_call_name(call))
            (auto if tool is not None and tool.auto else pending).append(call)
        return auto, pending

    async def run_calls(self, calls: list[dict[str, Any]]) -> list[ToolOutcome]:
        prepared: list[tuple[MCPTool, dict[str, Any]]] = []
        bad: dict[int, ToolOutcome] = {}
        for i, call in enumerate(calls):
            tool = self.by_name[_call_name(call)]
            args = _arguments(call)
            if args is None:
                bad[i] = ToolOutcome(tool.exposed, tool.client, "Error: the arguments are not a JSON object", False, 0)
            else:
                prepared.append((tool, args))
        results = iter(await self.manager.execute_many(prepared)) if prepared else iter(())
        outcomes = [bad[i] if i in bad else next(results) for i in range(len(calls))]
        for call, outcome in zip(calls, outcomes, strict=True):
            self.executed.append(
                {
                    "id": call.get("id"),
                    "name": outcome.tool,
                    "client": outcome.client,
                    "ok": outcome.ok,
                    "latency_ms": round(outcome.latency_s * 1000, 3),
                }
            )
        return outcomes

    def next_request(
        self, content: Any, calls: list[dict[str, Any]], outcomes: list[ToolOutcome]
    ) -> dict[str, Any]:
        self.messages.append({"role": "assistant", "content": content, "tool_calls": calls})
        for call, outcome in zip(calls, outcomes, strict=True):
            self.messages.append({"role": "tool", "tool_call_id": call.get("id"), "content": outcome.content})
        self.depth += 1
        return {**self.body, "messages": list(self.messages)}

    def add_usage(self, usage: Any) -> None:
        if isinstance(usage, dict):
            for name in ("prompt_tokens", "completion_tokens", "total_tokens"):
                value = usage.get(name)
                if isinstance(value, int):
                    self.usage[name] = self.usage.get(name, 0) + value

    # -- non-streaming ---------------------------------------------------------------------------------
    async def complete(self, response: dict[str, Any], ask: Ask) -> dict[str, Any]:
        while True:
            self.add_usage(response.get("usage"))
            message = _first_message(response)
            calls = [c for c in (message or {}).get("tool_calls") or () if isinstance(c, dict)]
            auto, pending = self.split(calls)
            if not auto or message is None:
                break
            if self.depth >= self.max_depth:
                self.depth_reached = True
                break
            outcomes = await self.run_calls(auto)
            if pending:
                response = copy.copy(response)
                choice = {**response["choices"][0], "finish_reason": "tool_calls"}
                choice["message"] = {
                    **message,
                    "content": _with_results(message.get("content"), auto, outcomes),
                    "tool_calls": pending,
                }
                response["choices"] = [choice, *response["choices"][1:]]
                break
            response = await ask(self.next_request(message.get("content"), auto, outcomes))
        if self.depth and self.usage:
            response["usage"] = {**(response.get("usage") or {}), **self.usage}
        return response

    # -- streaming -------------------------------------------------------------------------------------
    async def stream(self, first: Any, ask: Ask) -> AsyncIterator[StreamEvent]:
        """Canonical chunks for the client; `first` and every later round are `ChatStream`s."""
        current = first
        try:
            while True:
                calls: dict[int, dict[str, Any]] = {}
                held: list[StreamEvent] = []  # finish and usage chunks of this round
                last: dict[str, Any] = {}
                text: list[str] = []
                async for chunk, raw in current:
                    last = chunk
                    choices = chunk.get("choices") or ()
                    if not choices:
                        self.add_usage(chunk.get("usage"))
                        held.append((chunk, raw))
                        continue
                    delta = choices[0].get("delta") or {}
                    finish = choices[0].get("finish_reason")
                    if delta.get("tool_calls"):
                        _merge_calls(calls, delta["tool_calls"])
                        delta = {k: v for k, v in delta.items() if k != "tool_calls"}
                        if not delta.get("content") and not finish and "role" not in delta:
                            continue
                        chunk, raw = _delta_chunk(chunk, delta, finish)  # its role, text or finish, without the calls
                    if finish:
                        held.append((chunk, raw))
                        continue
                    if isinstance(delta.get("content"), str):
                        text.append(delta["content"])
                    yield chunk, raw
                await current.aclose()
                ordered = [calls[i] for i in sorted(calls)]
                auto, pending = self.split(ordered)
                if auto and self.depth >= self.max_depth:
                    self.depth_reached = True
                if not auto or self.depth_reached:
                    if ordered:
                        yield _calls_chunk(last, ordered)
                    for event in held:
                        yield event
                    return
                for call in auto:
                    yield _progress(_call_name(call), "running")
                outcomes = await self.run_calls(auto)
                for outcome in outcomes:
                    yield _progress(outcome.tool, "ok" if outcome.ok else "error")
                if pending:
                    results = _with_results(None, auto, outcomes)
                    yield _delta_chunk(last, {"content": ("\n\n" if text else "") + results})
                    yield _calls_chunk(last, pending)
                    yield _delta_chunk(last, {}, "tool_calls")
                    for event in held:
                        if not (event[0].get("choices") or ()):
                            yield event
                    return
                current = self.current = await ask(self.next_request("".join(text) or None, auto, outcomes))
        finally:
            await current.aclose()


def _first_message(response: dict[str, Any]) -> dict[str, Any] | None:
    choices = response.get("choices")
    if isinstance(choices, list) and choices and isinstance(choices[0], dict):
        message = choices[0].get("message")
        return message if isinstance(message, dict) else None
    return None


def _call_name(call: dict[str, Any]) -> str:
    fn = call.get("function")
    return fn.get("name", "") if isinstance(fn, dict) else ""


def _arguments(call: dict[str, Any]) -> dict[str, Any] | None:
    fn = call.get("function") or {}
    raw = fn.get("arguments") if isinstance(fn, dict) else None
    if raw in (None, ""):
        return {}
    if isinstance(raw, dict):
        return raw
    try:
        value = orjson.loads(raw)
    except (orjson.JSONDecodeError, TypeError):
        return None
    return value if isinstance(value, dict) else None


def _with_results(content: Any, calls: list[dict[str, Any]], outcomes: list[ToolOutcome]) -> str:
    results = {_call_name(c): o.content for c, o in zip(calls, outcomes, strict=True)}
    text = "The output from the tools the gateway ran: " + orjson.dumps(results).decode()
    return f"{content}\n\n{text}" if isinstance(content, str) and content else text


def _merge_calls(calls: dict[int, dict[str, Any]], deltas: list[Any]) -> None:
    for delta in deltas:
        if not isinstance(delta, dict):
            continue
        index = delta.get("index", len(calls))
        call = calls.setdefault(index, {"id": None, "type": "function", "function": {"name": "", "arguments": ""}})
        if delta.get("id"):
            call["id"] = delta["id"]
        fn = delta.get("function") or {}
        if fn.get("name"):
            call["function"]["name"] += fn["name"]
        if fn.get("arguments"):
            call["function"]["arguments"] += fn["arguments"]


def _delta_chunk(last: dict[str, Any], delta: dict[str, Any], finish: str | None = None) -> StreamEvent:
    chunk = {
        "id": last.get("id", ""),
        "object": "chat.completion.chunk",
        "created": last.get("created", 0),
        "model": last.get("model", ""),
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }
    return chunk, b"data: " + orjson.dumps(chunk) + b"\n\n"


def _calls_chunk(last: dict[str, Any], calls: list[dict[str, Any]]) -> StreamEvent:
    return _delta_chunk(last, {"tool_calls": [{"index": i, **c} for i, c in enumerate(calls)]})


def _progress(tool: str, status: str) -> StreamEvent:
    return {}, b": bifrost-mcp " + orjson.dumps({"tool": tool, "status": status}) + b"\n\n"
