"""Tool names the model sees: `CLIENT-TOOL`, in the one alphabet every provider accepts.

OpenAI, Anthropic and Gemini all accept `[a-zA-Z0-9_-]{1,64}` for function names. A name outside it
is rewritten deterministically (same tools in, same names out, across calls and restarts) so a
provider's prompt cache keeps hitting:

* every other character becomes `_`;
* a name longer than 64 keeps its first 55 characters and ends with `_` + 8 hex digits of the SHA-256
  of the original `CLIENT-TOOL`;
* when two tools would still get the same name, the one that sorts later (by client, then tool) gets
  the same hash suffix instead.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable

MAX_NAME = 64
_BAD = re.compile(r"[^a-zA-Z0-9_-]")
_KEEP = MAX_NAME - 9  # room for "_" + 8 hex digits


def _suffix(client: str, tool: str) -> str:
    return "_" + hashlib.sha256(f"{client}-{tool}".encode()).hexdigest()[:8]


def exposed_name(client: str, tool: str) -> str:
    """`CLIENT-TOOL` made valid for every provider (without collision handling)."""
    name = _BAD.sub("_", f"{client}-{tool}")
    if len(name) > MAX_NAME:
        name = name[:_KEEP] + _suffix(client, tool)
    return name


def assign_names(pairs: Iterable[tuple[str, str]]) -> dict[tuple[str, str], str]:
    """(client, tool) -> unique exposed name, assigned in sorted order so the result never depends on
    the order tools were discovered in."""
    names: dict[tuple[str, str], str] = {}
    used: set[str] = set()
    for client, tool in sorted(set(pairs)):
        name = exposed_name(client, tool)
        if name in used:
            name = name[: min(len(name), _KEEP)] + _suffix(client, tool)
        while name in used:  # a hash clash on top of a name clash: extend deterministically
            name = name[:-1] + format(len(used) % 16, "x")
        used.add(name)
        names[(client, tool)] = name
    return names
