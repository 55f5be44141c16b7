"""OpenAI Chat Completions (canonical) <-> AWS Bedrock Converse / ConverseStream, as pure functions.

Request rules (`openai_to_converse_request`)
--------------------------------------------
* ``system``/``developer`` messages, wherever they are, -> top-level ``system: [{"text": ...}]`` (text only).
* ``user``/``assistant`` -> ``messages`` with content blocks; consecutive turns of the same role are merged
  (Converse wants alternation); ``tool`` results join the user turn as ``toolResult`` blocks
  (``{"toolUseId", "content": [{"text"}]}``), placed before other blocks of that turn. Empty texts are left out.
* Parts: ``text`` -> ``{"text"}``; ``image_url`` with a base64 data URL -> ``{"image": {"format", "source":
  {"bytes"}}}`` (png, jpeg, gif, webp); an http(s) image URL is rejected (400: Converse takes bytes or S3
  only); ``file`` with base64 ``file_data`` -> ``{"document": {"format", "name", "source": {"bytes"}}}``
  (pdf, csv, doc, docx, xls, xlsx, html, txt, md; ``name`` from ``filename`` without its extension, reduced to
  the characters Bedrock allows, default ``document``); ``input_audio`` and ``file_id`` are rejected.
* Assistant ``tool_calls`` -> ``toolUse`` blocks (``toolUseId``, ``name``, ``input`` parsed from the arguments).
* ``tools`` -> ``toolConfig.tools[].toolSpec`` (``name``, ``description``, ``inputSchema.json``); ``tool_choice``
  auto -> ``{"auto": {}}``, required -> ``{"any": {}}``, a function -> ``{"tool": {"name"}}``; ``none`` is
  rejected (Converse has no such choice; leave the tools out instead). Without tools, tool_choice is dropped.
* ``inferenceConfig``: ``max_completion_tokens``/``max_tokens`` -> ``maxTokens``, ``temperature``, ``top_p`` ->
  ``topP``, ``stop`` -> ``stopSequences``. ``top_k`` goes to ``additionalModelRequestFields.top_k``;
  ``reasoning_effort`` (not none) -> ``additionalModelRequestFields.thinking`` (Anthropic-on-Bedrock budgets).
* ``n`` > 1 is rejected; every other OpenAI field is dropped.

Response rules (`converse_to_openai_response`, `ConverseStreamTranslator`)
---------------------------------------------------------------------------
* ``text`` blocks joined -> ``content``; ``toolUse`` -> ``tool_calls`` (id, name, input as JSON text);
  ``reasoningContent.reasoningText.text`` -> ``reasoning_content``.
* ``stopReason``: end_turn / stop_sequence -> stop, max_tokens -> length, tool_use -> tool_calls,
  guardrail_intervened / content_filtered -> content_filter.
* usage: ``inputTokens`` (+ ``cacheReadInputTokens`` + ``cacheWriteInputTokens``) -> prompt,
  ``outputTokens`` -> completion, cache reads -> ``cached_tokens``.
* Stream events (AWS event-stream frames, decoded by botocore): ``messageStart`` -> the role chunk,
  ``contentBlockStart`` with ``toolUse`` -> a tool call with id and name, ``contentBlockDelta`` text /
  ``toolUse.input`` / ``reasoningContent`` -> deltas, ``messageStop`` -> finish reason, ``metadata`` -> usage
  (the usage chunk when the client asked for it). An exception frame ends the stream with an error.
* Embeddings (InvokeModel): Titan models get one ``{"inputText"}`` call per input (``dimensions`` kept);
  Cohere models one ``{"texts", "input_type"}`` call (default ``search_document``).
"""

from __future__ import annotations

import re
from typing import Any

from bifrost.providers.canonical import (
    ChunkWriter,
    JSONDict,
    TranslationError,
    completion,
    count,
    data_url,
    max_tokens,
    reject_n,
    stop_sequences,
    tool_arguments,
    tool_call,
    tool_choice,
    tool_definitions,
    usage,
)

