"""Soak test: minutes of mixed traffic while the upstream fails at random. Not a CI test (it takes minutes).

Usage: python bench/soak.py [--duration 120] [--concurrency 64] [--fail-rate 0.2] [--markdown docs/benchmarks.md]

Starts the fake provider and a gateway (two processes), scripts the fake to fail ``--fail-rate`` of all
calls at random (an equal mix of HTTP 500, HTTP 429 and a connection cut after 2 events, which for a
stream is after its first chunk reached the client), then drives ``--concurrency`` clients for
``--duration`` seconds, half streaming and half not, each request with its own client timeout.

Gateway config: provider ``openai`` (keys main/spare, max_retries 1, backoff 10-100 ms), fallback
``backup/backup-model`` (a key-less OpenAI-compatible provider on the same fake, max_retries 1).

Every response is checked:

- ``ok``: HTTP 200 with a complete chat completion (non-stream), or a stream of valid chunks that
  ends with a finish_reason and ``data: [DONE]``;
- ``error answer``: HTTP >= 400 with a well-formed OpenAI error body (``error.message``, ``type``,
  ``param``, ``code``);
- ``stream error event``: HTTP 200 stream whose upstream broke after the first chunk: valid chunks,
  one well-formed ``data: {"error": {...}}`` event, then ``data: [DONE]``;
- ``malformed``: anything else (a silent cut, a bad body, a missing [DONE]) -- must be 0;
- ``hung``: no complete answer within the client timeout -- must be 0;
- ``lost``: the connection failed (refused, reset, closed early) -- must be 0.

The gateway's RSS (``VmRSS`` of /proc/PID/status) is sampled before the traffic, every 10 s and
after it. Exit status 0 when malformed, hung and lost are all 0 and the gateway is still healthy.
``--markdown FILE`` regenerates the section between ``<!-- soak:start -->`` and ``<!-- soak:end -->``
(appending a "Soak" section with the markers when the file has none).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

HOST = "127.0.0.1"
START = "<!-- soak:start -->"
END = "<!-- soak:end -->"
REPLY = "The quick brown fox jumps over the lazy dog again and again"
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def http(method: str, url: str, payload: Any = None, timeout: float = 5.0) -> Any:
    data = None if payload is None else json.dumps(payload).encode()
    request = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    with _OPENER.open(request, timeout=timeout) as resp:
        return json.loads(resp.read())


def wait_up(url: str, proc: subprocess.Popen[bytes], what: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            raise SystemExit(f"{what} exited with code {proc.returncode} during start-up")
        try:
            http("GET", url, timeout=1.0)
            return
        except OSError:
            if time.monotonic() > deadline:
                raise SystemExit(f"{what} did not come up on {url}") from None
            time.sleep(0.05)


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def gateway_config(fake_url: str) -> dict[str, Any]:
    network = {
        "base_url": fake_url,
        "max_retries": 1,
        "retry_backoff_initial_ms": 10,
        "retry_backoff_max_ms": 100,
        "default_request_timeout_in_seconds": 10,
        "stream_idle_timeout_in_seconds": 5,
    }
    return {
        "providers": {
            "openai": {
                "keys": [
                    {"name": "main", "value": "sk-soak-main", "models": ["gpt-4o-mini"], "weight": 0.5},
                    {"name": "spare", "value": "sk-soak-spare", "models": ["gpt-4o-mini"], "weight": 0.5},
                ],
                "network_config": network,
            },
            "backup": {
                "custom_provider_config": {"base_provider_type": "openai", "is_key_less": True},
                "network_config": network,
            },
        },
        "fallbacks": {"gpt-4o-mini": ["backup/backup-model"]},
    }


def fake_script(fail_rate: float) -> dict[str, Any]:
    return {
        "reply": REPLY,
        "latency_ms": 20,
        "chunk_delay_ms": 2,
        "fail_rate": fail_rate,
        "faults": [{"status": 500}, {"status": 429}, {"cut_after": 2}],
    }


# --- checking one answer ---------------------------------------------------------------------------


def well_formed_error(obj: Any) -> bool:
    if not isinstance(obj, dict) or not isinstance(obj.get("error"), dict):
        return False
    err = obj["error"]
    return (
        isinstance(err.get("message"), str)
        and bool(err["message"])
        and isinstance(err.get("type"), str)
        and "param" in err
        and "code" in err
    )


def check_completion(raw: bytes) -> str:
    try:
        obj = json.loads(raw)
        content = obj["choices"][0]["message"]["content"]
    except (ValueError, KeyError, IndexError, TypeError):
        return "malformed"
    if obj.get("object") != "chat.completion" or content != REPLY:
        return "malformed"
    return "ok"


def check_stream(raw: bytes) -> str:
    if not raw.endswith(b"\n\n"):
        return "malformed"
    blocks = [b for b in raw.decode("utf-8", "replace").split("\n\n") if b.strip()]
    if not blocks or blocks[-1] != "data: [DONE]":
        return "malformed"
    text: list[str] = []
    finished = False
    for i, block in enumerate(blocks[:-1]):
        if not block.startswith("data: ") or "\n" in block:
            return "malformed"
        try:
            obj = json.loads(block[6:])
        except ValueError:
            return "malformed"
        if "error" in obj:
            # only as the last event before [DONE], after at least one chunk
            return "stream error event" if i == len(blocks) - 2 and i > 0 and well_formed_error(obj) else "malformed"
        for choice in obj.get("choices") or ():
            text.append(choice.get("delta", {}).get("content") or "")
            finished = finished or bool(choice.get("finish_reason"))
    return "ok" if finished and "".join(text) == REPLY else "malformed"


@dataclass
class Tally:
    outcomes: Counter[str] = field(default_factory=Counter)
    error_statuses: Counter[str] = field(default_factory=Counter)  # "status code" of each error answer
    served_by: Counter[str] = field(default_factory=Counter)
    latencies: list[float] = field(default_factory=list)
    samples: list[str] = field(default_factory=list)  # first few malformed/lost answers, for the report
    streams: int = 0

    def note(self, outcome: str, detail: str = "") -> None:
        self.outcomes[outcome] += 1
        if outcome in ("malformed", "hung", "lost") and len(self.samples) < 10:
            self.samples.append(f"{outcome}: {detail[:300]}")


async def one_request(session: aiohttp.ClientSession, url: str, stream: bool, timeout: float, tally: Tally) -> None:
    body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "soak"}], "stream": stream}
    started = time.perf_counter()
    try:
        async with asyncio.timeout(timeout), session.post(url, json=body) as resp:
            raw = await resp.read()
            status = resp.status
            provider = resp.headers.get("x-bifrost-provider", "?")
    except TimeoutError:
        tally.note("hung", f"stream={stream}")
        return
    except (aiohttp.ClientError, OSError) as exc:
        tally.note("lost", f"stream={stream} {exc!r}")
        return
    tally.latencies.append(time.perf_counter() - started)
    tally.streams += stream
    if status >= 400:
        try:
            obj = json.loads(raw)
        except ValueError:
            obj = None
        ok = well_formed_error(obj)
        tally.error_statuses[f"{status} {obj['error'].get('code') if ok else '?'}"] += 1
        tally.note("error answer" if ok else "malformed", f"HTTP {status} {raw[:200]!r}")
        return
    outcome = check_stream(raw) if stream else check_completion(raw)
    if status != 200:
        outcome = "malformed"
    tally.note(outcome, f"stream={stream} HTTP {status} {raw[-300:]!r}")
    if outcome != "malformed":
        tally.served_by[provider] += 1


async def drive(url: str, duration: float, concurrency: int, timeout: float, tally: Tally,
                on_tick: Any) -> float:
    deadline = time.monotonic() + duration
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def worker(seed: int) -> None:
            rng = random.Random(seed)
            while time.monotonic() < deadline:
                await one_request(session, url, rng.random() < 0.5, timeout, tally)

        async def ticker() -> None:
            while time.monotonic() < deadline:
                await asyncio.sleep(min(10.0, max(0.0, deadline - time.monotonic())))
                on_tick()

        started = time.monotonic()
        await asyncio.gather(ticker(), *(worker(i) for i in range(concurrency)))
        return time.monotonic() - started


# --- report -----------------------------------------------------------------------------------------


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return ordered[max(0, min(len(ordered) - 1, round(q / 100 * len(ordered) + 0.5) - 1))]


def render(result: dict[str, Any]) -> str:
    t = result["tally"]
    total = sum(t.outcomes.values())
    rows = ["| outcome | requests | share |", "| --- | ---: | ---: |"]
    for name in ("ok", "error answer", "stream error event", "malformed", "hung", "lost"):
        count = t.outcomes.get(name, 0)
        rows.append(f"| {name} | {count:,} | {100 * count / max(1, total):.2f} % |")
    statuses = ", ".join(f"{s} ({n:,})" for s, n in t.error_statuses.most_common()) or "none"
    served = ", ".join(f"{p}: {n:,}" for p, n in t.served_by.most_common()) or "none"
    rss = result["rss"]
    lines = [
        f"Run {result['date']} on {result['cpus']} CPUs, load average {result['load_start']} at start and "
        f"{result['load_end']} at the end (the machine was shared with other work). Command: "
        f"`python bench/soak.py --duration {result['duration']:g} --concurrency {result['concurrency']} "
        f"--fail-rate {result['fail_rate']:g}`.",
        "",
        f"- Traffic: {total:,} requests in {result['elapsed']:.0f} s ({total / result['elapsed']:.0f} req/s), "
        f"{t.streams:,} of them streaming; latency p50 {1000 * percentile(t.latencies, 50):.0f} ms, "
        f"p99 {1000 * percentile(t.latencies, 99):.0f} ms, max {1000 * max(t.latencies, default=0):.0f} ms.",
        f"- Upstream: {result['fake_total']:,} calls, {100 * result['fail_rate']:g} % failing at random "
        f"(500 / 429 / connection cut after 2 events); retries and the fallback absorb most of them.",
        f"- Served by: {served}. Error answers (status, code): {statuses}.",
        "  Each upstream 429 cools its key down for `retry_backoff_max_ms` (100 ms here), so at this failure "
        "rate both openai keys are often resting at once; those requests go straight to the fallback (hence "
        "its share), and when the fallback fails too the client gets the primary's error, "
        "`all_keys_cooling_down`. Stream error events are streams cut after their first chunk (no retry "
        "once the client has data).",
        "",
        *rows,
        "",
        f"- Gateway RSS (VmRSS): {rss['start']:.1f} MiB before the traffic, {rss['warm']:.1f} MiB after "
        f"10 s of it, {rss['end']:.1f} MiB at the end (max sampled {rss['max']:.1f} MiB; samples every 10 s: "
        f"{', '.join(f'{v:.1f}' for v in rss['samples'])}).",
        f"- After the run: gateway healthy: {result['healthy']}; fake in flight: {result['fake_in_flight']}; "
        f"tracebacks in the gateway log: {result['tracebacks']}.",
        f"- Verdict: **{'PASS' if result['passed'] else 'FAIL'}** (malformed, hung and lost must all be 0).",
    ]
    if t.samples:
        lines += ["", "First problem answers:", "", *[f"- `{s}`" for s in t.samples]]
    return "\n".join(lines)


SECTION_INTRO = """## Soak

