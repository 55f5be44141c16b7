"""Conformance suite: fixtures, and the recorder that turns the matrix cells' outcomes into docs/compatibility.md.

Each test marked ``@pytest.mark.cell(feature, column)`` is a piece of evidence for that cell. The outcome of
every marked test is recorded (through ``user_properties``, so it also works under pytest-xdist). When every
known cell produced a result (the whole conformance folder ran; a ``-k`` subset or a single file leaves the
page alone), the page is rendered and compared with the committed one, ignoring the date and client
versions: a difference fails the run and prints the diff. The page is rewritten only on request, with
``python -m pytest tests/conformance --update-compat-doc``, so a test run never dirties the checkout.
"""

from __future__ import annotations

import difflib
import importlib.metadata
import re
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bifrost.testing.fake_provider import FakeProvider
from conftest import GatewayFactory, GatewayProcess

from .helpers import conformance_config
from .matrix import COLUMN_KEYS, FEATURE_NAMES, known_cells, render

DOC_PATH = Path(__file__).resolve().parents[2] / "docs" / "compatibility.md"
_PROPERTY = "conformance_cell"
_UNMEASURED = re.compile(r"\d{4}-\d{2}-\d{2}|^Clients: .*$", re.MULTILINE)  # the date and the SDK versions


def _measured(page: str) -> str:
    return _UNMEASURED.sub("", page)


class CellRecorder:
    """Outcome of each marked test, per cell."""

    def __init__(self) -> None:
        self.tests: dict[tuple[str, str], dict[str, str]] = defaultdict(dict)  # cell -> nodeid -> outcome
        self.collected: set[str] = set()  # marked tests selected to run (not seen by an xdist controller)
        self.partial = False  # a marked test was deselected (-k, -m, --lf...) or the run stopped early
        self.written: Path | None = None
        self.unchanged = False  # the whole matrix ran and the committed page says what it measured
        self.stale_diff: list[str] = []  # the committed page differs from what this run measured
        self.missing: set[tuple[str, str]] = set()

    def record(self, cell: tuple[str, str], nodeid: str, when: str, outcome: str) -> None:
        current = self.tests[cell].get(nodeid)
        if outcome == "failed":
            self.tests[cell][nodeid] = "failed"
        elif outcome == "skipped" and current is None:
            self.tests[cell][nodeid] = "skipped"
        elif outcome == "passed" and when == "call" and current != "failed":
            self.tests[cell][nodeid] = "passed"

    def complete(self) -> bool:
        """Whether the whole matrix ran: every cell has results and no marked test was left out."""
        self.missing = known_cells() - set(self.tests)
        reported = {nodeid for tests in self.tests.values() for nodeid in tests}
        return not self.missing and not self.partial and self.collected <= reported

    def finish(self, path: Path, update: bool) -> None:
        if not self.complete():
            return
        outcomes = {cell: list(tests.values()) for cell, tests in self.tests.items()}
        counts = {cell: len(tests) for cell, tests in self.tests.items()}
        versions = {name: importlib.metadata.version(name) for name in ("openai", "anthropic")}
        page = render(outcomes, counts, versions)
        committed = path.read_text(encoding="utf-8") if path.exists() else ""
        if _measured(committed) == _measured(page):
            self.unchanged = True
            return  # nothing changed but the date or the SDK versions: leave the file (and its diff) alone
        if not update:
            self.stale_diff = list(
                difflib.unified_diff(committed.splitlines(), page.splitlines(), str(path), "measured", lineterm="")
            )
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(page, encoding="utf-8")
        self.written = path


_RECORDER_KEY = pytest.StashKey[CellRecorder]()
_recorder: CellRecorder | None = None  # this process's recorder (pytest_runtest_logreport gets no config)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "cell(feature, column): the conformance-matrix cell (docs/compatibility.md) a test backs"
    )
    global _recorder
    _recorder = config.stash[_RECORDER_KEY] = CellRecorder()


def _cell(item: pytest.Item) -> tuple[str, str] | None:
    marker = item.get_closest_marker("cell")
    if marker is None:
        return None
    feature, col = marker.args
    if feature not in FEATURE_NAMES or col not in COLUMN_KEYS or (feature, col) not in known_cells():
        raise pytest.UsageError(f"{item.nodeid}: cell({feature!r}, {col!r}) is not a cell of the matrix")
    return feature, col


@pytest.hookimpl(trylast=True)  # after -k / -m deselection: `items` is what will run
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    recorder = config.stash[_RECORDER_KEY]
    for item in items:
        cell = _cell(item)
        if cell is not None:
            item.user_properties.append((_PROPERTY, cell))
            recorder.collected.add(item.nodeid)


def pytest_deselected(items: list[pytest.Item]) -> None:
    if _recorder is not None and any(_cell(item) is not None for item in items):
        _recorder.partial = True


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    recorder = _recorder
    if recorder is None:
        return
    for name, value in report.user_properties:
        if name == _PROPERTY and isinstance(value, list | tuple) and len(value) == 2:  # a list after xdist's JSON
            cell = (str(value[0]), str(value[1]))
            recorder.record(cell, report.nodeid, report.when, report.outcome)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if hasattr(session.config, "workerinput"):  # a pytest-xdist worker: the controller writes the page
        return
    if exitstatus in (pytest.ExitCode.INTERRUPTED, pytest.ExitCode.INTERNAL_ERROR, pytest.ExitCode.USAGE_ERROR):
        return
    if session.shouldstop or session.shouldfail:  # -x / --maxfail: the rest did not run
        session.config.stash[_RECORDER_KEY].partial = True
    recorder = session.config.stash[_RECORDER_KEY]
    recorder.finish(DOC_PATH, update=bool(session.config.getoption("update_compat_doc")))
    if recorder.stale_diff:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    if hasattr(config, "workerinput"):
        return
    recorder = config.stash[_RECORDER_KEY]
    if recorder.stale_diff:
        terminalreporter.write_sep("=", "docs/compatibility.md does not match what this run measured", red=True)
        for line in recorder.stale_diff[:200]:
            terminalreporter.write_line(line)
        terminalreporter.write_line(
            "FAILED: regenerate it with `python -m pytest tests/conformance --update-compat-doc` and commit it"
        )
    elif recorder.written is not None:
        terminalreporter.write_line(f"conformance matrix written to {recorder.written}")
    elif recorder.unchanged:
        terminalreporter.write_line("conformance matrix: docs/compatibility.md matches what this run measured")
    elif recorder.tests:
        terminalreporter.write_line(
            f"conformance matrix not regenerated: not every cell's tests ran ({len(recorder.missing)} cell(s) "
            "without results); run the whole tests/conformance folder"
        )
        for feature, column in sorted(recorder.missing):
            terminalreporter.write_line(f"  no result: {feature!r} in column {column!r}")


# --- fixtures ----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def gateway(fake_server: FakeProvider, start_module_gateway: GatewayFactory) -> Iterator[GatewayProcess]:
    """A gateway with openai (+ groq, local-vllm) and anthropic, all on the module's fake provider."""
    yield start_module_gateway(conformance_config(fake_server.url))
