"""OpenAI Chat Completions (the gateway's canonical shape) <-> Gemini ``generateContent``, as pure functions.

Plain dicts in and out, inputs never mutated, big values (base64 media, schemas) shared by reference. No
HTTP here: `provider.py` (AI Studio) and the Vertex provider both use these functions. This module holds the
request side and every rule; the answer side lives in `response.py` (whole answers and streams) and
`embeddings.py`, re-exported here.

Request rules (`openai_to_gemini_request`)
-------------------------------------------
* ``system`` and ``developer`` messages before the first other message become ``systemInstruction`` (one
  text part per message text, in order). A later one (Claude Code's mid-conversation system messages) stays
  in place: a ``user`` turn whose texts are marked as a system note, ``<system-reminder>TEXT</system-reminder>``
  (as Claude Code marks them itself when the beta is refused), merged into an adjacent user turn since Gemini
  wants turns to alternate. Non-text parts in either are rejected.
* ``user`` -> a ``user`` content, ``assistant`` -> a ``model`` content; consecutive contents of one role
  are merged (Gemini wants turns to alternate). ``tool`` messages become ``functionResponse`` parts of a
  ``user`` content, so the results of parallel calls travel together. Empty texts are left out and a
  content left without parts is omitted; if no content is left the request is rejected.
* Content parts: ``text``; ``image_url`` with a base64 data URL -> ``inlineData`` (``image/jpg`` read as
  ``image/jpeg``), with an http(s) or ``gs://`` URL -> ``fileData`` (``mimeType`` from the file extension,
  else ``image/jpeg``); ``input_audio`` -> ``inlineData`` ``audio/<format>``; ``file`` with ``file_data``
  (a data URL, or bare base64 taken as PDF) -> ``inlineData`` with that media type; ``file_id`` is
  rejected (it names OpenAI's Files API).
* Assistant ``tool_calls`` -> ``functionCall`` parts (``args`` parsed from ``arguments``; ``""`` means
  ``{}``; invalid JSON or a non-object is rejected naming the field). **Thought signatures**: a Gemini
  ``thoughtSignature`` travels inside the OpenAI tool-call id as ``<id>__thought__<signature>`` (see
  `SIGNATURE_MARK`), and is put back on the ``functionCall`` part when the client replays that call, so
  multi-turn tool use with thinking models (which require the signature) works through any OpenAI client.
* ``tool`` results -> ``functionResponse`` with the function ``name`` taken from the assistant tool call
  with the same id (an unknown id is rejected) and ``response`` = the content parsed as JSON when it is a
  JSON object, else ``{"result": <content>}`` (text parts joined). ``reasoning_content`` and
  ``thinking_blocks`` of assistant messages are dropped; the legacy ``function_call``/``function``
  messages are read like one tool call and its result.
* ``tools`` (type ``function``; other types rejected) and legacy ``functions`` -> one ``tools`` entry of
  ``functionDeclarations``; ``parameters`` rewritten by `bifrost.providers.gemini.schema.to_gemini_schema`
  (the JSON-schema conversions are listed there); a function without parameters, or with an object schema
  without properties, is declared without ``parameters``. ``tool_choice``: auto -> ``AUTO``, none ->
  ``NONE``, required -> ``ANY``, a named function -> ``ANY`` with ``allowedFunctionNames: [name]``.
  ``parallel_tool_calls`` has no Gemini switch and is dropped.
* ``generationConfig``: ``temperature``, ``top_p`` -> ``topP``, ``top_k`` -> ``topK``,
  ``max_completion_tokens`` or else ``max_tokens`` -> ``maxOutputTokens``, ``stop`` -> ``stopSequences``,
  ``n`` -> ``candidateCount``, ``seed``, ``presence_penalty`` -> ``presencePenalty``,
  ``frequency_penalty`` -> ``frequencyPenalty``. ``response_format``: ``json_object`` ->
  ``responseMimeType: application/json``; ``json_schema`` -> that plus ``responseSchema`` (converted);
  ``text`` -> nothing.
* ``reasoning_effort`` -> ``thinkingConfig`` with ``includeThoughts: true``: Gemini 3 models
  (``gemini-3...``) get ``thinkingLevel`` (`THINKING_LEVELS`), the others ``thinkingBudget``
  (`THINKING_BUDGETS`; ``none`` -> budget 0, no thoughts). An explicit Gemini ``thinkingConfig`` in the
  body wins.
* Gemini-only fields accepted as-is: ``safetySettings`` (or ``safety_settings``), ``cachedContent``.
  Every other OpenAI field (``logprobs``, ``logit_bias``, ``user``, ``metadata``, ``store``,
  ``stream_options``, ``parallel_tool_calls``, ``service_tier``, ``modalities``, ``audio``...) has no
  Gemini equivalent and is dropped: nothing unknown reaches Gemini.

Response rules (`gemini_to_openai_response`, `GeminiStreamTranslator`)
----------------------------------------------------------------------
* One choice per candidate (``index`` kept). Text parts joined -> ``content`` (``None`` when there are only
  function calls); ``thought: true`` parts -> ``reasoning_content`` (non-OpenAI extra field, as for
  Anthropic); ``functionCall`` parts -> ``tool_calls`` (id: Gemini's own ``id`` if any, else
  ``call_<random>``, plus the thought signature as above; ``arguments`` = compact JSON of ``args``).
  Streams send each function call whole, in one chunk.
* ``finishReason``: ``STOP`` -> ``stop`` (``tool_calls`` when the candidate holds function calls),
  ``MAX_TOKENS`` -> ``length``, the safety family (``SAFETY``, ``RECITATION``, ``BLOCKLIST``,
  ``PROHIBITED_CONTENT``, ``SPII``, ``IMAGE_SAFETY``...) -> ``content_filter``, anything else -> ``stop``.
* A prompt blocked by Gemini (``promptFeedback.blockReason`` and no candidate) raises `PromptBlocked`,
  which the provider answers as a 400 ``content_filter`` error naming the reason.
* usage: ``prompt_tokens = promptTokenCount + toolUsePromptTokenCount``, ``completion_tokens =
  candidatesTokenCount + thoughtsTokenCount``, ``total_tokens`` = Gemini's total (else the sum),
  ``prompt_tokens_details.cached_tokens = cachedContentTokenCount``,
  ``completion_tokens_details.reasoning_tokens = thoughtsTokenCount``. Stream chunks carry running
  totals: the last one seen is the answer's usage.
* ``id`` = ``responseId`` (else a fresh ``chatcmpl-...``), ``model`` = ``modelVersion`` (else the requested
  model), ``created`` = now.

Embeddings (`openai_to_gemini_embeddings`, `gemini_to_openai_embeddings`)
------------------------------------------------------------------------
* ``input`` (a string or a list of strings; token arrays rejected) -> ``batchEmbedContents`` with one
  request per string, ``dimensions`` -> ``outputDimensionality``. The answer is OpenAI's list of
  embeddings, as floats or, with ``encoding_format: base64``, as little-endian float32 base64 (what the
  openai SDK asks for by default); usage is 0 (Gemini does not count embedding tokens).
"""