STOP_REASONS = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    "tool_use": "tool_calls",
    "guardrail_intervened": "content_filter",
    "content_filtered": "content_filter",
}
REASONING_BUDGETS = {"minimal": 1024, "low": 1024, "medium": 4096, "high": 16384}
_IMAGE_FORMATS = {
    "image/png": "png",
    "image/jpeg": "jpeg",
    "image/jpg": "jpeg",
    "image/gif": "gif",
    "image/webp": "webp",
}
_DOCUMENT_FORMATS = {
    "application/pdf": "pdf",
    "text/csv": "csv",
    "application/msword": "doc",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": "docx",
    "application/vnd.ms-excel": "xls",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": "xlsx",
    "text/html": "html",
    "text/plain": "txt",
    "text/markdown": "md",
}
_NAME_CHARS = re.compile(r"[^A-Za-z0-9 \-()\[\]]+")


def openai_to_converse_request(body: JSONDict) -> JSONDict:
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise TranslationError("messages must be a non-empty array", "messages")
    reject_n(body, "Bedrock")
    system: list[JSONDict] = []
    turns: list[JSONDict] = []
    for i, msg in enumerate(messages):
        param = f"messages[{i}]"
        if not isinstance(msg, dict):
            raise TranslationError("each message must be an object", param)
        role = msg.get("role")
        if role in ("system", "developer"):
            text = _text_only(msg.get("content"), f"{param}.content")
            if text:
                system.append({"text": text})
        elif role == "user":
            _append(turns, "user", _user_blocks(msg.get("content"), f"{param}.content"))
        elif role == "assistant":
            _append(turns, "assistant", _assistant_blocks(msg, param))
        elif role == "tool":
            call_id = msg.get("tool_call_id")
            if not isinstance(call_id, str) or not call_id:
                raise TranslationError("tool messages need a tool_call_id", f"{param}.tool_call_id")
            text = _text_only(msg.get("content"), f"{param}.content")
            result = {"toolResult": {"toolUseId": call_id, "content": [{"text": text}] if text else []}}
            _append(turns, "user", [result])
        else:
            raise TranslationError(f"unsupported message role {role!r}", f"{param}.role")
    if not turns:
        raise TranslationError("messages must contain a user or assistant message with content", "messages")
    for turn in turns:
        if turn["role"] == "user":  # tool results first in their turn
            turn["content"].sort(key=lambda block: "toolResult" not in block)
    out: JSONDict = {"messages": turns}
    if system:
        out["system"] = system
    config: JSONDict = {}
    limit = max_tokens(body)
    if limit is not None:
        config["maxTokens"] = limit
    if body.get("temperature") is not None:
        config["temperature"] = body["temperature"]
    if body.get("top_p") is not None:
        config["topP"] = body["top_p"]
    stops = stop_sequences(body)
    if stops:
        config["stopSequences"] = stops
    if config:
        out["inferenceConfig"] = config
    tools = tool_definitions(body)
    if tools:
        specs = []
        for name, description, schema in tools:
            spec: JSONDict = {"name": name, "inputSchema": {"json": schema}}
            if description:
                spec["description"] = description
            specs.append({"toolSpec": spec})
        out["toolConfig"] = {"tools": specs}
        choice = tool_choice(body)
        if choice == "none":
            raise TranslationError("Bedrock Converse has no tool_choice 'none'; leave the tools out", "tool_choice")
        if choice == "auto":
            out["toolConfig"]["toolChoice"] = {"auto": {}}
        elif choice == "required":
            out["toolConfig"]["toolChoice"] = {"any": {}}
        elif choice is not None:
            out["toolConfig"]["toolChoice"] = {"tool": {"name": choice}}
    extra: JSONDict = {}
    if body.get("top_k") is not None:
        extra["top_k"] = body["top_k"]
    effort = body.get("reasoning_effort")
    if isinstance(effort, str) and effort != "none":
        budget = REASONING_BUDGETS.get(effort)
        if budget is None:
            raise TranslationError(f"unsupported reasoning_effort {effort!r}", "reasoning_effort")
        extra["thinking"] = {"type": "enabled", "budget_tokens": budget}
    if extra:
        out["additionalModelRequestFields"] = extra
    return out


