"""Gemini ``generateContent`` client wire (the ``google-genai`` SDK) <-> OpenAI Chat Completions (canonical), for
the ``/genai`` route when the target provider is not Gemini (Gemini -> Gemini passes bytes through untouched).

Pure functions on plain dicts; inputs are never mutated.

Request rules (`genai_request_to_openai`)
----------------------------------------
* ``systemInstruction`` (a Content, or a string) -> a leading ``system`` message (its texts joined with a
  blank line).
* ``contents``: role ``user`` (or none) -> ``user`` message, ``model`` -> ``assistant``. Parts: ``text`` ->
  text (a lone text part collapsed to a string; ``thought: true`` parts are dropped); ``inlineData`` image ->
  ``image_url`` with a data URL, audio (wav, mp3) -> ``input_audio``, PDF -> ``file`` part; ``fileData``
  with an http(s) image URL -> ``image_url``; ``functionCall`` -> assistant ``tool_calls`` (id: the call's
  ``id``, else ``call_<turn>_<k>``; arguments = compact JSON of ``args``); ``functionResponse`` -> a ``tool``
  message placed before the rest of its turn, paired with the call of the same ``id``, else the earliest
  unanswered call of the same ``name``; its content is the compact JSON of ``response``. Other parts
  (``executableCode``, ``videoMetadata``, other media types) are rejected with a 400 naming the part.
* ``tools``: ``functionDeclarations`` -> function tools; ``parameters`` (Gemini's schema: upper-case types,
  ``nullable``) become JSON Schema (lower-case types, ``nullable`` -> a ``"null"`` type, ``propertyOrdering``
  dropped); ``parametersJsonSchema`` is taken as is. Google tools (``googleSearch``, ``codeExecution``,
  ``urlContext``...) exist only on Gemini and are rejected. ``toolConfig.functionCallingConfig.mode``:
  AUTO/VALIDATED -> auto, NONE -> none, ANY -> required, or the named function when
  ``allowedFunctionNames`` holds exactly one name.
* ``generationConfig``: ``temperature``, ``topP`` -> ``top_p``, ``maxOutputTokens`` -> ``max_tokens``,
  ``stopSequences`` -> ``stop``, ``candidateCount`` -> ``n``, ``seed``, ``presencePenalty``,
  ``frequencyPenalty``; ``responseMimeType: application/json`` -> ``response_format`` ``json_object``, with
  ``responseSchema`` / ``responseJsonSchema`` -> ``json_schema`` (name ``response``). ``thinkingConfig``:
  ``thinkingLevel`` -> ``reasoning_effort`` (lower-cased), ``thinkingBudget`` -> ``reasoning_effort`` by
  `effort_for_budget` (0 -> nothing, -1 -> medium). ``topK``, ``safetySettings``, ``cachedContent``,
  ``responseModalities``... have no OpenAI equivalent and are dropped.
* A stream asks for ``stream_options.include_usage`` so the last chunk carries ``usageMetadata``.

Response rules (`openai_response_to_genai`, `OpenAIStreamToGenai`)
-----------------------------------------------------------------
* One candidate per choice: ``reasoning_content`` -> a ``thought: true`` text part first, then the text,
  then one ``functionCall`` part per tool call (``id`` = the OpenAI id, so a ``functionResponse`` carrying it
  pairs exactly; ``args`` parsed from ``arguments``, a non-object kept as ``{"_raw": arguments}``).
* ``finish_reason``: stop and tool_calls -> ``STOP``, length -> ``MAX_TOKENS``, content_filter ->
  ``SAFETY``. usage -> ``usageMetadata`` (``candidatesTokenCount`` excludes reasoning tokens, which go to
  ``thoughtsTokenCount``; cached tokens -> ``cachedContentTokenCount``). ``responseId`` = the OpenAI id,
  ``modelVersion`` = the model that answered.
* Streams: text and thoughts are forwarded as they arrive; tool-call fragments are gathered and each call
  is sent whole once complete; the finish reason and usage travel in the last chunk, as Gemini sends them.
* Errors: ``{"error": {"code": status, "message", "status": "INVALID_ARGUMENT" | "UNAUTHENTICATED" |
  "PERMISSION_DENIED" | "NOT_FOUND" | "RESOURCE_EXHAUSTED" | "INTERNAL" | "UNAVAILABLE" | ...}}``.
"""