from __future__ import annotations

from typing import Any

import orjson

from bifrost.providers.anthropic.translate import TranslationError, file_part_data, function_tools, parse_data_url
from bifrost.providers.gemini.embeddings import gemini_to_openai_embeddings, openai_to_gemini_embeddings
from bifrost.providers.gemini.response import (
    FINISH_REASONS,
    SIGNATURE_MARK,
    GeminiStreamTranslator,
    PromptBlocked,
    gemini_to_openai_response,
    gemini_usage_to_openai,
    split_call_id,
)
from bifrost.providers.gemini.schema import to_gemini_schema

JSONDict = dict[str, Any]

__all__ = [
    "FINISH_REASONS",
    "SIGNATURE_MARK",
    "THINKING_BUDGETS",
    "THINKING_LEVELS",
    "GeminiStreamTranslator",
    "PromptBlocked",
    "TranslationError",
    "gemini_to_openai_embeddings",
    "gemini_to_openai_response",
    "gemini_usage_to_openai",
    "openai_to_gemini_embeddings",
    "openai_to_gemini_request",
    "split_call_id",
]

THINKING_BUDGETS: dict[str, int] = {
    "none": 0,
    "minimal": 512,
    "low": 1024,
    "medium": 8192,
    "high": 24576,
    "xhigh": 32768,
    "max": 32768,
}
THINKING_LEVELS: dict[str, str] = {
    "none": "MINIMAL",
    "minimal": "MINIMAL",
    "low": "LOW",
    "medium": "MEDIUM",
    "high": "HIGH",
    "xhigh": "HIGH",
    "max": "HIGH",
}


