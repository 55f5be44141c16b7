"""The reproducible gateway benchmark: fake provider + wrk on loopback, one command.

    python bench/run.py [--duration 10] [--quick] [--rounds 1] [--wait-quiet SECONDS]
                        [--out bench/results/latest.json] [--markdown docs/benchmarks.md] [--stacks]

Starts the fake provider pinned to core 1 and the systems under test pinned to core 0: direct to the
fake, the minimal aiohttp proxy on the asyncio loop and on uvloop (the floor), bifrost as the issue
measures it (governance with one virtual key and one rate limit, an MCP client with no tools, metrics),
the same with the SQLite log store, and bifrost with providers only at 1 and 2 workers (the 2-worker
gateway is left unpinned); then, each measurement for every system in turn (``--rounds`` times,
keeping the best), measures with wrk pinned to core 1:

- non-streaming at concurrency 1 and 64 (requests/s, p50/p99 latency);
- streaming at concurrency 64 (requests/s, p50/p99 of the whole stream);
- at concurrency 1, the time to the first SSE chunk and the spacing of the chunks, with the
  fake scripted to stream several chunks ``chunk_delay_ms`` apart (bench/ttfb.py);
- the gateway's peak RSS (VmHWM of each process).

Prints a table and the issue's targets as ratios measured in the same run (PASS/MISS), writes
JSON, and with --markdown regenerates the part of docs/benchmarks.md between the markers.
``--stacks`` instead measures the minimal pass-through proxies of bench/stacks/ (alternative
Python server/client stacks) and regenerates the stack-comparison section. See bench/README.md.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import importlib.metadata
import importlib.util
import json
import os
import platform
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import bench_peers

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
WRK_SCRIPT = BENCH / "wrk_post.lua"
TTFB = BENCH / "ttfb.py"
HOST = "127.0.0.1"
PATH = "/v1/chat/completions"
SUT_CORE = "0"  # the system under test
LOAD_CORE = "1"  # the fake provider and the load generators
MODEL = "gpt-4o-mini"
STREAM_WORDS = 10
STREAM_DELAY_MS = 2
STREAM_SCRIPT = {
    "reply": " ".join(f"word{i}" for i in range(1, STREAM_WORDS + 1)),
    "chunk_delay_ms": STREAM_DELAY_MS,
}
MARKERS = {
    "main": ("<!-- bench:start -->", "<!-- bench:end -->"),
    "stacks": ("<!-- stacks:start -->", "<!-- stacks:end -->"),
    "observability": ("<!-- observability:start -->", "<!-- observability:end -->"),
    "mcp": ("<!-- mcp:start -->", "<!-- mcp:end -->"),  # bench/mcp_hook.py
    "governance": ("<!-- governance:start -->", "<!-- governance:end -->"),
    "peers": ("<!-- peers:start -->", "<!-- peers:end -->"),  # bench/bench_peers.py
}
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback: never via a proxy
Json = dict[str, Any]


# --------------------------------------------------------------------------- processes


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        port: int = s.getsockname()[1]
        return port


def pinned(core: str | None, argv: list[str]) -> list[str]:
    return ["taskset", "-c", core, *argv] if core is not None else argv


@dataclass
class Proc:
    """A process this harness started (its own session, so its group is ours alone)."""

    name: str
    popen: subprocess.Popen[bytes]
    log_path: Path

    @property
    def pid(self) -> int:
        return self.popen.pid

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def exit_code(self) -> int | None:
        """The exit code (negative: the signal) once the process has ended, else None.

        Does not reap it: while the leader is an unreaped zombie its pid, and so its process
        group, cannot be reused, and ``stop`` can still clean up the group safely.
        """
        if self.popen.returncode is not None:
            return self.popen.returncode
        try:
            info = os.waitid(os.P_PID, self.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
        except ChildProcessError:
            return self.popen.poll()
        if info is None or info.si_pid == 0:
            return None
        return info.si_status if info.si_code == os.CLD_EXITED else -info.si_status

    def stop(self, grace: float = 10.0) -> None:
        """SIGTERM, then SIGKILL to the whole group (workers of a supervisor included), then reap."""
        if self.popen.returncode is not None:
            return  # already reaped: its group id may belong to someone else by now
        if self.exit_code() is None:
            self.popen.send_signal(signal.SIGTERM)
            deadline = time.monotonic() + grace
            while self.exit_code() is None and time.monotonic() < deadline:
                time.sleep(0.05)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, signal.SIGKILL)  # leftovers; the unreaped leader keeps the group ours
        self.popen.wait(timeout=10)


def start(name: str, argv: list[str], workdir: Path, env: dict[str, str] | None = None) -> Proc:
    log_path = workdir / f"{name}.log"
    log = log_path.open("wb")
    full_env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
    popen = subprocess.Popen(
        argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        env=full_env, cwd=str(ROOT), start_new_session=True,
    )
    log.close()
    return Proc(name, popen, log_path)


def children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(p) for p in text.split()]


def tree(pid: int) -> list[int]:
    pids = [pid]
    for child in children(pid):
        pids.extend(tree(child))
    return pids


def status_kib(pid: int, field_name: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field_name + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def cpu_seconds(pids: list[int]) -> float:
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / ticks


def runqueue_wait(pids: list[int]) -> float:
    """Seconds the main threads of ``pids`` spent runnable but waiting for a CPU (schedstat).

    Main threads only: the event loop runs there, and the helper threads of a multi-threaded
    server (granian's runtime) would otherwise count as waiting for each other on their one core.
    """
    total = 0
    for pid in pids:
        with contextlib.suppress(OSError, ValueError, IndexError):
            total += int(Path(f"/proc/{pid}/task/{pid}/schedstat").read_text().split()[1])
    return total / 1e9


def busy_fraction(seconds: float = 2.0) -> float:
    """Share of all CPUs that was busy over ``seconds`` (from /proc/stat)."""

    def sample() -> tuple[int, int]:
        fields = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
        idle = fields[3] + fields[4]  # idle + iowait
        return sum(fields), idle

    total0, idle0 = sample()
    time.sleep(seconds)
    total1, idle1 = sample()
    return 1 - (idle1 - idle0) / max(1, total1 - total0)


def wait_quiet(limit: float) -> float:
    """Wait (up to ``limit`` seconds) until the machine is nearly idle; returns the last busy share."""
    deadline = time.monotonic() + limit
    while True:
        busy = busy_fraction()
        if busy < 0.10 or time.monotonic() >= deadline:
            return busy
        print(f"  waiting for a quiet machine: CPUs {busy:.0%} busy", flush=True)
        time.sleep(3)


def core_task_seconds(core: str) -> float:
    """CPU seconds that core ``core`` spent running tasks (user + nice + system; not irq/softirq)."""
    for line in Path("/proc/stat").read_text().splitlines():
        if line.startswith(f"cpu{core} "):
            user, nice, system = (int(x) for x in line.split()[1:4])
            return (user + nice + system) / os.sysconf("SC_CLK_TCK")
    return 0.0


def http(
    method: str, url: str, payload: Any = None, timeout: float = 5.0, extra: dict[str, str] | None = None
) -> tuple[int, bytes]:
    data = None if payload is None else json.dumps(payload).encode()
    headers = {"Content-Type": "application/json", "Authorization": "Bearer sk-bench-client", **(extra or {})}
    request = urllib.request.Request(url, data=data, method=method, headers=headers)
    try:
        with _OPENER.open(request, timeout=timeout) as response:
            return int(response.status), response.read()
    except urllib.error.HTTPError as exc:
        return int(exc.code), exc.read()


def wait_ready(
    proc: Proc, url: str, timeout: float = 30.0, headers: dict[str, str] | None = None, stream: bool = True
) -> None:
    """Until a non-streaming and a streaming chat completion both succeed through ``url``."""
    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        if proc.exit_code() is not None:
            raise RuntimeError(f"{proc.name} {exit_reason(proc.exit_code() or 0)}:\n{proc.log_tail()}")
        try:
            body = {"model": MODEL, "messages": [{"role": "user", "content": "hi"}]}
            status, raw = http("POST", url + PATH, body, extra=headers)
            if status == 200 and b'"choices"' in raw and not stream:
                return
            if status == 200 and b'"choices"' in raw:
                status, raw = http("POST", url + PATH, {**body, "stream": True}, extra=headers)
                if status == 200 and raw.rstrip().endswith(b"data: [DONE]"):
                    return
            last = f"HTTP {status}: {raw[:200]!r}"
        except OSError as exc:
            last = str(exc)
        time.sleep(0.1)
    raise RuntimeError(f"{proc.name} not ready after {timeout:.0f}s ({last}):\n{proc.log_tail()}")


# --------------------------------------------------------------------------- load


@dataclass
class Settings:
    duration: float
    warmup: float
    ttfb_requests: int
    ttfb_warmup: int
    quick: bool


def wrk(url: str, connections: int, duration: float, stream: bool, headers: dict[str, str] | None = None) -> Json:
    secs = max(1, round(duration))
    argv = [
        "wrk", "-t1", f"-c{connections}", f"-d{secs}s", "--timeout", "5s", "--latency",
        "-s", str(WRK_SCRIPT), url + PATH,
    ]
    if stream:
        argv += ["--", "stream"]
    env = None
    if headers:  # extra request headers (a peer gateway's routing headers), read by wrk_post.lua
        env = {**os.environ, "BENCH_HEADERS": "\n".join(f"{k}: {v}" for k, v in headers.items())}
    out = subprocess.run(
        pinned(LOAD_CORE, argv), capture_output=True, text=True, timeout=secs + 60, check=False, env=env
    )
    for line in out.stdout.splitlines():
        if line.startswith("BENCHJSON "):
            raw: Json = json.loads(line[len("BENCHJSON ") :])
            break
    else:
        raise RuntimeError(f"wrk printed no summary (rc {out.returncode}):\n{out.stdout}\n{out.stderr}")
    seconds = raw["duration_us"] / 1e6
    pct = raw["latency_us"]["percentiles"]
    errors = sum(raw["errors"].values())
    return {
        "connections": connections,
        "stream": stream,
        "requests": raw["requests"],
        "rps": round(raw["requests"] / seconds, 1),
        "p50_ms": pct["50"] / 1000,
        "p90_ms": pct["90"] / 1000,
        "p99_ms": pct["99"] / 1000,
        "mean_ms": round(raw["latency_us"]["mean"] / 1000, 4),
        "max_ms": raw["latency_us"]["max"] / 1000,
        "errors": raw["errors"],
        "error_total": errors,
    }


def measure_wrk(
    url: str, connections: int, stream: bool, s: Settings, cpu_pids: dict[str, list[int]],
    headers: dict[str, str] | None = None,
) -> Json:
    """Warm up, then measure; also the CPU share each watched process group used meanwhile."""
    wrk(url, connections, s.warmup, stream, headers)
    before = {name: cpu_seconds(pids) for name, pids in cpu_pids.items()}
    waited = {name: runqueue_wait(pids) for name, pids in cpu_pids.items()}
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    core0 = core_task_seconds(SUT_CORE)
    t0 = time.monotonic()
    result = wrk(url, connections, s.duration, stream, headers)
    wall = time.monotonic() - t0
    core0_busy = (core_task_seconds(SUT_CORE) - core0) / wall
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = {name: round((cpu_seconds(pids) - before[name]) / wall, 3) for name, pids in cpu_pids.items()}
    wrk_cpu = after.ru_utime + after.ru_stime - usage.ru_utime - usage.ru_stime
    cpu["wrk"] = round(wrk_cpu / wall, 3)
    result["cpu"] = cpu
    sut_cpu = cpu.get("sut")
    # what else ran on core 0 meanwhile (other work on the machine; for an unpinned system, itself)
    result["core0_other"] = round(max(0.0, core0_busy - (sut_cpu or 0.0)), 3)
    # requests per CPU-second of the system under test: steadier than req/s when the machine is shared
    result["rps_per_cpu"] = round(result["rps"] / sut_cpu, 1) if sut_cpu else None
    # time spent runnable but not running: another process was using the CPU it is pinned to
    result["cpu_wait"] = {
        name: round((runqueue_wait(pids) - waited[name]) / wall, 3) for name, pids in cpu_pids.items()
    }
    return result


def measure_ttfb(url: str, fake_url: str, s: Settings) -> Json:
    status, raw = http("POST", fake_url + "/_fake/script", {"default": STREAM_SCRIPT})
    if status != 200:
        raise RuntimeError(f"could not script the fake: HTTP {status} {raw[:200]!r}")
    try:
        argv = [
            sys.executable, str(TTFB), "--url", url + PATH,
            "--requests", str(s.ttfb_requests), "--warmup", str(s.ttfb_warmup),
        ]
        out = subprocess.run(pinned(LOAD_CORE, argv), capture_output=True, text=True, timeout=300, check=False)
        if out.returncode != 0:
            raise RuntimeError(f"ttfb.py failed (rc {out.returncode}):\n{out.stdout}\n{out.stderr}")
        result: Json = json.loads(out.stdout.strip().splitlines()[-1])
        return result
    finally:
        http("POST", fake_url + "/_fake/script", {"default": None})


# --------------------------------------------------------------------------- systems under test


@dataclass
class Sut:
    key: str
    label: str
    argv: list[str] | None  # None: the fake itself (direct)
    core: str | None = SUT_CORE
    env: dict[str, str] = field(default_factory=dict)
    gateway: bool = False
    workers: int = 1
    note: str = ""
    skip: str = ""  # why it cannot run here
    headers: dict[str, str] = field(default_factory=dict)  # sent with every wrk request (a peer's routing)
    ready_timeout: float = 30.0
    port_equals: bool = False  # told its port as --port=N (Portkey)
    stream_optional: bool = False  # a peer whose streams fail here is still measured without them
    no_stream: str = ""  # why its streaming is not measured
    ttfb: bool = True  # measure the time to first chunk (bench/ttfb.py sends no routing headers)


def gateway_config(fake_url: str, workdir: Path) -> Path:
    config = {
        "providers": {
            "openai": {
                "keys": [{"name": "bench", "value": "sk-bench", "models": [MODEL], "weight": 1.0}],
                "network_config": {"base_url": fake_url},
            }
        }
    }
    path = workdir / "bifrost-bench.json"
    path.write_text(json.dumps(config, indent=2))
    return path


# The gateway as the issue measures it: metrics on (the default), governance on with the memory store, one
# virtual key with one rate limit (far above what a run reaches; wrk sends the key), and an MCP client whose
# tools are all filtered out (the SDK loaded and a connection up, nothing injected).
BENCH_VK = "sk-bf-bench-0000000000"
MCP_SERVER = ROOT / "examples" / "mcp" / "filesystem_server.py"


def full_gateway_config(fake_url: str, workdir: Path, log_store: bool = False) -> Path:
    config = json.loads(gateway_config(fake_url, workdir).read_text())
    config["governance"] = {
        "virtual_keys": [{
            "id": "bench", "value": BENCH_VK,
            "rate_limit": {"request_max_limit": 1_000_000_000, "request_reset_duration": "1h"},
        }]
    }
    config["mcp"] = {"client_configs": [{
        "name": "filesystem", "connection_type": "stdio", "tools_to_execute": [],
        "stdio_config": {"command": sys.executable, "args": [str(MCP_SERVER), "--root", str(ROOT)]},
    }]}
    name = "bifrost-bench-full.json"
    if log_store:
        config["logs_store"] = {"enabled": True, "type": "sqlite", "config": {"path": str(workdir / "logs.db")}}
        name = "bifrost-bench-full-store.json"
    path = workdir / name
    path.write_text(json.dumps(config, indent=2))
    return path


def main_suts(fake_url: str, workdir: Path) -> list[Sut]:
    os.environ["BENCH_API_KEY"] = BENCH_VK  # wrk sends the virtual key (the others ignore it)
    full = ["bifrost", "--config", str(full_gateway_config(fake_url, workdir)), "--log-level", "warn"]
    store = ["bifrost", "--config", str(full_gateway_config(fake_url, workdir, log_store=True)),
             "--log-level", "warn"]
    plain = ["bifrost", "--config", str(gateway_config(fake_url, workdir)), "--log-level", "warn"]
    py = sys.executable
    floor = [py, str(BENCH / "minimal_proxy.py"), "--upstream", fake_url]
    return [
        Sut("direct", "direct to fake", None, core=LOAD_CORE, note="the fake itself, on core 1"),
        Sut("minimal-asyncio", "minimal proxy, asyncio loop", [*floor, "--loop", "asyncio"]),
        Sut("minimal", "minimal proxy, uvloop (the floor)", [*floor, "--loop", "uvloop"]),
        Sut("bifrost-1w", "bifrost (governance, MCP, metrics)", full, gateway=True,
            note="governance (memory store, 1 virtual key, 1 rate limit), an MCP client with no tools, metrics"),
        Sut("bifrost-store", "bifrost + SQLite log store", store, gateway=True),
        Sut("bifrost-plain", "bifrost, providers only", [*plain, "--workers", "1"], gateway=True,
            note="no governance, no MCP: the pair for the --workers 2 ratio"),
        Sut(
            "bifrost-2w", "bifrost, providers only, --workers 2 (unpinned)", [*plain, "--workers", "2"], core=None,
            env={"PROMETHEUS_MULTIPROC_DIR": str(workdir / "prom")}, gateway=True, workers=2,
            note="unpinned: the 2 workers share cores 0 and 1 with the fake and wrk (pinned to core 1); "
            "governance is off because --workers 2 with the memory store refuses to start",
        ),
        *bench_peers.peers(fake_url, workdir, Sut, MODEL),  # LiteLLM and Portkey, when installed
    ]


def observability_suts(fake_url: str, workdir: Path) -> list[Sut]:
    """The gateway with its metrics, access log and log store switched on one at a time (issue: on vs off)."""
    config = gateway_config(fake_url, workdir)
    store = json.loads(config.read_text())
    store["logs_store"] = {"enabled": True, "type": "sqlite", "config": {"path": str(workdir / "logs.db")}}
    store_config = workdir / "bifrost-bench-store.json"
    store_config.write_text(json.dumps(store, indent=2))
    gw = ["bifrost", "--config", str(config)]
    return [
        Sut("minimal", "minimal proxy (floor)", [sys.executable, str(BENCH / "minimal_proxy.py"), "--upstream",
                                                  fake_url]),
        Sut("obs-off", "bifrost, observability off", [*gw, "--log-level", "warn"],
            env={"BIFROST_OBSERVABILITY": "off"}, gateway=True,
            note="BIFROST_OBSERVABILITY=off: no metrics, no access log, no log store"),
        Sut("metrics", "bifrost, metrics (default, --log-level warn)", [*gw, "--log-level", "warn"], gateway=True),
        Sut("metrics+access", "bifrost, metrics + access log (--log-level info)", [*gw, "--log-level", "info"],
            gateway=True, note="access lines go to the process's stderr (a file)"),
        Sut("metrics+access+store", "bifrost, metrics + access log + SQLite log store",
            ["bifrost", "--config", str(store_config), "--log-level", "info"], gateway=True),
    ]


def governance_suts(fake_url: str, workdir: Path, redis_url: str | None) -> list[Sut]:
    """Governance off, on with the memory store, on with Redis (bench/bench_governance.py)."""
    import bench_governance as g

    base = json.loads(gateway_config(fake_url, workdir).read_text())
    suts = []
    for key, path in g.configs(base, workdir, redis_url).items():
        argv = None if path is None else ["bifrost", "--config", str(path), "--log-level", "warn"]
        suts.append(Sut(key, g.LABELS[key], argv or [], gateway=True,
                        skip="" if path is not None else "redis-server not found (apt-get install redis-server)"))
    return suts


def observability_tables(results: list[Json]) -> list[str]:
    by_key = {r["key"]: r for r in results}
    off = _get(by_key, "obs-off", "ns_c64", "rps_per_cpu")
    lines = [
        "The gateway on one core with each part of observability switched on in turn (c=64, wrk `-t1`); "
        "*CPU per request* is 1 / (req per CPU-second of the gateway), *cost* is its difference from "
        "observability off:",
        "",
        "| system | c=64 req/s | req/CPU-s | CPU per request | cost vs off | stream c=64 req/s | stream cost vs off |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    st_off = _get(by_key, "obs-off", "st_c64", "rps_per_cpu")
    for r in results:
        if "ns_c64" not in r:
            lines.append(f"| {r['label']} | {_short_failure(r)} ||||||")
            continue
        k = r["key"]
        per_cpu = _get(by_key, k, "ns_c64", "rps_per_cpu")
        st_cpu = _get(by_key, k, "st_c64", "rps_per_cpu")
        us = 1e6 / per_cpu if per_cpu else None
        cost = "-" if k in ("obs-off", "minimal") or not per_cpu or not off else f"{1e6 / per_cpu - 1e6 / off:+.1f} µs"
        st_cost = ("-" if k in ("obs-off", "minimal") or not st_cpu or not st_off
                   else f"{1e6 / st_cpu - 1e6 / st_off:+.1f} µs")
        lines.append(
            f"| {r['label']} | {fmt_rps(_get(by_key, k, 'ns_c64', 'rps'))} | {fmt_rps(per_cpu)} "
            f"| {fmt(us, 1)} µs | {cost} | {fmt_rps(_get(by_key, k, 'st_c64', 'rps'))} | {st_cost} |"
        )
    return lines + cpu_lines(results)


def stack_suts(fake_url: str) -> list[Sut]:
    """The minimal proxies of bench/bench_stacks.py (the floor and bench/stacks/*), after direct to the fake."""
    import bench_stacks

    suts = [Sut("direct", "direct to fake", None, core=LOAD_CORE, note="the fake itself, on core 1")]
    for spec in bench_stacks.specs(fake_url):
        suts.append(Sut(spec["key"], spec["label"], spec["argv"], note=spec["note"], skip=spec["skip"]))
    return suts


MEASUREMENTS: list[tuple[str, int, bool]] = [("ns_c1", 1, False), ("ns_c64", 64, False), ("st_c64", 64, True)]


@dataclass
class Running:
    """A system under test, started (or skipped, or failed) and its results so far."""

    sut: Sut
    result: Json
    url: str = ""
    proc: Proc | None = None
    watched: dict[str, list[int]] = field(default_factory=dict)

    @property
    def active(self) -> bool:
        return "skipped" not in self.result and "failed" not in self.result


def launch(sut: Sut, fake: Proc, fake_url: str, workdir: Path) -> Running:
    result: Json = {
        "key": sut.key, "label": sut.label, "note": sut.note, "workers": sut.workers, "core": sut.core,
    }
    running = Running(sut, result)
    if sut.skip:
        result["skipped"] = sut.skip
        print(f"{sut.label}: skipped: {sut.skip}", flush=True)
        return running
    if sut.argv is None:
        running.url = fake_url
        running.watched = {"fake": [fake.pid]}
        return running
    port = free_port()
    running.url = f"http://{HOST}:{port}"
    port_args = [f"--port={port}"] if sut.port_equals else ["--port", str(port)]
    running.proc = start(sut.key, pinned(sut.core, [*sut.argv, *port_args]), workdir, sut.env)
    try:
        wait_ready(running.proc, running.url, sut.ready_timeout, sut.headers, not sut.stream_optional)
        if sut.stream_optional:
            body = {"model": MODEL, "messages": [{"role": "user", "content": "hi"}], "stream": True}
            status, raw = http("POST", running.url + PATH, body, extra=sut.headers)
            if status != 200 or not raw.rstrip().endswith(b"data: [DONE]"):
                sut.no_stream = result["no_stream"] = f"its streams fail here: HTTP {status} {raw[:100]!r}"
                print(f"{sut.label}: {sut.no_stream}", flush=True)
        time.sleep(0.3)  # let a supervisor finish starting its workers
    except RuntimeError as exc:
        result["failed"] = str(exc)
        print(f"{sut.label}: FAILED to start: {exc}", flush=True)
        return running
    running.watched = {"sut": tree(running.proc.pid), "fake": [fake.pid]}
    result["pids"] = running.watched["sut"]
    return running


def peak_rss(running: Running) -> None:
    proc, sut = running.proc, running.sut
    if proc is None or not sut.gateway or not running.active:
        return
    pids = tree(proc.pid)
    hwm = {pid: status_kib(pid, "VmHWM") for pid in pids}
    workers = [hwm[p] for p in pids if p != proc.pid] if sut.workers > 1 else [hwm[proc.pid]]
    running.result["rss"] = {
        "per_process_kib": {str(p): v for p, v in hwm.items()},
        "worker_max_mib": round(max(workers) / 1024, 1) if workers else None,
        "workers_sum_mib": round(sum(workers) / 1024, 1),
        "total_mib": round(sum(hwm.values()) / 1024, 1),
        "supervisor_mib": round(hwm[proc.pid] / 1024, 1) if sut.workers > 1 else None,
        "worker_count": len(workers),
    }
    print(f"{sut.label}: peak RSS (VmHWM) {running.result['rss']}", flush=True)


def exit_reason(code: int) -> str:
    if code < 0:
        with contextlib.suppress(ValueError):
            return f"killed by {signal.Signals(-code).name}"
        return f"killed by signal {-code}"
    if code == 0:
        return "exited with code 0 (stopped by a signal from outside the benchmark?)"
    return f"exited with code {code}"


def check_alive(r: Running, fake: Proc) -> bool:
    """False (and the reason recorded) if the system under test or the fake is gone."""
    fake_code = fake.exit_code()
    if fake_code is not None:
        raise RuntimeError(f"the fake provider {exit_reason(fake_code)} during the run "
                           f"(something else on this machine may be killing processes):\n{fake.log_tail()}")
    code = r.proc.exit_code() if r.proc is not None else None
    if r.proc is not None and code is not None:
        r.result["failed"] = (f"{exit_reason(code)} during the run; "
                              f"log tail: {r.proc.log_tail(5)!r}")
        print(f"  {r.sut.label}: FAILED: {r.result['failed']}", flush=True)
        return False
    return True


def better(new: Json, old: Json | None, key: str, lower: bool = False) -> bool:
    """Keep the best run; a run with errors never replaces a clean one."""
    if old is None:
        return True
    new_bad, old_bad = bool(new.get("error_total")), bool(old.get("error_total"))
    if new_bad != old_bad:
        return old_bad
    return bool(new[key] < old[key]) if lower else bool(new[key] > old[key])


def measure_all(
    running: list[Running], fake: Proc, fake_url: str, s: Settings, rounds: int, stacks: bool
) -> None:
    """Each measurement for every system in turn (so they are compared close in time), ``rounds`` times.

    With several rounds the best run is kept (highest req/s; lowest time to first chunk): other
    work on the machine can only make a run slower. Every round's req/s is kept in ``rounds``.
    """
    for round_no in range(1, rounds + 1):
        for name, connections, stream in MEASUREMENTS:
            print(f"[round {round_no}/{rounds}] {name}", flush=True)
            for r in running:
                if not r.active or not check_alive(r, fake) or (stream and r.sut.no_stream):
                    continue
                try:
                    m = measure_wrk(r.url, connections, stream, s, r.watched, r.sut.headers)
                except Exception as exc:  # keep going: one broken system must not lose the others
                    if check_alive(r, fake):
                        r.result["failed"] = str(exc)
                        print(f"  {r.sut.label}: FAILED: {exc}", flush=True)
                    continue
                r.result.setdefault("rounds", {}).setdefault(name, []).append(m["rps"])
                if better(m, r.result.get(name), "rps"):
                    r.result[name] = m
                print(
                    f"  {r.sut.label:32s} {m['rps']:9.1f} req/s  p50 {m['p50_ms']:7.3f} ms"
                    f"  p99 {m['p99_ms']:7.3f} ms  cpu {m['cpu']} waiting {m['cpu_wait']}"
                    + (f"  ERRORS {m['errors']}" if m["error_total"] else ""),
                    flush=True,
                )
        if stacks:
            continue
        print(f"[round {round_no}/{rounds}] ttfb", flush=True)
        for r in running:
            if not r.active or not r.sut.ttfb or not check_alive(r, fake):
                continue
            try:
                t = measure_ttfb(r.url, fake_url, s)
            except Exception as exc:
                if check_alive(r, fake):
                    r.result["failed"] = str(exc)[-600:]
                    print(f"  {r.sut.label}: FAILED: {exc}", flush=True)
                continue
            r.result.setdefault("rounds", {}).setdefault("ttfb_p50", []).append(t["ttfb_ms"]["p50"])
            best = r.result.get("ttfb")
            if best is None or t["ttfb_ms"]["p50"] < best["ttfb_ms"]["p50"]:
                r.result["ttfb"] = t
            print(
                f"  {r.sut.label:32s} ttfb p50 {t['ttfb_ms']['p50']:.3f} ms  p99 {t['ttfb_ms']['p99']:.3f} ms  "
                f"first->last p50 {t['first_to_last_ms']['p50']:.3f} ms  "
                f"events {t['events']} arrivals {t['arrivals']}",
                flush=True,
            )


# --------------------------------------------------------------------------- targets and report


def _get(results: dict[str, Json], key: str, *path: str) -> float | None:
    node: Any = results.get(key)
    for part in path:
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return float(node) if isinstance(node, int | float) else None


def targets(results: dict[str, Json]) -> list[Json]:
    """The issue's targets, each as measured in this run (the floor: the minimal proxy on uvloop)."""
    out: list[Json] = []

    def add(name: str, measured: str, limit: str, ok: bool | None) -> None:
        out.append({"target": name, "measured": measured, "limit": limit,
                    "status": "n/a" if ok is None else ("PASS" if ok else "MISS")})

    def ratio(key: str, run: str) -> tuple[float, str] | None:
        gw, fl = _get(results, key, run, "rps"), _get(results, "minimal", run, "rps")
        gc, fc = _get(results, key, run, "rps_per_cpu"), _get(results, "minimal", run, "rps_per_cpu")
        if gw is None or not fl:
            return None
        per_cpu = f"; per CPU-second {gc / fc:.2f}x" if gc and fc else ""
        return gw / fl, f"{gw / fl:.2f}x ({gw:.0f} vs {fl:.0f} req/s{per_cpu})"

    got = ratio("bifrost-1w", "ns_c64")
    if got:
        add("throughput c=64, non-streaming, vs the floor", got[1], ">= 1.0x", got[0] >= 1.0)
    d50 = _get(results, "direct", "ns_c1", "p50_ms")
    g50 = _get(results, "bifrost-1w", "ns_c1", "p50_ms")
    m50 = _get(results, "minimal", "ns_c1", "p50_ms")
    if d50 is not None and g50 is not None and m50 is not None:
        ga, ma = g50 - d50, m50 - d50
        add("added p50 latency c=1 vs the floor's", f"+{ga:.3f} ms vs +{ma:.3f} ms", f"<= +{ma:.3f} ms", ga <= ma)
    g99 = _get(results, "bifrost-1w", "ns_c1", "p99_ms")
    if g99 is not None:
        g99_64 = _get(results, "bifrost-1w", "ns_c64", "p99_ms")
        extra = f" (c=64: {g99_64:.3f} ms)" if g99_64 is not None else ""
        add("p99 latency c=1 through the gateway", f"{g99:.3f} ms{extra}", "<= 3 ms", g99 <= 3.0)
    got = ratio("bifrost-1w", "st_c64")
    if got:
        add("throughput c=64, streaming, vs the floor", got[1], ">= 0.9x", got[0] >= 0.9)
    gt = _get(results, "bifrost-1w", "ttfb", "ttfb_ms", "p50")
    mt = _get(results, "minimal", "ttfb", "ttfb_ms", "p50")
    if gt is not None and mt is not None:
        add("time to first chunk (p50) over the floor's", f"+{gt - mt:.3f} ms ({gt:.3f} vs {mt:.3f} ms)",
            "<= +0.3 ms", gt - mt <= 0.3)
    dspan = _get(results, "direct", "ttfb", "first_to_last_ms", "p50")
    gspan = _get(results, "bifrost-1w", "ttfb", "first_to_last_ms", "p50")
    darr = _get(results, "direct", "ttfb", "arrivals")
    garr = _get(results, "bifrost-1w", "ttfb", "arrivals")
    gev = _get(results, "bifrost-1w", "ttfb", "events")
    if None not in (dspan, gspan, darr, garr, gev):
        assert dspan is not None and gspan is not None and darr is not None and garr is not None
        ok = garr >= 0.9 * darr and abs(gspan - dspan) <= 1.0
        add("streaming: chunks forwarded as they arrive",
            f"first->last {gspan:.2f} vs {dspan:.2f} ms direct; {garr:.1f} vs {darr:.1f} arrivals of {gev:.0f}",
            "span within 1 ms of direct, arrivals >= 0.9x direct's", ok)
    got = ratio("bifrost-store", "ns_c64")
    if got:
        add("with the SQLite log store, c=64 non-streaming, vs the floor (report)", got[1], ">= 0.8x",
            got[0] >= 0.8)
    w2, w1 = _get(results, "bifrost-2w", "ns_c64", "rps"), _get(results, "bifrost-plain", "ns_c64", "rps")
    c2, c1 = (_get(results, "bifrost-2w", "ns_c64", "rps_per_cpu"),
              _get(results, "bifrost-plain", "ns_c64", "rps_per_cpu"))
    if w2 is not None and w1:
        # with the fake and wrk on the same 2 cores the workers cannot get 2 cores; per CPU-second says
        # whether each worker works as well as one alone (then throughput grows with the cores given)
        per_cpu = f"; per CPU-second {c2 / c1:.2f}x" if c2 and c1 else ""
        add("--workers 2 vs 1, c=64 non-streaming (report)",
            f"{w2 / w1:.2f}x ({w2:.0f} vs {w1:.0f} req/s{per_cpu})",
            ">= 1.8x (2 cores, shared here with the fake and wrk)", w2 / w1 >= 1.8)
    for key in ("bifrost-1w", "bifrost-store", "bifrost-2w"):
        rss = _get(results, key, "rss", "worker_max_mib")
        if rss is not None:
            add(f"peak RSS per worker ({key}) (report)", f"{rss:.1f} MiB", "<= 60 MiB", rss <= 60)
    return out


def fmt(value: float | None, digits: int = 3) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def fmt_rps(value: float | None) -> str:
    return "-" if value is None else f"{value:,.0f}"


def main_tables(results: list[Json]) -> list[str]:
    by_key = {r["key"]: r for r in results}
    d50 = _get(by_key, "direct", "ns_c1", "p50_ms")
    dttfb = _get(by_key, "direct", "ttfb", "ttfb_ms", "p50")
    events = _get(by_key, "direct", "ttfb", "events") or STREAM_WORDS + 4
    lines = [
        "Non-streaming (wrk, `-t1`; latency in ms; *added* = p50 minus direct p50):",
        "",
        "| system | c=1 req/s | c=1 p50 | c=1 p99 | c=1 added p50 | c=64 req/s | c=64 req/CPU-s | c=64 p50 "
        "| c=64 p99 | peak RSS |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in results:
        if not any(run in r for run in ("ns_c1", "ns_c64", "st_c64")):
            lines.append(f"| {r['label']} | {_short_failure(r)} ||||||||| ")
            continue
        k = r["key"]
        p50 = _get(by_key, k, "ns_c1", "p50_ms")
        added = "-" if k == "direct" or p50 is None or d50 is None else f"+{p50 - d50:.3f}"
        rss = r.get("rss")
        rss_s = "-"
        if rss:
            rss_s = f"{rss['worker_max_mib']:.1f} MiB"
            if r["workers"] > 1:
                rss_s += f" max/worker ({rss['workers_sum_mib']:.1f} sum, +{rss['supervisor_mib']:.1f} supervisor)"
        lines.append(
            f"| {r['label']} | {fmt_rps(_get(by_key, k, 'ns_c1', 'rps'))} | {fmt(p50)} "
            f"| {fmt(_get(by_key, k, 'ns_c1', 'p99_ms'))} | {added} "
            f"| {fmt_rps(_get(by_key, k, 'ns_c64', 'rps'))} | {fmt_rps(_get(by_key, k, 'ns_c64', 'rps_per_cpu'))} "
            f"| {fmt(_get(by_key, k, 'ns_c64', 'p50_ms'))} | {fmt(_get(by_key, k, 'ns_c64', 'p99_ms'))} | {rss_s} |"
        )
    lines += [
        "",
        f"Streaming (c=64: wrk, whole stream; c=1: bench/ttfb.py with the fake streaming "
        f"{events:.0f} SSE events {STREAM_DELAY_MS} ms apart; ms):",
        "",
        "| system | c=64 req/s | c=64 req/CPU-s | c=64 p50 | c=64 p99 | TTFB p50 | TTFB p99 | added TTFB p50 "
        "| first→last p50 | gap p50 | arrivals / events |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in results:
        if "st_c64" not in r and "ttfb" not in r:
            continue
        k = r["key"]
        t = _get(by_key, k, "ttfb", "ttfb_ms", "p50")
        added = "-" if k == "direct" or t is None or dttfb is None else f"+{t - dttfb:.3f}"
        lines.append(
            f"| {r['label']} | {fmt_rps(_get(by_key, k, 'st_c64', 'rps'))} "
            f"| {fmt_rps(_get(by_key, k, 'st_c64', 'rps_per_cpu'))} "
            f"| {fmt(_get(by_key, k, 'st_c64', 'p50_ms'))} | {fmt(_get(by_key, k, 'st_c64', 'p99_ms'))} "
            f"| {fmt(t)} | {fmt(_get(by_key, k, 'ttfb', 'ttfb_ms', 'p99'))} | {added} "
            f"| {fmt(_get(by_key, k, 'ttfb', 'first_to_last_ms', 'p50'), 2)} "
            f"| {fmt(_get(by_key, k, 'ttfb', 'gap_ms', 'p50'), 2)} "
            f"| {fmt(_get(by_key, k, 'ttfb', 'arrivals'), 1)} / {fmt(_get(by_key, k, 'ttfb', 'events'), 0)} |"
        )
    return lines + cpu_lines(results)


def stack_tables(results: list[Json]) -> list[str]:
    import bench_stacks

    return bench_stacks.tables(results, _get, fmt, fmt_rps, _short_failure) + cpu_lines(results)


def _short_failure(r: Json) -> str:
    if "skipped" in r:
        return f"skipped: {r['skipped']}"
    return "FAILED: " + str(r.get("failed", "no data")).splitlines()[0][:200]


def cpu_lines(results: list[Json]) -> list[str]:
    """CPU per wall second of each process group during the c=64 runs, and its run-queue wait."""
    lines = [
        "",
        "CPU during the c=64 runs, non-streaming / streaming (1.00 = one core busy; in brackets the "
        "share of time it was runnable but waiting for a CPU):",
        "",
    ]
    names = {"sut": "proxy", "fake": "fake", "wrk": "wrk"}
    for r in results:
        runs = [r.get(run) for run in ("ns_c64", "st_c64")]
        if not all(isinstance(run, dict) and "cpu" in run for run in runs):
            continue
        parts = []
        for name, label in names.items():
            values = []
            for run in runs:
                assert isinstance(run, dict)
                if name in run["cpu"]:
                    wait = run.get("cpu_wait", {}).get(name)
                    values.append(f"{run['cpu'][name]:.2f}" + (f" ({wait:.2f})" if wait and wait >= 0.005 else ""))
            if values:
                parts.append(f"{label} {' / '.join(values)}")
        lines.append(f"- {r['label']}: " + ", ".join(parts))
    return lines


def contention(results: list[Json]) -> list[str]:
    """Warnings for measurements during which the system under test waited for its CPU."""
    warnings = []
    for r in results:
        if "failed" in r:
            warnings.append(f"- {r['label']}: FAILED: {str(r['failed']).splitlines()[0][:300]}")
        for run in ("ns_c1", "ns_c64", "st_c64"):
            node = r.get(run)
            if not isinstance(node, dict):
                continue
            # only core 0 is the proxy's alone (the fake shares core 1 with wrk by design); a
            # multi-threaded server (granian) also waits for its own threads, so both must show
            wait = node.get("cpu_wait", {}).get("sut", 0.0)
            other = node.get("core0_other", 0.0)
            if r.get("core") == SUT_CORE and wait > 0.05 and other > 0.03:
                warnings.append(
                    f"- {r['label']} {run}: other processes used {other:.0%} of core {SUT_CORE} and the proxy "
                    f"waited for it {wait:.0%} of the time: re-run on a quiet machine"
                )
            if node.get("error_total"):
                warnings.append(f"- {r['label']} {run}: wrk errors {node['errors']}")
    return warnings


def header_lines(report: Json) -> list[str]:
    env = report["environment"]
    load = ", ".join(f"{x:.2f}" for x in env["loadavg_start"])
    load_end = ", ".join(f"{x:.2f}" for x in env["loadavg_end"])
    versions = ", ".join(f"{k} {v}" for k, v in env["versions"].items())
    s = report["settings"]
    rounds = f" --rounds {s['rounds']}" if s.get("rounds", 1) > 1 else ""
    if not s["quick"] and s["duration"] != 10:
        rounds += f" --duration {s['duration']:g}"
    return [
        f"Generated by `python bench/run.py{'' if report['mode'] == 'main' else ' --' + report['mode']}"
        f"{' --quick' if s['quick'] else ''}{rounds}` "
        f"on {report['started']} "
        f"({s['duration']:.0f} s per measurement after a {s['warmup']:.1f} s warm-up; "
        + (f"{s['rounds']} interleaved rounds, the best of each kept; " if s.get("rounds", 1) > 1 else "")
        + f"{report['elapsed_s']:.0f} s in all).",
        "",
        f"Machine: {env['cpus']} CPUs ({env['cpu_model']}), {env['platform']}; {versions}.",
        f"Load average at start: {load} (1/5/15 min; CPUs {env.get('cpu_busy_start', 0):.0%} busy just "
        f"before); at end: {load_end}.",
        "Pinning: system under test on core 0; fake provider, wrk and ttfb.py on core 1"
        + (" (bifrost --workers 2 unpinned)." if report["mode"] == "main" else "."),
    ]


def render(report: Json) -> str:
    lines = header_lines(report)
    lines.append("")
    if report["mode"] == "main":
        lines += main_tables(report["results"])
        if any(r["key"] in ("litellm", "portkey") for r in report["results"]):
            lines += ["", "The peers, from the same run:", ""]
            lines += bench_peers.tables(report["results"], _get, fmt, fmt_rps, _short_failure)
        contended = [w for w in contention(report["results"]) if "other processes used" in w]
        lines += ["", "Targets (ratios measured in this run):", ""]
        if contended:
            lines += ["**This run was disturbed by other work on the machine (see the warnings): "
                      "the results below are not a fair verdict; re-run on a quiet machine.**", ""]
        lines += ["| target | measured | limit | result |",
                  "| --- | --- | --- | --- |"]
        lines += [f"| {t['target']} | {t['measured']} | {t['limit']} | {t['status']} |" for t in report["targets"]]
    elif report["mode"] == "peers":
        lines += bench_peers.tables(report["results"], _get, fmt, fmt_rps, _short_failure)
    elif report["mode"] == "governance":
        import bench_governance

        lines += bench_governance.tables(report["results"], _get, fmt, fmt_rps, _short_failure)
    else:
        lines += (observability_tables if report["mode"] == "observability" else stack_tables)(report["results"])
    warnings = contention(report["results"])
    if report.get("aborted"):
        warnings.insert(0, f"- run ABORTED: {report['aborted'].splitlines()[0]}")
    if warnings:
        lines += ["", "Warnings:", "", *warnings]
    return "\n".join(lines)


def write_markdown(path: Path, section: str, body: str) -> None:
    start, end = MARKERS[section]
    text = path.read_text() if path.exists() else ""
    block = f"{start}\n{body}\n{end}"
    if start in text and end in text:
        head, rest = text.split(start, 1)
        _, tail = rest.split(end, 1)
        text = head + block + tail
    else:
        text = text.rstrip("\n") + ("\n\n" if text else "") + block + "\n"
    path.write_text(text)


def versions() -> dict[str, str]:
    found = {"python": platform.python_version()}
    for dist in ("aiohttp", "bifrost-gateway", "uvloop", "httpx", "granian", "uvicorn", "httptools", "pyreqwest",
                 "curl_cffi"):
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            found[dist] = importlib.metadata.version(dist)
    out = subprocess.run(["wrk", "-v"], capture_output=True, text=True, timeout=10, check=False)
    first = (out.stdout or out.stderr).splitlines()
    if first:
        found["wrk"] = first[0].split()[1] if len(first[0].split()) > 1 else first[0]
    return found


def cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


# --------------------------------------------------------------------------- main


@contextlib.contextmanager
def fake_provider(workdir: Path) -> Iterator[tuple[Proc, str]]:
    port = free_port()
    url = f"http://{HOST}:{port}"
    argv = [sys.executable, "-m", "bifrost.testing.fake_provider", "--host", HOST, "--port", str(port)]
    proc = start("fake", pinned(LOAD_CORE, argv), workdir)
    try:
        deadline = time.monotonic() + 30
        while True:
            if proc.exit_code() is not None:
                raise RuntimeError(f"fake provider exited:\n{proc.log_tail()}")
            with contextlib.suppress(OSError):
                if http("POST", url + "/_fake/reset", {})[0] == 200:
                    break
            if time.monotonic() > deadline:
                raise RuntimeError(f"fake provider not ready:\n{proc.log_tail()}")
            time.sleep(0.1)
        yield proc, url
    finally:
        proc.stop()


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--duration", type=float, default=10.0, help="seconds per measurement (default 10)")
    p.add_argument("--quick", action="store_true", help="short runs (2 s each), for a check in under a minute")
    p.add_argument("--stacks", action="store_true", help="measure the bench/stacks/ proxies instead")
    p.add_argument("--observability", action="store_true",
                   help="measure the gateway's cost of metrics, access log and log store (on vs off)")
    p.add_argument("--governance", action="store_true",
                   help="measure the latency governance adds, with the memory and the Redis state store")
    p.add_argument("--peers", action="store_true",
                   help="measure LiteLLM and Portkey next to the floor and bifrost (bench/bench_peers.py)")
    p.add_argument("--rounds", type=int, default=1,
                   help="repeat every measurement N times, interleaved, keeping the best (default 1)")
    p.add_argument("--wait-quiet", type=float, default=0, metavar="SECONDS",
                   help="first wait up to SECONDS for the CPUs to be under 10%% busy (other work running)")
    p.add_argument("--out", type=Path, default=None,
                   help="JSON results (default bench/results/latest.json, or stacks.json with --stacks)")
    p.add_argument("--markdown", type=Path, default=None,
                   help="regenerate this file's section between the bench (or stacks) markers")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    for tool in ("wrk", "taskset"):
        if shutil.which(tool) is None:
            print(f"error: {tool} not found (apt-get install wrk util-linux)", file=sys.stderr)
            return 2
    if (os.cpu_count() or 1) < 2:
        print("error: needs at least 2 CPUs (core 0 for the system under test, core 1 for the load)")
        return 2
    quick = args.quick
    s = Settings(
        duration=2.0 if quick else args.duration,
        warmup=1.0,
        ttfb_requests=60 if quick else 300,
        ttfb_warmup=10 if quick else 20,
        quick=quick,
    )
    mode = ("stacks" if args.stacks else "observability" if args.observability
            else "governance" if args.governance else "peers" if args.peers else "main")
    out = args.out or BENCH / "results" / ("latest.json" if mode == "main" else f"{mode}.json")
    started = dt.datetime.now(dt.UTC)
    t0 = time.monotonic()
    busy_start = wait_quiet(args.wait_quiet) if args.wait_quiet > 0 else busy_fraction(1.0)
    load_start = os.getloadavg()
    print(f"bifrost bench ({mode}): load average at start {load_start[0]:.2f} {load_start[1]:.2f} "
          f"{load_start[2]:.2f}; CPUs {busy_start:.0%} busy", flush=True)
    if load_start[0] > 0.5 or busy_start > 0.1:
        print("  note: the machine is busy; numbers may be noisy (re-run when it is quiet)", flush=True)
    results: list[Json] = []
    aborted = ""
    with tempfile.TemporaryDirectory(prefix="bifrost-bench-") as tmp:
        workdir = Path(tmp)
        (workdir / "prom").mkdir()
        with fake_provider(workdir) as (fake, fake_url), contextlib.ExitStack() as stack:
            if mode == "governance":
                import bench_governance

                redis_url = stack.enter_context(bench_governance.redis_server(workdir, pinned, LOAD_CORE))
                os.environ["BENCH_API_KEY"] = bench_governance.VK  # wrk sends the virtual key
                suts = governance_suts(fake_url, workdir, redis_url)
            elif mode == "peers":
                suts = bench_peers.peer_suts(fake_url, workdir, Sut, main_suts(fake_url, workdir), MODEL)
            else:
                suts = (stack_suts(fake_url) if mode == "stacks" else observability_suts(fake_url, workdir)
                        if mode == "observability" else main_suts(fake_url, workdir))
            running: list[Running] = []
            try:
                for sut in suts:  # all started up front: an idle proxy costs nothing
                    running.append(launch(sut, fake, fake_url, workdir))
                try:
                    measure_all(running, fake, fake_url, s, args.rounds, mode != "main")
                except RuntimeError as exc:  # the fake is gone: report what was measured
                    aborted = str(exc)
                    print(f"ABORTED: {aborted}", flush=True)
                for r in running:
                    peak_rss(r)
            finally:
                for r in running:
                    if r.proc is not None:
                        r.proc.stop()
            results = [r.result for r in running]
    report: Json = {
        "mode": mode,
        "started": started.strftime("%Y-%m-%d %H:%M UTC"),
        "elapsed_s": round(time.monotonic() - t0, 1),
        "settings": {"duration": s.duration, "warmup": s.warmup, "ttfb_requests": s.ttfb_requests,
                     "rounds": args.rounds,
                     "quick": quick, "stream_script": STREAM_SCRIPT},
        "environment": {
            "cpus": os.cpu_count(),
            "cpu_model": cpu_model(),
            "platform": platform.platform(terse=True),
            "versions": versions(),
            "loadavg_start": [round(x, 2) for x in load_start],
            "cpu_busy_start": round(busy_start, 3),
            "loadavg_end": [round(x, 2) for x in os.getloadavg()],
        },
        "results": results,
    }
    if aborted:
        report["aborted"] = aborted
    if mode == "main":
        report["targets"] = targets({r["key"]: r for r in results})
    text = render(report)
    print("\n" + text)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"\nwrote {out}")
    if args.markdown:
        write_markdown(args.markdown, mode, text)
        print(f"updated {args.markdown}")
    failed = [r["key"] for r in results if "failed" in r]
    return 1 if failed or aborted else 0


if __name__ == "__main__":
    sys.exit(main())