def _append(turns: list[JSONDict], role: str, blocks: list[JSONDict]) -> None:
    if not blocks:
        return
    if turns and turns[-1]["role"] == role:
        turns[-1]["content"].extend(blocks)
    else:
        turns.append({"role": role, "content": blocks})


def _text_only(content: Any, param: str) -> str:
    if content is None or isinstance(content, str):
        return content or ""
    if not isinstance(content, list):
        raise TranslationError("content must be a string or an array of parts", param)
    texts = []
    for j, part in enumerate(content):
        if not isinstance(part, dict) or part.get("type") != "text":
            raise TranslationError("only text parts are accepted here", f"{param}[{j}]")
        texts.append(str(part.get("text") or ""))
    return "".join(texts)


def _user_blocks(content: Any, param: str) -> list[JSONDict]:
    if content is None or isinstance(content, str):
        return [{"text": content}] if content and content.strip() else []
    if not isinstance(content, list):
        raise TranslationError("content must be a string or an array of parts", param)
    blocks: list[JSONDict] = []
    for j, part in enumerate(content):
        kind = part.get("type") if isinstance(part, dict) else None
        where = f"{param}[{j}]"
        if kind == "text":
            text = str(part.get("text") or "")
            if text.strip():
                blocks.append({"text": text})
        elif kind == "image_url":
            blocks.append(_image(part.get("image_url"), where))
        elif kind == "file":
            blocks.append(_document(part.get("file"), where))
        else:
            raise TranslationError(f"content part type {kind!r} is not supported by Bedrock", where)
    return blocks


def _image(image: Any, param: str) -> JSONDict:
    url = image.get("url") if isinstance(image, dict) else None
    parsed = data_url(url) if isinstance(url, str) else None
    if parsed is None:
        raise TranslationError("Bedrock takes images as base64 data URLs only (not http URLs)", f"{param}.image_url")
    media, data = parsed
    fmt = _IMAGE_FORMATS.get(media)
    if fmt is None:
        raise TranslationError(f"image type {media!r} is not supported by Bedrock", f"{param}.image_url")
    return {"image": {"format": fmt, "source": {"bytes": data}}}


def _document(file: Any, param: str) -> JSONDict:
    raw = file.get("file_data") if isinstance(file, dict) else None
    if not isinstance(raw, str) or not raw:
        raise TranslationError("Bedrock takes documents as base64 file_data only", f"{param}.file")
    media, data = data_url(raw) or ("application/pdf", raw)
    fmt = _DOCUMENT_FORMATS.get(media)
    if fmt is None:
        raise TranslationError(f"document type {media!r} is not supported by Bedrock", f"{param}.file")
    filename = file.get("filename") if isinstance(file.get("filename"), str) else ""
    name = " ".join(_NAME_CHARS.sub(" ", filename.rsplit(".", 1)[0]).split()) or "document"
    return {"document": {"format": fmt, "name": name, "source": {"bytes": data}}}


def _assistant_blocks(msg: JSONDict, param: str) -> list[JSONDict]:
    text = _text_only(msg.get("content"), f"{param}.content")
    blocks: list[JSONDict] = [{"text": text}] if text.strip() else []
    for j, call in enumerate(msg.get("tool_calls") or ()):
        where = f"{param}.tool_calls[{j}]"
        function = call.get("function") if isinstance(call, dict) else None
        if not isinstance(function, dict) or not isinstance(function.get("name"), str):
            raise TranslationError("a tool call needs a function name", where)
        blocks.append(
            {
                "toolUse": {
                    "toolUseId": str(call.get("id") or ""),
                    "name": function["name"],
                    "input": tool_arguments(function.get("arguments"), f"{where}.function.arguments"),
                }
            }
        )
    return blocks


# --- responses ----------------------------------------------------------------------------------------


def _finish(reason: Any) -> str:
    return STOP_REASONS.get(reason, "stop") if isinstance(reason, str) else "stop"


