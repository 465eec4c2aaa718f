"""Measure what the issues set targets for: binary size, cold start, memory, AWS calls.

Runs the release binary through the local Lambda Runtime API against the emulator:
- size: the stripped release binary on disk;
- init: process start until it first polls for an event (SDK clients built, config read);
- cold/warm step: createSecret in a fresh process vs. a step in a warm one;
- memory: the process's peak resident set (VmHWM) after a whole rotation;
- AWS calls per step of one rotation in one process, and with a fresh process per step,
  for both strategies (UpdateLoginProfile, the self-service ChangePassword), writes per
  rotation, and the calls of each kind of reset decision;
- organisations: the calls of a rotation in a member account (through the member role),
  the audit's calls per account and per audited user, and a fleet of rotations across
  member accounts run by several processes, counting AssumeRole per account.
Run it with `make bench`; numbers are medians over --runs rotations.
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

from harness import Aws, LocalLambda, SecretsManagerDriver  # noqa: E402
from harness.driver import STEPS  # noqa: E402
from harness.invariants import WRITE_ACTIONS  # noqa: E402
from harness.resets import (ADMIN_ROLE, RESET_CONFIG, ResetWorld, console_login, iam_call,  # noqa: E402
                            on_demand, role_identity)
from harness.organizations import MEMBERS, Organization  # noqa: E402
from harness.runtime_api import FUNCTION_ARN  # noqa: E402
from rotation_emulator import start_emulator  # noqa: E402

AUDIT = {"source": "iam-password-rotation", "detail-type": "IAM Password Audit Requested", "detail": {}}


def peak_rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


def rotation_in_one_process(aws: Aws, url: str, binary: Path, name: str, self_service: bool = False) -> dict:
    user = aws.bound_user(name, self_service=self_service)
    function = LocalLambda(url, binary=binary)
    driver = SecretsManagerDriver(aws, function)
    token = driver.start(user.secret_arn)
    aws.control.clear_calls()
    started = time.monotonic()
    function._ensure_process()
    api = function._api
    api.polled.wait(10)
    init_ms = (time.monotonic() - started) * 1000
    steps, calls = {}, {}
    for step in STEPS:
        before = len(aws.control.calls())
        result = driver.invoke_step(step, user.secret_arn, token)
        assert result.ok, result
        steps[step] = result.duration_ms
        calls[step] = len(aws.control.calls()) - before
    rss = peak_rss_kib(function._process.process.pid)
    writes = sum(1 for c in aws.control.calls()
                 if f"{c['service']}:{c['action']}" in WRITE_ACTIONS and c["status"] == 200)
    function.stop()
    assert aws.iam_password(name) == aws.value(user.secret_arn)["password"]
    return {"init_ms": init_ms, "steps_ms": steps, "calls": calls, "rss_kib": rss, "writes": writes}


def reset_decision_calls(aws: Aws, url: str, binary: Path) -> dict:
    """AWS calls of each kind of reset decision (outcome event included, when a bus is set)."""
    function = LocalLambda(url, config=RESET_CONFIG, binary=binary)
    world = ResetWorld(aws, SecretsManagerDriver(aws, function))
    user = world.enrol("bench-reset")
    decisions = {}

    def measure(name, event=None, schedule=None):
        before = len(aws.control.calls())
        result = world.fire(schedule) if schedule else function.invoke(event)
        assert result.ok, (result.error_type, result.error_message)
        actions = [c["action"] for c in aws.control.calls()[before:]]
        decisions[name] = (result.body["Decisions"][0]["Decision"], actions)
        world.run_started()

    measure("on demand, by user", on_demand(userName=user.username))
    measure("on demand, by secret", on_demand(secretId=user.secret_arn))
    measure("console sign-in", console_login(user.username))
    measure("the sign-in's schedule fires", schedule=world.schedules()[0])
    measure("drift by another principal", iam_call("UpdateLoginProfile", user.username, role_identity(ADMIN_ROLE)))
    measure("drift by the function's own role",
            iam_call("UpdateLoginProfile", user.username, role_identity(RESET_CONFIG["FUNCTION_ROLE_ARN"])))
    function.stop()
    return decisions


def calls_with_a_fresh_process_per_step(aws: Aws, url: str, binary: Path) -> dict:
    user = aws.bound_user("cold-steps")
    function = LocalLambda(url, binary=binary)
    driver = SecretsManagerDriver(aws, function)
    token = driver.start(user.secret_arn)
    calls = {}
    for step in STEPS:
        before = len(aws.control.calls())
        assert driver.invoke_step(step, user.secret_arn, token).ok
        calls[step] = len(aws.control.calls()) - before
        function.kill()
    return calls


def organisation_calls(aws: Aws, url: str, binary: Path, accounts: int = 2, per_account: int = 5,
                       processes: int = 3) -> dict:
    """A member-account rotation's calls; the audit's calls; a fleet across member accounts."""
    aws.control.reset()
    org = Organization(aws)
    function = LocalLambda(url, config=org.config(), binary=binary)
    driver = SecretsManagerDriver(aws, function)
    first = org.bound_user(MEMBERS[0], "org-first")
    aws.control.clear_calls()
    record, _ = org.rotate(driver, first, MEMBERS[0])
    assert record.succeeded, record.last_error
    cross = [c["action"] for c in aws.control.calls() if c["action"] != "RotateSecret"]
    second = org.bound_user(MEMBERS[0], "org-second")
    aws.control.clear_calls()
    record, _ = org.rotate(driver, second, MEMBERS[0])
    assert record.succeeded, record.last_error
    warm = [c["action"] for c in aws.control.calls() if c["action"] != "RotateSecret"]
    # The audit: one more console user per account, so the per-user cost shows as a difference.
    aws.control.clear_calls()
    small = function.invoke(AUDIT)
    assert small.ok, small
    small_calls = aws.control.counts(account=MEMBERS[0])
    org.client("iam", MEMBERS[0]).create_user(UserName="org-extra")
    org.client("iam", MEMBERS[0]).create_login_profile(UserName="org-extra", Password="Extra-Passw0rd!")
    aws.control.expire_credential_report(MEMBERS[0])  # IAM keeps a report 4 hours: make a new one
    aws.control.clear_calls()
    large = function.invoke(AUDIT)
    assert large.ok, large
    large_calls = aws.control.counts(account=MEMBERS[0])
    audited = {a["Account"]: a["ConsoleUsers"] for a in large.body["Audit"]["Audited"]}
    function.stop()

    # The fleet: secrets across the member accounts, rotated by several warm processes.
    users = [(account, org.bound_user(account, f"fleet-{account[-1]}-{i}"))
             for account in MEMBERS[:accounts] for i in range(per_account)]
    functions = [LocalLambda(url, config=org.config(), binary=binary) for _ in range(processes)]
    drivers = [SecretsManagerDriver(aws, f) for f in functions]
    aws.control.clear_calls()
    for index, (account, user) in enumerate(users):
        record, _ = org.rotate(drivers[index % processes], user, account)
        assert record.succeeded, record.last_error
    fleet = {"rotations": len(users), "accounts": accounts, "processes": processes,
             "assume_role": aws.control.assume_role_counts()}
    for f in functions:
        f.stop()
    return {"cross": cross, "warm": warm, "audit_small": small_calls, "audit_large": large_calls,
            "audited_users": audited[MEMBERS[0]], "fleet": fleet}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--binary", default=str(REPO / "target/release/iam-password-rotation"))
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args()
    binary = Path(args.binary)

    emulator = start_emulator()
    aws = Aws(emulator.url)
    try:
        aws.control.reset()
        runs = [rotation_in_one_process(aws, emulator.url, binary, f"bench-{i}") for i in range(args.runs)]
        cold_calls = calls_with_a_fresh_process_per_step(aws, emulator.url, binary)
        self_service = rotation_in_one_process(aws, emulator.url, binary, "bench-self", self_service=True)
        resets = reset_decision_calls(aws, emulator.url, binary)
        organisation = organisation_calls(aws, emulator.url, binary)
    finally:
        emulator.stop()

    median = statistics.median
    size = binary.stat().st_size
    print(f"binary: {binary} ({size / 1_000_000:.2f} MB, {size} bytes)")
    print(f"runs: {args.runs} full rotations, one process each (medians)\n")
    print("| measure | value |")
    print("|---|---|")
    print(f"| stripped release binary | {size / 1_000_000:.2f} MB |")
    print(f"| init (process start to first poll) | {median(r['init_ms'] for r in runs):.1f} ms |")
    print(f"| createSecret, cold process | {median(r['steps_ms']['createSecret'] for r in runs):.1f} ms |")
    for step in STEPS[1:]:
        print(f"| {step}, warm process | {median(r['steps_ms'][step] for r in runs):.1f} ms |")
    print(f"| peak memory (VmHWM) after a rotation | {median(r['rss_kib'] for r in runs) / 1024:.1f} MiB |")
    warm = runs[0]["calls"]
    print(f"| AWS calls, one process | {sum(warm.values())} ({', '.join(f'{s} {n}' for s, n in warm.items())}) |")
    print(f"| AWS calls, fresh process per step | {sum(cold_calls.values())} "
          f"({', '.join(f'{s} {n}' for s, n in cold_calls.items())}) |")
    print(f"| writes per rotation | {runs[0]['writes']} |")
    ss = self_service["calls"]
    print(f"| AWS calls, self-service strategy, one process | {sum(ss.values())} "
          f"({', '.join(f'{s} {n}' for s, n in ss.items())}); writes {self_service['writes']} |")
    print("\n| reset decision | decision | AWS calls |")
    print("|---|---|---|")
    for name, (decision, actions) in resets.items():
        print(f"| {name} | {decision} | {len(actions)}: {', '.join(actions) or 'none'} |")
    cross, warm_cross = organisation["cross"], organisation["warm"]
    print("\n| organisations | AWS calls |")
    print("|---|---|")
    print(f"| rotation in a member account, first in the process | {len(cross)}: {cross.count('AssumeRole')} "
          f"AssumeRole (central account) + {len(cross) - cross.count('AssumeRole')} in the member account |")
    print(f"| rotation in a member account, role already assumed | {len(warm_cross)} "
          f"({warm_cross.count('AssumeRole')} AssumeRole) |")
    small, large = organisation["audit_small"], organisation["audit_large"]
    per_user = {k: large.get(k, 0) - small.get(k, 0) for k in large if large.get(k, 0) != small.get(k, 0)}
    fixed = {k: v for k, v in small.items() if k not in per_user}
    def listed(counts: dict) -> str:
        return ", ".join(f"{action.split(':')[1]} {n}" for action, n in sorted(counts.items()))

    print(f"| audit, per account (through the member role) | {sum(fixed.values())}: {listed(fixed)} |")
    print(f"| audit, per console user audited | {sum(per_user.values())}: {listed(per_user)} |")
    fleet = organisation["fleet"]
    print(f"| fleet: {fleet['rotations']} rotations in {fleet['accounts']} member accounts by "
          f"{fleet['processes']} processes | AssumeRole per account: "
          f"{', '.join(f'{a} {n}' for a, n in sorted(fleet['assume_role'].items()))} "
          f"(one per account per process, for the credentials' hour) |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
