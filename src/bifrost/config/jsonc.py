"""JSON with `//` and `/* */` comments and trailing commas, as the docs' config snippets are written.

Comments and trailing commas are blanked out in place (newlines kept), so the standard JSON parser's
line and column numbers still point into the text the user wrote.
"""

from __future__ import annotations

import json
from typing import Any


class JsoncError(ValueError):
    def __init__(self, message: str, line: int, column: int) -> None:
        self.message = message
        self.line = line
        self.column = column
        super().__init__(f"line {line}, column {column}: {message}")


def loads(text: str) -> Any:
    """Parse JSONC text. Raises JsoncError with a 1-based line and column."""
    try:
        return json.loads(strip(text))
    except json.JSONDecodeError as exc:
        raise JsoncError(exc.msg, exc.lineno, exc.colno) from None


def strip(text: str) -> str:
    """The same text, same length, with comments and trailing commas replaced by spaces."""
    chars = list(text)
    pending_comma = -1  # index of a comma not yet followed by a significant character
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c == '"':
            pending_comma = -1
            i = _string_end(text, i)
            continue
        if c == "/" and text.startswith("//", i):
            end = text.find("\n", i)
            end = n if end < 0 else end
            _blank(chars, i, end)
            i = end
            continue
        if c == "/" and text.startswith("/*", i):
            end = text.find("*/", i + 2)
            if end < 0:
                raise JsoncError("unterminated /* comment", *_line_column(text, i))
            _blank(chars, i, end + 2)
            i = end + 2
            continue
        if c in "}]" and pending_comma >= 0:
            chars[pending_comma] = " "
        if not c.isspace():
            pending_comma = i if c == "," else -1
        i += 1
    return "".join(chars)


def _string_end(text: str, start: int) -> int:
    """Index just past the string literal opening at `start` (an unterminated one is left to json)."""
    i = start + 1
    while i < len(text):
        c = text[i]
        if c == "\\":
            i += 2
        elif c == '"':
            return i + 1
        elif c == "\n":
            return i
        else:
            i += 1
    return len(text)


def _blank(chars: list[str], start: int, end: int) -> None:
    for i in range(start, end):
        if chars[i] not in "\r\n":
            chars[i] = " "


def _line_column(text: str, index: int) -> tuple[int, int]:
    line = text.count("\n", 0, index) + 1
    return line, index - (text.rfind("\n", 0, index) + 1) + 1