_EXTENSION_TYPES = {
    "jpg": "image/jpeg", "jpeg": "image/jpeg", "png": "image/png", "gif": "image/gif", "webp": "image/webp",
    "heic": "image/heic", "heif": "image/heif", "pdf": "application/pdf", "mp3": "audio/mp3", "wav": "audio/wav",
    "mp4": "video/mp4",
}
_PASSED_THROUGH = (("safetySettings", "safetySettings"), ("safety_settings", "safetySettings"),
                   ("cachedContent", "cachedContent"), ("cached_content", "cachedContent"))


# ---------------------------------------------------------------------------------------------------
# request: OpenAI -> Gemini
# ---------------------------------------------------------------------------------------------------


SYSTEM_NOTE = "<system-reminder>{}</system-reminder>"  # a mid-conversation system message, as a user turn


def openai_to_gemini_request(body: JSONDict, model: str) -> JSONDict:
    """Translate an OpenAI chat completion request body into a Gemini ``generateContent`` body."""
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise TranslationError("messages must be a non-empty array", "messages")
    system_parts: list[JSONDict] = []
    contents: list[JSONDict] = []
    call_names: dict[str, str] = {}  # tool-call id -> function name, for the results that follow
    legacy_name: str | None = None
    for i, msg in enumerate(messages):
        if not isinstance(msg, dict):
            raise TranslationError("each message must be an object", f"messages[{i}]")
        role = msg.get("role")
        if role in ("system", "developer"):
            parts = _parts(msg.get("content"), i, system=True)
            if contents:  # mid-conversation: kept at its place, marked as a system note
                _append(contents, "user", [{**part, "text": SYSTEM_NOTE.format(part["text"])} for part in parts])
            else:
                system_parts.extend(parts)
        elif role == "user":
            _append(contents, "user", _parts(msg.get("content"), i))
        elif role == "assistant":
            parts, name = _assistant_parts(msg, i, call_names)
            legacy_name = name or legacy_name
            _append(contents, "model", parts)
        elif role == "tool":
            call_id = msg.get("tool_call_id")
            if not isinstance(call_id, str) or not call_id:
                raise TranslationError("tool messages need a tool_call_id", f"messages[{i}].tool_call_id")
            name = call_names.get(call_id)
            if name is None:
                raise TranslationError(
                    f"tool_call_id {call_id!r} matches no tool call of an earlier assistant message (Gemini "
                    "needs the function name of every result)",
                    f"messages[{i}].tool_call_id",
                )
            _append(contents, "user", [_function_response(name, msg.get("content"), i)])
        elif role == "function":
            name = msg.get("name") if isinstance(msg.get("name"), str) else legacy_name
            if not name:
                raise TranslationError("a function message needs a name", f"messages[{i}].name")
            _append(contents, "user", [_function_response(name, msg.get("content"), i)])
        else:
            raise TranslationError(f"unsupported message role {role!r}", f"messages[{i}].role")
    if not contents:
        raise TranslationError("messages must contain at least one user or assistant message with content", "messages")

    out: JSONDict = {"contents": contents}
    if system_parts:
        out["systemInstruction"] = {"parts": system_parts}
    declarations = _declarations(body)
    if declarations:
        out["tools"] = [{"functionDeclarations": declarations}]
        config = _tool_config(body)
        if config is not None:
            out["toolConfig"] = {"functionCallingConfig": config}
    generation = _generation_config(body, model)
    if generation:
        out["generationConfig"] = generation
    for source, target in _PASSED_THROUGH:
        if body.get(source) is not None:
            out[target] = body[source]
    return out


def _append(contents: list[JSONDict], role: str, parts: list[JSONDict]) -> None:
    if not parts:
        return
    if contents and contents[-1]["role"] == role:
        contents[-1]["parts"].extend(parts)
    else:
        contents.append({"role": role, "parts": parts})


def _parts(content: Any, i: int, system: bool = False) -> list[JSONDict]:
    if content is None:
        return []
    if isinstance(content, str):
        return [{"text": content}] if content else []
    if not isinstance(content, list):
        raise TranslationError("content must be a string or an array", f"messages[{i}].content")
    out = []
    for j, part in enumerate(content):
        param = f"messages[{i}].content[{j}]"
        if system and (not isinstance(part, dict) or part.get("type") != "text"):
            raise TranslationError("system and developer messages may only contain text for Gemini", param)
        converted = _part(part, param)
        if converted is not None:
            out.append(converted)
    return out


