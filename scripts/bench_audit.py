"""The audit at organisation scale: a grid of accounts (1, 50, 500) by console users per
account (10, 500, 2,000), in the emulator, with IAM limited as in the fleet benchmark.

The scheduled request fans out to one invocation per account; an account's invocation
reads only its own account (plus one `DescribeAccount` and, in a fresh process, one
`AssumeRole` in the central account), so its cost does not depend on how many accounts
there are. The grid therefore runs, for real:
- the scheduled request (the coordinator) for each number of accounts (`ListAccounts`
  pages and one `Invoke` per account), and
- each account's invocation, in a fresh process as Lambda's asynchronous queue may start
  it, on a sample of member accounts seeded with each number of users;
and computes each cell's totals as the coordinator plus the number of accounts times the
sampled per-account figures. `--check` also runs every account's invocation of one small
cell (50 accounts by 10 users) and prints the measured total beside the computed one.

Run alone: `python scripts/bench_audit.py --binary target/lambda/iam-password-rotation/bootstrap`.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO / "tests" / "emulator"))

from emulator_testlib import (CENTRAL, CENTRAL_ROLE, EXTERNAL_ID, MEMBER_ROLE, MEMBERS, make_client,  # noqa: E402
                              policy_document, role_arn)
from harness import Aws, LocalLambda  # noqa: E402
from harness.audit import audit_request  # noqa: E402
from harness.organizations import Organization  # noqa: E402
from harness.runtime_api import FUNCTION_ARN  # noqa: E402
from rotation_emulator import start_emulator  # noqa: E402

sys.path.insert(0, str(REPO / "scripts"))
import bench_fleet  # noqa: E402

ACCOUNTS = (1, 50, 500)
USERS = (10, 500, 2000)
# Seconds an invocation may run before Lambda stops it: template.yaml's Timeout.
FUNCTION_TIMEOUT = 90.0


def member_ids(count: int) -> list[str]:
    """``count`` member account ids: the harness's two members first, then made-up ones."""
    extra = [f"5{i:011d}" for i in range(max(0, count - len(MEMBERS)))]
    return [*MEMBERS, *extra][:count]


def add_member_role(url: str, account: str) -> None:
    """The member role in ``account``, trusting the central role with the external id."""
    from types import SimpleNamespace

    make_client(SimpleNamespace(url=url), "iam", account=account).create_role(
        RoleName=MEMBER_ROLE,
        AssumeRolePolicyDocument=policy_document({
            "Effect": "Allow", "Principal": {"AWS": role_arn(CENTRAL, CENTRAL_ROLE)}, "Action": "sts:AssumeRole",
            "Condition": {"StringEquals": {"sts:ExternalId": EXTERNAL_ID}}}),
    )


def one_invocation(aws: Aws, url: str, binary: Path, config: dict, event: dict, account: str | None) -> dict:
    """One invocation in a fresh process: its AWS calls (all, and those made in
    ``account``), wall time and peak memory."""
    function = LocalLambda(url, config=config, binary=binary, timeout=FUNCTION_TIMEOUT)
    function.start()
    aws.control.clear_calls()
    started = time.monotonic()
    result = function.invoke(event)
    seconds = time.monotonic() - started
    rss = function.peak_rss_kib()
    function.stop()
    if not result.ok:
        raise RuntimeError(f"the invocation failed: {result.error_type}: {result.error_message}")
    calls = aws.control.calls()
    actions: dict = {}
    for call in calls:
        key = f"{call['service']}:{call['action']}"
        actions[key] = actions.get(key, 0) + 1
    return {"calls": len(calls), "actions": actions, "seconds": seconds, "rss_kib": rss,
            "throttled": sum(1 for c in calls if c["throttled"]), "body": result.body}


