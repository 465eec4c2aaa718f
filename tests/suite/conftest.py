"""The suite's own session hooks: the reliability report also goes to tests/.logs/report.md,
and, after a full run of the suite that passed, into docs/guarantees.md.

The root conftest prints the report in its terminal summary and fills the
"leaks (whole session)" row in its own ``pytest_sessionfinish``; this hook runs
after it (``trylast``) so the file has that row too.
"""

from __future__ import annotations

import datetime
import os
import time
from pathlib import Path

import pytest
from harness.report import REPORT, STARTED, write_into_page

SUITE = Path(__file__).resolve().parent
REPORT_FILE = SUITE.parent / ".logs" / "report.md"
GUARANTEES_PAGE = SUITE.parents[1] / "docs" / "guarantees.md"


def ran_the_whole_suite(session) -> bool:
    """Every test of every module of the suite ran, and passed: no -k, -m, deselection or failure."""
    option = session.config.option
    if session.exitstatus != 0 or getattr(option, "keyword", "") or getattr(option, "markexpr", ""):
        return False
    if len(session.items) != session.testscollected:
        return False
    ran = {Path(str(item.path)).resolve() for item in session.items}
    return all(module.resolve() in ran for module in SUITE.glob("test_*.py"))


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session, exitstatus):
    if not REPORT.rows:
        return
    REPORT_FILE.parent.mkdir(parents=True, exist_ok=True)
    REPORT_FILE.write_text(
        "## Guarantees: reliability report\n\n"
        "Every case ends with IAM's password equal to the password of AWSCURRENT or AWSPENDING; "
        "every completed rotation with IAM's password equal to AWSCURRENT's.\n\n"
        + REPORT.markdown() + "\n",
        encoding="utf-8",
    )
    if ran_the_whole_suite(session):
        seconds = round(time.monotonic() - STARTED)
        run = (f"Last full run: {datetime.date.today().isoformat()}, {seconds // 60} min {seconds % 60} s "
               f"on {os.cpu_count()} cores.")
        write_into_page(GUARANTEES_PAGE, REPORT, run)
