"""In-memory state of one fake server: scripts, the received-request log, stats."""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .script import ScriptBook

LOG_LIMIT = 2000


@dataclass(slots=True)
class Record:
    """One received request; headers and query are kept as aiohttp's read-only views
    and only turned into plain dicts when the log is read (keeps the hot path cheap)."""

    method: str
    path: str
    query: Mapping[str, str]
    headers: Mapping[str, str]
    body: Any
    key: str | None
    time: float
    peer_port: int | None = None  # the client's TCP port: the same port twice means a reused connection

    def to_json(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "path": self.path,
            "query": dict(self.query.items()),
            "headers": {name.lower(): value for name, value in self.headers.items()},
            "body": self.body,
            "key": self.key,
            "time": self.time,
            "peer_port": self.peer_port,
        }


class FakeState:
    """Everything the control API can see or change."""

    __slots__ = (
        "batches", "cancelled", "files", "in_flight", "log", "max_in_flight", "responses", "scripts", "total",
    )

    def __init__(self) -> None:
        self.scripts = ScriptBook()
        self.log: deque[Record] = deque(maxlen=LOG_LIMIT)
        self.total = 0
        self.in_flight = 0
        self.max_in_flight = 0
        self.cancelled = 0
        self.responses: dict[str, Any] = {}  # stored Responses: id -> (response, input items, time)
        self.files: dict[str, Any] = {}  # id -> (file object, bytes)
        self.batches: dict[str, Any] = {}

    def reset(self) -> None:
        self.scripts.clear()
        self.log.clear()
        self.total = 0
        self.max_in_flight = self.in_flight
        self.cancelled = 0
        self.responses.clear()
        self.files.clear()
        self.batches.clear()

    def stats(self) -> dict[str, int]:
        return {
            "total": self.total,
            "in_flight": self.in_flight,
            "max_in_flight": self.max_in_flight,
            "cancelled": self.cancelled,
        }
