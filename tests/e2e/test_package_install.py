"""The built package, installed into a fresh venv with nothing else, works on its own: `bifrost init` +
`bifrost check` pass, the shipped fake provider starts, and the gateway answers through it. This catches
files missing from the package (the demo and starter configs, the pricing table, py.typed...)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness import HOST, free_port, http_get

REPO = Path(__file__).resolve().parents[2]
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _run(*args: str | Path, cwd: Path | None = None, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BIFROST_", "PYTHON", "VIRTUAL_ENV"))}
    done = subprocess.run(
        [str(a) for a in args], cwd=cwd, capture_output=True, text=True, timeout=timeout, env=env, check=False
    )
    assert done.returncode == 0, f"{args} exited {done.returncode}:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """bin/ of a fresh venv holding only the wheel built from this checkout and its declared dependencies."""
    root = tmp_path_factory.mktemp("package")
    _run(sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", root / "dist", REPO)
    wheels = list((root / "dist").glob("bifrost_gateway-*.whl"))
    assert len(wheels) == 1, wheels
    _run(sys.executable, "-m", "venv", root / "venv")
    bin_dir = root / "venv" / "bin"
    _run(bin_dir / "python", "-m", "pip", "install", "-q", "--disable-pip-version-check", wheels[0])
    yield bin_dir


def _wait_healthy(url: str, proc: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()[0]
        try:
            if http_get(url + "/health", timeout=1)[0] == 200:
                return
        except OSError:
            pass
        time.sleep(0.1)
    pytest.fail(f"{url} not healthy")


def test_init_check_and_serve_from_the_installed_package(installed: Path, tmp_path: Path) -> None:
    _run(installed / "bifrost", "init", cwd=tmp_path)
    checked = _run(installed / "bifrost", "check", "--config", "config.json", cwd=tmp_path)
    assert checked.stdout.startswith("config OK: 2 providers")

    fake_port, gw_port = free_port(), free_port()
    config = tmp_path / "fake.json"
    config.write_text(
        json.dumps({
            "providers": {
                "openai": {
                    "keys": [{"value": "sk-installed"}],
                    "network_config": {"base_url": f"http://{HOST}:{fake_port}"},
                }
            }
        }),
        encoding="utf-8",
    )
    procs = [
        subprocess.Popen(
            [installed / "bifrost-fake-provider", "--port", str(fake_port)],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        ),
        subprocess.Popen(
            [installed / "bifrost", "--config", config, "--port", str(gw_port)],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        ),
    ]
    try:
        _wait_healthy(f"http://{HOST}:{gw_port}", procs[1])
        body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}
        request = urllib.request.Request(
            f"http://{HOST}:{gw_port}/openai/v1/chat/completions",
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json"},
        )
        with _OPENER.open(request, timeout=30) as resp:
            answer = json.loads(resp.read())
        assert answer["object"] == "chat.completion"
        assert answer["choices"][0]["message"]["content"]
        assert answer["extra_fields"]["provider"] == "openai"
    finally:
        for proc in procs:
            proc.terminate()
            proc.communicate(timeout=30)


def test_demo_runs_from_the_installed_package(installed: Path, tmp_path: Path) -> None:
    """The packaged demo config and the shipped fake provider are in the wheel (no openai SDK installed)."""
    done = _run(installed / "bifrost", "demo", "--once", "--port", str(free_port()), cwd=tmp_path, timeout=60)
    assert "install the openai package" in done.stdout
    assert "fake provider at http://127.0.0.1:" in done.stdout
