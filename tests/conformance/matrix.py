"""The conformance matrix: its columns (client route -> provider), its rows (features) and the page it renders.

Every cell is backed by tests marked ``@pytest.mark.cell(feature, column)`` (use `cells` to parametrize a
test over columns). ``tests/conformance/conftest.py`` records the outcome of each marked test and, when the
whole matrix ran, writes ``docs/compatibility.md`` with `render`.
"""

from __future__ import annotations

import datetime
import inspect
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

import pytest

# --- columns -----------------------------------------------------------------------------------------

OPENAI_TO_ANTHROPIC = "openai-to-anthropic"
ANTHROPIC_NATIVE = "anthropic-native"
ANTHROPIC_TO_OPENAI = "anthropic-to-openai"
OPENAI_TO_GEMINI = "openai-to-gemini"
OPENAI_TO_AZURE = "openai-to-azure"
OPENAI_TO_BEDROCK = "openai-to-bedrock"
OPENAI_TO_VERTEX = "openai-to-vertex-anthropic"
OPENAI_TO_COHERE = "openai-to-cohere"
CLOUD_COLUMNS = (OPENAI_TO_AZURE, OPENAI_TO_BEDROCK, OPENAI_TO_VERTEX, OPENAI_TO_COHERE)
RESPONSES_TO_OPENAI = "responses-to-openai"
RESPONSES_TO_ANTHROPIC = "responses-to-anthropic"
RESPONSES_TO_CHAT = "responses-to-chat-only"
RESPONSES_TO_GEMINI = "responses-to-gemini"
RESPONSES_TO_AZURE = "responses-to-azure"


@dataclass(frozen=True, slots=True)
class Column:
    key: str
    title: str
    client: str
    model: str


CLAUDE = "claude-3-5-sonnet-20241022"
GPT = "gpt-4o-mini"
GEMINI = "gemini-2.5-flash"

COLUMNS: tuple[Column, ...] = (
    Column(OPENAI_TO_ANTHROPIC, "OpenAI route → Anthropic", "openai SDK, `/openai`", f"anthropic/{CLAUDE}"),
    Column(ANTHROPIC_NATIVE, "Anthropic route → Anthropic", "anthropic SDK, `/anthropic`", CLAUDE),
    Column(ANTHROPIC_TO_OPENAI, "Anthropic route → OpenAI", "anthropic SDK, `/anthropic`", f"openai/{GPT}"),
    Column(OPENAI_TO_GEMINI, "OpenAI route → Gemini", "openai SDK, `/openai`", f"gemini/{GEMINI}"),
    Column(OPENAI_TO_AZURE, "OpenAI route → Azure", "openai SDK, `/openai`", "azure/gpt-4o"),
    Column(OPENAI_TO_BEDROCK, "OpenAI route → Bedrock", "openai SDK, `/openai`", "bedrock/claude-sonnet"),
    Column(
        OPENAI_TO_VERTEX, "OpenAI route → Vertex (Claude)", "openai SDK, `/openai`",
        "vertex/claude-3-5-sonnet-v2@20241022",
    ),
    Column(OPENAI_TO_COHERE, "OpenAI route → Cohere", "openai SDK, `/openai`", "cohere/command-r-plus"),
    Column(RESPONSES_TO_OPENAI, "Responses → OpenAI (passed through)", "openai SDK `responses`, `/v1`", GPT),
    Column(RESPONSES_TO_ANTHROPIC, "Responses → Anthropic", "openai SDK `responses`, `/v1`", f"anthropic/{CLAUDE}"),
    Column(
        RESPONSES_TO_CHAT, "Responses → chat-only OpenAI-compatible", "openai SDK `responses`, `/v1`",
        "groq/llama-3.1-8b-instant",
    ),
    Column(RESPONSES_TO_GEMINI, "Responses → Gemini", "openai SDK `responses`, `/v1`", f"gemini/{GEMINI}"),
    Column(RESPONSES_TO_AZURE, "Responses → Azure (passed through)", "openai SDK `responses`, `/v1`", "azure/gpt-4o"),
)
COLUMN_KEYS: tuple[str, ...] = tuple(c.key for c in COLUMNS)
RESPONSES_COLUMNS: tuple[str, ...] = (
    RESPONSES_TO_OPENAI, RESPONSES_TO_ANTHROPIC, RESPONSES_TO_CHAT, RESPONSES_TO_GEMINI, RESPONSES_TO_AZURE
)
CHAT_COLUMNS: tuple[str, ...] = tuple(key for key in COLUMN_KEYS if key not in RESPONSES_COLUMNS)
# The columns of the translation wires (tests in test_chat, test_tools, ...); the cloud providers' own
# columns are added row by row below, their tests are in test_cloud_*.py.
WIRE_COLUMNS: tuple[str, ...] = (OPENAI_TO_ANTHROPIC, ANTHROPIC_NATIVE, ANTHROPIC_TO_OPENAI, OPENAI_TO_GEMINI)
ANTHROPIC_ROUTE: tuple[str, ...] = (ANTHROPIC_NATIVE, ANTHROPIC_TO_OPENAI)