from __future__ import annotations

from typing import Any

import orjson

from bifrost.integrations.anthropic import effort_for_budget, tool_input
from bifrost.providers.anthropic.translate import TranslationError

JSONDict = dict[str, Any]

__all__ = [
    "GOOGLE_STATUS",
    "OpenAIStreamToGenai",
    "TranslationError",
    "genai_embed_to_openai",
    "genai_error",
    "genai_request_to_openai",
    "openai_embeddings_to_genai",
    "openai_response_to_genai",
]

GOOGLE_STATUS: dict[int, str] = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    402: "FAILED_PRECONDITION",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    409: "ABORTED",
    413: "INVALID_ARGUMENT",
    429: "RESOURCE_EXHAUSTED",
    499: "CANCELLED",
    500: "INTERNAL",
    501: "NOT_IMPLEMENTED",
    502: "UNAVAILABLE",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
    529: "UNAVAILABLE",
}
_FINISH = {"stop": "STOP", "tool_calls": "STOP", "function_call": "STOP", "length": "MAX_TOKENS",
           "content_filter": "SAFETY"}
_GENERATION_FIELDS = (
    ("temperature", "temperature", "temperature"),
    ("topP", "top_p", "top_p"),
    ("maxOutputTokens", "max_output_tokens", "max_tokens"),
    ("stopSequences", "stop_sequences", "stop"),
    ("candidateCount", "candidate_count", "n"),
    ("seed", "seed", "seed"),
    ("presencePenalty", "presence_penalty", "presence_penalty"),
    ("frequencyPenalty", "frequency_penalty", "frequency_penalty"),
)
_AUDIO = {"audio/wav": "wav", "audio/x-wav": "wav", "audio/mp3": "mp3", "audio/mpeg": "mp3"}
_GOOGLE_TOOLS = ("googleSearch", "google_search", "googleSearchRetrieval", "codeExecution", "code_execution",
                 "urlContext", "url_context", "googleMaps", "fileSearch", "computerUse", "retrieval")


def genai_error(status: int, message: str) -> JSONDict:
    """Google's error body for an HTTP status."""
    name = GOOGLE_STATUS.get(status) or ("INTERNAL" if status >= 500 else "FAILED_PRECONDITION")
    return {"error": {"code": status, "message": message, "status": name}}


# ---------------------------------------------------------------------------------------------------
# request: GenAI -> OpenAI
# ---------------------------------------------------------------------------------------------------


def _get(obj: JSONDict, camel: str, snake: str) -> Any:
    value = obj.get(camel)
    return obj.get(snake) if value is None else value


def genai_request_to_openai(body: JSONDict, model: str, stream: bool) -> JSONDict:
    """Translate a Gemini ``generateContent`` body into an OpenAI chat completion request body."""
    messages: list[JSONDict] = []
    system = _get(body, "systemInstruction", "system_instruction")
    if system is not None:
        text = system if isinstance(system, str) else "\n\n".join(
            p["text"] for p in _parts_of(system, "systemInstruction") if isinstance(p.get("text"), str)
        )
        if text:
            messages.append({"role": "system", "content": text})
    contents = body.get("contents")
    if isinstance(contents, dict):
        contents = [contents]
    if not isinstance(contents, list) or not contents:
        raise TranslationError("contents is not specified", "contents")
    pending: list[tuple[str, str]] = []  # (call id, name) of calls not yet answered
    for i, content in enumerate(contents):
        if not isinstance(content, dict):
            raise TranslationError("each content must be an object", f"contents[{i}]")
        parts = _parts_of(content, f"contents[{i}]")
        if content.get("role") == "model":
            messages.append(_model_message(parts, i, pending))
        else:
            _user_messages(parts, i, pending, messages)

    out: JSONDict = {"model": model, "messages": messages}
    tools = body.get("tools")
    if tools:
        out["tools"] = _tools(tools)
        choice = _tool_choice(_get(body, "toolConfig", "tool_config"))
        if choice is not None:
            out["tool_choice"] = choice
    config = _get(body, "generationConfig", "generation_config")
    if isinstance(config, dict):
        _generation(config, out)
    if stream:
        out["stream"] = True
        out["stream_options"] = {"include_usage": True}
    return out


