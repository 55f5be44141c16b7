"""The one secret scrubber and text cleaner: every error, log line, stored record and metric label passes here.

A secret leaks if its whole value, or any run of ``MIN_RUN`` (8) or more of its characters, appears. The
scrubber is built once from the configured secrets (provider keys, virtual keys, ``extra_headers`` values,
``base_url`` passwords, the admin password, a postgres password): every 8-character window of every secret
goes into one trie-shaped regular expression, so one scan of a text finds any run of any secret. A client's
direct key (``allow_direct_keys``) is added per request. Matches become ``***``.

``clean_text`` makes client-supplied text safe to store, log or export: invalid UTF-8 (which aiohttp hands
over as surrogate escapes) and control characters become U+FFFD.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from typing import Any
from urllib.parse import urlsplit

MIN_RUN = 8
MASK = "***"
_MASKS = re.compile(r"(?:\*\*\*)+")
_UNSAFE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")
_UNSAFE_ALL = re.compile(r"[\x00-\x1f\x7f\ud800-\udfff]")


def clean_text(text: str, *, keep_newlines: bool = True) -> str:
    """Invalid UTF-8 (surrogate escapes) and control characters replaced by U+FFFD (tab/newline kept)."""
    pattern = _UNSAFE if keep_newlines else _UNSAFE_ALL
    return pattern.sub("\ufffd", text) if pattern.search(text) else text


def _trie_pattern(words: Iterable[str]) -> str:
    """A regex matching any of ``words``, shaped as a trie so Python's engine rejects a position fast."""
    trie: dict[str, Any] = {}
    for word in words:
        node = trie
        for ch in word:
            node = node.setdefault(ch, {})
        node[""] = {}

    def build(node: dict[str, Any]) -> str:
        if "" in node and len(node) == 1:
            return ""
        branches = [re.escape(ch) + build(child) for ch, child in sorted(node.items()) if ch]
        optional = "" in node
        if len(branches) == 1 and not optional:
            return branches[0]
        alt = "(?:" + "|".join(branches) + ")"
        return alt + "?" if optional else alt

    return build(trie)


def windows(secret: str) -> set[str]:
    """Every run of MIN_RUN characters of a secret (the secret itself when it is shorter)."""
    if len(secret) <= MIN_RUN:
        return {secret}
    return {secret[i : i + MIN_RUN] for i in range(len(secret) - MIN_RUN + 1)}


class Scrubber:
    """Replaces every secret, and every 8-character run of one, with ``***``."""

    __slots__ = ("_pattern", "secrets")

    def __init__(self, secrets: Iterable[str | None] = (), min_len: int = MIN_RUN) -> None:
        self.secrets: tuple[str, ...] = ()
        self._pattern: re.Pattern[str] | None = None
        self.update(secrets, min_len)

    def update(self, secrets: Iterable[str | None], min_len: int = MIN_RUN) -> None:
        unique = {s for s in secrets if s and len(s) >= min_len}
        self.secrets = tuple(sorted(unique, key=len, reverse=True))
        runs: set[str] = set()
        for secret in self.secrets:
            runs |= windows(secret)
        # whole values first (longest first), so a full secret becomes one mask with nothing left over
        whole = "|".join(re.escape(secret) for secret in self.secrets)
        self._pattern = re.compile(f"{whole}|{_trie_pattern(runs)}") if runs else None

    def __bool__(self) -> bool:
        return self._pattern is not None

    def scrub(self, text: str, extra: str | None = None) -> str:
        """``text`` without any secret run; ``extra`` is one more secret (a client's direct key)."""
        if extra and len(extra) >= MIN_RUN:
            text = text.replace(extra, MASK)
            for run in windows(extra):
                if run in text:
                    text = text.replace(run, MASK)
        pattern = self._pattern
        if pattern is None or not text:
            return text
        out = pattern.sub(MASK, text)
        if out is text or out == text:
            return text
        return _MASKS.sub(MASK, out)

    def scrub_any(self, value: Any, extra: str | None = None) -> Any:
        """Every string inside a JSON-like value scrubbed (dict keys included)."""
        if isinstance(value, str):
            return self.scrub(value, extra)
        if isinstance(value, dict):
            return {self.scrub(str(k), extra): self.scrub_any(v, extra) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self.scrub_any(v, extra) for v in value]
        return value


# the process-wide scrubber: filled at start-up (observability's set_secrets, the gateway) and used by
# every logger, the log store and metric labels
SCRUBBER = Scrubber()


def scrub(text: str, extra: str | None = None) -> str:
    return SCRUBBER.scrub(text, extra)


def add_secrets(values: Iterable[str | None]) -> None:
    """Add values to the process-wide scrubber (keeps what is already there)."""
    SCRUBBER.update((*SCRUBBER.secrets, *values))


def config_secrets(config: Any) -> Iterator[str]:
    """Every secret value a `Config` holds: provider keys, ``extra_headers`` values, ``base_url`` passwords,
    virtual keys, the admin password and a postgres password."""
    for provider in config.providers.values():
        for key in provider.keys:
            if key.value:
                yield key.value
        yield from provider.network.extra_headers.values()
        if provider.network.base_url:
            password = urlsplit(provider.network.base_url).password
            if password:
                yield password
    rules = getattr(config, "governance_rules", None)
    if rules is not None:
        for vk in rules.virtual_keys:
            if vk.value:
                yield vk.value
    governance: dict[str, Any] = config.governance or {}
    for raw in governance.get("virtual_keys") or ():
        if isinstance(raw, dict) and isinstance(raw.get("value"), str) and not raw["value"].startswith("env."):
            yield raw["value"]
    mcp = getattr(config, "mcp", None)
    if mcp is not None and hasattr(mcp, "secrets"):
        yield from mcp.secrets()
    auth = getattr(config, "auth_config", None)
    if auth is not None and auth.admin_password:
        yield auth.admin_password
    if config.logs_store.url:
        password = urlsplit(config.logs_store.url).password
        if password:
            yield password