def run_grid(aws: Aws, url: str, binary: Path, accounts=ACCOUNTS, users=USERS, samples: int = 2,
             rate: float = bench_fleet.DEFAULT_RATE, check: bool = False) -> dict:
    """The grid (see the module's doc). Returns ``{"coordinator": {A: run}, "account": {U: [runs]},
    "cells": [...], "rate", "samples", "check"}``."""
    aws.control.reset()
    org = Organization(aws)
    members = member_ids(max(max(accounts) - 1, len(MEMBERS) + len(users) * samples))
    aws.control.seed_organization(CENTRAL, members)
    config = org.config(OUTCOME_EVENT_BUS="default")
    coordinator = {}
    for count in accounts:
        if count == 1:
            # One account: the scheduled request audits it in its own invocation, no fan-out.
            coordinator[count] = {"calls": 0, "seconds": 0.0, "rss_kib": 0, "actions": {}}
            continue
        # AUDIT_ACCOUNTS lists exactly `count` accounts (the central one and members); the
        # largest grid lists the organisation's accounts instead (ListAccounts).
        listed = [CENTRAL, *members[: count - 1]]
        settings = {**config, "AUDIT_ACCOUNTS": ",".join(listed)} if count < max(accounts) else config
        run = one_invocation(aws, url, binary, settings, audit_request(), None)
        started = len(aws.control.take_lambda_invocations())
        if started != count:
            raise RuntimeError(f"the fan-out started {started} invocations for {count} accounts")
        coordinator[count] = run
    per_account: dict = {}
    for index, count in enumerate(users):
        # Fresh member accounts for each size: `samples` of them, with the member role.
        sampled = members[len(MEMBERS) + index * samples: len(MEMBERS) + (index + 1) * samples]
        for account in sampled:
            add_member_role(url, account)
            aws.control.seed_users(count, prefix="grid", AccountId=account, FunctionArn=FUNCTION_ARN)
        runs = []
        aws.control.set_rate_limit("iam", rate)
        try:
            for account in sampled:
                runs.append(one_invocation(aws, url, binary, config, audit_request(accounts=[account]), account))
        finally:
            aws.control.clear_rate_limits()
        per_account[count] = runs
    cells = []
    for count in accounts:
        for users_per in users:
            runs = per_account[users_per]
            calls = statistics.mean(r["calls"] for r in runs)
            seconds = statistics.mean(r["seconds"] for r in runs)
            cells.append({
                "accounts": count, "users": users_per,
                "account_calls": calls, "account_seconds": seconds,
                "slowest_seconds": max(r["seconds"] for r in runs),
                "coordinator_calls": coordinator[count]["calls"], "coordinator_seconds": coordinator[count]["seconds"],
                "total_calls": coordinator[count]["calls"] + count * calls,
                "total_invocation_seconds": coordinator[count]["seconds"] + count * seconds,
                "wall_seconds": coordinator[count]["seconds"] + max(r["seconds"] for r in runs),
                "peak_rss_kib": max(max(r["rss_kib"] for r in runs), coordinator[count]["rss_kib"]),
                "throttled": sum(r["throttled"] for r in runs),
            })
    checked = check_linearity(aws, url, binary, config) if check else None
    return {"coordinator": coordinator, "account": per_account, "cells": cells, "rate": rate,
            "samples": samples, "check": checked}


def check_linearity(aws: Aws, url: str, binary: Path, config: dict, count: int = 50, users: int = 10) -> dict:
    """Every account's invocation of one cell, run for real one after another, against the
    total computed from a sample (on a fresh organisation)."""
    aws.control.reset()
    org = Organization(aws)
    config = org.config(OUTCOME_EVENT_BUS="default")
    members = member_ids(count - 1)
    aws.control.seed_organization(CENTRAL, members)
    for account in members[len(MEMBERS):]:
        add_member_role(url, account)
    listed = [CENTRAL, *members]
    for account in listed:
        aws.control.seed_users(users, prefix="check", AccountId=account, FunctionArn=FUNCTION_ARN)
    function = LocalLambda(url, config=config, binary=binary, timeout=FUNCTION_TIMEOUT)
    aws.control.clear_calls()
    started = time.monotonic()
    assert function.invoke(audit_request()).ok
    queued = aws.control.take_lambda_invocations()
    sample_calls = []
    for invocation in queued:
        before = len(aws.control.calls())
        result = function.invoke(invocation["Payload"])
        assert result.ok and result.body["Audit"]["ConsoleUsers"] == users, result
        sample_calls.append(len(aws.control.calls()) - before)
    seconds = time.monotonic() - started
    function.stop()
    total = len(aws.control.calls())
    return {"accounts": count, "users": users, "measured_calls": total, "seconds": seconds,
            "per_account_min": min(sample_calls), "per_account_max": max(sample_calls)}


