"""Canonical chat stream chunks -> the Responses API's stream events (rules in `bifrost.responses.translate`).

`ChatToResponsesStream` is fed chat chunks one at a time and returns the events each one completes; it
also builds the final ``Response`` (``.response``) that ``response.completed`` carries and the gateway
stores. Pure: no I/O, no provider names.
"""

from __future__ import annotations

import time
from typing import Any

from bifrost.responses.translate import (
    JSONDict,
    error_code,
    finish_status,
    function_call_item,
    message_item,
    new_id,
    reasoning_item,
    response_skeleton,
    text_part,
    usage_to_responses,
)


class ChatToResponsesStream:
    """One translated stream. `start`, then `feed` per chunk, then `finish` (or `fail`)."""

    def __init__(self, body: JSONDict, response_id: str, model: str) -> None:
        self.response = response_skeleton(body, response_id, model)
        self.sequence = 0
        self._output: list[JSONDict] = []  # finished items, in order
        self._open: str | None = None  # "reasoning" | "message" | "tool"
        self._item: JSONDict | None = None
        self._text: list[str] = []
        self._calls: dict[int, JSONDict] = {}  # chat tool-call index -> open function_call item
        self._finish: Any = None
        self._usage: Any = None

    # -- events ----------------------------------------------------------------------------------------
    def _event(self, kind: str, **fields: Any) -> JSONDict:
        event = {"type": kind, "sequence_number": self.sequence, **fields}
        self.sequence += 1
        return event

    def _snapshot(self) -> JSONDict:
        return {**self.response, "output": list(self._output)}

    def start(self) -> list[JSONDict]:
        snapshot = self._snapshot()
        created = self._event("response.created", response=snapshot)
        return [created, self._event("response.in_progress", response=snapshot)]

    def feed(self, chunk: JSONDict) -> list[JSONDict]:
        events: list[JSONDict] = []
        if chunk.get("model"):
            self.response["model"] = chunk["model"]
        if chunk.get("usage"):
            self._usage = chunk["usage"]
        for choice in chunk.get("choices") or ():
            if not isinstance(choice, dict) or choice.get("index", 0) != 0:
                continue
            delta = choice.get("delta") if isinstance(choice.get("delta"), dict) else {}
            thinking = delta.get("reasoning_content") or delta.get("reasoning")
            if isinstance(thinking, str) and thinking:
                events += self._reasoning_delta(thinking)
            content = delta.get("content")
            if isinstance(content, str) and content:
                events += self._text_delta(content)
            for call in delta.get("tool_calls") or ():
                if isinstance(call, dict):
                    events += self._tool_delta(call)
            if choice.get("finish_reason"):
                self._finish = choice["finish_reason"]
        return events

    def finish(self, usage: Any = None) -> list[JSONDict]:
        events = self._close()
        status, details = finish_status(self._finish)
        resp = self.response
        resp["status"] = status
        resp["incomplete_details"] = details
        resp["completed_at"] = int(time.time()) if status == "completed" else None
        resp["output"] = list(self._output)
        final_usage = usage_to_responses(self._usage or usage)
        if final_usage is not None:
            resp["usage"] = final_usage
        kind = "response.completed" if status == "completed" else "response.incomplete"
        events.append(self._event(kind, response=resp))
        return events

    def fail(self, status: int, message: str) -> list[JSONDict]:
        """The stream broke after it started: ``response.failed`` then an ``error`` event."""
        code = error_code(status)
        resp = self.response
        resp["status"] = "failed"
        resp["error"] = {"code": code, "message": message}
        resp["output"] = list(self._output)
        return [
            self._event("response.failed", response=resp),
            self._event("error", code=code, message=message, param=None),
        ]

    # -- items -------------------------------------------------------------------------------------------
    def _begin(self, kind: str, item: JSONDict) -> list[JSONDict]:
        events = self._close()
        self._open, self._item, self._text = kind, item, []
        added = {**item, "status": "in_progress"} if kind != "reasoning" else dict(item)
        events.append(self._event("response.output_item.added", output_index=len(self._output), item=added))
        return events

    def _reasoning_delta(self, text: str) -> list[JSONDict]:
        events: list[JSONDict] = []
        if self._open != "reasoning":
            item = reasoning_item("", None)
            events += self._begin("reasoning", item)
            events.append(
                self._event(
                    "response.reasoning_summary_part.added", item_id=item["id"], output_index=len(self._output),
                    summary_index=0, part={"type": "summary_text", "text": ""},
                )
            )
        assert self._item is not None
        self._text.append(text)
        events.append(
            self._event(
                "response.reasoning_summary_text.delta", item_id=self._item["id"], output_index=len(self._output),
                summary_index=0, delta=text,
            )
        )
        return events

    def _text_delta(self, text: str) -> list[JSONDict]:
        events: list[JSONDict] = []
        if self._open != "message":
            item = message_item([], status="in_progress")
            events += self._begin("message", item)
            events.append(
                self._event(
                    "response.content_part.added", item_id=item["id"], output_index=len(self._output),
                    content_index=0, part=text_part(""),
                )
            )
        assert self._item is not None
        self._text.append(text)
        events.append(
            self._event(
                "response.output_text.delta", item_id=self._item["id"], output_index=len(self._output),
                content_index=0, delta=text, logprobs=[],
            )
        )
        return events

    def _tool_delta(self, call: JSONDict) -> list[JSONDict]:
        events: list[JSONDict] = []
        index = call.get("index", 0)
        function = call.get("function") if isinstance(call.get("function"), dict) else {}
        if index not in self._calls or (call.get("id") and call["id"] != self._calls[index]["call_id"]):
            item = function_call_item(str(call.get("id") or new_id("call_")), str(function.get("name") or ""), "")
            events += self._begin("tool", item)
            self._calls[index] = item
        item = self._calls[index]
        piece = function.get("arguments")
        if self._item is not item:  # a fragment of an earlier, already finished call (not sent by OpenAI)
            if isinstance(piece, str):
                item["arguments"] += piece
            return events
        if isinstance(piece, str) and piece:
            self._text.append(piece)
            events.append(
                self._event(
                    "response.function_call_arguments.delta", item_id=item["id"], output_index=len(self._output),
                    delta=piece,
                )
            )
        return events

    def _close(self) -> list[JSONDict]:
        """End the open item: its .done events, then ``output_item.done``."""
        item, kind = self._item, self._open
        if item is None:
            return []
        self._item = self._open = None
        index = len(self._output)
        text = "".join(self._text)
        events: list[JSONDict] = []
        if kind == "reasoning":
            part = {"type": "summary_text", "text": text}
            item["summary"] = [part]
            events.append(
                self._event("response.reasoning_summary_text.done", item_id=item["id"], output_index=index,
                            summary_index=0, text=text)
            )
            events.append(
                self._event("response.reasoning_summary_part.done", item_id=item["id"], output_index=index,
                            summary_index=0, part=part)
            )
        elif kind == "message":
            part = text_part(text)
            item["content"] = [part]
            item["status"] = "completed"
            events.append(
                self._event("response.output_text.done", item_id=item["id"], output_index=index, content_index=0,
                            text=text, logprobs=[])
            )
            events.append(
                self._event("response.content_part.done", item_id=item["id"], output_index=index, content_index=0,
                            part=part)
            )
        else:
            item["arguments"] = text
            item["status"] = "completed"
            events.append(
                self._event("response.function_call_arguments.done", item_id=item["id"], output_index=index,
                            name=item["name"], arguments=text)
            )
        self._output.append(item)
        events.append(self._event("response.output_item.done", output_index=index, item=item))
        return events
