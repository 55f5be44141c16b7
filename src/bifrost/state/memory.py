"""The in-process backend: plain dicts, each operation atomic because it never yields to the event loop."""

from __future__ import annotations

import time
from collections.abc import Sequence

from bifrost.state.base import ADD, CAP, SLOT, SLOT_LEASE_MS, Adjustment, Counter, Decision, StateStore


def now_ms() -> int:
    return int(time.time() * 1000)


class MemoryStore(StateStore):
    kind = "memory"

    def __init__(self) -> None:
        self._values: dict[str, int] = {}
        self._expiry: dict[str, int] = {}  # key -> Unix ms when it ends
        self._slots: dict[str, dict[str, int]] = {}  # key -> {member: lease end ms}
        self._kv: dict[str, tuple[bytes, float]] = {}  # key -> (value, monotonic expiry or inf)

    def _value(self, key: str, now: int) -> int:
        end = self._expiry.get(key)
        if end is not None and end <= now:
            self._values.pop(key, None)
            del self._expiry[key]
            return 0
        return self._values.get(key, 0)

    def _members(self, key: str, now: int, limit: int | None = None) -> dict[str, int]:
        """The slot set; expired leases are pruned only when they could matter (at the limit, or reading)."""
        members = self._slots.get(key)
        if members is None:
            members = self._slots[key] = {}
        elif limit is None or len(members) >= limit:
            for member in [m for m, end in members.items() if end <= now]:
                del members[member]
        return members

    def _reset(self, key: str, now: int) -> int:
        end = self._expiry.get(key)
        return end - now if end is not None else -1

    def _charge(self, key: str, amount: int, window_ms: int, expire_at_ms: int, now: int) -> None:
        if key not in self._values:
            if expire_at_ms:
                self._expiry[key] = expire_at_ms
            elif window_ms:
                self._expiry[key] = now + window_ms
        self._values[key] = self._values.get(key, 0) + amount

    async def admit(self, counters: Sequence[Counter]) -> Decision:
        now = now_ms()
        used: list[int] = []
        for i, c in enumerate(counters):
            if c.mode == SLOT:
                value = len(self._members(c.key, now, c.limit))
                refused = value + 1 > c.limit
            else:
                value = self._value(c.key, now)
                refused = value + c.amount > c.limit if c.mode == ADD else value >= c.limit
            if refused:
                return Decision(False, i, [value], [self._reset(c.key, now)])
            used.append(value)
        resets: list[int] = []
        for i, c in enumerate(counters):
            if c.mode == SLOT:
                self._slots[c.key][c.member] = now + SLOT_LEASE_MS
                used[i] += 1
            elif c.mode in (ADD, CAP):
                self._charge(c.key, c.amount, c.window_ms, c.expire_at_ms, now)
                used[i] += c.amount
            resets.append(self._reset(c.key, now))
        return Decision(True, -1, used, resets)

    async def settle(self, adjustments: Sequence[Adjustment], release: tuple[str, str] | None = None) -> None:
        if release is not None:
            await self.release(*release)
        now = now_ms()
        for a in adjustments:
            if not a.delta:
                continue
            self._value(a.key, now)  # forgets the counter if its window has ended
            if a.key in self._values:
                self._values[a.key] = max(0, self._values[a.key] + a.delta)
            elif a.delta > 0:  # the window ended meanwhile: the usage counts in the new one
                self._charge(a.key, a.delta, a.window_ms, a.expire_at_ms, now)

    async def release(self, key: str, member: str) -> None:
        members = self._slots.get(key)
        if members is not None:
            members.pop(member, None)

    async def read(self, keys: Sequence[str]) -> list[tuple[int, int]]:
        now = now_ms()
        out: list[tuple[int, int]] = []
        for key in keys:
            if key in self._slots:
                out.append((len(self._members(key, now)), -1))
            else:
                out.append((self._value(key, now), self._reset(key, now)))
        return out

    async def get(self, key: str) -> bytes | None:
        item = self._kv.get(key)
        if item is None:
            return None
        if item[1] <= time.monotonic():
            del self._kv[key]
            return None
        return item[0]

    async def set(self, key: str, value: bytes, ttl_s: float | None = None) -> None:
        if len(self._kv) > 100_000:  # drop what has expired before growing further
            now = time.monotonic()
            for k in [k for k, (_, end) in self._kv.items() if end <= now]:
                del self._kv[k]
        self._kv[key] = (value, time.monotonic() + ttl_s if ttl_s else float("inf"))

    async def delete(self, key: str) -> bool:
        item = self._kv.pop(key, None)
        return item is not None and item[1] > time.monotonic()
