"""Scripts: how the fake answers one request, and where they come from.

A script is a plain JSON object (all fields optional); see ``SCRIPT_FIELDS``.
Resolution order for a request: the ``x-fake-script`` header, then the FIFO
queue (each used once), then sticky rules, then the default script.

Random faults (load and soak tests): ``"fail_rate": p`` makes the script's faults
(``FAULT_FIELDS``) apply to a request with probability ``p`` only; otherwise the request
is answered normally. With ``"faults": [{...}, ...]`` a failing request takes one of
those partial scripts, picked uniformly at random, over the script's own fields.

Hostile upstreams: ``"redirect_to": URL`` answers a redirect (``status`` if it is 3xx, else 307) to URL;
``"error_size": N`` pads a scripted error's message to N bytes; ``"echo_key": ["type", "code", "param",
"message"]`` puts the API key the request carried into those fields of a scripted error (and the
``type`` of a scripted stream error), as careless upstreams do.
"""

from __future__ import annotations

import random
from collections import deque
from typing import Any

import orjson

Script = dict[str, Any]

SCRIPT_FIELDS: frozenset[str] = frozenset(
    {
        "reply",
        "tool_calls",
        "thinking",
        "usage",
        "finish_reason",
        "latency_ms",
        "chunk_delay_ms",
        "end_delay_ms",
        "status",
        "error_message",
        "error_type",
        "error_code",
        "error_body",
        "retry_after",
        "headers",
        "malformed",
        "malformed_after",
        "cut_after",
        "stall_after",
        "stream_error_after",
        "match",
        "fail_rate",
        "faults",
        "redirect_to",
        "error_size",
        "echo_key",
    }
)
# What `fail_rate` switches on and off: everything that makes an answer fail.
FAULT_FIELDS: frozenset[str] = frozenset(
    {"status", "malformed", "malformed_after", "cut_after", "stall_after", "stream_error_after", "redirect_to"}
)
MATCH_FIELDS: frozenset[str] = frozenset({"model", "key", "path"})


class ScriptError(ValueError):
    """A script that is not a JSON object or names unknown fields."""


def validate_script(script: Any) -> Script:
    """Return ``script`` if it is a well-formed script, else raise ScriptError."""
    if not isinstance(script, dict):
        raise ScriptError(f"a script must be a JSON object, got {type(script).__name__}")
    unknown = set(script) - SCRIPT_FIELDS
    if unknown:
        raise ScriptError(f"unknown script field(s) {sorted(unknown)}; known: {sorted(SCRIPT_FIELDS)}")
    match = script.get("match")
    if match is not None:
        if not isinstance(match, dict):
            raise ScriptError("'match' must be an object")
        bad = set(match) - MATCH_FIELDS
        if bad:
            raise ScriptError(f"unknown match field(s) {sorted(bad)}; known: {sorted(MATCH_FIELDS)}")
    rate = script.get("fail_rate")
    if rate is not None and (isinstance(rate, bool) or not isinstance(rate, int | float) or not 0 <= rate <= 1):
        raise ScriptError("'fail_rate' must be a number between 0 and 1")
    faults = script.get("faults")
    if faults is not None:
        if not isinstance(faults, list) or not faults:
            raise ScriptError("'faults' must be a non-empty list of partial scripts")
        for fault in faults:
            validate_script(fault)
            if {"match", "fail_rate", "faults"} & set(fault):
                raise ScriptError("a fault may not carry 'match', 'fail_rate' or 'faults'")
    return script


def roll(script: Script, draw: float | None = None) -> Script:
    """The script one request gets once ``fail_rate`` is applied (unchanged without one)."""
    rate = script.get("fail_rate")
    if rate is None:
        return script
    if (random.random() if draw is None else draw) < rate:
        faults = script.get("faults")
        return {**script, **random.choice(faults)} if faults else script
    return {name: value for name, value in script.items() if name not in FAULT_FIELDS}


def parse_header_script(raw: str) -> Script:
    """Parse the JSON of an ``x-fake-script`` header."""
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise ScriptError(f"x-fake-script is not valid JSON: {exc}") from None
    return validate_script(value)


def _path_fits(pattern: str, path: str) -> bool:
    if pattern.endswith("*"):
        return path.startswith(pattern[:-1])
    return path == pattern


def matches(script: Script, model: str, key: str | None, path: str) -> bool:
    """True when every field of the script's ``match`` fits the request.

    ``path`` matches exactly, or as a prefix when the pattern ends with ``*``.
    """
    match = script.get("match")
    if not match:
        return True
    if "model" in match and match["model"] != model:
        return False
    if "key" in match and match["key"] != key:
        return False
    return not ("path" in match and not _path_fits(str(match["path"]), path))


class ScriptBook:
    """Queued scripts, sticky rules and the default script."""

    __slots__ = ("default", "queue", "rules")

    def __init__(self) -> None:
        self.queue: deque[Script] = deque()
        self.rules: list[Script] = []
        self.default: Script | None = None

    def clear(self) -> None:
        self.queue.clear()
        self.rules = []
        self.default = None

    def pick(self, model: str, key: str | None, path: str) -> Script | None:
        """The script for a request without an ``x-fake-script`` header, or None."""
        queue = self.queue
        if queue:
            for i, script in enumerate(queue):
                if matches(script, model, key, path):
                    del queue[i]
                    return script
        for rule in self.rules:
            if matches(rule, model, key, path):
                return rule
        default = self.default
        if default is not None and matches(default, model, key, path):
            return default
        return None
