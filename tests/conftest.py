"""Shared fixtures: a fake upstream provider and real gateway processes on real sockets.

- ``fake_server`` (module scope) is a running :class:`FakeProvider`; ``fake`` (function scope) is the same
  server with its scripts, log and stats reset before the test.
- ``start_gateway`` (function scope) and ``start_module_gateway`` (module scope) are factories:
  ``gw = start_gateway(openai_config(fake.url))`` runs ``python -m bifrost`` on a free port, waits for
  ``GET /health``, and stops every gateway it started when the fixture ends.

The classes and helpers live in ``harness.py`` (import them from there); they are re-exported here for
modules that import them from ``conftest``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bifrost.testing.fake_provider import FakeProvider
from harness import (
    HOST,
    KEY_VALUES,
    GatewayFactory,
    GatewayProcess,
    free_port,
    http_get,
    openai_config,
)

__all__ = ["HOST", "KEY_VALUES", "GatewayFactory", "GatewayProcess", "free_port", "http_get", "openai_config"]


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--update-compat-doc",
        action="store_true",
        default=False,
        help="rewrite docs/compatibility.md from this run's conformance results (whole tests/conformance only)",
    )


@pytest.fixture(scope="module")
def fake_server() -> Iterator[FakeProvider]:
    with FakeProvider.start() as server:
        yield server


@pytest.fixture
def fake(fake_server: FakeProvider) -> FakeProvider:
    """The module's fake provider with scripts, log and stats cleared."""
    fake_server.control.reset()
    return fake_server


@pytest.fixture
def start_gateway(tmp_path: Path) -> Iterator[GatewayFactory]:
    """Factory for gateways that live for one test."""
    factory = GatewayFactory(tmp_path)
    yield factory
    factory.close()


@pytest.fixture(scope="module")
def start_module_gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayFactory]:
    """Factory for gateways shared by the tests of one module (start one, use it many times)."""
    factory = GatewayFactory(tmp_path_factory.mktemp("gateways"))
    yield factory
    factory.close()
