"""Where served Responses are kept for ``previous_response_id``, ``GET /responses/{id}`` and ``input_items``.

The store is a tiny async key-value interface (`KeyValueStore`: get / put with a TTL / delete of bytes) so
the backend can be swapped: `MemoryStore` serves one process; a shared store (Redis, the governance
``state_store``) lets any instance continue any conversation. `ResponseStore` owns what is kept: one JSON
record per response id (`StoredResponse`), written once when the response is served.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, Protocol

import orjson

JSONDict = dict[str, Any]
_KEY_PREFIX = "bifrost:responses:"


class KeyValueStore(Protocol):
    async def get(self, key: str) -> bytes | None: ...
    async def put(self, key: str, value: bytes, ttl_s: float) -> None: ...
    async def delete(self, key: str) -> bool: ...


class MemoryStore:
    """One process's store: entries expire after their TTL; the oldest go first past `max_entries`."""

    def __init__(self, max_entries: int = 100_000) -> None:
        self.max_entries = max_entries
        self._data: OrderedDict[str, tuple[float, bytes]] = OrderedDict()

    async def get(self, key: str) -> bytes | None:
        entry = self._data.get(key)
        if entry is None:
            return None
        if entry[0] <= time.monotonic():
            del self._data[key]
            return None
        return entry[1]

    async def put(self, key: str, value: bytes, ttl_s: float) -> None:
        self._data[key] = (time.monotonic() + ttl_s, value)
        self._data.move_to_end(key)
        while len(self._data) > self.max_entries:
            self._data.popitem(last=False)

    async def delete(self, key: str) -> bool:
        return self._data.pop(key, None) is not None


class SharedStore:
    """The gateway's shared `state_store` (Redis) as the backend, so every worker and instance can continue
    every conversation; with the `memory` state store each process keeps its own `MemoryStore`."""

    def __init__(self, state: Any) -> None:
        self._state = state

    async def get(self, key: str) -> bytes | None:
        return await self._state.get(key)

    async def put(self, key: str, value: bytes, ttl_s: float) -> None:
        await self._state.set(key, value, ttl_s)

    async def delete(self, key: str) -> bool:
        return await self._state.delete(key)


@dataclass(slots=True)
class StoredResponse:
    """One served response: enough to answer GET/input_items and to expand it into a later turn."""

    response: JSONDict  # the Response as the client got it
    input: list[JSONDict]  # this turn's input items (ids added), as input_items lists them
    history: list[JSONDict] = field(default_factory=list)  # earlier turns' items (input + output), oldest first
    provider: str = ""  # who served it
    native: bool = False  # served by the provider's own Responses API (stored there too, under the same id)
    owner: str = ""  # the virtual key that created it (governance); only that key may read or continue it

    def conversation(self) -> list[JSONDict]:
        """Every item of the conversation up to and including this response's output."""
        return [*self.history, *self.input, *(self.response.get("output") or ())]

    def encode(self) -> bytes:
        return orjson.dumps(
            {
                "response": self.response,
                "input": self.input,
                "history": self.history,
                "provider": self.provider,
                "native": self.native,
                "owner": self.owner,
            }
        )

    @classmethod
    def decode(cls, raw: bytes) -> StoredResponse:
        data = orjson.loads(raw)
        return cls(
            data["response"], data["input"], data["history"], data["provider"], data["native"], data.get("owner", "")
        )


class ResponseStore:
    def __init__(self, backend: KeyValueStore, ttl_s: float) -> None:
        self.backend = backend
        self.ttl_s = ttl_s

    async def get(self, response_id: str) -> StoredResponse | None:
        raw = await self.backend.get(_KEY_PREFIX + response_id)
        return StoredResponse.decode(raw) if raw is not None else None

    async def put(self, stored: StoredResponse) -> None:
        await self.backend.put(_KEY_PREFIX + str(stored.response["id"]), stored.encode(), self.ttl_s)

    async def delete(self, response_id: str) -> bool:
        return await self.backend.delete(_KEY_PREFIX + response_id)
