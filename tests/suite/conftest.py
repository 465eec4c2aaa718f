"""The suite's own session hook: the reliability report also goes to tests/.logs/report.md.

The root conftest prints the report in its terminal summary and fills the
"leaks (whole session)" row in its own ``pytest_sessionfinish``; this hook runs
after it (``trylast``) so the file has that row too.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from harness.report import REPORT

REPORT_FILE = Path(__file__).resolve().parents[1] / ".logs" / "report.md"


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
