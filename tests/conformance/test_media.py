"""Conformance cells for media content: images (base64 and URL) and PDF documents."""

from __future__ import annotations

from typing import Any

import pytest

from bifrost.testing.fake_provider import FakeProvider
from conftest import GatewayProcess

from .helpers import (
    IMAGE_URL,
    PDF_B64,
    PNG_B64,
    anthropic_message,
    check_anthropic_upstream,
    check_openai_upstream,
    model_for,
    openai_chat,
    upstream,
)
from .matrix import ANTHROPIC_NATIVE, ANTHROPIC_ROUTE, CLAUDE, OPENAI_TO_ANTHROPIC, cells

DATA_URL = f"data:image/png;base64,{PNG_B64}"


def openai_user(*parts: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"role": "user", "content": [{"type": "text", "text": "What is in this?"}, *parts]}]


def anthropic_user(*blocks: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"role": "user", "content": [*blocks, {"type": "text", "text": "What is in this?"}]}]


def anthropic_route_call(gateway: GatewayProcess, fake: FakeProvider, col: str, *blocks: dict[str, Any]) -> Any:
    """Send the blocks on the Anthropic route; on the native column check they reached Anthropic untouched.
    Returns the OpenAI body for the translated column (None for native)."""
    fake.control.script({"reply": "A tiny picture."})
    ex = anthropic_message(gateway, model=model_for(col), max_tokens=128, messages=anthropic_user(*blocks))
    assert [b.text for b in ex.obj.content] == ["A tiny picture."]
    if col == ANTHROPIC_NATIVE:
        body = check_anthropic_upstream(upstream(fake), version=ex.sent_headers["anthropic-version"])
        assert body == {**ex.sent, "model": CLAUDE}
        assert body["messages"][0]["content"][: len(blocks)] == list(blocks)
        return None
    return check_openai_upstream(upstream(fake))


# --- images (base64) --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "media_type"),
    [(DATA_URL, "image/png"), (f"data:image/jpg;base64,{PNG_B64}", "image/jpeg")],
    ids=["png", "jpg-normalised"],
)
@pytest.mark.parametrize("col", cells("images (base64)", OPENAI_TO_ANTHROPIC))
def test_image_base64_openai_route(
    gateway: GatewayProcess, fake: FakeProvider, col: str, url: str, media_type: str
) -> None:
    fake.control.script({"reply": "A tiny picture."})
    part = {"type": "image_url", "image_url": {"url": url, "detail": "high"}}
    ex = openai_chat(gateway, model=model_for(col), messages=openai_user(part))
    body = check_anthropic_upstream(upstream(fake))
    assert body["messages"] == [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "What is in this?"},
                {"type": "image", "source": {"type": "base64", "media_type": media_type, "data": PNG_B64}},
            ],
        }
    ]
    assert ex.obj.choices[0].message.content == "A tiny picture."


@pytest.mark.parametrize("col", cells("images (base64)", *ANTHROPIC_ROUTE))
def test_image_base64_anthropic_route(gateway: GatewayProcess, fake: FakeProvider, col: str) -> None:
    block = {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG_B64}}
    body = anthropic_route_call(gateway, fake, col, block)
    if body is not None:
        assert body["messages"] == [
            {
                "role": "user",
                "content": [
                    {"type": "image_url", "image_url": {"url": DATA_URL}},
                    {"type": "text", "text": "What is in this?"},
                ],
            }
        ]


# --- images (URL) -----------------------------------------------------------------------------------


@pytest.mark.parametrize("col", cells("images (URL)", OPENAI_TO_ANTHROPIC))
def test_image_url_openai_route(gateway: GatewayProcess, fake: FakeProvider, col: str) -> None:
    fake.control.script({"reply": "An ant."})
    ex = openai_chat(
        gateway, model=model_for(col), messages=openai_user({"type": "image_url", "image_url": {"url": IMAGE_URL}})
    )
    body = check_anthropic_upstream(upstream(fake))
    assert body["messages"][0]["content"][1] == {"type": "image", "source": {"type": "url", "url": IMAGE_URL}}
    assert ex.obj.choices[0].message.content == "An ant."