Two minutes of mixed traffic (half streaming) at concurrency 64 while the fake provider fails 20 % of
all upstream calls at random (HTTP 500, HTTP 429, or a connection cut after 2 events). Every answer
must be a success or a well-formed error: an OpenAI error body, or for a stream that already started,
an error event followed by `data: [DONE]`. No request may hang or be lost, and the gateway's memory
must stay flat. Generated by `python bench/soak.py --markdown docs/benchmarks.md` (see its docstring
for the exact setup); not run in CI.
"""


def write_markdown(path: Path, body: str) -> None:
    block = f"{START}\n{body}\n{END}"
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    if START in text and END in text:
        head, rest = text.split(START, 1)
        _, tail = rest.split(END, 1)
        text = head + block + tail
    else:
        if text and not text.endswith("\n"):
            text += "\n"
        text += ("\n" if text else "") + SECTION_INTRO + "\n" + block + "\n"
    path.write_text(text, encoding="utf-8")


# --- main -------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=120.0, help="seconds of traffic (default 120)")
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--fail-rate", type=float, default=0.2, help="share of upstream calls that fail")
    parser.add_argument("--timeout", type=float, default=30.0, help="per-request client timeout (hung past it)")
    parser.add_argument("--markdown", type=Path, help="regenerate the soak section of this file")
    args = parser.parse_args(argv)

    workdir = Path(tempfile.mkdtemp(prefix="bifrost-soak-"))
    fake_port, gw_port = free_port(), free_port()
    fake_url, gw_url = f"http://{HOST}:{fake_port}", f"http://{HOST}:{gw_port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("BIFROST_")}
    procs: list[subprocess.Popen[bytes]] = []
    try:
        fake_log = (workdir / "fake.log").open("wb")
        fake = subprocess.Popen(
            [sys.executable, "-m", "bifrost.testing.fake_provider", "--host", HOST, "--port", str(fake_port)],
            stdout=fake_log, stderr=subprocess.STDOUT, env=env,
        )
        procs.append(fake)
        wait_up(fake_url + "/_fake/stats", fake, "fake provider")
        http("POST", fake_url + "/_fake/script", {"default": fake_script(args.fail_rate)})

        config_path = workdir / "config.json"
        config_path.write_text(json.dumps(gateway_config(fake_url), indent=2))
        gw_log_path = workdir / "gateway.log"
        gateway = subprocess.Popen(
            [sys.executable, "-m", "bifrost", "--config", str(config_path), "--host", HOST,
             "--port", str(gw_port), "--log-level", "warn"],
            stdout=gw_log_path.open("wb"), stderr=subprocess.STDOUT, env=env,
        )
        procs.append(gateway)
        wait_up(gw_url + "/health", gateway, "gateway")

        load_start = "{:.2f} / {:.2f} / {:.2f}".format(*os.getloadavg())
        rss_start = rss_mib(gateway.pid)
        samples: list[float] = []
        started = time.monotonic()
        warm: list[float] = []

        def tick() -> None:
            value = rss_mib(gateway.pid)
            samples.append(value)
            if not warm and time.monotonic() - started >= 9.5:
                warm.append(value)
            print(f"  t={time.monotonic() - started:5.0f}s  gateway RSS {value:6.1f} MiB  "
                  f"answers so far {sum(tally.outcomes.values()):,}", flush=True)

        tally = Tally()
        print(f"soak: {args.duration:g}s at concurrency {args.concurrency}, upstream failing "
              f"{100 * args.fail_rate:g}% at random; gateway {gw_url} (pid {gateway.pid})", flush=True)
        elapsed = asyncio.run(
            drive(gw_url + "/v1/chat/completions", args.duration, args.concurrency, args.timeout, tally, tick)
        )
        time.sleep(1.0)
        rss_end = rss_mib(gateway.pid)
        load_end = "{:.2f} / {:.2f} / {:.2f}".format(*os.getloadavg())
        try:
            healthy = http("GET", gw_url + "/health").get("status") == "ok"
        except OSError:
            healthy = False
        stats = http("GET", fake_url + "/_fake/stats")
        tracebacks = gw_log_path.read_text(errors="replace").count("Traceback")
        bad = sum(tally.outcomes.get(k, 0) for k in ("malformed", "hung", "lost"))
        result = {
            "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
            "cpus": os.cpu_count(),
            "load_start": load_start,
            "load_end": load_end,
            "duration": args.duration,
            "concurrency": args.concurrency,
            "fail_rate": args.fail_rate,
            "elapsed": elapsed,
            "tally": tally,
            "fake_total": stats["total"],
            "fake_in_flight": stats["in_flight"],
            "healthy": healthy,
            "tracebacks": tracebacks,
            "rss": {
                "start": rss_start,
                "warm": warm[0] if warm else (samples[0] if samples else rss_end),
                "end": rss_end,
                "max": max([rss_start, rss_end, *samples]),
                "samples": samples,
            },
            "passed": bad == 0 and healthy and stats["in_flight"] == 0,
        }
        report = render(result)
        print(report)
        if args.markdown:
            write_markdown(args.markdown, report)
            print(f"wrote the soak section of {args.markdown}")
        return 0 if result["passed"] else 1
    finally:
        for proc in reversed(procs):
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=40)
                except subprocess.TimeoutExpired:
                    proc.kill()


if __name__ == "__main__":
    sys.exit(main())