def column(key: str) -> Column:
    for col in COLUMNS:
        if col.key == key:
            return col
    raise KeyError(key)


# --- rows --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Feature:
    name: str
    asserts: str  # what the cell's tests check, rendered under the table
    columns: tuple[str, ...] = WIRE_COLUMNS  # the others are "n/a"


FEATURES: tuple[Feature, ...] = (
    Feature("plain chat", "one user turn: exact upstream body and auth headers; text, role, model, ids, usage"),
    Feature("system prompt", "system/developer messages ↔ top-level `system` (string or text blocks)"),
    Feature("multi-turn", "user/assistant history kept in order; consecutive same-role turns merged for Anthropic"),
    Feature("tools", "definitions (name, description, JSON schema) and every `tool_choice` mode"),
    Feature("parallel tool calls", "several calls in one answer, ids and order kept; parallel tool use disabled"),
    Feature("tool results", "assistant tool calls + tool results round-trip (ids, arguments, errors, ordering)"),
    Feature("images (base64)", "base64 image ↔ data URL `image_url`, media type kept"),
    Feature("images (URL)", "URL image source ↔ `image_url` with an http(s) URL"),
    Feature("documents (PDF base64)", "base64 PDF `document` ↔ `file` part, title ↔ filename"),
    Feature("stop sequences", "`stop` ↔ `stop_sequences` (string or list)"),
    Feature("max_tokens", "`max_tokens` / `max_completion_tokens` ↔ `max_tokens`, the default when absent"),
    Feature(
        "usage (incl. cache tokens)", "prompt/completion/total and cached-token counts, non-streaming and streaming"
    ),
    Feature("finish reason: stop", "end_turn ↔ stop, streaming and not"),
    Feature("finish reason: length", "max_tokens ↔ length, streaming and not"),
    Feature("finish reason: tool calls", "tool_use ↔ tool_calls, streaming and not"),
    Feature("finish reason: refusal", "refusal ↔ content_filter, streaming and not"),
    Feature("streaming text", "SSE event/chunk sequence, text reassembled exactly, native events passed through"),
    Feature("streaming tool calls", "tool-call arguments reassembled exactly by the SDK's stream helpers"),
    Feature("error: 400 invalid request", "upstream and gateway-side 400s: status, error type, message, route shape"),
    Feature("error: 429 rate limit + Retry-After", "status 429, rate-limit error type, `Retry-After` kept"),
    Feature(
        "error: overloaded (Anthropic 529 / OpenAI 503)",
        "status kept, overloaded/API error type, message kept",
    ),
    Feature("error: mid-stream error event", "an upstream error after the first event becomes an error event/chunk"),
    Feature("error: stream broken off", "an upstream stream that ends early becomes an error event, not a silent end"),
    Feature(
        "n > 1",
        "Anthropic: rejected with a clear 400 before any upstream call; Gemini: `candidateCount`, one choice each",
        (OPENAI_TO_ANTHROPIC, OPENAI_TO_GEMINI),
    ),
    Feature(
        "text completions (/v1/completions)",
        "prompt → one user turn; answer as a `text_completion`, streaming and not",
        (OPENAI_TO_ANTHROPIC, OPENAI_TO_GEMINI),
    ),
    Feature("count_tokens", "`/anthropic/v1/messages/count_tokens` passed through", (ANTHROPIC_NATIVE,)),
    Feature(
        "reasoning (thinking)",
        "`reasoning_effort` → `thinkingConfig`; thoughts → `reasoning_content`; thought signatures round-trip "
        "through tool-call ids",
        (OPENAI_TO_GEMINI,),
    ),
    Feature(
        "structured output (response_format)",
        "`json_object` / `json_schema` → `responseMimeType` / `responseSchema` (schema converted to Gemini's subset)",
        (OPENAI_TO_GEMINI,),
    ),
    Feature(
        "embeddings",
        "`/v1/embeddings` reaches the provider's embedding API (Gemini: `batchEmbedContents`), floats and base64; "
        "vectors, order and usage come back",
        (OPENAI_TO_GEMINI,),
    ),
    Feature(
        "safety block", "a prompt blocked by the provider → a clear 400 `content_filter` error", (OPENAI_TO_GEMINI,)
    ),
    Feature(
        "mid-conversation system message",
        "a `system` message inside `messages` (Claude Code's beta): kept in place natively with `anthropic-beta`"
        " forwarded, a `system` message at the same place translated; streaming and not",
        ANTHROPIC_ROUTE,
    ),
    Feature(
        "fields and blocks the gateway need not understand",
        "new block types, server tools, `context_management`, `cache_control` anywhere, unknown fields and betas:"
        " natively the body reaches Anthropic exactly as sent; translated, dropped or refused by the documented"
        " rules",
        ANTHROPIC_ROUTE,
    ),
    Feature(
        "responses: plain", "`responses.create`: exact upstream body, `Response` valid against the spec, text, usage",
        RESPONSES_COLUMNS,
    ),
    Feature(
        "responses: streaming events",
        "every event valid against `ResponseStreamEvent`, numbered in sequence, text reassembled by the SDK",
        RESPONSES_COLUMNS,
    ),
    Feature(
        "responses: function tools",
        "`function_call` out, `function_call_output` back with `previous_response_id`, final answer",
        RESPONSES_COLUMNS,
    ),
    Feature(
        "responses: structured output", "`text.format` json_schema reaches the provider in its form", RESPONSES_COLUMNS
    ),
    Feature(
        "responses: reasoning", "`reasoning.effort` sent; thinking returned as a `reasoning` item", RESPONSES_COLUMNS
    ),
    Feature("responses: images", "`input_image` (data URL) reaches the provider in its form", RESPONSES_COLUMNS),
    Feature(
        "responses: previous_response_id",
        "second turn continues the first; retrieve / input_items / delete answer",
        RESPONSES_COLUMNS,
    ),
    Feature(
        "responses: errors",
        "an upstream error before the stream keeps its status; after the start the stream ends with "
        "`response.failed` + `error`",
        RESPONSES_COLUMNS,
    ),
    Feature(
        "responses: built-in tools",
        "`web_search` to a provider without it: a 400 naming tool and provider, nothing sent upstream",
        (RESPONSES_TO_ANTHROPIC, RESPONSES_TO_CHAT, RESPONSES_TO_GEMINI),
    ),
)
# The cloud providers' cells: every row the OpenAI route exercises, bar the wire-specific ones.