@pytest.mark.parametrize("col", cells("images (URL)", *ANTHROPIC_ROUTE))
def test_image_url_anthropic_route(gateway: GatewayProcess, fake: FakeProvider, col: str) -> None:
    body = anthropic_route_call(gateway, fake, col, {"type": "image", "source": {"type": "url", "url": IMAGE_URL}})
    if body is not None:
        assert body["messages"][0]["content"] == [
            {"type": "image_url", "image_url": {"url": IMAGE_URL}},
            {"type": "text", "text": "What is in this?"},
        ]


# --- documents (PDF base64) -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("file_data", "filename"),
    [(f"data:application/pdf;base64,{PDF_B64}", "report.pdf"), (PDF_B64, None)],
    ids=["data-url-with-filename", "bare-base64"],
)
@pytest.mark.parametrize("col", cells("documents (PDF base64)", OPENAI_TO_ANTHROPIC))
def test_document_openai_route(
    gateway: GatewayProcess, fake: FakeProvider, col: str, file_data: str, filename: str | None
) -> None:
    fake.control.script({"reply": "A one-page PDF."})
    file: dict[str, Any] = {"file_data": file_data}
    if filename:
        file["filename"] = filename
    ex = openai_chat(gateway, model=model_for(col), messages=openai_user({"type": "file", "file": file}))
    body = check_anthropic_upstream(upstream(fake))
    expected: dict[str, Any] = {
        "type": "document",
        "source": {"type": "base64", "media_type": "application/pdf", "data": PDF_B64},
    }
    if filename:
        expected["title"] = filename
    assert body["messages"][0]["content"] == [{"type": "text", "text": "What is in this?"}, expected]
    assert ex.obj.choices[0].message.content == "A one-page PDF."


@pytest.mark.parametrize("col", cells("documents (PDF base64)", *ANTHROPIC_ROUTE))
def test_document_anthropic_route(gateway: GatewayProcess, fake: FakeProvider, col: str) -> None:
    block = {
        "type": "document",
        "source": {"type": "base64", "media_type": "application/pdf", "data": PDF_B64},
        "title": "report.pdf",
    }
    body = anthropic_route_call(gateway, fake, col, block)
    if body is not None:
        assert body["messages"][0]["content"] == [
            {"type": "file", "file": {"filename": "report.pdf", "file_data": f"data:application/pdf;base64,{PDF_B64}"}},
            {"type": "text", "text": "What is in this?"},
        ]


@pytest.mark.parametrize("col", cells("images (base64)", *ANTHROPIC_ROUTE))
def test_image_in_tool_result_anthropic_route(gateway: GatewayProcess, fake: FakeProvider, col: str) -> None:
    """An image returned by a tool must not be dropped: OpenAI tool messages carry text only, so the image
    follows them in a user message."""
    image = {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG_B64}}
    messages: list[dict[str, Any]] = [
        {"role": "user", "content": "Take a screenshot and describe it."},
        {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_shot", "name": "screenshot", "input": {}}]},
        {
            "role": "user",
            "content": [
                {
                    "type": "tool_result",
                    "tool_use_id": "toolu_shot",
                    "content": [{"type": "text", "text": "Screenshot taken."}, image],
                }
            ],
        },
    ]
    tools = [{"name": "screenshot", "input_schema": {"type": "object", "properties": {}}}]
    fake.control.script({"reply": "A tiny picture."})
    ex = anthropic_message(gateway, model=model_for(col), max_tokens=128, messages=messages, tools=tools)
    assert [b.text for b in ex.obj.content] == ["A tiny picture."]
    if col == ANTHROPIC_NATIVE:
        body = check_anthropic_upstream(upstream(fake), version=ex.sent_headers["anthropic-version"])
        assert body == {**ex.sent, "model": CLAUDE}
        return
    body = check_openai_upstream(upstream(fake))
    assert body["messages"][2:] == [
        {"role": "tool", "tool_call_id": "toolu_shot", "content": "Screenshot taken."},
        {"role": "user", "content": [{"type": "image_url", "image_url": {"url": DATA_URL}}]},
    ]
