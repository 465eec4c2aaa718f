"""docs/who-can-do-what.md cannot rot: every `file::test` it names exists in the repository,
every row names at least one test (or the literal TBD), and every principal it must cover
has a row.

Run from the repository root:  .venv/bin/python -m pytest tests/deploy/test_who_can_do_what.py -q
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PAGE = ROOT / "docs" / "who-can-do-what.md"
REFERENCE = re.compile(r"`([\w./-]+\.(?:py|rs))::(\w+)`")
# The principals the page must name, each in the first cell of a row.
PRINCIPALS = [
    "Secrets Manager", "EventBridge, for each of the stack's rules", "The console sign-in rule",
    "The secret read rule", "The drift rule", "Member accounts' forwarding rules", "EventBridge Scheduler (the reset group)",
    "EventBridge Scheduler (the audit schedule)", "On-demand senders", "Security Hub analysts", "Writers of findings",
    "A member account's administrator, without", "A member account's administrator, with the service control policy",
    "Writers of a rotated secret", "Readers of a rotated secret", "The function's role",
    "Direct `lambda:InvokeFunction` callers",
]


def rows() -> list[list[str]]:
    """The table rows of the page (header and separator rows left out), as cells."""
    found = []
    for line in PAGE.read_text(encoding="utf-8").splitlines():
        if not line.startswith("| ") or line.startswith("| who |") or set(line) <= set("|- "):
            continue
        found.append([cell.strip() for cell in line.strip().strip("|").split("|")])
    return found


def references() -> list[tuple[str, str]]:
    return REFERENCE.findall(PAGE.read_text(encoding="utf-8"))


def test_the_page_names_tests_and_the_checker_reads_them():
    assert len(references()) >= 30, references()


@pytest.mark.parametrize("path, name", sorted(set(references())))
def test_every_test_the_page_names_exists(path, name):
    source = ROOT / path
    assert source.is_file(), f"{path} does not exist"
    definition = rf"^\s*(?:async\s+)?def {name}\(" if path.endswith(".py") else rf"^\s*(?:async\s+)?fn {name}\("
    assert re.search(definition, source.read_text(encoding="utf-8"), re.M), f"{path} has no test {name}"
    assert name.startswith("test_") or path.endswith(".rs"), name


def test_every_row_names_a_test_or_is_literally_tbd():
    for cells in rows():
        tests = cells[-1]
        if tests == "TBD":
            continue
        assert REFERENCE.search(tests), f"row {cells[0]!r} names no test"
        leftover = REFERENCE.sub("", tests).replace(",", "").strip()
        assert leftover == "", f"row {cells[0]!r}: {leftover!r} is neither a test nor TBD"


def test_every_principal_has_a_row():
    first_cells = [cells[0] for cells in rows()]
    for principal in PRINCIPALS:
        assert any(cell.startswith(principal) for cell in first_cells), principal