def markdown(grid: dict) -> list[str]:
    """The grid as markdown lines."""
    lines = [
        f"The audit's grid: IAM limited to {grid['rate']:g} calls/s (token bucket, `Throttling` beyond); each "
        f"account's invocation measured in a fresh process on {grid['samples']} sampled member accounts (the "
        f"first `AssumeRole` included), the scheduled request's fan-out run for real for each number of accounts; "
        f"totals = the fan-out + accounts × the sampled account. Timeout: {FUNCTION_TIMEOUT:.0f} s.",
        "",
        "| accounts × console users | AWS calls per account | total AWS calls | time per account | slowest "
        "account / timeout | fan-out (calls, time) | total invocation time | wall time, accounts in parallel "
        "| peak memory |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for cell in grid["cells"]:
        lines.append(
            f"| {cell['accounts']} × {cell['users']:,} | {cell['account_calls']:.0f} | {cell['total_calls']:,.0f} | "
            f"{cell['account_seconds']:.2f} s | {cell['slowest_seconds']:.2f} s "
            f"({cell['slowest_seconds'] / FUNCTION_TIMEOUT:.1%}) | {cell['coordinator_calls']}, "
            f"{cell['coordinator_seconds']:.2f} s | {cell['total_invocation_seconds']:,.1f} s | "
            f"{cell['wall_seconds']:.1f} s | {cell['peak_rss_kib'] / 1024:.1f} MiB |")
    lines += ["", "| one account's invocation, console users | its AWS calls |", "|---|---|"]
    for users, runs in grid["account"].items():
        actions = runs[0]["actions"]
        listed = ", ".join(f"`{k.split(':')[1]}` {v}" for k, v in sorted(actions.items()))
        lines.append(f"| {users:,} | {runs[0]['calls']}: {listed} |")
    if grid["check"]:
        check = grid["check"]
        computed = next(c for c in grid["cells"] if c["accounts"] == check["accounts"] and c["users"] == 10)
        lines += ["", f"Linearity check: {check['accounts']} accounts × {check['users']} users with every account's "
                      f"invocation run: {check['measured_calls']:,} AWS calls measured "
                      f"({check['per_account_min']}-{check['per_account_max']} per account, one process), "
                      f"{computed['total_calls']:,.0f} computed from the sample (fresh processes)."]
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--binary", default=str(REPO / "target/lambda/iam-password-rotation/bootstrap"))
    parser.add_argument("--rate", type=float, default=bench_fleet.DEFAULT_RATE)
    parser.add_argument("--samples", type=int, default=2, choices=(1, 2))
    parser.add_argument("--check", action="store_true", help="also run every account of 50 × 10")
    args = parser.parse_args()
    emulator = start_emulator()
    try:
        grid = run_grid(Aws(emulator.url), emulator.url, Path(args.binary).resolve(), samples=args.samples,
                        rate=args.rate, check=args.check)
    finally:
        emulator.stop()
    print("\n".join(markdown(grid)))
    slowest = max(c["slowest_seconds"] for c in grid["cells"])
    return 0 if slowest < FUNCTION_TIMEOUT / 3 else 1


if __name__ == "__main__":
    sys.exit(main())