def _openai_route(feature: Feature) -> bool:
    return any(column.startswith("openai-to-") for column in feature.columns)


_NOT_CLOUD = frozenset(
    {"n > 1", "count_tokens", "reasoning (thinking)", "structured output (response_format)", "safety block"}
)
FEATURES = tuple(
    replace(f, columns=f.columns + CLOUD_COLUMNS) if f.name not in _NOT_CLOUD and _openai_route(f) else f
    for f in FEATURES
)
# Cells a provider cannot serve: its tests assert a clear 400 before any upstream call.
REJECTED: frozenset[tuple[str, str]] = frozenset(
    {
        ("images (URL)", OPENAI_TO_BEDROCK),
        ("documents (PDF base64)", OPENAI_TO_COHERE),
        ("embeddings", OPENAI_TO_VERTEX),
    }
)
FEATURE_NAMES: tuple[str, ...] = tuple(f.name for f in FEATURES)


def known_cells() -> set[tuple[str, str]]:
    """Every (feature, column) that must be backed by tests."""
    return {(f.name, key) for f in FEATURES for key in f.columns}


def cells(feature: str, *columns: str) -> list[Any]:
    """``pytest.param`` per column (all of the feature's columns by default), each marked as its cell."""
    spec = next((f for f in FEATURES if f.name == feature), None)
    if spec is None:
        raise KeyError(f"unknown matrix feature {feature!r}; known: {FEATURE_NAMES}")
    chosen = columns or spec.columns
    for key in chosen:
        if key not in spec.columns:
            raise KeyError(f"column {key!r} is n/a for feature {feature!r}")
    return [pytest.param(key, id=key, marks=pytest.mark.cell(feature, key)) for key in chosen]


