"""The demos a user runs first (`make demo`, `make demo-break-glass`) keep working: each
runs in its own process, with its own emulator, against the release binary under test."""

from __future__ import annotations

import subprocess
import sys

import pytest
from harness.function import REPO, find_binary


@pytest.mark.parametrize("script, last_line", [
    ("scripts/demo.py", "rotation completed"),
    ("scripts/demo_break_glass.py", "break-glass reset completed"),
])
def test_a_demo_runs_to_its_happy_end(script, last_line):
    result = subprocess.run([sys.executable, str(REPO / script), "--binary", str(find_binary())],
                            capture_output=True, text=True, timeout=180, cwd=REPO)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert result.stdout.strip().splitlines()[-1] == last_line
