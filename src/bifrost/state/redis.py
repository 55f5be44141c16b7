"""The shared backend: redis-py asyncio, one Lua script per admission and per settlement.

Each admission checks every counter and then charges every counter inside one script, so no two
gateways can both see "49 of 50" and both go: Redis runs scripts one at a time. Time is Redis's own
(``TIME``), so instances with skewed clocks still agree on windows. Key cool-downs are written as
expiring keys and announced on a pub/sub channel that every process listens to.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from collections.abc import Sequence
from typing import Any

from bifrost.state.base import (
    SLOT_LEASE_MS,
    Adjustment,
    CooldownListener,
    Counter,
    Decision,
    StateStore,
    StateUnavailable,
)

log = logging.getLogger("bifrost.state")

PREFIX = "bifrost:"
COOLDOWN_CHANNEL = PREFIX + "cooldowns"
COOLDOWN_PREFIX = PREFIX + "cd:"

_ADMIT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local used = {}
for i = 1, #KEYS do
  local b = (i - 1) * 6
  local mode, limit, amount = ARGV[b + 1], tonumber(ARGV[b + 2]), tonumber(ARGV[b + 3])
  local key = KEYS[i]
  local value, refused
  if mode == 'slot' then
    redis.call('ZREMRANGEBYSCORE', key, '-inf', now)
    value = redis.call('ZCARD', key)
    refused = value + 1 > limit
  else
    value = tonumber(redis.call('GET', key) or '0')
    if mode == 'add' then refused = value + amount > limit else refused = value >= limit end
  end
  if refused then
    return {0, i - 1, value, redis.call('PTTL', key)}
  end
  used[i] = value
end
local out = {1, -1}
for i = 1, #KEYS do
  local b = (i - 1) * 6
  local mode, amount = ARGV[b + 1], tonumber(ARGV[b + 3])
  local window, expire_at = tonumber(ARGV[b + 4]), tonumber(ARGV[b + 5])
  local key = KEYS[i]
  if mode == 'slot' then
    redis.call('ZADD', key, now + LEASE, ARGV[b + 6])
    redis.call('PEXPIRE', key, LEASE)
    out[#out + 1] = used[i] + 1
    out[#out + 1] = -1
  else
    local v = redis.call('INCRBY', key, amount)
    if redis.call('PTTL', key) == -1 then
      if expire_at > 0 then redis.call('PEXPIREAT', key, expire_at)
      elseif window > 0 then redis.call('PEXPIRE', key, window) end
    end
    out[#out + 1] = v
    out[#out + 1] = redis.call('PTTL', key)
  end
end
return out
""".replace("LEASE", str(SLOT_LEASE_MS))

_SETTLE = """
local n = tonumber(ARGV[1])
if n < #KEYS then redis.call('ZREM', KEYS[#KEYS], ARGV[#ARGV]) end
for i = 1, n do
  local b = (i - 1) * 3 + 1
  local delta, window, expire_at = tonumber(ARGV[b + 1]), tonumber(ARGV[b + 2]), tonumber(ARGV[b + 3])
  local key = KEYS[i]
  if redis.call('EXISTS', key) == 1 then
    if redis.call('INCRBY', key, delta) < 0 then redis.call('SET', key, 0, 'KEEPTTL') end
  elseif delta > 0 then
    redis.call('INCRBY', key, delta)
    if expire_at > 0 then redis.call('PEXPIREAT', key, expire_at)
    elseif window > 0 then redis.call('PEXPIRE', key, window) end
  end
end
return 1
"""