# --- rendering ---------------------------------------------------------------------------------------

PASS, FAIL, NOT_RUN, NOT_APPLICABLE = "✅", "❌", "—", "n/a"
REJECTED_PASS = "⛔ 400"  # the provider lacks the feature; the gateway's clear 400 is what the tests assert


def cell_outcome(outcomes: Iterable[str]) -> str:
    """Outcomes of a cell's tests ("passed" / "failed" / "skipped") -> the symbol shown."""
    seen = set(outcomes)
    if "failed" in seen:
        return FAIL
    if "passed" in seen:
        return PASS
    return NOT_RUN


def _docstring_section(obj: Any, heading: str) -> str:
    """The bullets under `heading` in a module docstring (translation rules live next to the code)."""
    doc = inspect.getdoc(obj) or ""
    lines = doc.splitlines()
    out: list[str] = []
    inside = False
    for i, line in enumerate(lines):
        if line.startswith(heading):
            inside = True
            continue
        if inside:
            if set(line) == {"-"}:
                continue
            if i + 1 < len(lines) and lines[i + 1] and set(lines[i + 1]) == {"-"}:
                break  # the next heading
            out.append(line)
    return "\n".join(out).strip()


def _docstring_body(obj: Any) -> str:
    """A module docstring without its summary (first paragraph)."""
    doc = inspect.getdoc(obj) or ""
    return doc.partition("\n\n")[2].strip()


