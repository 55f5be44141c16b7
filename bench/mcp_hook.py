"""What the MCP hook costs on the request path: gateway CPU per request with and without MCP.

    python bench/mcp_hook.py [--duration 5] [--rounds 3] [--baseline-src PATH] [--markdown docs/benchmarks.md]

Systems (each a 1-worker gateway pinned to core 0; the fake provider and wrk on core 1, as in run.py),
non-streaming chat at wrk -c16:

- ``no-mcp``: no `mcp` section, the common case: the hook is one `is not None` test;
- ``mcp-0-tools``: an MCP client whose `tools_to_execute` is `[]` (the SDK loaded, a connection up,
  nothing injected);
- ``mcp-2-tools``: the example filesystem server (examples/mcp/filesystem_server.py): 2 tools added to
  every request (a bigger upstream body to encode);
- ``baseline`` (with ``--baseline-src``): the gateway from another source tree, e.g. a checkout of
  the commit before the hook (``git worktree add /tmp/base <commit>`` then ``--baseline-src /tmp/base/src``).

Reports requests per second and gateway CPU microseconds per request (the gateway's utime+stime over
the run, divided by the requests served); each system's best of ``--rounds`` runs.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from run import (
    HOST,
    MODEL,
    ROOT,
    SUT_CORE,
    cpu_seconds,
    fake_provider,
    free_port,
    http,
    pinned,
    start,
    tree,
    write_markdown,
    wrk,
)

SERVER = ROOT / "examples" / "mcp" / "filesystem_server.py"


def config(fake_url: str, mcp: dict[str, Any] | None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "providers": {
            "openai": {
                "keys": [{"name": "bench", "value": "sk-bench", "models": [MODEL]}],
                "network_config": {"base_url": fake_url},
            }
        }
    }
    if mcp is not None:
        out["mcp"] = mcp
    return out


def mcp_section(tools: list[str] | None) -> dict[str, Any]:
    client: dict[str, Any] = {
        "name": "filesystem",
        "connection_type": "stdio",
        "stdio_config": {"command": sys.executable, "args": [str(SERVER), "--root", str(ROOT)]},
    }
    if tools is not None:
        client["tools_to_execute"] = tools
    return {"client_configs": [client]}


def launch(name: str, cfg: dict[str, Any], workdir: Path, src: str | None) -> tuple[Any, str]:
    path = workdir / f"{name}.json"
    path.write_text(json.dumps(cfg))
    port = free_port()
    argv = [sys.executable, "-m", "bifrost", "--config", str(path), "--port", str(port), "--log-level", "warn"]
    env = {"PYTHONPATH": src} if src else None
    proc = start(name, pinned(SUT_CORE, argv), workdir, env)
    url = f"http://{HOST}:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            status, body = http("GET", url + "/health")
        except OSError:
            time.sleep(0.1)
            continue
        mcp = json.loads(body).get("mcp") if status == 200 else None
        if status == 200 and (mcp is None or all(c["state"] == "connected" for c in mcp.values())):
            return proc, url
        time.sleep(0.1)
    proc.stop()
    raise RuntimeError(f"{name} did not get ready:\n{proc.log_tail()}")


def measure(proc: Any, url: str, duration: float) -> dict[str, float]:
    wrk(url, 16, 1, False)  # warm-up
    pids = tree(proc.pid)
    before = cpu_seconds(pids)
    result = wrk(url, 16, duration, False)
    cpu = cpu_seconds(pids) - before
    return {"rps": result["rps"], "cpu_us": round(cpu / max(1, result["requests"]) * 1e6, 1),
            "p50_ms": result["p50_ms"], "errors": result["error_total"]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--baseline-src", help="a src/ directory to run the baseline gateway from")
    parser.add_argument("--markdown", type=Path, help="rewrite the MCP section of this file")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, fake_provider(Path(tmp)) as (_, fake_url):
        workdir = Path(tmp)
        systems: list[tuple[str, dict[str, Any], str | None]] = []
        if args.baseline_src:
            systems.append(("baseline", config(fake_url, None), args.baseline_src))
        systems += [
            ("no-mcp", config(fake_url, None), None),
            ("mcp-0-tools", config(fake_url, mcp_section([])), None),
            ("mcp-2-tools", config(fake_url, mcp_section(None)), None),
        ]
        running = [(name, *launch(name, cfg, workdir, src)) for name, cfg, src in systems]
        best: dict[str, dict[str, float]] = {}
        try:
            for round_no in range(args.rounds):
                # interleaved, and each round starts with the next system: noise and order hit every system alike
                shift = round_no % len(running)
                for name, proc, url in running[shift:] + running[:shift]:
                    got = measure(proc, url, args.duration)
                    if name not in best or got["cpu_us"] < best[name]["cpu_us"]:
                        best[name] = got
        finally:
            for _, proc, _ in running:
                proc.stop()
    lines = [
        f"Measured {time.strftime('%Y-%m-%d')} with `python bench/mcp_hook.py --duration {args.duration:g} "
        f"--rounds {args.rounds}{' --baseline-src …' if args.baseline_src else ''}` "
        "(1 worker on core 0; fake and wrk -c16 on core 1; best of the rounds).",
        "",
        "| system | req/s | gateway CPU µs / request | p50 ms | errors |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for name, _, _ in systems:
        r = best[name]
        lines.append(f"| {name} | {r['rps']:.0f} | {r['cpu_us']:.1f} | {r['p50_ms']:.2f} | {r['errors']:.0f} |")
    text = "\n".join(lines)
    print(text)
    if args.markdown:
        write_markdown(args.markdown, "mcp", text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