_READ = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local out = {}
for i = 1, #KEYS do
  local key = KEYS[i]
  local kind = redis.call('TYPE', key)['ok']
  if kind == 'zset' then
    redis.call('ZREMRANGEBYSCORE', key, '-inf', now)
    out[#out + 1] = redis.call('ZCARD', key)
    out[#out + 1] = -1
  else
    out[#out + 1] = tonumber(redis.call('GET', key) or '0')
    out[#out + 1] = redis.call('PTTL', key)
  end
end
return out
"""


class _AutoPipeline:
    """Script calls go to Redis in order, as pipelines: one in flight at a time, the next one holding every
    call made meanwhile.

    redis-py spends ~100 µs of CPU per command on its own; pipelined, a few µs. Each script stays atomic
    on the server, so batching changes nothing about exactness. Because one pipeline is in flight at a
    time, Redis runs this process's calls in the order they were made: a request admitted right after
    another one's settlement sees that settlement (a key sees its own spend, its freed slot). Scripts are
    sent by SHA (EVALSHA); after a Redis restart (NOSCRIPT) the same calls are sent again with the text.
    """

    def __init__(self, client: Any) -> None:
        self.client = client
        self._queue: list[tuple[str, list[str], list[Any], asyncio.Future[Any]]] = []
        self._scheduled = False
        self._busy = False  # a pipeline is in flight
        self._tasks: set[asyncio.Task[None]] = set()
        self._shas: dict[str, str] = {}

    def call(self, script: str, keys: list[str], args: list[Any]) -> asyncio.Future[Any]:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        self._queue.append((script, keys, args, future))
        if not self._scheduled and not self._busy:
            self._scheduled = True
            loop.call_soon(self._flush)
        return future

    def _flush(self) -> None:
        self._scheduled = False
        if self._busy or not self._queue:
            return
        batch, self._queue = self._queue, []
        self._busy = True
        task = asyncio.get_running_loop().create_task(self._send(batch))
        self._tasks.add(task)
        task.add_done_callback(self._sent)

    def _sent(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        self._busy = False
        if self._queue and not self._scheduled:
            self._scheduled = True
            asyncio.get_running_loop().call_soon(self._flush)

    def _sha(self, script: str) -> str:
        sha = self._shas.get(script)
        if sha is None:
            sha = self._shas[script] = hashlib.sha1(script.encode()).hexdigest()
        return sha

    async def _send(self, batch: list[tuple[str, list[str], list[Any], asyncio.Future[Any]]]) -> None:
        from redis.exceptions import NoScriptError

        try:
            pipe = self.client.pipeline(transaction=False)
            for script, keys, args, _ in batch:
                pipe.evalsha(self._sha(script), len(keys), *keys, *args)
            results = await pipe.execute(raise_on_error=False)
            missing = [i for i, r in enumerate(results) if isinstance(r, NoScriptError)]
            if missing:
                pipe = self.client.pipeline(transaction=False)
                for i in missing:
                    script, keys, args, _ = batch[i]
                    pipe.eval(script, len(keys), *keys, *args)
                for i, result in zip(missing, await pipe.execute(raise_on_error=False), strict=True):
                    results[i] = result
        except BaseException as exc:
            for *_, future in batch:
                if not future.done():
                    future.set_exception(exc if isinstance(exc, Exception) else ConnectionError("cancelled"))
            if not isinstance(exc, Exception):
                raise
            return
        for (*_, future), result in zip(batch, results, strict=True):
            if future.done():
                continue
            if isinstance(result, Exception):
                future.set_exception(result)
            else:
                future.set_result(result)


class RedisStore(StateStore):
    kind = "redis"
    shared = True

    def __init__(self, url: str, connections: int = 32, connect_timeout_s: float = 2.0, timeout_s: float = 5.0) -> None:
        from redis.asyncio import BlockingConnectionPool, Redis

        self.url = url
        # A Redis that refuses connections is unavailable at once; one that is merely slow (a loaded machine)
        # is given seconds, since giving up on it would serve requests uncounted (fail-open). A bounded pool:
        # Redis runs the scripts one at a time anyway, and a burst must not open hundreds of connections.
        pool = BlockingConnectionPool.from_url(
            url, max_connections=connections, timeout=timeout_s, socket_timeout=timeout_s,
            socket_connect_timeout=connect_timeout_s, health_check_interval=0,
        )
        self.client: Any = Redis(connection_pool=pool)
        self._scripts = _AutoPipeline(self.client)
        self._listeners: list[CooldownListener] = []
        self._listener_task: asyncio.Task[None] | None = None

    async def _run(self, coro: Any) -> Any:
        from redis.exceptions import RedisError

        try:
            return await coro
        except (RedisError, OSError, TimeoutError) as exc:
            raise StateUnavailable(f"redis state store unreachable: {exc.__class__.__name__}: {exc}") from None

    async def start(self) -> None:
        with contextlib.suppress(StateUnavailable):
            await self._run(self.client.ping())

    async def close(self) -> None:
        if self._listener_task is not None:
            self._listener_task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._listener_task
        with contextlib.suppress(Exception):
            await self.client.aclose()

    async def admit(self, counters: Sequence[Counter]) -> Decision:
        args: list[Any] = []
        for c in counters:
            args += [c.mode, c.limit, c.amount, c.window_ms, c.expire_at_ms, c.member or "-"]
        out = await self._run(self._scripts.call(_ADMIT, [PREFIX + c.key for c in counters], args))
        if not out[0]:
            return Decision(False, int(out[1]), [int(out[2])], [int(out[3])])
        rest = [int(v) for v in out[2:]]
        return Decision(True, -1, rest[0::2], rest[1::2])

    async def settle(self, adjustments: Sequence[Adjustment], release: tuple[str, str] | None = None) -> None:
        todo = [a for a in adjustments if a.delta]
        if not todo and release is None:
            return
        keys = [PREFIX + a.key for a in todo]
        args: list[Any] = [len(todo)]
        for a in todo:
            args += [a.delta, a.window_ms, a.expire_at_ms]
        if release is not None:  # the concurrency slot goes in the same round trip
            keys.append(PREFIX + release[0])
            args.append(release[1])
        await self._run(self._scripts.call(_SETTLE, keys, args))

    async def release(self, key: str, member: str) -> None:
        await self._run(self.client.zrem(PREFIX + key, member))

    async def read(self, keys: Sequence[str]) -> list[tuple[int, int]]:
        if not keys:
            return []
        out = [int(v) for v in await self._run(self._scripts.call(_READ, [PREFIX + k for k in keys], []))]
        return list(zip(out[0::2], out[1::2], strict=True))

    async def get(self, key: str) -> bytes | None:
        value = await self._run(self.client.get(PREFIX + "kv:" + key))
        return bytes(value) if value is not None else None

    async def set(self, key: str, value: bytes, ttl_s: float | None = None) -> None:
        px = max(1, int(ttl_s * 1000)) if ttl_s else None
        await self._run(self.client.set(PREFIX + "kv:" + key, value, px=px))

    async def delete(self, key: str) -> bool:
        return bool(await self._run(self.client.delete(PREFIX + "kv:" + key)))

    # -- key cool-downs ---------------------------------------------------------------------------------
    async def cool_down(self, provider: str, key_name: str, seconds: float) -> None:
        ms = max(1, int(seconds * 1000))
        name = f"{provider}\x00{key_name}"
        pipe = self.client.pipeline(transaction=False)
        pipe.set(COOLDOWN_PREFIX + name, ms, px=ms)
        pipe.publish(COOLDOWN_CHANNEL, f"{name}\x00{ms}")
        await self._run(pipe.execute())

    def on_cool_down(self, listener: CooldownListener) -> None:
        self._listeners.append(listener)
        if self._listener_task is None:
            self._listener_task = asyncio.get_running_loop().create_task(self._listen())

    def off_cool_down(self, listener: CooldownListener) -> None:
        if listener in self._listeners:
            self._listeners.remove(listener)

    def _announce(self, name: str, seconds: float) -> None:
        provider, _, key_name = name.partition("\x00")
        for listener in self._listeners:
            try:
                listener(provider, key_name, seconds)
            except Exception:
                log.exception("key cool-down listener failed")

    async def _listen(self) -> None:
        """Follow the cool-down channel; after a connection loss, catch up from the expiring keys."""
        while True:
            try:
                pubsub = self.client.pubsub(ignore_subscribe_messages=True)
                await pubsub.subscribe(COOLDOWN_CHANNEL)
                async for name in self.client.scan_iter(match=COOLDOWN_PREFIX + "*", count=500):
                    ttl = await self.client.pttl(name)
                    if ttl and ttl > 0:
                        self._announce(name.decode()[len(COOLDOWN_PREFIX):], ttl / 1000)
                while True:
                    message = await pubsub.get_message(timeout=0.5)
                    if message is None or message.get("type") != "message":
                        continue
                    name, _, ms = message["data"].decode().rpartition("\x00")
                    self._announce(name, int(ms) / 1000)
            except asyncio.CancelledError:
                raise
            except Exception:
                await asyncio.sleep(1.0)
