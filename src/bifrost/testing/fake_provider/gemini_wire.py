"""Gemini wire format: models/{model}:generateContent, :streamGenerateContent, :countTokens, :embedContent,
:batchEmbedContents, and GET models.

Requests are checked as strictly as Gemini checks them: an unknown top-level or ``generationConfig`` field,
or a schema keyword outside Gemini's subset in ``functionDeclarations[].parameters`` / ``responseSchema``,
is a 400 in Google's words ("Invalid JSON payload received. Unknown name ..."); on ``gemini-3`` models a
replayed ``functionCall`` without its ``thoughtSignature`` is a 400 too. With a scripted ``thinking``, the
first function call of an answer carries `SIGNATURE` as its ``thoughtSignature``, as thinking models do.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from .openai_wire import embedding_vector
from .reply import Plan, content_text, make_plan, new_id, split_words
from .respond import Call, Wire, error_response, json_response, send_events, sse

MODELS = ("gemini-1.5-flash", "gemini-1.5-pro", "gemini-2.0-flash", "gemini-2.5-flash", "text-embedding-004")
SIGNATURE = "ZmFrZS10aG91Z2h0LXNpZ25hdHVyZQ=="  # base64 of "fake-thought-signature"

_TOP_LEVEL = frozenset({"contents", "systemInstruction", "system_instruction", "tools", "toolConfig",
                        "tool_config", "generationConfig", "generation_config", "safetySettings",
                        "safety_settings", "cachedContent", "cached_content", "labels", "model"})
_GENERATION = frozenset({"temperature", "topP", "topK", "maxOutputTokens", "stopSequences", "candidateCount",
                         "seed", "presencePenalty", "frequencyPenalty", "responseMimeType", "responseSchema",
                         "responseJsonSchema", "thinkingConfig", "responseLogprobs", "logprobs",
                         "responseModalities", "speechConfig", "mediaResolution", "imageConfig"})
_SCHEMA = frozenset({"type", "format", "title", "description", "nullable", "enum", "items", "minItems",
                     "maxItems", "properties", "required", "minProperties", "maxProperties", "minLength",
                     "maxLength", "pattern", "minimum", "maximum", "default", "example", "anyOf",
                     "propertyOrdering"})

_STATUSES = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    409: "ABORTED",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    501: "NOT_IMPLEMENTED",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}
_FINISH = {"stop": "STOP", "length": "MAX_TOKENS", "tool_calls": "STOP", "content_filter": "SAFETY"}


def error_body(status: int, message: str, error_type: str | None, code: str | None) -> dict[str, Any]:
    name = error_type or _STATUSES.get(status, "INTERNAL" if status >= 500 else "FAILED_PRECONDITION")
    return {"error": {"code": status, "message": message, "status": name}}


def stream_error(message: str, error_type: str | None) -> bytes:
    return sse({"error": {"code": 503, "message": message, "status": error_type or "UNAVAILABLE"}})


WIRE = Wire("gemini", error_body, stream_error)


def target(request: web.Request, body: dict[str, Any]) -> tuple[str, bool]:
    """Model and stream flag from ``/v1beta/models/{model}:{action}`` (or ``/v1/...``)."""
    model, _, action = request.match_info["target"].rpartition(":")
    return model, action == "streamGenerateContent" and request.query.get("alt") == "sse"


def finish_reason(reason: str) -> str:
    return _FINISH.get(reason, reason.upper())


def _input(body: dict[str, Any]) -> tuple[int, str]:
    system = body.get("systemInstruction") or body.get("system_instruction")
    chars = len(content_text(system.get("parts"))) if isinstance(system, dict) else 0
    last_user = ""
    for content in body.get("contents") or ():
        if not isinstance(content, dict):
            continue
        text = content_text(content.get("parts"))
        chars += len(text)
        if content.get("role", "user") == "user":
            last_user = text
    return chars, last_user


def _usage(plan: Plan) -> dict[str, int]:
    thoughts = min(len(plan.thinking.split()), plan.completion_tokens) if plan.thinking else 0
    usage = {
        "promptTokenCount": plan.prompt_tokens,
        "candidatesTokenCount": plan.completion_tokens - thoughts,
        "totalTokenCount": plan.prompt_tokens + plan.completion_tokens,
    }
    if thoughts:
        usage["thoughtsTokenCount"] = thoughts
    if plan.cached_tokens:
        usage["cachedContentTokenCount"] = plan.cached_tokens
    return usage


def _function_calls(plan: Plan) -> list[dict[str, Any]]:
    parts = []
    for i, tc in enumerate(plan.tool_calls):
        call: dict[str, Any] = {"name": tc.name, "args": tc.input}
        if tc.id:
            call["id"] = tc.id
        part: dict[str, Any] = {"functionCall": call}
        if i == 0 and plan.thinking is not None:
            part["thoughtSignature"] = SIGNATURE
        parts.append(part)
    return parts


def _unknown(names: Any, known: frozenset[str], where: str) -> str | None:
    for name in names:
        if name not in known:
            return f"Invalid JSON payload received. Unknown name \"{name}\" at '{where}': Cannot find field."
    return None


def _schema_problem(schema: Any, where: str) -> str | None:
    if not isinstance(schema, dict):
        return None
    problem = _unknown(schema, _SCHEMA, where)
    if problem:
        return problem
    for name, sub in (schema.get("properties") or {}).items():
        problem = _schema_problem(sub, f"{where}.properties[{name}].value")
        if problem:
            return problem
    for i, sub in enumerate(schema.get("anyOf") or ()):
        problem = _schema_problem(sub, f"{where}.any_of[{i}]")
        if problem:
            return problem
    return _schema_problem(schema.get("items"), f"{where}.items")


def validate(model: str, body: dict[str, Any]) -> str | None:
    """What Gemini would reject in a generateContent body, in its words; None when it is fine."""
    problem = _unknown(body, _TOP_LEVEL, "")
    config = body.get("generationConfig")
    if problem is None and isinstance(config, dict):
        problem = _unknown(config, _GENERATION, "generation_config") or _schema_problem(
            config.get("responseSchema"), "generation_config.response_schema"
        )
    tools = body.get("tools") or []
    if not isinstance(tools, list) or not all(isinstance(t, dict) for t in tools):
        return "Invalid value at 'tools': expected a list of Tool objects"
    for i, tool in enumerate(tools):
        for j, decl in enumerate((tool or {}).get("functionDeclarations") or ()):
            problem = problem or _schema_problem(
                decl.get("parameters"), f"tools[{i}].function_declarations[{j}].parameters"
            )
    if problem is None and model.startswith("gemini-3"):
        for i, content in enumerate(body.get("contents") or ()):
            calls = [p for p in (content or {}).get("parts") or () if isinstance(p, dict) and "functionCall" in p]
            if calls and "thoughtSignature" not in calls[0]:
                problem = (
                    f"Function call is missing a thought_signature in functionCall parts. This is required for "
                    f"tools to work correctly. Additional data, function call `default_api:"
                    f"{calls[0]['functionCall'].get('name')}` , position {i + 1}."
                )
    return problem


def _response(parts: list[dict[str, Any]], model: str, rid: str, extra: dict[str, Any]) -> dict[str, Any]:
    candidate = {"content": {"parts": parts, "role": "model"}, "index": 0, **extra}
    return {"candidates": [candidate], "modelVersion": model, "responseId": rid}


def generate(plan: Plan, model: str) -> dict[str, Any]:
    parts: list[dict[str, Any]] = []
    if plan.thinking is not None:
        parts.append({"text": plan.thinking, "thought": True})
    if plan.text or not plan.tool_calls:
        parts.append({"text": plan.text})
    parts.extend(_function_calls(plan))
    data = _response(parts, model, new_id(""), {"finishReason": finish_reason(plan.finish_reason)})
    data["usageMetadata"] = _usage(plan)
    return data


def stream_chunks(plan: Plan, model: str) -> list[dict[str, Any]]:
    rid = new_id("")
    pieces: list[list[dict[str, Any]]] = []
    if plan.thinking is not None:
        pieces.append([{"text": plan.thinking, "thought": True}])
    pieces.extend([{"text": word}] for word in split_words(plan.text))
    if plan.tool_calls:
        pieces.append(_function_calls(plan))
    if not pieces:
        pieces.append([{"text": ""}])
    running = {"promptTokenCount": plan.prompt_tokens, "totalTokenCount": plan.prompt_tokens}
    chunks = []
    for parts in pieces[:-1]:
        chunk = _response(parts, model, rid, {})
        chunk["usageMetadata"] = running
        chunks.append(chunk)
    last = _response(pieces[-1], model, rid, {"finishReason": finish_reason(plan.finish_reason)})
    last["usageMetadata"] = _usage(plan)
    chunks.append(last)
    return chunks


async def handle(call: Call) -> web.StreamResponse:
    action = call.request.match_info["target"].rpartition(":")[2]
    if action in ("embedContent", "batchEmbedContents"):
        return _embed(call, action)
    if action not in ("generateContent", "streamGenerateContent", "countTokens"):
        return error_response(call, 404, f"Method {action!r} not found for model {call.model!r}.")
    chars, last_user = _input(call.body)
    if action == "countTokens":
        scripted = (call.script or {}).get("usage") or {}
        return json_response(call, {"totalTokens": int(scripted.get("prompt_tokens", max(1, chars // 4)))})
    if not isinstance(call.body.get("contents"), list) or not call.body["contents"]:
        return error_response(call, 400, "* GenerateContentRequest.contents: contents is not specified")
    problem = validate(call.model, call.body)
    if problem is not None:
        return error_response(call, 400, problem)
    plan = make_plan(call.script, call.model, chars, last_user)
    if action == "generateContent":
        data = generate(plan, call.model)
        count = (call.body.get("generationConfig") or {}).get("candidateCount")
        if isinstance(count, int) and count > 1:  # one candidate per count, as Gemini answers
            first = data["candidates"][0]
            data["candidates"] = [{**first, "index": i} for i in range(count)]
        return json_response(call, data)
    chunks = stream_chunks(plan, call.model)
    if call.stream:  # ?alt=sse
        return await send_events(call, [sse(chunk) for chunk in chunks])
    return json_response(call, chunks)  # without alt=sse Gemini streams one JSON array


def _embed(call: Call, action: str) -> web.Response:
    requests = call.body.get("requests") if action == "batchEmbedContents" else [call.body]
    if not isinstance(requests, list) or not requests:
        return error_response(call, 400, "* BatchEmbedContentsRequest.requests: requests is not specified")
    embeddings = []
    for i, request in enumerate(requests):
        content = request.get("content") if isinstance(request, dict) else None
        if not isinstance(content, dict) or not isinstance(content.get("parts"), list):
            return error_response(call, 400, f"* requests[{i}].content: content is not specified")
        if action == "batchEmbedContents" and request.get("model") != f"models/{call.model}":
            return error_response(
                call, 400, f"Model mismatch: requests[{i}].model must be models/{call.model}"
            )
        dims = int(request.get("outputDimensionality") or 8)
        embeddings.append({"values": embedding_vector(content_text(content["parts"]), dims)})
    if action == "embedContent":
        return json_response(call, {"embedding": embeddings[0]})
    return json_response(call, {"embeddings": embeddings})


async def models(call: Call) -> web.StreamResponse:
    data = []
    for m in MODELS:
        methods = ["embedContent", "batchEmbedContents"] if "embedding" in m else [
            "generateContent", "streamGenerateContent", "countTokens"
        ]
        data.append({"name": f"models/{m}", "displayName": m, "supportedGenerationMethods": methods})
    return json_response(call, {"models": data})
