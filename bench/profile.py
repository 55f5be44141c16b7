"""Profile the gateway under load: py-spy samples bifrost (1 worker) while wrk drives it at c=64.

    python bench/profile.py [--duration 8] [--out bench/results]

Same set-up as bench/run.py (fake provider, wrk and py-spy on core 1, gateway on core 0, configured as
the main benchmark measures it: governance, an MCP client with no tools, metrics), once non-streaming
and once streaming. Prints the functions with the most self time and the share of
self time per package (bifrost / aiohttp / asyncio), and writes the raw folded stacks
(``profile-ns.folded``, ``profile-stream.folded``) for a flame graph. Needs py-spy
(bench/requirements.txt) and the right to ptrace (root, or CAP_SYS_PTRACE).

py-spy runs with ``--nonblocking`` (it does not stop the gateway to sample it), so a few
samples are torn; the self-time ranking is what to read.
"""

from __future__ import annotations

import argparse
import collections
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from run import (
    BENCH,
    BENCH_VK,
    HOST,
    LOAD_CORE,
    PATH,
    SUT_CORE,
    WRK_SCRIPT,
    fake_provider,
    free_port,
    full_gateway_config,
    pinned,
    start,
    wait_ready,
    wrk,
)

_LINE = re.compile(r":\d+\)$")
_PACKAGE = re.compile(r"\(([^/()]+)/")


def summarize(folded: Path, top: int) -> str:
    by_function: collections.Counter[str] = collections.Counter()
    by_package: collections.Counter[str] = collections.Counter()
    total = 0
    for line in folded.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        n = int(count)
        total += n
        leaf = stack.split(";")[-1]
        by_function[_LINE.sub(")", leaf) or "(unknown)"] += n
        match = _PACKAGE.search(leaf)
        by_package[match.group(1) if match else "other"] += n
    if not total:
        return "no samples"
    lines = [f"{total} samples; self time by package: " + ", ".join(
        f"{name} {100 * n / total:.1f}%" for name, n in by_package.most_common(5))]
    lines += [f"{100 * n / total:5.1f}%  {name}" for name, n in by_function.most_common(top)]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=int, default=8, help="seconds sampled per mode (default 8)")
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--rate", type=int, default=250, help="py-spy samples per second (default 250)")
    parser.add_argument("--out", type=Path, default=BENCH / "results")
    args = parser.parse_args()
    if shutil.which("py-spy") is None or shutil.which("wrk") is None:
        print("error: needs py-spy (pip install py-spy) and wrk (apt-get install wrk)", file=sys.stderr)
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="bifrost-profile-") as tmp:
        workdir = Path(tmp)
        with fake_provider(workdir) as (_fake, fake_url):
            os.environ["BENCH_API_KEY"] = BENCH_VK
            config = full_gateway_config(fake_url, workdir)
            port = free_port()
            url = f"http://{HOST}:{port}"
            argv = ["bifrost", "--config", str(config), "--log-level", "warn", "--port", str(port)]
            gateway = start("bifrost", pinned(SUT_CORE, argv), workdir)
            try:
                wait_ready(gateway, url)
                for mode, stream in (("ns", False), ("stream", True)):
                    wrk(url, 64, 1, stream)  # warm-up
                    load = [
                        "wrk", "-t1", "-c64", f"-d{args.duration + 2}s", "-s", str(WRK_SCRIPT), url + PATH,
                    ] + (["--", "stream"] if stream else [])
                    driver = subprocess.Popen(pinned(LOAD_CORE, load), stdout=subprocess.PIPE, text=True)
                    time.sleep(1)
                    folded = args.out / f"profile-{mode}.folded"
                    spy = [
                        "py-spy", "record", "-p", str(gateway.pid), "-d", str(args.duration), "-r", str(args.rate),
                        "-f", "raw", "-o", str(folded), "--nonblocking",
                    ]
                    subprocess.run(pinned(LOAD_CORE, spy), capture_output=True, timeout=args.duration + 60,
                                   check=False)
                    out, _ = driver.communicate(timeout=args.duration + 60)
                    rps = next((ln.split()[-1] for ln in out.splitlines() if ln.startswith("Requests/sec")), "?")
                    print(f"\n== {'streaming' if stream else 'non-streaming'} c=64: {rps} req/s under py-spy")
                    print(summarize(folded, args.top) if folded.exists() else "py-spy wrote nothing")
            finally:
                gateway.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
