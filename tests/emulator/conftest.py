"""Shared fixtures: one in-process emulator per test session, reset per test.

moto keeps its state in process-global backends, so a single emulator serves
the whole session and the ``emulator`` fixture resets it before every test.
"""

from __future__ import annotations

import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from emulator_testlib import make_client  # noqa: E402
from rotation_emulator import EmulatorClient, start_emulator  # noqa: E402


@pytest.fixture(scope="session")
def _running_emulator():
    emulator = start_emulator()
    yield emulator
    emulator.stop()


@pytest.fixture
def emulator(_running_emulator):
    """A freshly reset emulator (has ``.url``, ``.port``, ``.stop()``)."""
    EmulatorClient(_running_emulator.url).reset()
    return _running_emulator


@pytest.fixture
def control(emulator) -> EmulatorClient:
    return EmulatorClient(emulator.url)


@pytest.fixture
def iam(emulator):
    return make_client(emulator, "iam")


@pytest.fixture
def sm(emulator):
    return make_client(emulator, "secretsmanager")


@pytest.fixture
def scheduler(emulator):
    return make_client(emulator, "scheduler")


@pytest.fixture
def events(emulator):
    return make_client(emulator, "events")