def render(
    outcomes: Mapping[tuple[str, str], list[str]],
    counts: Mapping[tuple[str, str], int],
    versions: Mapping[str, str],
    today: datetime.date | None = None,
) -> str:
    """The markdown page. `outcomes`: per cell, the outcome of each of its tests; `counts`: tests per cell."""
    from bifrost.core import text_completion, text_via_chat
    from bifrost.integrations import anthropic as reverse
    from bifrost.integrations import genai as genai_reverse
    from bifrost.providers.anthropic import translate as forward
    from bifrost.providers.gemini import schema as gemini_schema
    from bifrost.providers.gemini import translate as gemini_forward
    from bifrost.responses import translate as responses_translate

    day = (today or datetime.date.today()).isoformat()
    lines = [
        "# Compatibility: translation between wires (OpenAI, Anthropic, Gemini), the cloud providers and the"
        " Responses API",
        "",
        f"_Generated by `pytest tests/conformance` on {day}; do not edit by hand._",
        "",
        "Each cell is backed by tests that run the official SDK against a real gateway process and the fake",
        "provider (`bifrost.testing.fake_provider`), asserting both what the provider received (the translated",
        "request) and what the client got (the SDK's objects). OpenAI-shaped bodies and stream chunks are",
        "validated against OpenAI's OpenAPI spec.",
        "",
        "Clients: " + ", ".join(f"`{name}` {version}" for name, version in sorted(versions.items())) + ".",
        "",
        "| Column | Client | Model sent |",
        "|---|---|---|",
    ]
    lines += [f"| {c.title} | {c.client} | `{c.model}` |" for c in COLUMNS]
    lines += [
        "",
        f"{PASS} pass · {FAIL} fail · {NOT_RUN} not run · {NOT_APPLICABLE} not applicable · "
        f"{REJECTED_PASS} the provider lacks it: rejected with a clear 400 (tested)",
    ]
    total = passed = 0
    for group in (CHAT_COLUMNS, RESPONSES_COLUMNS):  # one table per client API
        cols = [c for c in COLUMNS if c.key in group]
        lines += ["", "| Feature | " + " | ".join(c.title for c in cols) + " |", "|---|" + "---|" * len(cols)]
        for feature in FEATURES:
            if not set(feature.columns) & set(group):
                continue
            row = [feature.name]
            for col in cols:
                key = (feature.name, col.key)
                if col.key not in feature.columns:
                    row.append(NOT_APPLICABLE)
                    continue
                symbol = cell_outcome(outcomes.get(key, ()))
                total += 1
                passed += symbol == PASS
                if symbol == PASS and key in REJECTED:
                    symbol = REJECTED_PASS
                row.append(f"{symbol} ({counts.get(key, 0)})" if counts.get(key, 0) > 1 else symbol)
            lines.append("| " + " | ".join(row) + " |")
    lines += [
        "",
        f"**{passed} of {total} cells pass.** A number in a cell is how many tests back it.",
        "",
        "## What each row asserts",
        "",
    ]
    lines += [f"- **{f.name}**: {f.asserts}." for f in FEATURES]
    lines += [
        "",
        "## Translation rules",
        "",
        "Taken from the docstrings of the translation modules, so they stay in step with the code.",
        "",
        "### OpenAI → Anthropic (`bifrost.providers.anthropic.translate`)",
        "",
        "Requests:",
        "",
        _docstring_section(forward, "Request rules"),
        "",
        "Responses:",
        "",
        _docstring_section(forward, "Response rules"),
        "",
        "### Anthropic → OpenAI (`bifrost.integrations.anthropic`)",
        "",
        "Requests:",
        "",
        _docstring_section(reverse, "Request rules"),
        "",
        "Responses:",
        "",
        _docstring_section(reverse, "Response rules"),
        "",
        "### OpenAI → Gemini (`bifrost.providers.gemini.translate`)",
        "",
        "Requests:",
        "",
        _docstring_section(gemini_forward, "Request rules"),
        "",
        "Responses:",
        "",
        _docstring_section(gemini_forward, "Response rules"),
        "",
        "Embeddings:",
        "",
        _docstring_section(gemini_forward, "Embeddings"),
        "",
        "JSON-schema conversions (`bifrost.providers.gemini.schema`):",
        "",
        _docstring_body(gemini_schema),
        "",
        "### Gemini (`/genai` route) → OpenAI (`bifrost.integrations.genai`)",
        "",
        "Requests:",
        "",
        _docstring_section(genai_reverse, "Request rules"),
        "",
        "Responses:",
        "",
        _docstring_section(genai_reverse, "Response rules"),
        "",
        "### Responses API → chat (`bifrost.responses.translate`), for providers without the Responses API",
        "",
        "Requests:",
        "",
        _docstring_section(responses_translate, "Request rules"),
        "",
        "Responses and stream events:",
        "",
        _docstring_section(responses_translate, "Response rules"),
        "",
        "### Text completions to a chat-only provider (`bifrost.core.text_via_chat`, `bifrost.core.text_completion`)",
        "",
        _docstring_body(text_via_chat),
        "",
        _docstring_body(text_completion),
        "",
    ]
    lines += _cloud_rules()
    return "\n".join(lines)


def _cloud_rules() -> list[str]:
    """The rules of the cloud providers' translators (Azure passes bytes through; Vertex reuses Anthropic's)."""
    from bifrost.providers.azure import provider as azure
    from bifrost.providers.bedrock import translate as bedrock
    from bifrost.providers.cohere import translate as cohere
    from bifrost.providers.vertex import provider as vertex

    lines = ["### Azure OpenAI (`bifrost.providers.azure.provider`)", "", _docstring_body(azure), ""]
    for title, module in (("AWS Bedrock Converse", bedrock), ("Cohere v2", cohere)):
        lines += [
            f"### OpenAI → {title} (`{module.__name__}`)",
            "",
            "Requests:",
            "",
            _docstring_section(module, "Request rules"),
            "",
            "Responses:",
            "",
            _docstring_section(module, "Response rules"),
            "",
        ]
    lines += ["### Vertex AI (`bifrost.providers.vertex.provider`)", "", _docstring_body(vertex), ""]
    return lines
