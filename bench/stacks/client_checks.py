"""Does each candidate upstream client do what the gateway needs? Checked against the fake provider.

Usage: python bench/stacks/client_checks.py [--clients aiohttp,pyreqwest,curl_cffi,httpx]
Starts the fake provider on a free loopback port and, for each client, checks: the stream arrives as it
is sent; cancelling the reading task closes the upstream connection (the fake sees the client go); a
connect timeout (a loopback listener whose accept queue is full), a read timeout between stream chunks
and a total timeout each fire; a per-host connection limit holds; connections are reused; a redirect is
returned, not followed; a large body can be capped (read up to a limit, then the connection closed).
Prints one line per check and a JSON summary; docs/benchmarks.md has the table it produced.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HOST = "127.0.0.1"
BODY = json.dumps({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}).encode()
STREAM_BODY = json.dumps({"model": "gpt-4o-mini", "stream": True,
                          "messages": [{"role": "user", "content": "hi"}]}).encode()
CONNECT_T, READ_T, TOTAL_T = 0.5, 0.5, 0.5
CAP = 64 * 1024
Chunks = AsyncIterator[bytes]


@dataclass
class Upstream:
    """What one call yields: the status and the body, chunk by chunk, as the client hands it over."""

    status: int
    chunks: Chunks


class Client:
    """One upstream client behind the few calls the checks make (kept literal: one subclass per library)."""

    name = ""

    async def open(self, limit: int, read_timeout: float | None, total: float | None) -> None:
        raise NotImplementedError

    def call(self, url: str, body: bytes, script: dict[str, Any] | None) -> contextlib.AbstractAsyncContextManager[
            Upstream]:
        raise NotImplementedError

    async def close(self) -> None:
        raise NotImplementedError


def headers(script: dict[str, Any] | None) -> dict[str, str]:
    out = {"Content-Type": "application/json", "Authorization": "Bearer sk-check"}
    if script is not None:
        out["x-fake-script"] = json.dumps(script)
    return out


class Aiohttp(Client):
    name = "aiohttp"

    async def open(self, limit: int, read_timeout: float | None, total: float | None) -> None:
        import aiohttp

        self.aiohttp = aiohttp
        self.session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=100, limit_per_host=limit))
        self.timeout = aiohttp.ClientTimeout(total=total, sock_connect=CONNECT_T, sock_read=read_timeout)

    @contextlib.asynccontextmanager
    async def call(self, url: str, body: bytes, script: dict[str, Any] | None) -> AsyncIterator[Upstream]:
        async with self.session.post(url, data=body, headers=headers(script), timeout=self.timeout,
                                     allow_redirects=False) as resp:
            yield Upstream(resp.status, resp.content.iter_any())

    async def close(self) -> None:
        await self.session.close()


class Pyreqwest(Client):
    name = "pyreqwest"
    limit = 0

    async def open(self, limit: int, read_timeout: float | None, total: float | None) -> None:
        from datetime import timedelta

        from pyreqwest.client import ClientBuilder

        b = ClientBuilder().max_connections(limit).follow_redirects(False).connect_timeout(timedelta(seconds=CONNECT_T))
        if read_timeout is not None:
            b = b.read_timeout(timedelta(seconds=read_timeout))
        if total is not None:
            b = b.timeout(timedelta(seconds=total))
        self.client = b.build()

    @contextlib.asynccontextmanager
    async def call(self, url: str, body: bytes, script: dict[str, Any] | None) -> AsyncIterator[Upstream]:
        # streamed_read_buffer_limit(0): by default pyreqwest reads ahead up to 64 KiB before the response is
        # handed over, so a slow SSE stream arrives all at once at its end
        req = self.client.post(url).headers(headers(script)).body_bytes(body).streamed_read_buffer_limit(self.limit)
        async with req.build_streamed() as resp:

            async def chunks() -> Chunks:
                while (chunk := await resp.body_reader.read_chunk()) is not None:
                    yield bytes(chunk)

            yield Upstream(resp.status, chunks())

    async def close(self) -> None:
        await self.client.close()


class CurlCffi(Client):
    name = "curl_cffi"

    async def open(self, limit: int, read_timeout: float | None, total: float | None) -> None:
        from curl_cffi import CurlMOpt, CurlOpt
        from curl_cffi.requests import AsyncSession

        # curl_cffi: a float is the total timeout (non-stream) or, streamed, connect + "below 1 B/s for
        # ceil(t) s"; a (connect, read) tuple sets the connect timeout on its own
        # ceil(t) s"; a (connect, read) tuple sets the connect timeout on its own. In stream mode (used here)
        # curl_cffi sets no total timeout: CURLOPT_TIMEOUT_MS is passed through curl_options
        timeout = (CONNECT_T, read_timeout or 30.0)
        options = {CurlOpt.TIMEOUT_MS: int(total * 1000)} if total is not None else {}
        self.session = AsyncSession(max_clients=100, timeout=timeout, allow_redirects=False, trust_env=False,
                                    curl_options=options)
        self.session.acurl.setopt(CurlMOpt.MAX_HOST_CONNECTIONS, limit)

    @contextlib.asynccontextmanager
    async def call(self, url: str, body: bytes, script: dict[str, Any] | None) -> AsyncIterator[Upstream]:
        resp = await self.session.post(url, data=body, headers=headers(script), stream=True)
        try:
            yield Upstream(resp.status_code, resp.aiter_content())
        finally:
            await resp.aclose()

    async def close(self) -> None:
        await self.session.close()


class Httpx(Client):
    name = "httpx"

    async def open(self, limit: int, read_timeout: float | None, total: float | None) -> None:
        import httpx

        # httpx has no total timeout: pool/connect/read/write timeouts only
        timeout = httpx.Timeout(connect=CONNECT_T, read=read_timeout or total, write=5.0, pool=5.0)
        self.client = httpx.AsyncClient(limits=httpx.Limits(max_connections=limit), timeout=timeout,
                                        follow_redirects=False, trust_env=False)

    @contextlib.asynccontextmanager
    async def call(self, url: str, body: bytes, script: dict[str, Any] | None) -> AsyncIterator[Upstream]:
        req = self.client.build_request("POST", url, content=body, headers=headers(script))
        resp = await self.client.send(req, stream=True)
        try:
            yield Upstream(resp.status_code, resp.aiter_raw())
        finally:
            await resp.aclose()

    async def close(self) -> None:
        await self.client.aclose()


CLIENTS: dict[str, type[Client]] = {c.name: c for c in (Aiohttp, Pyreqwest, CurlCffi, Httpx)}


# --------------------------------------------------------------------------- the fake and its counters


def fake_call(base: str, method: str, path: str, payload: Any = None) -> Any:
    data = None if payload is None else json.dumps(payload).encode()
    req = urllib.request.Request(base + path, data=data, method=method, headers={"Content-Type": "application/json"})
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(req, timeout=5) as resp:
        return json.loads(resp.read() or b"null")


def established_to(port: int) -> int:
    """Established TCP connections whose remote end is ``port`` (this machine's, all processes)."""
    count = 0
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if fields[3] == "01" and int(fields[2].split(":")[1], 16) == port:
            count += 1
    return count


async def until(predicate: Callable[[], bool], seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        await asyncio.sleep(0.02)
    return predicate()


# --------------------------------------------------------------------------- checks


async def timed_failure(coro: Awaitable[Any], limit: float) -> str:
    """``"raised X after N s"`` if ``coro`` fails within ``limit`` s; else what happened instead."""
    t0 = time.monotonic()
    try:
        async with asyncio.timeout(limit) as scope:
            await coro
    except Exception as exc:  # the client's own timeout error (some subclass TimeoutError)
        if scope.expired():
            return f"no error within {limit:.0f} s"
        return f"raised {type(exc).__name__} after {time.monotonic() - t0:.2f} s"
    return "completed without an error"


async def cancel_check(fake: str, call: Awaitable[Any]) -> dict[str, Any]:
    """Cancel the task running ``call`` once the fake has it in hand; the fake must see the connection go."""
    fake_call(fake, "POST", "/_fake/reset", {})
    task = asyncio.ensure_future(call)
    await until(lambda: fake_call(fake, "GET", "/_fake/stats")["in_flight"] == 1, 2)
    await asyncio.sleep(0.2)
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    t0 = time.monotonic()
    gone = await until(lambda: fake_call(fake, "GET", "/_fake/stats")["cancelled"] == 1, 2)
    if not gone:
        return {"ok": False, "detail": "the fake still had the call open 2 s after the cancel"}
    return {"ok": True, "detail": f"the fake saw the connection close {time.monotonic() - t0:.2f} s after the cancel"}


async def read_all(client: Client, url: str, body: bytes, script: dict[str, Any] | None) -> tuple[int, bytes]:
    async with client.call(url, body, script) as up:
        return up.status, b"".join([c async for c in up.chunks])


async def check(name: str, url: str, fake: str, port: int) -> dict[str, Any]:
    cls = CLIENTS[name]
    out: dict[str, Any] = {}

    async def fresh(limit: int = 10, read_timeout: float | None = None, total: float | None = None) -> Client:
        c = cls()
        await c.open(limit, read_timeout, total)
        return c

    # streaming: 5 words 100 ms apart must arrive as separate reads over ~0.5 s
    c = await fresh()
    arrivals: list[float] = []
    t0 = time.monotonic()
    async with c.call(url, STREAM_BODY, {"reply": "a b c d e", "chunk_delay_ms": 100}) as up:
        headers_at = time.monotonic() - t0
        async for _ in up.chunks:
            arrivals.append(time.monotonic() - t0)
    out["streaming"] = {"ok": len(arrivals) >= 5 and arrivals[-1] - arrivals[0] > 0.3,
                        "detail": f"headers at {headers_at:.2f} s; {len(arrivals)} reads, "
                        f"first at {arrivals[0]:.2f} s, "
                        f"last at {arrivals[-1]:.2f} s (events sent 0.1 s apart over 0.7 s)"}

    # connection reuse: 5 calls in a row over one connection
    for _ in range(5):
        await read_all(c, url, BODY, None)
    conns = established_to(port)
    out["pooling"] = {"ok": 1 <= conns < 6, "detail": f"after 6 sequential calls {conns} connection(s) open"}

    # cancellation, mid-stream (the fake stalls after 2 events) and while the answer's headers are awaited
    async def read_forever() -> None:
        async with c.call(url, STREAM_BODY, {"stall_after": 2}) as up:
            async for _ in up.chunks:
                pass

    out["cancellation"] = await cancel_check(fake, read_forever())
    await c.close()  # ends a call the cancel left open
    await until(lambda: fake_call(fake, "GET", "/_fake/stats")["in_flight"] == 0, 3)
    c = await fresh()
    out["cancel_waiting"] = await cancel_check(fake, read_all(c, url, BODY, {"latency_ms": 3000}))
    await c.close()
    await until(lambda: fake_call(fake, "GET", "/_fake/stats")["in_flight"] == 0, 3)
    c = await fresh()

    # redirects: returned as they are, never followed
    fake_call(fake, "POST", "/_fake/reset", {})
    status, _ = await read_all(c, url, BODY, {"redirect_to": url})
    total = fake_call(fake, "GET", "/_fake/stats")["total"]
    out["no_redirects"] = {"ok": status == 307 and total == 1, "detail": f"HTTP {status}, fake saw {total} call(s)"}

    # body cap: a ~1 MB answer read up to CAP bytes, then the response closed
    got = 0
    t0 = time.monotonic()
    fake_call(fake, "POST", "/_fake/script", {"scripts": [{"reply": "x " * 500_000}]})  # too big for a header
    async with c.call(url, BODY, None) as up:
        async for chunk in up.chunks:
            got += len(chunk)
            if got >= CAP:
                break
    out["body_cap"] = {"ok": CAP <= got < 1_000_000,
                       "detail": f"stopped after {got} bytes in {time.monotonic() - t0:.2f} s"}
    await c.close()

    # per-host limit 2: 6 concurrent calls, the fake must never see more than 2 at once
    fake_call(fake, "POST", "/_fake/reset", {})
    left_open = fake_call(fake, "GET", "/_fake/stats")["in_flight"]  # a call an earlier check could not end
    c = await fresh(limit=2)
    await asyncio.gather(*(read_all(c, url, BODY, {"latency_ms": 300}) for _ in range(6)))
    peak = fake_call(fake, "GET", "/_fake/stats")["max_in_flight"] - left_open
    out["host_limit"] = {"ok": peak == 2, "detail": f"limit 2: fake saw at most {peak} at once"}
    await c.close()

    # timeouts
    c = await fresh(read_timeout=READ_T)
    out["read_timeout"] = {"detail": await timed_failure(read_all(c, url, STREAM_BODY, {"stall_after": 1}), 5)}
    await c.close()
    c = await fresh(total=TOTAL_T)
    out["total_timeout"] = {"detail": await timed_failure(read_all(c, url, BODY, {"latency_ms": 3000}), 5)}
    await c.close()
    with socket.socket() as black:  # a listener whose accept queue is full: SYNs are dropped, connect hangs
        black.bind((HOST, 0))
        black.listen(0)
        fillers = [socket.socket() for _ in range(3)]
        for s in fillers:
            s.setblocking(False)
            with contextlib.suppress(BlockingIOError):
                s.connect(black.getsockname())
        await asyncio.sleep(0.2)
        c = await fresh(read_timeout=30)
        dead = f"http://{HOST}:{black.getsockname()[1]}/v1/chat/completions"
        out["connect_timeout"] = {"detail": await timed_failure(read_all(c, dead, BODY, None), 5)}
        await c.close()
        for s in fillers:
            s.close()
    for key in ("read_timeout", "total_timeout", "connect_timeout"):
        out[key]["ok"] = out[key]["detail"].startswith("raised") and float(out[key]["detail"].split()[-2]) < 2.5
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--clients", default=",".join(CLIENTS))
    p.add_argument("--loop", choices=("uvloop", "asyncio"), default="uvloop")
    args = p.parse_args()
    with socket.socket() as s:
        s.bind((HOST, 0))
        port = s.getsockname()[1]
    fake = f"http://{HOST}:{port}"
    proc = subprocess.Popen([sys.executable, "-m", "bifrost.testing.fake_provider", "--host", HOST, "--port",
                             str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    results: dict[str, Any] = {}
    try:
        deadline = time.monotonic() + 20
        while True:
            with contextlib.suppress(OSError):
                fake_call(fake, "POST", "/_fake/reset", {})
                break
            if time.monotonic() > deadline:
                raise RuntimeError("the fake provider did not start")
            time.sleep(0.1)
        if args.loop == "uvloop":
            import uvloop

            factory: Callable[[], asyncio.AbstractEventLoop] = uvloop.new_event_loop
        else:
            factory = asyncio.new_event_loop
        for name in args.clients.split(","):
            with asyncio.Runner(loop_factory=factory) as runner:
                try:
                    results[name] = runner.run(check(name, fake + "/v1/chat/completions", fake, port))
                except Exception as exc:
                    results[name] = {"error": f"{type(exc).__name__}: {exc}"}
            for check_name, r in results[name].items():
                print(f"{name:10s} {check_name:16s} {'ok ' if r.get('ok') else 'NO '} {r.get('detail', r)}"
                      if isinstance(r, dict) else f"{name:10s} {check_name} {r}", flush=True)
    finally:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:  # a call a client left open keeps it waiting
            proc.kill()
            proc.wait(5)
    print(json.dumps(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