def _parts_of(content: Any, param: str) -> list[JSONDict]:
    parts = content.get("parts") if isinstance(content, dict) else None
    if parts is None:
        return []
    if not isinstance(parts, list) or not all(isinstance(p, dict) for p in parts):
        raise TranslationError("parts must be an array of objects", f"{param}.parts")
    return parts


def _media(part: JSONDict, param: str) -> JSONDict:
    inline = _get(part, "inlineData", "inline_data")
    if isinstance(inline, dict):
        mime = str(_get(inline, "mimeType", "mime_type") or "")
        data = inline.get("data") or ""
        if mime.startswith("image/"):
            return {"type": "image_url", "image_url": {"url": f"data:{mime};base64,{data}"}}
        if mime in _AUDIO:
            return {"type": "input_audio", "input_audio": {"data": data, "format": _AUDIO[mime]}}
        if mime == "application/pdf":
            return {"type": "file", "file": {"filename": "document.pdf", "file_data": f"data:{mime};base64,{data}"}}
        raise TranslationError(f"inlineData of type {mime!r} is only supported by Gemini models", param)
    file = _get(part, "fileData", "file_data")
    uri = _get(file, "fileUri", "file_uri") if isinstance(file, dict) else None
    mime = str(_get(file, "mimeType", "mime_type") or "") if isinstance(file, dict) else ""
    if isinstance(uri, str) and uri.startswith(("http://", "https://")) and (not mime or mime.startswith("image/")):
        return {"type": "image_url", "image_url": {"url": uri}}
    kinds = [k for k in part if k not in ("thought", "thoughtSignature", "thought_signature")]
    raise TranslationError(f"part {kinds} is only supported by Gemini models", param)


def _user_messages(parts: list[JSONDict], i: int, pending: list[tuple[str, str]], out: list[JSONDict]) -> None:
    items: list[JSONDict] = []
    for j, part in enumerate(parts):
        param = f"contents[{i}].parts[{j}]"
        response = _get(part, "functionResponse", "function_response")
        if isinstance(response, dict):
            out.append(_tool_message(response, pending, param))
        elif isinstance(part.get("text"), str):
            if part.get("thought") is not True:
                items.append({"type": "text", "text": part["text"]})
        else:
            items.append(_media(part, param))
    if len(items) == 1 and items[0]["type"] == "text":
        out.append({"role": "user", "content": items[0]["text"]})
    elif items:
        out.append({"role": "user", "content": items})


def _tool_message(response: JSONDict, pending: list[tuple[str, str]], param: str) -> JSONDict:
    name = response.get("name")
    wanted = response.get("id")
    found = next((k for k, (cid, _) in enumerate(pending) if wanted and cid == wanted), None)
    if found is None:
        found = next((k for k, (_, n) in enumerate(pending) if n == name), None)
    if found is None:
        if not isinstance(wanted, str) or not wanted:
            raise TranslationError(f"functionResponse {name!r} answers no earlier functionCall", param)
        call_id = wanted
    else:
        call_id = pending.pop(found)[0]
    return {"role": "tool", "tool_call_id": call_id, "content": orjson.dumps(response.get("response") or {}).decode()}


