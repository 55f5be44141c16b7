"""Peak gateway memory for one request body at the size limit, and for a compressed body past it.

    python bench/body_memory.py [--mb 99.9]

Starts the fake provider (in this process) and a gateway (``python -m bifrost``, max_request_body_size_mb
100, log store off), sends one chat request whose body is ``--mb`` MB (one long user message), then one
1 MB deflate body that inflates to 1 GiB, and prints the gateway's peak RSS (``VmHWM`` in
/proc/PID/status) before and after each, plus the answers' statuses.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import zlib

from bifrost.testing.fake_provider import FakeProvider


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _peak_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return 0.0


def _post(url: str, data: bytes, headers: dict[str, str]) -> int:
    request = urllib.request.Request(url, data=data, method="POST", headers={"Content-Type": "application/json",
                                                                              **headers})
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(request, timeout=300) as resp:
            resp.read()
            return resp.status
    except urllib.error.HTTPError as err:
        return err.code
    except OSError:
        return -1


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mb", type=float, default=99.9)
    args = parser.parse_args()
    with FakeProvider.start() as fake, tempfile.TemporaryDirectory() as tmp:
        fake.control.default({"reply": "ok"})
        config = {"providers": {"openai": {"keys": [{"value": "sk-bench", "models": ["gpt-4o-mini"]}],
                                           "network_config": {"base_url": fake.url}}},
                  "client": {"max_request_body_size_mb": 100}}
        path = os.path.join(tmp, "config.json")
        with open(path, "w") as f:
            json.dump(config, f)
        port = _free_port()
        proc = subprocess.Popen([sys.executable, "-m", "bifrost", "--config", path, "--port", str(port),
                                 "--log-level", "error"])
        try:
            url = f"http://127.0.0.1:{port}/v1/chat/completions"
            for _ in range(100):
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                    break
                except OSError:
                    time.sleep(0.1)
            time.sleep(0.5)
            print(f"gateway idle: peak RSS {_peak_mb(proc.pid):.0f} MB")
            filler = "x" * int(args.mb * 1024 * 1024 - 200)
            body = json.dumps({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": filler}]}).encode()
            del filler
            status = _post(url, body, {})
            print(f"{len(body) / 1e6:.1f} MB body: HTTP {status}; peak RSS {_peak_mb(proc.pid):.0f} MB")
            del body
            bomb = zlib.compress(b'{"model": "gpt-4o-mini", "pad": "' + b" " * (1024 * 1024 * 1024), 9)
            status = _post(url, bomb, {"Content-Encoding": "deflate"})
            print(f"{len(bomb) / 1e6:.1f} MB deflate body inflating to 1 GiB: HTTP {status}; "
                  f"peak RSS {_peak_mb(proc.pid):.0f} MB")
        finally:
            proc.terminate()
            proc.wait(timeout=30)


if __name__ == "__main__":
    main()