def _part(part: Any, param: str) -> JSONDict | None:
    if not isinstance(part, dict):
        raise TranslationError("content parts must be objects", param)
    ptype = part.get("type")
    if ptype == "text" or ptype == "refusal":
        text = part.get(ptype)
        if not isinstance(text, str):
            raise TranslationError(f"{ptype} parts need a {ptype} string", f"{param}.{ptype}")
        return {"text": text} if text else None
    if ptype == "image_url":
        image = part.get("image_url")
        url = image.get("url") if isinstance(image, dict) else image
        if not isinstance(url, str) or not url:
            raise TranslationError("image_url.url is required", f"{param}.image_url.url")
        if url.startswith("data:"):
            mime, data = parse_data_url(url, f"{param}.image_url.url")
            return {"inlineData": {"mimeType": "image/jpeg" if mime == "image/jpg" else mime, "data": data}}
        if url.startswith(("https://", "http://", "gs://")):
            return {"fileData": {"mimeType": _guess_type(url, "image/jpeg"), "fileUri": url}}
        raise TranslationError("image_url.url must be an http(s) URL or a base64 data URL", f"{param}.image_url.url")
    if ptype == "input_audio":
        audio = part.get("input_audio")
        if not isinstance(audio, dict) or not isinstance(audio.get("data"), str):
            raise TranslationError("input_audio.data is required", f"{param}.input_audio.data")
        fmt = audio.get("format") if isinstance(audio.get("format"), str) else "wav"
        return {"inlineData": {"mimeType": f"audio/{fmt}", "data": audio["data"]}}
    if ptype == "file":
        mime, payload = file_part_data(part.get("file"), f"{param}.file", "Gemini")
        return {"inlineData": {"mimeType": mime, "data": payload}}
    raise TranslationError(f"content part type {ptype!r} is not supported by Gemini", f"{param}.type")


def _guess_type(url: str, default: str) -> str:
    path = url.split("?", 1)[0].split("#", 1)[0]
    dot = path.rfind(".")
    return _EXTENSION_TYPES.get(path[dot + 1 :].lower(), default) if dot > path.rfind("/") else default


def _assistant_parts(msg: JSONDict, i: int, call_names: dict[str, str]) -> tuple[list[JSONDict], str | None]:
    parts: list[JSONDict] = []
    content = msg.get("content")
    if isinstance(content, str | list) or content is None:
        parts.extend(_parts(content, i))
    else:
        raise TranslationError("content must be a string or an array", f"messages[{i}].content")
    if not parts and isinstance(msg.get("refusal"), str) and msg["refusal"]:
        parts.append({"text": msg["refusal"]})
    tool_calls = msg.get("tool_calls")
    if tool_calls:
        if not isinstance(tool_calls, list):
            raise TranslationError("tool_calls must be an array", f"messages[{i}].tool_calls")
        for j, call in enumerate(tool_calls):
            param = f"messages[{i}].tool_calls[{j}]"
            if not isinstance(call, dict) or call.get("type", "function") != "function":
                raise TranslationError("only function tool calls are supported by Gemini", f"{param}.type")
            function = call.get("function") if isinstance(call.get("function"), dict) else {}
            name = function.get("name")
            if not isinstance(name, str) or not name:
                raise TranslationError("tool calls need a function name", f"{param}.function.name")
            call_id = call.get("id")
            signature = None
            if isinstance(call_id, str) and call_id:
                call_names[call_id] = name
                signature = split_call_id(call_id)[1]
            part: JSONDict = {"functionCall": {"name": name, "args": _arguments(function.get("arguments"), param)}}
            if signature:
                part["thoughtSignature"] = signature
            parts.append(part)
    legacy = msg.get("function_call")
    legacy_name = None
    if isinstance(legacy, dict) and isinstance(legacy.get("name"), str) and legacy["name"]:
        legacy_name = legacy["name"]
        args = _arguments(legacy.get("arguments"), f"messages[{i}].function_call")
        parts.append({"functionCall": {"name": legacy_name, "args": args}})
    return parts, legacy_name


def _arguments(arguments: Any, param: str) -> JSONDict:
    if isinstance(arguments, dict):
        return arguments
    if arguments is None or (isinstance(arguments, str) and not arguments.strip()):
        return {}
    if not isinstance(arguments, str):
        raise TranslationError("arguments must be a JSON string", f"{param}.function.arguments")
    try:
        parsed = orjson.loads(arguments)
    except orjson.JSONDecodeError as exc:
        raise TranslationError(f"arguments are not valid JSON: {exc}", f"{param}.function.arguments") from None
    if not isinstance(parsed, dict):
        raise TranslationError("arguments must be a JSON object for Gemini", f"{param}.function.arguments")
    return parsed


