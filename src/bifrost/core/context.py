"""Per-request state that travels from the route through the engine to the provider."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from bifrost.observability.record import RequestRecord


@dataclass(slots=True)
class Target:
    """One place a request may be served: the primary or a fallback."""

    provider: str
    model: str


@dataclass(slots=True)
class RequestContext:
    record: RequestRecord
    started: float  # time.perf_counter() at arrival
    extra_headers: dict[str, str] = field(default_factory=dict)  # from x-bf-eh-*, forwarded upstream
    direct_key: str | None = None  # the client's own key, when allow_direct_keys
    pinned_key: str | None = None  # x-bf-api-key
    stream: bool = False
    mcp: Any = None  # the request's MCP agent run (bifrost.mcp.agent.AgentRun), when agent mode applies
    gate: Any = None  # governance.Gate when governance is on: allowed targets, per-provider windows
    # the route sends the upstream's stream bytes on as they are and reads only usage, errors and the end from
    # them: a provider of the same wire may hand over runs of ordinary events unparsed (providers.base.PASSED)
    raw_stream: bool = False


    @property
    def request_id(self) -> str:
        return self.record.request_id


def request_id(headers: Mapping[str, str]) -> str:
    """The client's `x-request-id` when it is a sane header value (printable ASCII, at most 200 characters),
    else a new one (returned on every answer)."""
    given = headers.get("x-request-id")
    if given and len(given) <= 200 and given.isascii() and given.isprintable():
        return given
    return os.urandom(16).hex()
