"""The reliability report: one row per category, printed at the end of the run, and written
into docs/guarantees.md (between its markers) after a full run of the suite that passed."""

from __future__ import annotations

import time
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

COLUMNS = ("category", "cases", "passed", "crash points", "faults injected", "bad inputs", "log lines scanned",
           "leaks found")


@dataclass
class Row:
    cases: int = 0
    passed: int = 0
    crash_points: int = 0
    faults: int = 0
    bad_inputs: int = 0
    lines_scanned: int = 0
    leaks: int = 0

    def cells(self) -> list:
        return [self.cases, self.passed, self.crash_points, self.faults, self.bad_inputs, self.lines_scanned,
                self.leaks]


STARTED = time.monotonic()
"""When the test session started (this module is imported by the root conftest, at start-up)."""

PAGE_BEGIN = "<!-- make test: begin -->"
PAGE_END = "<!-- make test: end -->"

SESSION_SCAN = "leaks (whole session)"
"""The row of the scan over every line of the run; it includes the lines the other rows scanned."""


class Report:
    """Counters filled by the suite's tests, keyed by category."""

    def __init__(self) -> None:
        self.rows: "OrderedDict[str, Row]" = OrderedDict()
        self.scan_summary: str | None = None
        """One sentence on the session's leak scan: what was looked for, in how many lines."""

    def row(self, category: str) -> Row:
        return self.rows.setdefault(category, Row())

    def case(self, category: str, passed: bool, crash_points: int = 0, faults: int = 0, bad_inputs: int = 0) -> None:
        row = self.row(category)
        row.cases += 1
        row.passed += int(passed)
        row.crash_points += crash_points
        row.faults += faults
        row.bad_inputs += bad_inputs

    def markdown(self) -> str:
        lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
        total = Row()
        for category, row in self.rows.items():
            lines.append("| " + " | ".join(str(c) for c in [category, *row.cells()]) + " |")
            for name in vars(total):
                setattr(total, name, getattr(total, name) + getattr(row, name))
        scan = self.rows.get(SESSION_SCAN)
        if scan is not None:
            # The session scan re-reads every line the category rows scanned: count them once.
            total.lines_scanned = scan.lines_scanned
            total.leaks = scan.leaks
        lines.append("| " + " | ".join(str(c) for c in ["**total**", *total.cells()]) + " |")
        return "\n".join(lines)


def write_into_page(page: Path, report: Report, run: str) -> None:
    """Replace the text between the page's markers with `run` (when and how long), the table
    and the leak scan's summary."""
    text = page.read_text(encoding="utf-8")
    begin, end = text.index(PAGE_BEGIN) + len(PAGE_BEGIN), text.index(PAGE_END)
    body = [run, "", report.markdown()]
    if report.scan_summary:
        body += ["", report.scan_summary]
    page.write_text(text[:begin] + "\n" + "\n".join(body) + "\n" + text[end:], encoding="utf-8")


REPORT = Report()