def _function_response(name: str, content: Any, i: int) -> JSONDict:
    if isinstance(content, list):
        text = "".join(p.get("text") or "" for p in content if isinstance(p, dict) and p.get("type") == "text")
    elif isinstance(content, str) or content is None:
        text = content or ""
    else:
        raise TranslationError("content must be a string or an array", f"messages[{i}].content")
    response: Any = None
    if text[:1] == "{":
        try:
            response = orjson.loads(text)
        except orjson.JSONDecodeError:
            response = None
    if not isinstance(response, dict):
        response = {"result": text}
    return {"functionResponse": {"name": name, "response": response}}


def _declarations(body: JSONDict) -> list[JSONDict]:
    return [_declaration(function, param) for function, param, _ in function_tools(body, "Gemini")]


def _declaration(function: Any, param: str) -> JSONDict:
    if not isinstance(function, dict) or not isinstance(function.get("name"), str) or not function["name"]:
        raise TranslationError("functions need a name", f"{param}.name")
    declaration: JSONDict = {"name": function["name"]}
    if isinstance(function.get("description"), str) and function["description"]:
        declaration["description"] = function["description"]
    parameters = function.get("parameters")
    if isinstance(parameters, dict):
        schema = to_gemini_schema(parameters)
        if schema.get("properties") or schema.get("type") not in (None, "object"):
            declaration["parameters"] = schema
    return declaration


def _tool_config(body: JSONDict) -> JSONDict | None:
    choice = body.get("tool_choice", body.get("function_call"))
    if choice is None:
        return None
    if choice == "auto":
        return {"mode": "AUTO"}
    if choice == "none":
        return {"mode": "NONE"}
    if choice == "required":
        return {"mode": "ANY"}
    if isinstance(choice, dict):
        function = choice.get("function") if isinstance(choice.get("function"), dict) else choice
        name = function.get("name")
        if isinstance(name, str) and name:
            return {"mode": "ANY", "allowedFunctionNames": [name]}
    raise TranslationError("tool_choice must be auto, none, required or a named function", "tool_choice")


def _generation_config(body: JSONDict, model: str) -> JSONDict:
    config: JSONDict = {}
    for source, target in (("temperature", "temperature"), ("top_p", "topP"), ("top_k", "topK"),
                           ("seed", "seed"), ("presence_penalty", "presencePenalty"),
                           ("frequency_penalty", "frequencyPenalty")):
        value = body.get(source)
        if value is not None:
            config[target] = value
    max_tokens = body.get("max_completion_tokens")
    if max_tokens is None:
        max_tokens = body.get("max_tokens")
    if max_tokens is not None:
        config["maxOutputTokens"] = max_tokens
    stop = body.get("stop")
    if isinstance(stop, str) and stop:
        config["stopSequences"] = [stop]
    elif isinstance(stop, list) and stop:
        config["stopSequences"] = [s for s in stop if isinstance(s, str) and s]
    n = body.get("n")
    if isinstance(n, int) and not isinstance(n, bool) and n > 1:
        config["candidateCount"] = n
    response_format = body.get("response_format")
    if isinstance(response_format, dict):
        rtype = response_format.get("type")
        if rtype in ("json_object", "json_schema"):
            config["responseMimeType"] = "application/json"
            spec = response_format.get("json_schema")
            if rtype == "json_schema" and isinstance(spec, dict) and isinstance(spec.get("schema"), dict):
                config["responseSchema"] = to_gemini_schema(spec["schema"])
        elif rtype != "text":
            raise TranslationError(f"unsupported response_format type {rtype!r}", "response_format.type")
    thinking = body.get("thinkingConfig")
    effort = body.get("reasoning_effort")
    if isinstance(thinking, dict):
        config["thinkingConfig"] = thinking
    elif effort is not None:
        if not isinstance(effort, str) or effort not in THINKING_BUDGETS:
            raise TranslationError(
                f"unsupported reasoning_effort {effort!r}; use one of {', '.join(THINKING_BUDGETS)}",
                "reasoning_effort",
            )
        if "gemini-3" in model:
            config["thinkingConfig"] = {"thinkingLevel": THINKING_LEVELS[effort], "includeThoughts": True}
        elif effort == "none":
            config["thinkingConfig"] = {"thinkingBudget": 0}
        else:
            config["thinkingConfig"] = {"thinkingBudget": THINKING_BUDGETS[effort], "includeThoughts": True}
    return config
