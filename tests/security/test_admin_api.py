"""Finding 3: admin data needs a credential, and reading it cannot exhaust the gateway.

* auth_config: every /api/* route needs HTTP Basic admin credentials; /metrics stays open unless
  protect_metrics; inference and /health are never affected.
* No credential and a non-loopback bind: no /api/* at all, and start-up says so (unless the config opts out).
* Every route under /api/ is guarded, including ones other modules register (the guard goes by prefix).
* limit is capped at 1,000; list views cut content; GET /api/logs/{id} returns the full record.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from bifrost.config import load_config
from bifrost.observability.logstore.base import LIST_CONTENT_CHARS
from bifrost.server.app import create_app
from bifrost.testing.fake_provider import FakeProvider
from harness import GatewayFactory, openai_config

from .helpers import CHAT, basic, get, post

USER, PASSWORD = "admin", "correct-horse-battery-staple"


def _auth_config(fake_url: str, tmp_path: Path, **auth: Any) -> dict[str, Any]:
    return openai_config(
        fake_url,
        auth_config={"is_enabled": True, "admin_username": USER, "admin_password": "env.TEST_ADMIN_PASSWORD",
                     **auth},
        logs_store={"enabled": True, "type": "sqlite", "config": {"path": str(tmp_path / "logs.db")}},
    )


def test_api_needs_the_admin_credential_and_inference_does_not(
    fake: FakeProvider, start_gateway: GatewayFactory, tmp_path: Path
) -> None:
    gw = start_gateway(_auth_config(fake.url, tmp_path), env={"TEST_ADMIN_PASSWORD": PASSWORD})
    assert post(gw.v1_url + "/chat/completions", CHAT)[0] == 200
    for path in ("/api/logs", "/api/logs/stats", "/api/logs/some-id", "/api/logs?limit=1000"):
        status, headers, body = get(gw.url + path)
        assert status == 401, (path, body)
        assert headers["WWW-Authenticate"].startswith("Basic")
        assert json.loads(body)["error"]["code"] == "admin_auth_required"
        assert get(gw.url + path, basic(USER, "wrong"))[0] == 401
        assert get(gw.url + path, {"Authorization": "Basic !!!not-base64"})[0] == 401
    status, _, body = get(gw.url + "/api/logs", basic(USER, PASSWORD))
    assert status == 200 and json.loads(body)["total"] >= 0
    assert get(gw.url + "/metrics")[0] == 200  # Prometheus convention: open by default
    assert get(gw.url + "/health")[0] == 200
    assert PASSWORD not in gw.logs()


def test_protect_metrics_puts_metrics_behind_the_same_credential(
    fake: FakeProvider, start_gateway: GatewayFactory, tmp_path: Path
) -> None:
    gw = start_gateway(_auth_config(fake.url, tmp_path, protect_metrics=True), env={"TEST_ADMIN_PASSWORD": PASSWORD})
    assert get(gw.url + "/metrics")[0] == 401
    status, _, body = get(gw.url + "/metrics", basic(USER, PASSWORD))
    assert status == 200 and b"http_requests_total" in body


def test_a_public_bind_without_a_credential_serves_no_admin_api_and_says_so(
    fake: FakeProvider, start_gateway: GatewayFactory, tmp_path: Path
) -> None:
    config = openai_config(
        fake.url, logs_store={"enabled": True, "type": "sqlite", "config": {"path": str(tmp_path / "l.db")}}
    )
    gw = start_gateway(config, args=["--host", "0.0.0.0"])
    gw.url = f"http://127.0.0.1:{gw.port}"
    assert post(gw.url + "/v1/chat/completions", CHAT)[0] == 200
    status, _, body = get(gw.url + "/api/logs")
    assert status == 403 and json.loads(body)["error"]["code"] == "admin_api_disabled"
    deadline = time.monotonic() + 5
    while "admin API /api/* is disabled" not in gw.logs() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert "admin API /api/* is disabled" in gw.logs()
    assert get(gw.url + "/metrics")[0] == 200 and get(gw.url + "/health")[0] == 200


def test_the_explicit_opt_out_serves_the_api_on_a_public_bind_with_a_warning(
    fake: FakeProvider, start_gateway: GatewayFactory, tmp_path: Path
) -> None:
    config = openai_config(
        fake.url,
        auth_config={"allow_unauthenticated_api": True},
        logs_store={"enabled": True, "type": "sqlite", "config": {"path": str(tmp_path / "l.db")}},
    )
    gw = start_gateway(config, args=["--host", "0.0.0.0"])
    assert get(f"http://127.0.0.1:{gw.port}/api/logs")[0] == 200
    deadline = time.monotonic() + 5  # start-up lines are written by the background log writer
    while "WITHOUT a credential" not in gw.logs() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert "WITHOUT a credential" in gw.logs()


def _config_file(tmp_path: Path, fake_url: str, **auth: Any) -> Path:
    path = tmp_path / "config.json"
    config = openai_config(fake_url, auth_config={"is_enabled": True, "admin_username": USER,
                                                  "admin_password": PASSWORD, **auth})
    path.write_text(json.dumps(config))
    return path


async def test_every_route_under_api_is_guarded_whoever_registers_it(fake: FakeProvider, tmp_path: Path) -> None:
    """A module registering /api/... (governance, config reload) is covered without knowing of the guard."""
    app = create_app(load_config(_config_file(tmp_path, fake.url)))

    async def secret_route(request: web.Request) -> web.Response:
        return web.json_response({"secret": "data"})

    app.router.add_get("/api/some-future/admin-data", secret_route)
    app.router.add_post("/api/some-future/action", secret_route)
    app.router.add_get("/not-admin", secret_route)
    async with TestClient(TestServer(app)) as client:
        for method, path in (("GET", "/api/some-future/admin-data"), ("POST", "/api/some-future/action")):
            resp = await client.request(method, path)
            assert resp.status == 401, path
            resp = await client.request(method, path, headers=basic(USER, PASSWORD))
            assert resp.status == 200 and (await resp.json()) == {"secret": "data"}
        # the governance and reload routes other modules register are covered too
        for method, path in (("GET", "/api/governance/virtual-keys"), ("POST", "/api/config/reload")):
            assert (await client.request(method, path)).status == 401, path
        assert (await client.get("/api/governance/virtual-keys", headers=basic(USER, PASSWORD))).status == 200
        assert (await client.get("/not-admin")).status == 200


def test_limits_cut_content_and_the_full_record_is_one_request_away(
    fake: FakeProvider, start_gateway: GatewayFactory, tmp_path: Path
) -> None:
    gw = start_gateway(_auth_config(fake.url, tmp_path), env={"TEST_ADMIN_PASSWORD": PASSWORD})
    auth = basic(USER, PASSWORD)
    long_prompt = "tangerine " * 5000  # 50,000 characters
    body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": long_prompt}]}
    assert post(gw.v1_url + "/chat/completions", body, {"x-request-id": "long-one"})[0] == 200
    for _ in range(3):
        assert post(gw.v1_url + "/chat/completions", CHAT)[0] == 200
    logs: list[dict[str, Any]] = []
    for _ in range(100):  # the store writes in the background: wait for all four
        status, _, raw = get(gw.url + "/api/logs?limit=1000", auth)
        assert status == 200
        logs = json.loads(raw)["logs"]
        if len(logs) == 4:
            break
        time.sleep(0.1)
    assert len(logs) == 4
    listed = next(log for log in logs if log["id"] == "long-one")
    assert listed["content_truncated"] is True
    assert isinstance(listed["request_body"], str) and len(listed["request_body"]) == LIST_CONTENT_CHARS
    short = [log for log in logs if log["id"] != "long-one"]
    assert all(log["content_truncated"] is False and isinstance(log["request_body"], dict) for log in short)
    status, _, raw = get(gw.url + "/api/logs/long-one", auth)
    assert status == 200
    full = json.loads(raw)
    assert full["request_body"]["messages"][0]["content"] == long_prompt and full["content_truncated"] is False
    assert get(gw.url + "/api/logs/no-such-id", auth)[0] == 404
    for query, param in (("limit=1001", "limit"), ("limit=0", "limit"), ("offset=" + "9" * 23, "offset"),
                         ("offset=-1", "offset")):
        status, _, raw = get(gw.url + "/api/logs?" + query, auth)
        assert status == 400, (query, raw)
        assert json.loads(raw)["error"]["param"] == param
    # paging walks every row once: offsets and the (ts, seq) cursor inside one answer agree
    ids = [log["id"] for log in json.loads(get(gw.url + "/api/logs?limit=2", auth)[2])["logs"]]
    ids += [log["id"] for log in json.loads(get(gw.url + "/api/logs?limit=2&offset=2", auth)[2])["logs"]]
    assert sorted(ids) == sorted(log["id"] for log in logs)


@pytest.mark.parametrize("host", ["127.0.0.1", "::1", "localhost"])
def test_loopback_addresses_are_recognised(host: str) -> None:
    from bifrost.server.admin_auth import is_loopback

    assert is_loopback(host)
    assert not is_loopback("0.0.0.0") and not is_loopback("::") and not is_loopback("example.com")