def _usage(raw: Any) -> JSONDict:
    raw = raw if isinstance(raw, dict) else {}
    cached = count(raw.get("cacheReadInputTokens"))
    prompt = count(raw.get("inputTokens")) + cached + count(raw.get("cacheWriteInputTokens"))
    return usage(prompt, count(raw.get("outputTokens")), cached)


def converse_to_openai_response(resp: JSONDict, model: str, rid: str) -> JSONDict:
    message = (resp.get("output") or {}).get("message") or {}
    texts, thoughts, calls = [], [], []
    for block in message.get("content") or ():
        if not isinstance(block, dict):
            continue
        if "text" in block:
            texts.append(str(block["text"]))
        elif isinstance(block.get("toolUse"), dict):
            use = block["toolUse"]
            calls.append(tool_call(str(use.get("toolUseId") or ""), str(use.get("name") or ""), use.get("input")))
        elif isinstance(block.get("reasoningContent"), dict):
            thoughts.append(str((block["reasoningContent"].get("reasoningText") or {}).get("text") or ""))
    out = completion(rid, model, "".join(texts), calls, _finish(resp.get("stopReason")), _usage(resp.get("usage")))
    if thoughts:
        out["choices"][0]["message"]["reasoning_content"] = "".join(thoughts)
    return out


class ConverseStreamTranslator:
    """ConverseStream events (``:event-type`` name, JSON payload) -> ``chat.completion.chunk`` dicts."""

    def __init__(self, model: str, rid: str, include_usage: bool) -> None:
        self.writer = ChunkWriter(rid, model)
        self.include_usage = include_usage
        self.usage: JSONDict = usage(0, 0)
        self.finish_reason: str | None = None
        self.done = False
        self._tools: dict[int, int] = {}  # contentBlockIndex -> tool call index

    def feed(self, event: str, data: JSONDict) -> list[JSONDict]:
        w = self.writer
        if event == "contentBlockDelta":
            delta = data.get("delta") or {}
            if "text" in delta:
                return [w.chunk({"content": delta["text"]})] if delta["text"] else []
            if isinstance(delta.get("toolUse"), dict):
                index = self._tools.get(count(data.get("contentBlockIndex")))
                partial = delta["toolUse"].get("input")
                return [w.tool_arguments(index, partial)] if index is not None and partial else []
            reasoning = delta.get("reasoningContent")
            if isinstance(reasoning, dict) and reasoning.get("text"):
                return [w.chunk({"reasoning_content": reasoning["text"]})]
            return []
        if event == "contentBlockStart":
            use = (data.get("start") or {}).get("toolUse")
            if not isinstance(use, dict):
                return []
            index = self._tools[count(data.get("contentBlockIndex"))] = len(self._tools)
            return [w.tool_start(index, str(use.get("toolUseId") or ""), str(use.get("name") or ""))]
        if event == "messageStart":
            return [w.chunk({"role": "assistant", "content": ""})]
        if event == "messageStop":
            self.finish_reason = _finish(data.get("stopReason"))
            return [w.chunk({}, self.finish_reason)]
        if event == "metadata":
            self.done = True
            self.usage.update(_usage(data.get("usage")))  # in place: the provider handed this dict out
            return [w.usage_chunk(self.usage)] if self.include_usage else []
        return []  # contentBlockStop


# --- embeddings (InvokeModel) -------------------------------------------------------------------------


def embedding_inputs(body: JSONDict) -> list[str]:
    raw = body.get("input")
    texts = [raw] if isinstance(raw, str) else raw
    if not isinstance(texts, list) or not texts or not all(isinstance(t, str) for t in texts):
        raise TranslationError("Bedrock embeddings take a string or an array of strings", "input")
    return texts


def is_cohere_model(model_id: str) -> bool:
    return "cohere." in model_id


def titan_request(text: str, body: JSONDict) -> JSONDict:
    out: JSONDict = {"inputText": text}
    if isinstance(body.get("dimensions"), int):
        out["dimensions"] = body["dimensions"]
    return out


def cohere_request(texts: list[str], body: JSONDict) -> JSONDict:
    input_type = body.get("input_type") if isinstance(body.get("input_type"), str) else "search_document"
    return {"texts": texts, "input_type": input_type}
