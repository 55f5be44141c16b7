"""The state-store protocol: atomic counters with windows, concurrency slots, key cool-downs, a TTL KV.

Counters are integers (budgets are counted in nano-dollars). A counter lives until its window ends: either
``window_ms`` after the first charge (a fixed window that starts on first use) or at ``expire_at_ms``
(an absolute Unix time in ms, for calendar-aligned budgets).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

# How a counter refuses an admission:
ADD = "add"  # refuse when value + amount > limit (requests: each one is counted on admission)
CAP = "cap"  # refuse when value >= limit, then charge amount (tokens reserved, budgets)
SLOT = "slot"  # a set of in-flight request ids; refuse when it holds limit members

SLOT_LEASE_MS = 15 * 60 * 1000  # a slot a crashed process never released frees itself after this


class StateUnavailable(Exception):
    """The store cannot be reached; the caller applies the fail-open / fail-closed policy."""


@dataclass(slots=True)
class Counter:
    """One check-and-charge at admission."""

    key: str
    mode: str  # ADD | CAP | SLOT
    limit: int
    amount: int = 1
    window_ms: int = 0
    expire_at_ms: int = 0
    member: str = ""  # SLOT: the request's id


@dataclass(slots=True)
class Decision:
    ok: bool
    failed: int = -1  # index of the counter that refused
    used: list[int] = field(default_factory=list)  # each counter's value after the admission (or at refusal)
    reset_ms: list[int] = field(default_factory=list)  # ms until each counter's window ends (-1: no window)


@dataclass(slots=True)
class Adjustment:
    """A settlement after the request: add ``delta`` (may be negative) to a counter, inside its window."""

    key: str
    delta: int
    window_ms: int = 0
    expire_at_ms: int = 0


CooldownListener = Callable[[str, str, float], None]  # (provider, key name, seconds left)


class StateStore:
    """Base class of the backends; every method may raise StateUnavailable."""

    kind = "base"
    shared = False  # True when other processes see the same state

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        return None

    async def admit(self, counters: Sequence[Counter]) -> Decision:
        raise NotImplementedError

    async def settle(self, adjustments: Sequence[Adjustment], release: tuple[str, str] | None = None) -> None:
        """Apply the adjustments and, given (key, member), release that concurrency slot, in one call."""
        raise NotImplementedError

    async def release(self, key: str, member: str) -> None:
        raise NotImplementedError

    async def read(self, keys: Sequence[str]) -> list[tuple[int, int]]:
        """(value, ms until reset or -1) of each counter; a slot counter's value is its member count."""
        raise NotImplementedError

    # -- a small key-value store with expiry (stored Responses and the like) ------------------------
    async def get(self, key: str) -> bytes | None:
        raise NotImplementedError

    async def set(self, key: str, value: bytes, ttl_s: float | None = None) -> None:
        raise NotImplementedError

    async def delete(self, key: str) -> bool:
        """Whether the key existed."""
        raise NotImplementedError

    # -- key cool-downs shared by every process --------------------------------------------------------
    async def cool_down(self, provider: str, key_name: str, seconds: float) -> None:
        """Tell every process that a provider key rests for `seconds` (this one already knows)."""
        return None

    def on_cool_down(self, listener: CooldownListener) -> None:
        """Call `listener` when another process cools a key down."""
        return None

    def off_cool_down(self, listener: CooldownListener) -> None:
        """Stop calling `listener` (a reloaded gateway's predecessor)."""
        return None
