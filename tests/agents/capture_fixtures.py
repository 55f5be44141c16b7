"""Capture the requests the real Claude Code sends, strip them, and write the translator's fixtures.

    python tests/agents/capture_fixtures.py      # rewrites tests/translate/fixtures/claude_code/*.json

Runs the pinned CLI (``claude_cli``) through a gateway to the fake provider, the same way the e2e tests do,
and takes each request body as the gateway received it (from the fake's log on the native path, from
``/api/logs`` for a non-Claude model). Stripping keeps every message, block type and field but cuts long
texts (system prompt, reminders, tool descriptions), replaces the temporary folder by a fixed path and the
device/session ids in ``metadata.user_id`` by zeros; only the ``anthropic-*`` headers are kept. Nothing
secret is in them to begin with: the CLI only ever held a dummy key.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent)]

from claude_cli import VERSION, ProxyTrap, claude_command, run_claude  # noqa: E402
from test_claude_code import PNG, REFUSAL, agents_config, project, read_loop  # noqa: E402

from bifrost.testing.fake_provider import FakeProvider  # noqa: E402
from harness import GatewayFactory, http_get  # noqa: E402

OUT = HERE.parent / "translate" / "fixtures" / "claude_code"
FIXED_PATH = "/tmp/claude-code-project"
TEXT_LIMIT = 400
DESCRIPTION_LIMIT = 160
PDF = (  # one page saying "Pineapple"
    b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n2 0 obj\n<< /Type /Pages /Kids [3 0 R] "
    b"/Count 1 >>\nendobj\n3 0 obj\n<< /Type /Page /Parent 2 0 R /MediaBox [0 0 200 200] /Contents 4 0 R >>\n"
    b"endobj\n4 0 obj\n<< /Length 38 >>\nstream\nBT /F1 12 Tf 20 100 Td (Pineapple) Tj ET\nendstream\nendobj\n"
    b"trailer\n<< /Root 1 0 R >>\n%%EOF\n"
)


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit] + " [...trimmed]"


def _strip_text(value: Any) -> Any:
    if isinstance(value, str):
        return _cut(value, TEXT_LIMIT)
    if isinstance(value, list):
        return [_strip_text(item) for item in value]
    if isinstance(value, dict):
        return {k: (_cut(v, TEXT_LIMIT) if k in ("text", "content") and isinstance(v, str) else _strip_text(v))
                for k, v in value.items()}
    return value


def strip(request_body: dict[str, Any], folder: Path) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(json.dumps(request_body).replace(str(folder), FIXED_PATH))
    if isinstance(body.get("system"), list):
        body["system"] = [{**b, "text": _cut(b["text"], TEXT_LIMIT)} for b in body["system"]]
    body["messages"] = _strip_text(body["messages"])
    body["tools"] = [{**t, "description": _cut(t.get("description", ""), DESCRIPTION_LIMIT)} for t in body["tools"]]
    metadata = body.get("metadata")
    if isinstance(metadata, dict) and isinstance(metadata.get("user_id"), str):
        ids = json.loads(metadata["user_id"])
        metadata["user_id"] = json.dumps(
            {k: ("0" * len(v) if isinstance(v, str) and v else v) for k, v in ids.items()}, separators=(",", ":")
        )
    return body


def fixture(name: str, what: str, request: dict[str, Any], folder: Path) -> None:
    headers = {k.lower(): v for k, v in request["headers"].items() if k.lower().startswith("anthropic-")}
    data = {
        "captured": f"@anthropic-ai/claude-code {VERSION}, print mode, through the gateway; {what}",
        "headers": dict(sorted(headers.items())),
        "body": strip(request["body"], folder),
    }
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / f"{name}.json").write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print("wrote", OUT / f"{name}.json")


def main() -> None:
    claude = claude_command()
    with FakeProvider.start() as fake, tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        gateways = GatewayFactory(work)
        trap = ProxyTrap()
        try:
            gw = gateways(agents_config(fake.url, work / "logs.db"))
            folder = project(work)
            (folder / "doc.pdf").write_bytes(PDF)
            assert (folder / "dot.png").read_bytes() == PNG

            def run(prompt: str, model: str | None = None) -> None:
                done = run_claude(claude, gw.url + "/anthropic", work, prompt, trap=trap, model=model)
                assert done.returncode == 0, done.stdout + done.stderr
                assert trap.seen == [], trap.seen

            fake.control.reset()
            fake.control.script(
                *read_loop(folder, "toolu_", ("notes.txt", "dot.png", "doc.pdf"), thinking="I should read the files.")
            )
            run("Read notes.txt, dot.png and doc.pdf, then tell me the secret word.")
            first, second = fake.control.log()
            fixture("default_model_first_turn", "default model, first request", first, folder)
            fixture("default_model_tool_results", "default model, after Read on text, PNG and PDF", second, folder)

            fake.control.reset()
            fake.control.script({"status": 400, "error_message": REFUSAL}, {"reply": "ok"})
            run("Say hi")
            fixture("mid_system_folded_retry", "the retry after a refused mid-conversation system message",
                    fake.control.log()[1], folder)

            fake.control.reset()
            run("Say hi", "haiku")
            fixture("haiku_first_turn", "--model haiku (thinking with a budget)", fake.control.last(), folder)

            fake.control.reset()
            run("Say hi", "openai/gpt-4o")
            deadline = time.monotonic() + 20
            while True:  # the log store writes in the background
                record = json.loads(http_get(gw.url + "/api/logs?limit=1")[1])["logs"][0]
                if record["model_requested"] == "openai/gpt-4o" or time.monotonic() > deadline:
                    break
                time.sleep(0.1)
            headers: dict[str, str] = {}  # the fake saw the translated request: no anthropic-* headers
            fixture("openai_model_first_turn", "--model openai/gpt-4o (as the gateway received it)",
                    {"headers": headers, "body": record["request_body"]}, folder)
        finally:
            trap.close()
            gateways.close()


if __name__ == "__main__":
    main()