def _model_message(parts: list[JSONDict], i: int, pending: list[tuple[str, str]]) -> JSONDict:
    texts: list[str] = []
    calls: list[JSONDict] = []
    for j, part in enumerate(parts):
        call = _get(part, "functionCall", "function_call")
        if isinstance(call, dict):
            name = call.get("name") or ""
            call_id = call.get("id") if isinstance(call.get("id"), str) and call.get("id") else f"call_{i}_{j}"
            pending.append((call_id, name))
            calls.append({"id": call_id, "type": "function",
                          "function": {"name": name, "arguments": orjson.dumps(call.get("args") or {}).decode()}})
        elif isinstance(part.get("text"), str):
            if part.get("thought") is not True:
                texts.append(part["text"])
        else:
            raise TranslationError("model turns may hold text and functionCall parts only",
                                   f"contents[{i}].parts[{j}]")
    message: JSONDict = {"role": "assistant", "content": "".join(texts) if texts else (None if calls else "")}
    if calls:
        message["tool_calls"] = calls
    return message


def _json_schema(schema: Any) -> Any:
    """Gemini's Schema (upper-case types, nullable) -> JSON Schema."""
    if isinstance(schema, list):
        return [_json_schema(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out: JSONDict = {}
    for key, value in schema.items():
        if key in ("propertyOrdering", "property_ordering", "nullable"):
            continue
        if key == "type" and isinstance(value, str):
            out["type"] = value.lower()
        elif key == "properties" and isinstance(value, dict):
            out["properties"] = {name: _json_schema(sub) for name, sub in value.items()}
        elif key in ("items", "anyOf", "any_of"):
            out["anyOf" if key == "any_of" else key] = _json_schema(value)
        elif key == "format" and value == "enum":
            continue
        else:
            out[key] = value
    if schema.get("nullable") is True and isinstance(out.get("type"), str):
        out["type"] = [out["type"], "null"]
    return out


def _tools(tools: Any) -> list[JSONDict]:
    if not isinstance(tools, list):
        raise TranslationError("tools must be an array", "tools")
    out: list[JSONDict] = []
    for k, tool in enumerate(tools):
        if not isinstance(tool, dict):
            raise TranslationError("tools must be objects", f"tools[{k}]")
        google = [name for name in _GOOGLE_TOOLS if name in tool]
        if google:
            raise TranslationError(f"the Google tool {google[0]!r} is only available on Gemini models", f"tools[{k}]")
        for m, decl in enumerate(_get(tool, "functionDeclarations", "function_declarations") or ()):
            if not isinstance(decl, dict) or not isinstance(decl.get("name"), str):
                raise TranslationError("function declarations need a name", f"tools[{k}].functionDeclarations[{m}]")
            function: JSONDict = {"name": decl["name"]}
            if decl.get("description"):
                function["description"] = decl["description"]
            raw = _get(decl, "parametersJsonSchema", "parameters_json_schema")
            parameters = raw if isinstance(raw, dict) else _json_schema(decl.get("parameters"))
            function["parameters"] = parameters if isinstance(parameters, dict) else {"type": "object",
                                                                                      "properties": {}}
            out.append({"type": "function", "function": function})
    return out


def _tool_choice(config: Any) -> Any:
    calling = _get(config, "functionCallingConfig", "function_calling_config") if isinstance(config, dict) else None
    if not isinstance(calling, dict):
        return None
    mode = str(calling.get("mode") or "AUTO").upper()
    if mode == "NONE":
        return "none"
    if mode == "ANY":
        names = _get(calling, "allowedFunctionNames", "allowed_function_names")
        if isinstance(names, list) and len(names) == 1:
            return {"type": "function", "function": {"name": names[0]}}
        return "required"
    return "auto"


def _generation(config: JSONDict, out: JSONDict) -> None:
    for camel, snake, target in _GENERATION_FIELDS:
        value = _get(config, camel, snake)
        if value is not None:
            out[target] = value
    if _get(config, "responseMimeType", "response_mime_type") == "application/json":
        schema = _get(config, "responseJsonSchema", "response_json_schema")
        if schema is None:
            schema = _json_schema(_get(config, "responseSchema", "response_schema"))
        if isinstance(schema, dict):
            out["response_format"] = {"type": "json_schema", "json_schema": {"name": "response", "schema": schema}}
        else:
            out["response_format"] = {"type": "json_object"}
    thinking = _get(config, "thinkingConfig", "thinking_config")
    if isinstance(thinking, dict):
        level = _get(thinking, "thinkingLevel", "thinking_level")
        budget = _get(thinking, "thinkingBudget", "thinking_budget")
        if isinstance(level, str) and level.upper() != "THINKING_LEVEL_UNSPECIFIED":
            out["reasoning_effort"] = level.lower()
        elif isinstance(budget, int) and budget != 0:
            out["reasoning_effort"] = "medium" if budget < 0 else effort_for_budget(budget)


# ---------------------------------------------------------------------------------------------------
# response: OpenAI -> GenAI
# ---------------------------------------------------------------------------------------------------


def _function_part(call_id: str, name: str, arguments: Any) -> JSONDict:
    return {"functionCall": {"id": call_id, "name": name, "args": tool_input(arguments)}}


def usage_metadata(usage: Any) -> JSONDict:
    """OpenAI ``usage`` -> Gemini ``usageMetadata``."""
    if not isinstance(usage, dict):
        usage = {}
    prompt = usage.get("prompt_tokens") or 0
    completion = usage.get("completion_tokens") or 0
    reasoning = (usage.get("completion_tokens_details") or {}).get("reasoning_tokens") or 0
    cached = (usage.get("prompt_tokens_details") or {}).get("cached_tokens") or 0
    meta: JSONDict = {
        "promptTokenCount": prompt,
        "candidatesTokenCount": max(completion - reasoning, 0),
        "totalTokenCount": usage.get("total_tokens") or prompt + completion,
    }
    if reasoning:
        meta["thoughtsTokenCount"] = reasoning
    if cached:
        meta["cachedContentTokenCount"] = cached
    return meta


def openai_response_to_genai(resp: JSONDict, model: str) -> JSONDict:
    """Translate an OpenAI ``chat.completion`` into a Gemini ``GenerateContentResponse``."""
    candidates = []
    for k, choice in enumerate(resp.get("choices") or ()):
        message = choice.get("message") or {}
        parts: list[JSONDict] = []
        if isinstance(message.get("reasoning_content"), str) and message["reasoning_content"]:
            parts.append({"text": message["reasoning_content"], "thought": True})
        content = message.get("content")
        text = content if isinstance(content, str) else "".join(
            p.get("text") or "" for p in content or () if isinstance(p, dict) and p.get("type") == "text"
        )
        text = text or message.get("refusal") or ""
        calls = message.get("tool_calls") or ()
        if text or not calls:
            parts.append({"text": text})
        for call in calls:
            function = call.get("function") or {}
            parts.append(_function_part(call.get("id") or "", function.get("name") or "", function.get("arguments")))
        candidates.append({
            "content": {"role": "model", "parts": parts},
            "finishReason": _FINISH.get(choice.get("finish_reason") or "stop", "STOP"),
            "index": choice.get("index", k),
        })
    return {
        "candidates": candidates,
        "usageMetadata": usage_metadata(resp.get("usage")),
        "modelVersion": resp.get("model") or model,
        "responseId": resp.get("id") or "",
    }


class OpenAIStreamToGenai:
    """OpenAI ``chat.completion.chunk`` dicts -> Gemini stream chunks; `finish` after the upstream ended."""

    __slots__ = ("_calls", "_finish", "id", "model", "usage")

    def __init__(self, model: str) -> None:
        self.model = model
        self.id = ""
        self.usage: JSONDict = {}
        self._calls: dict[int, dict[int, JSONDict]] = {}  # candidate -> tool index -> gathered call
        self._finish: dict[int, str] = {}

    def _chunk(self, candidates: list[JSONDict]) -> JSONDict:
        return {"candidates": candidates, "modelVersion": self.model, "responseId": self.id}

    def feed(self, chunk: JSONDict) -> list[JSONDict]:
        self.id = self.id or chunk.get("id") or ""
        if chunk.get("model"):
            self.model = chunk["model"]
        if isinstance(chunk.get("usage"), dict):
            self.usage = chunk["usage"]
        out: list[JSONDict] = []
        for choice in chunk.get("choices") or ():
            index = choice.get("index", 0)
            delta = choice.get("delta") or {}
            parts: list[JSONDict] = []
            if isinstance(delta.get("reasoning_content"), str) and delta["reasoning_content"]:
                parts.append({"text": delta["reasoning_content"], "thought": True})
            if isinstance(delta.get("content"), str) and delta["content"]:
                parts.append({"text": delta["content"]})
            for call in delta.get("tool_calls") or ():
                gathered = self._calls.setdefault(index, {}).setdefault(
                    call.get("index", 0), {"id": "", "name": "", "arguments": ""}
                )
                function = call.get("function") or {}
                gathered["id"] = gathered["id"] or call.get("id") or ""
                gathered["name"] = gathered["name"] or function.get("name") or ""
                gathered["arguments"] += function.get("arguments") or ""
            if parts:
                out.append(self._chunk([{"content": {"role": "model", "parts": parts}, "index": index}]))
            if choice.get("finish_reason"):
                self._finish[index] = choice["finish_reason"]
        return out

    def finish(self) -> list[JSONDict]:
        """The closing chunk: gathered function calls, finish reasons and the usage."""
        candidates = []
        for index in sorted(set(self._finish) | set(self._calls)):
            calls = self._calls.get(index, {})
            parts = [_function_part(c["id"], c["name"], c["arguments"]) for _, c in sorted(calls.items())]
            candidates.append({
                "content": {"role": "model", "parts": parts or [{"text": ""}]},
                "finishReason": _FINISH.get(self._finish.get(index) or "stop", "STOP"),
                "index": index,
            })
        last = self._chunk(candidates)
        last["usageMetadata"] = usage_metadata(self.usage)
        return [last]


# ---------------------------------------------------------------------------------------------------
# embeddings
# ---------------------------------------------------------------------------------------------------


def genai_embed_to_openai(body: JSONDict, model: str, batch: bool) -> JSONDict:
    """``embedContent`` / ``batchEmbedContents`` body -> OpenAI embeddings request (floats)."""
    requests = body.get("requests") if batch else [body]
    if not isinstance(requests, list) or not requests:
        raise TranslationError("requests is not specified", "requests")
    texts: list[str] = []
    dimensions = None
    for k, request in enumerate(requests):
        content = request.get("content") if isinstance(request, dict) else None
        parts = _parts_of(content, f"requests[{k}].content")
        if not parts:
            raise TranslationError("content is not specified", f"requests[{k}].content")
        texts.append("".join(p.get("text") or "" for p in parts))
        dimensions = _get(request, "outputDimensionality", "output_dimensionality") or dimensions
    out: JSONDict = {"model": model, "input": texts, "encoding_format": "float"}
    if isinstance(dimensions, int):
        out["dimensions"] = dimensions
    return out


def openai_embeddings_to_genai(resp: JSONDict, batch: bool) -> JSONDict:
    """OpenAI embeddings answer -> ``{"embedding": ...}`` or ``{"embeddings": [...]}``."""
    items = sorted((d for d in resp.get("data") or () if isinstance(d, dict)), key=lambda d: d.get("index", 0))
    embeddings = [{"values": d.get("embedding") if isinstance(d.get("embedding"), list) else []} for d in items]
    if batch:
        return {"embeddings": embeddings}
    return {"embedding": embeddings[0] if embeddings else {"values": []}}
