"""Measure the function's cost, and write the tables of docs/performance.md.

Runs the release binary through the local Lambda Runtime API against the emulator:
- cold start: spawn to the first poll, 50 starts each of the bootstrap, the floor (a
  lambda_runtime hello-world, bench/runtime-floor) and a Python boto3 baseline
  (bench/python-baseline), interleaved (scripts/bench_coldstart.py);
- cold step: spawn to the response of createSecret, bootstrap and Python baseline;
- size: the stripped release binary on disk, and the TLS/crypto crates it links;
- warm steps, and memory: the process's peak resident set (VmHWM) over a whole rotation,
  over plain HTTP and through a local TLS terminator (scripts/tls_terminator.py);
- AWS calls per step of one rotation in one process, and with a fresh process per step,
  for both strategies (UpdateLoginProfile, the self-service ChangePassword), writes per
  rotation, and the calls of each kind of reset decision;
- organisations: the calls of a rotation in a member account (through the member role),
  the audit's calls per account and per audited user, and a fleet of rotations across
  member accounts run by several processes, counting AssumeRole per account;
- fleet: 500 secrets by 50 processes under an IAM request-rate limit (scripts/bench_fleet.py),
  in the function's own account and across member accounts;
- the audit's grid: accounts (1, 50, 500) by console users per account (10, 500, 2,000)
  under the same IAM limit (scripts/bench_audit.py).
Run it with `make bench`; it rewrites the tables between the markers of docs/performance.md
(the organisation's tables between their own markers there).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
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

sys.path.insert(0, str(REPO / "scripts"))
import bench_audit  # noqa: E402
import bench_coldstart  # noqa: E402
import bench_fleet  # noqa: E402
import tls_terminator  # noqa: E402

PERFORMANCE_PAGE = REPO / "docs" / "performance.md"
PAGE_BEGIN = "<!-- make bench: begin -->"
PAGE_END = "<!-- make bench: end -->"
ORGANISATION_BEGIN = "<!-- make bench: organisation begin -->"
ORGANISATION_END = "<!-- make bench: organisation end -->"
AUDIT = {"source": "iam-password-rotation", "detail-type": "IAM Password Audit Requested", "detail": {}}


def rotation_in_one_process(aws: Aws, url: str, binary: Path, name: str, self_service: bool = False) -> dict:
    user = aws.bound_user(name, self_service=self_service)
    function = LocalLambda(url, binary=binary)
    driver = SecretsManagerDriver(aws, function)
    token = driver.start(user.secret_arn)
    aws.control.clear_calls()
    steps, calls = {}, {}
    for step in STEPS:
        before = len(aws.control.calls())
        result = driver.invoke_step(step, user.secret_arn, token)
        assert result.ok, result
        steps[step] = result.duration_ms
        calls[step] = len(aws.control.calls()) - before
    rss = function.peak_rss_kib()
    writes = sum(1 for c in aws.control.calls()
                 if f"{c['service']}:{c['action']}" in WRITE_ACTIONS and c["status"] == 200)
    function.stop()
    assert aws.iam_password(name) == aws.value(user.secret_arn)["password"]
    return {"steps_ms": steps, "calls": calls, "rss_kib": rss, "writes": writes}


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
    one_account = {**AUDIT, "detail": {"accounts": [MEMBERS[0]]}}  # audited in this invocation
    small = function.invoke(one_account)
    assert small.ok, small
    small_calls = aws.control.counts(account=MEMBERS[0])
    org.client("iam", MEMBERS[0]).create_user(UserName="org-extra")
    org.client("iam", MEMBERS[0]).create_login_profile(UserName="org-extra", Password="Extra-Passw0rd!")
    aws.control.expire_credential_report(MEMBERS[0])  # IAM keeps a report 4 hours: make a new one
    aws.control.clear_calls()
    large = function.invoke(one_account)
    assert large.ok, large
    large_calls = aws.control.counts(account=MEMBERS[0])
    audited = {MEMBERS[0]: large.body["Audit"]["ConsoleUsers"]}
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


def tls_crates() -> str:
    """The TLS and crypto crates the release binary links (one stack), from cargo tree."""
    tree = subprocess.run(["cargo", "tree", "-e", "normal", "--prefix", "none", "--format", "{p}"],
                          cwd=REPO, capture_output=True, text=True, check=True).stdout
    wanted = ("rustls", "aws-lc", "ring ", "webpki", "openssl", "native-tls", "rustls-native-certs")
    crates = sorted({line.split(" (")[0].strip() for line in tree.splitlines() if line.startswith(wanted)})
    return ", ".join(crates)


def measure(binary: Path, runs: int, fleet_secrets: int, fleet_processes: int) -> list[str]:
    """Every measurement, as the tables of docs/performance.md (markdown lines)."""
    median = statistics.median
    commands = bench_coldstart.programs(binary)
    emulator = start_emulator()
    aws = Aws(emulator.url)
    try:
        env = bench_coldstart.lambda_environment(emulator.url)
        starts = bench_coldstart.interleaved_cold_starts(commands, env, 50)
        steps_cold = bench_coldstart.cold_steps({n: commands[n] for n in ("bootstrap", "python")}, emulator.url, 15)
        aws.control.reset()
        rotations = [rotation_in_one_process(aws, emulator.url, binary, f"bench-{i}") for i in range(runs)]
        cold_calls = calls_with_a_fresh_process_per_step(aws, emulator.url, binary)
        self_service = rotation_in_one_process(aws, emulator.url, binary, "bench-self", self_service=True)
        resets = reset_decision_calls(aws, emulator.url, binary)
        organisation = organisation_calls(aws, emulator.url, binary)
        tls = [tls_terminator.peak_rss_with_tls(binary, emulator.url, name=f"tls-{i}") for i in range(3)]
        aws.control.reset()
        fleet = bench_fleet.run_fleet(aws, emulator.url, binary, secrets=fleet_secrets, processes=fleet_processes)
    finally:
        emulator.stop()

    size = binary.stat().st_size
    ratio = bench_coldstart.ratios(starts)
    lines = [
        f"Measured by `make bench` ({time.strftime('%Y-%m-%d')}, {os.cpu_count()} cores, the cargo-lambda "
        f"`bootstrap` for x86_64, against the local emulator; medians). Cold starts run with the environment "
        f"Lambda gives a function: no `SSL_CERT_FILE` or `SSL_CERT_DIR`.",
        "",
        "| cold start: spawn to the first poll of the Runtime API (50 starts each, interleaved in a shuffled order) | median | p95 | ratio |",
        "|---|---|---|---|",
    ]
    names = {"bootstrap": "this function (`bootstrap`)",
             "floor": "floor: a `lambda_runtime` hello-world, same profile ([`bench/runtime-floor`](../bench/runtime-floor))",
             "python": "baseline: Python 3 + boto3, same two clients ([`bench/python-baseline`](../bench/python-baseline))"}
    ratios = {"bootstrap": f"{ratio['bootstrap/floor']:.2f}× the floor", "floor": "1",
              "python": f"{ratio['python/bootstrap']:.0f}× this function"}
    for name in ("bootstrap", "floor", "python"):
        lines.append(f"| {names[name]} | {starts[name]['median_ms']:.1f} ms | {starts[name]['p95_ms']:.1f} ms | "
                     f"{ratios[name]} |")
    lines += ["", "| cold step: spawn to the response of `createSecret` (15 runs each) | median | p95 |", "|---|---|---|"]
    for name in ("bootstrap", "python"):
        lines.append(f"| {names[name]} | {steps_cold[name]['median_ms']:.1f} ms | {steps_cold[name]['p95_ms']:.1f} ms |")
    warm = rotations[0]["calls"]
    ss = self_service["calls"]
    tls_rss = median(r["rss_kib"] for r in tls) / 1024
    lines += [
        "",
        "| measure | value |",
        "|---|---|",
        f"| stripped release binary (`bootstrap`) | {size / 1_000_000:.2f} MB ({size} bytes) |",
        f"| TLS and crypto crates linked (one stack) | {tls_crates()} |",
    ]
    for step in STEPS[1:]:
        lines.append(f"| {step} in a warm process | {median(r['steps_ms'][step] for r in rotations):.1f} ms |")
    lines += [
        f"| peak memory (VmHWM) over a whole rotation, plain HTTP to the emulator | "
        f"{median(r['rss_kib'] for r in rotations) / 1024:.1f} MiB |",
        f"| peak memory over a whole rotation through TLS (a local TLS 1.3 terminator; `SSL_CERT_FILE` = the "
        f"system roots + its throwaway CA) | {tls_rss:.1f} MiB ({tls[0]['tls_handshakes']} handshakes, "
        f"{tls[0]['requests']} requests) |",
        f"| AWS calls per rotation, one process | {sum(warm.values())} "
        f"({', '.join(f'{s} {n}' for s, n in warm.items())}); {rotations[0]['writes']} writes |",
        f"| AWS calls per rotation, a fresh process per step | {sum(cold_calls.values())} "
        f"({', '.join(f'{s} {n}' for s, n in cold_calls.items())}) |",
        f"| AWS calls per rotation, self-service strategy, one process | {sum(ss.values())} "
        f"({', '.join(f'{s} {n}' for s, n in ss.items())}); {self_service['writes']} writes |",
        "",
        "| reset decision | AWS calls (with the outcome event's `PutEvents`) |",
        "|---|---|",
    ]
    for name, (decision, actions) in resets.items():
        lines.append(f"| {name} ({decision}) | {len(actions)}: {', '.join(f'`{a}`' for a in actions) or 'none'} |")
    cross, warm_cross = organisation["cross"], organisation["warm"]
    small, large = organisation["audit_small"], organisation["audit_large"]
    per_user = {k: large.get(k, 0) - small.get(k, 0) for k in large if large.get(k, 0) != small.get(k, 0)}
    fixed = {k: v for k, v in small.items() if k not in per_user}

    def listed(counts: dict) -> str:
        return ", ".join(f"`{action.split(':')[1]}` {n}" for action, n in sorted(counts.items()))

    org_fleet = organisation["fleet"]
    lines += [
        "",
        "| organisations | AWS calls |",
        "|---|---|",
        f"| a rotation in a member account, the first there in the process | {len(cross)}: "
        f"{cross.count('AssumeRole')} `AssumeRole` + {len(cross) - cross.count('AssumeRole')} in the member account |",
        f"| a rotation in a member account, role already assumed | {len(warm_cross)} "
        f"({warm_cross.count('AssumeRole')} `AssumeRole`) |",
        f"| the audit, per account | {sum(fixed.values())}: {listed(fixed)} (+ 1 `AssumeRole` per member account "
        f"per hour per process) |",
        f"| the audit, per console user audited | {sum(per_user.values())}{': ' + listed(per_user) if per_user else ''} "
        f"(users are read a page at a time: [the organisation's tables](#the-audit-at-organisation-scale)) |",
        f"| {org_fleet['rotations']} rotations in {org_fleet['accounts']} member accounts by "
        f"{org_fleet['processes']} processes | `AssumeRole`: "
        f"{', '.join(f'{n} for {a}' for a, n in sorted(org_fleet['assume_role'].items()))} "
        f"(one per account per process per credential lifetime) |",
        "",
        f"| fleet: {fleet['secrets']} secrets, {fleet['processes']} processes, IAM limited to {fleet['rate']:g} "
        f"calls/s (token bucket, `Throttling` beyond) | value |",
        "|---|---|",
        f"| total time, first step to last | {fleet['seconds']:.1f} s |",
        f"| the limit's floor (IAM calls let through / rate) | {fleet['floor_seconds']:.1f} s "
        f"({fleet['iam_calls']} calls) |",
        f"| ratio | {fleet['ratio']:.2f}× |",
        f"| throttling errors absorbed by the SDK's retries | {fleet['throttled']} |",
        f"| failed step invocations (retried as Secrets Manager does) / failed rotations | "
        f"{fleet['failed_steps']} / {fleet['failed_rotations']} |",
    ]
    return lines


def organisation_tables(binary: Path, fleet_secrets: int, fleet_processes: int, fleet_accounts: int) -> list[str]:
    """docs/performance.md's tables: the audit's grid (scripts/bench_audit.py, with its
    linearity check), and the fleet in the function's own account beside the same fleet
    spread over member accounts (scripts/bench_fleet.py), on their own emulator."""
    emulator = start_emulator()
    aws = Aws(emulator.url)
    try:
        grid = bench_audit.run_grid(aws, emulator.url, binary, check=True)
        aws.control.reset()
        single = bench_fleet.run_fleet(aws, emulator.url, binary, secrets=fleet_secrets, processes=fleet_processes)
        aws.control.reset()
        across = bench_fleet.run_fleet(aws, emulator.url, binary, secrets=fleet_secrets, processes=fleet_processes,
                                       prefix="org", accounts=fleet_accounts)
    finally:
        emulator.stop()
    assumed = sorted(across["assume_role"].values())
    return [
        f"Measured by `make bench` ({time.strftime('%Y-%m-%d')}, {os.cpu_count()} cores, the cargo-lambda "
        f"`bootstrap` for x86_64, against the local emulator).", "",
        *bench_audit.markdown(grid), "",
        f"The fleet: {fleet_secrets} rotations by {fleet_processes} warm processes, IAM limited to "
        f"{single['rate']:g} calls/s, in the function's own account and spread over {fleet_accounts} member "
        f"accounts (the central function, the member role assumed once per account per process).", "",
        "| run | IAM limit | total | floor (IAM calls / rate) | ratio | IAM calls | throttled | "
        "failed steps (absorbed) | failed rotations | IAM != AWSCURRENT | IAM in neither AWSCURRENT nor AWSPENDING |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
        bench_fleet.describe("the function's own account", single),
        bench_fleet.describe(f"{fleet_accounts} member accounts", across), "",
        f"`AssumeRole` across the member accounts: {sum(assumed)} in {len(assumed)} accounts "
        f"({assumed[0]}-{assumed[-1]} per account; at most one per account per process per credential lifetime, "
        f"{fleet_processes} processes).",
    ]


def first_build() -> tuple[float, float]:
    """Seconds from a fresh clone of this repository (HEAD) to `make demo` finishing (the
    demo build), then for `make build` in that clone (the deployable `bootstrap`): its own
    virtualenv and target directory; cargo's and pip's download caches are shared."""
    with tempfile.TemporaryDirectory() as tmp:
        clone = Path(tmp) / "clone"
        env = {k: v for k, v in os.environ.items() if k not in ("CARGO_TARGET_DIR", "VIRTUAL_ENV")}
        started = time.monotonic()
        subprocess.run(["git", "clone", "--quiet", str(REPO), str(clone)], check=True)
        subprocess.run(["make", "demo"], cwd=clone, env=env, check=True, stdout=subprocess.DEVNULL)
        demo = time.monotonic() - started
        started = time.monotonic()
        subprocess.run(["make", "build"], cwd=clone, env=env, check=True, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
        return demo, time.monotonic() - started


def write_between(begin_marker: str, end_marker: str, lines: list[str]) -> None:
    """Replace the text between these markers of docs/performance.md with these lines (the
    markers are appended to the page if it lacks them)."""
    text = PERFORMANCE_PAGE.read_text(encoding="utf-8") if PERFORMANCE_PAGE.exists() else ""
    if begin_marker not in text or end_marker not in text:
        text = text.rstrip("\n") + f"\n\n{begin_marker}\n{end_marker}\n"
    begin, end = text.index(begin_marker) + len(begin_marker), text.index(end_marker)
    PERFORMANCE_PAGE.write_text(text[:begin] + "\n" + "\n".join(lines) + "\n" + text[end:], encoding="utf-8")


def write_page(lines: list[str]) -> None:
    """Replace the generated tables of docs/performance.md with these."""
    write_between(PAGE_BEGIN, PAGE_END, lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--binary", default=str(REPO / "target/lambda/iam-password-rotation/bootstrap"))
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--fleet-secrets", type=int, default=500)
    parser.add_argument("--fleet-processes", type=int, default=50)
    parser.add_argument("--print-only", action="store_true", help="print the tables only")
    parser.add_argument("--no-organisation", action="store_true",
                        help="skip the audit's grid and the fleet across accounts (minutes)")
    parser.add_argument("--fleet-accounts", type=int, default=10)
    parser.add_argument("--first-build", action="store_true",
                        help="also time a fresh clone to `make demo` finishing (minutes)")
    args = parser.parse_args()
    lines = measure(Path(args.binary).resolve(), args.runs, args.fleet_secrets, args.fleet_processes)
    if args.first_build:
        demo, release = first_build()
        lines += ["", f"First build, a fresh clone to `make demo` finished (the `demo` build; its own target "
                      f"directory and virtualenv; crates and wheels from the local caches): {demo / 60:.1f} min "
                      f"({demo:.0f} s). Then `make build` in that clone, the deployable `bootstrap` (cargo-lambda, "
                      f"fat LTO): {release / 60:.1f} min ({release:.0f} s) more."]
    print("\n".join(lines))
    if not args.print_only:
        write_page(lines)
        print("\ndocs/performance.md: tables rewritten")
    if not args.no_organisation:
        tables = organisation_tables(Path(args.binary).resolve(), args.fleet_secrets, args.fleet_processes,
                                     args.fleet_accounts)
        print("\n".join(tables))
        if not args.print_only:
            write_between(ORGANISATION_BEGIN, ORGANISATION_END, tables)
            print("\ndocs/performance.md: the organisation's tables rewritten")
    return 0


if __name__ == "__main__":
    sys.exit(main())
