"""Reading parsed JSON one value at a time: type and range checks, `env.NAME`, unknown-field hints.

Readers never raise: they record a Problem at the value's JSON path and return None (or the default),
so one pass over the config reports everything that is wrong with it.
"""

from __future__ import annotations

import difflib
import json
import math
import re
from collections.abc import Callable, Collection, Mapping
from typing import Any, TypeVar

from bifrost.config.errors import Problem

T = TypeVar("T")

ENV_PREFIX = "env."
_PLAIN_KEY = re.compile(r'[^\s\[\]"]+')


def join(path: str, key: str) -> str:
    """`providers` + `openai` -> `providers.openai`; empty keys or ones with spaces are quoted: `x["a b"]`."""
    if not _PLAIN_KEY.fullmatch(key):
        return f"{path}[{json.dumps(key)}]"
    return f"{path}.{key}" if path else key


def index(path: str, i: int) -> str:
    return f"{path}[{i}]"


def json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object" if isinstance(value, dict) else type(value).__name__


def env_var_name(value: str) -> str | None:
    """`env.NAME` -> `NAME`; any other string (`env.` alone included) -> None."""
    return value[len(ENV_PREFIX) :] if value.startswith(ENV_PREFIX) and len(value) > len(ENV_PREFIX) else None


def shown(raw: str) -> str:
    """A string as written in the config, for messages; a value read from the environment stays hidden."""
    return f"the value of {raw}" if env_var_name(raw) is not None else repr(raw)


def did_you_mean(word: str, candidates: Collection[str]) -> str:
    """A `; did you mean 'x'?` suffix naming the closest candidate, or an empty string."""
    match = difflib.get_close_matches(word, list(candidates), n=1)
    return f"; did you mean '{match[0]}'?" if match else ""


class Reader:
    """Collects problems and warnings while typed values are read out of the parsed JSON."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self.env = env
        self.problems: list[Problem] = []
        self.warnings: list[str] = []

    def error(self, path: str, message: str) -> None:
        self.problems.append(Problem(path or "$", message))

    def type_error(self, path: str, expected: str, value: Any) -> None:
        self.error(path, f"expected {expected}, got {json_type(value)}")

    def obj(
        self,
        value: Any,
        path: str,
        fields: Collection[str],
        aliases: Mapping[str, str] | None = None,
        elsewhere: Mapping[str, str] | None = None,
    ) -> Obj | None:
        """An object with only the given fields (aliases map older spellings to them).

        `elsewhere` names the section a misplaced field belongs in, for the unknown-field message.
        """
        if not isinstance(value, dict):
            self.type_error(path, "an object", value)
            return None
        obj = Obj(self, path)
        for key, item in value.items():
            name = aliases.get(key, key) if aliases else key
            key_path = join(path, key)
            if name not in fields:
                known = [f for f in fields if not f.startswith("$")]
                hint = did_you_mean(key, known) or f"; known fields: {', '.join(known)}"
                if elsewhere and key in elsewhere:
                    hint = f"; it belongs in {elsewhere[key]}"
                self.error(key_path, f"unknown field '{key}'{hint}")
            elif name in obj.paths:
                self.error(key_path, f"same setting as '{obj.paths[name]}'; give only one of them")
            else:
                obj.paths[name] = key_path
                if item is not None:  # null means "not set", as in the original Go implementation
                    obj.values[name] = item
        return obj

    def string(self, value: Any, path: str) -> str | None:
        """A string; "env.NAME" is replaced by that environment variable (missing: a problem)."""
        if not isinstance(value, str):
            self.type_error(path, "a string", value)
            return None
        var = env_var_name(value)
        if var is None:
            return value
        resolved = self.env.get(var)
        if resolved is None:
            self.error(path, f"environment variable {var} is not set")
        return resolved

    def choice(self, value: Any, path: str, options: Collection[str]) -> str | None:
        text = self.string(value, path)
        if text is None or text in options:
            return text
        hint = did_you_mean(text, options)
        self.error(path, f"must be one of {', '.join(options)}; got {shown(value)}{hint}")
        return None

    def boolean(self, value: Any, path: str) -> bool | None:
        if isinstance(value, bool):
            return value
        self.type_error(path, "a boolean (true or false)", value)
        return None

    def number(
        self, value: Any, path: str, *, gt: float | None = None, ge: float | None = None
    ) -> float | None:
        if isinstance(value, bool) or not isinstance(value, int | float):
            self.type_error(path, "a number", value)
            return None
        if not math.isfinite(value):
            self.error(path, "must be a finite number")
            return None
        return float(value) if self._in_range(value, path, gt, ge) else None

    def integer(self, value: Any, path: str, *, ge: int | None = None) -> int | None:
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, float):
                self.error(path, f"expected an integer, got {value}")
            else:
                self.type_error(path, "an integer", value)
            return None
        return value if self._in_range(value, path, None, ge) else None

    def string_items(self, value: Any, path: str) -> list[tuple[str, str]]:
        """(path, text) of each item of an array of non-empty strings; other items are reported."""
        if not isinstance(value, list):
            self.type_error(path, "an array of strings", value)
            return []
        items: list[tuple[str, str]] = []
        for i, item in enumerate(value):
            item_path = index(path, i)
            text = self.string(item, item_path)
            if text == "":
                self.error(item_path, "must not be empty")
            elif text is not None:
                items.append((item_path, text))
        return items

    def _in_range(self, value: float, path: str, gt: float | None, ge: float | None) -> bool:
        if gt is not None and not value > gt:
            self.error(path, f"must be > {gt}, got {value}")
            return False
        if ge is not None and not value >= ge:
            self.error(path, f"must be >= {ge}, got {value}")
            return False
        return True


class Obj:
    """A config object's known fields, each with the JSON path under which the user wrote it."""

    def __init__(self, reader: Reader, path: str) -> None:
        self.reader = reader
        self.base = path
        self.values: dict[str, Any] = {}
        self.paths: dict[str, str] = {}

    def __contains__(self, name: str) -> bool:
        return name in self.values

    def get(self, name: str) -> Any:
        return self.values.get(name)

    def path(self, name: str) -> str:
        return self.paths.get(name) or join(self.base, name)

    def obj(self, name: str, fields: Collection[str], aliases: Mapping[str, str] | None = None) -> Obj | None:
        """A nested object; None when absent or not an object."""
        if name not in self.values:
            return None
        return self.reader.obj(self.values[name], self.path(name), fields, aliases)

    def string(self, name: str, default: str | None = None) -> str | None:
        return self._read(name, default, self.reader.string)

    def boolean(self, name: str, default: bool) -> bool:
        return self._read(name, default, self.reader.boolean)

    def number(self, name: str, default: float, *, gt: float | None = None, ge: float | None = None) -> float:
        return self._read(name, default, lambda v, p: self.reader.number(v, p, gt=gt, ge=ge))

    def integer(self, name: str, default: int, *, ge: int | None = None) -> int:
        return self._read(name, default, lambda v, p: self.reader.integer(v, p, ge=ge))

    def string_items(self, name: str) -> list[tuple[str, str]]:
        return self.reader.string_items(self.values[name], self.path(name)) if name in self.values else []

    def strings(self, name: str) -> list[str]:
        return [text for _, text in self.string_items(name)]

    def _read(self, name: str, default: T, read: Callable[[Any, str], T | None]) -> T:
        if name not in self.values:
            return default
        value = read(self.values[name], self.path(name))
        return default if value is None else value
