"""Fixtures shared by the end-to-end suites: one in-process AWS emulator, a fresh
state per test, the release binary run as Lambda would run it, and the leak scan
over every line any function process wrote during the session."""

from __future__ import annotations

import json
import sys
import uuid
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
sys.path.insert(0, str(TESTS))
sys.path.insert(0, str(TESTS / "emulator"))

from harness import Aws, LocalLambda, LogSink, SecretsManagerDriver, find_binary  # noqa: E402
from harness.leaks import LeakLedger  # noqa: E402
from harness.report import REPORT, SESSION_SCAN  # noqa: E402
from rotation_emulator import start_emulator  # noqa: E402

LEDGER = LeakLedger()
SINK = LogSink(TESTS / ".logs" / "function.log")


@pytest.fixture(scope="session")
def emulator_url():
    emulator = start_emulator()
    yield emulator.url
    emulator.stop()


@pytest.fixture(scope="session")
def binary():
    return find_binary()


@pytest.fixture(scope="session")
def log_sink():
    return SINK


@pytest.fixture
def aws(emulator_url):
    """The emulator, reset; at teardown every password it holds joins the leak ledger."""
    aws = Aws(emulator_url)
    aws.control.reset()
    yield aws
    LEDGER.collect_passwords(aws)
    # Outcome events are output too: the leak scan reads them with the function's lines.
    for event in aws.control.put_events_log():
        SINK.write("outcome-event " + json.dumps(event))
    aws.control.clear_faults()


@pytest.fixture
def leak_ledger():
    """The session's leak ledger: tests add the secrets they make that the emulator reset forgets."""
    return LEDGER


@pytest.fixture
def rotation_token():
    """A distinctive RotationToken; the leak scan looks for it in every log line."""
    token = f"rt-{uuid.uuid4().hex}"
    LEDGER.rotation_tokens.add(token)
    return token


@pytest.fixture
def make_lambda(emulator_url, binary, log_sink):
    """``make_lambda(config={...}, log_format="JSON")``: a local Lambda, stopped at teardown."""
    started = []

    def make(config=None, log_format="JSON"):
        function = LocalLambda(emulator_url, config=config, log_format=log_format, sink=log_sink, binary=binary)
        started.append(function)
        return function

    yield make
    for function in started:
        function.stop()


@pytest.fixture
def function(make_lambda):
    """A local Lambda with the default configuration."""
    return make_lambda()


@pytest.fixture
def driver(aws, function):
    return SecretsManagerDriver(aws, function)


def pytest_sessionfinish(session, exitstatus):
    """The leak scan: no password and no RotationToken in any line any process wrote."""
    if not SINK.lines:
        return
    hits = LEDGER.scan(SINK.lines)
    REPORT.row(SESSION_SCAN).lines_scanned = LEDGER.lines_scanned
    REPORT.row(SESSION_SCAN).leaks = len(hits)
    REPORT.scan_summary = (
        f"{LEDGER.lines_scanned} log lines and outcome events scanned for {len(LEDGER.passwords)} passwords, "
        f"access-key halves and session keys and {len(LEDGER.rotation_tokens)} rotation tokens: {len(hits)} leaks."
    )
    if hits:
        session.exitstatus = 1


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    if LEDGER.scanned:
        terminalreporter.write_sep("=", "leak scan")
        terminalreporter.write_line(
            f"{LEDGER.lines_scanned} log lines scanned for {len(LEDGER.passwords)} passwords and "
            f"{len(LEDGER.rotation_tokens)} rotation tokens: {len(LEDGER.hits)} leaks"
        )
        for kind, number in LEDGER.hits[:20]:
            terminalreporter.write_line(f"LEAK: a {kind} in line {number} of tests/.logs/function.log")
    if REPORT.rows:
        terminalreporter.write_sep("=", "reliability report")
        terminalreporter.write_line(REPORT.markdown())
