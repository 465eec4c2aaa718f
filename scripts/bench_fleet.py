"""A fleet of rotations under IAM throttling: does every rotation complete, how close to the floor?

N secrets are rotated in one window by P warm function processes (the release binary through
the local Lambda Runtime API), against the emulator with an IAM request-rate limit (a token
bucket: calls beyond it are answered IAM's `Throttling` 400 and never applied). P worker
threads play Secrets Manager: each takes secrets from a shared queue and runs a whole rotation
on its own process (the placeholder, then the four steps; a failed step restarts the rotation
from createSecret with the same token, at most `ROTATION_ATTEMPTS` times).

Measured: wall time from the first step's start to the last step's end; IAM calls let through
and throttled (the emulator's call log); failed step invocations (absorbed by the restart) and
failed rotations. The floor is the time IAM's limit alone needs: IAM calls let through / rate.
Afterwards every user's IAM password must equal its secret's AWSCURRENT password (and, after
a failed rotation, at least be AWSPENDING's).

Across accounts (`accounts` > 0, `--accounts N`): the secrets are spread over N member
accounts of an emulated organisation and the processes run as the central function (signed
as the central role, the member role set): Secrets Manager starts each rotation in the
member account (`RotateSecret` there, which hands the function a `RotationToken`), and each
process assumes the member role once per account for the credentials' lifetime; the
`AssumeRole` calls per account are reported.

Run alone: `python scripts/bench_fleet.py --binary target/lambda/iam-password-rotation/bootstrap`
measures the harness without a limit (its own floor), then the limited fleet with the
function's default retry configuration (standard, 8 attempts) and with the SDK's adaptive
retry mode (8 attempts), then (with `--accounts N`) the default configuration across N
member accounts;
`--retry` chooses the configurations, `--secrets`, `--processes`, `--rate`, `--burst` the fleet.
"""

from __future__ import annotations

import argparse
import queue
import sys
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Optional

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO / "tests" / "emulator"))

from emulator_testlib import (CENTRAL, CENTRAL_ROLE, EXTERNAL_ID, MEMBER_ROLE, MEMBERS, make_client,  # noqa: E402
                              policy_document, role_arn)
from harness import Aws, BoundUser, LocalLambda, SecretsManagerDriver  # noqa: E402
from harness.organizations import Organization  # noqa: E402
from harness.runtime_api import FUNCTION_ARN  # noqa: E402
from rotation_emulator import start_emulator  # noqa: E402

# Secrets Manager restarts a failed rotation from createSecret; a few times is what it does.
ROTATION_ATTEMPTS = 3
# IAM calls per second the emulator lets through by default: well below what this harness
# manages without a limit on 2 cores (run with --rate 0 to see), so IAM is the bottleneck,
# yet 500 rotations (4 IAM calls each) take about a minute and a half.
DEFAULT_RATE = 25.0
# Retry configurations measured by default. "adaptive" keeps the function's 8 attempts, so
# it differs from the default only in the SDK's client-side rate limiting (see retry_env).
DEFAULT_RETRY = "default,adaptive"
# Seconds an invocation may run before Lambda stops it: template.yaml's Timeout.
FUNCTION_TIMEOUT = 90.0
SEED_THREADS = 4


def retry_env(spec: str) -> dict:
    """The function's environment for a retry configuration: "default" (the function's own:
    the SDK's standard mode, 8 attempts) or "MODE[:ATTEMPTS]" (AWS_RETRY_MODE, AWS_MAX_ATTEMPTS).

    A mode without attempts keeps the function's 8 (it sets them unless AWS_MAX_ATTEMPTS is set).
    """
    if spec == "default":
        return {}
    mode, _, attempts = spec.partition(":")
    if mode not in ("standard", "adaptive") or not (attempts == "" or attempts.isdigit() and int(attempts) > 0):
        raise ValueError(f"retry configuration {spec!r} is not 'default' or MODE[:ATTEMPTS] (standard or adaptive)")
    return {"AWS_RETRY_MODE": mode, **({"AWS_MAX_ATTEMPTS": attempts} if attempts else {})}


def seed(aws: Aws, prefix: str, count: int) -> list[BoundUser]:
    """``count`` users with a console password, each bound to its secret (a few threads)."""
    with ThreadPoolExecutor(SEED_THREADS) as pool:
        return list(pool.map(lambda i: aws.bound_user(f"{prefix}-{i:04d}"), range(count)))


class MemberAccounts:
    """The fleet's secrets spread over member accounts of an emulated organisation."""

    def __init__(self, aws: Aws, url: str, count: int) -> None:
        self.aws = aws
        self.org = Organization(aws)
        extra = [f"6{i:011d}" for i in range(max(0, count - len(MEMBERS)))]
        self.accounts = [*MEMBERS, *extra][:count]
        aws.control.seed_organization(CENTRAL, self.accounts)
        for account in extra:
            make_client(_Url(url), "iam", account=account).create_role(
                RoleName=MEMBER_ROLE,
                AssumeRolePolicyDocument=policy_document({
                    "Effect": "Allow", "Principal": {"AWS": role_arn(CENTRAL, CENTRAL_ROLE)},
                    "Action": "sts:AssumeRole", "Condition": {"StringEquals": {"sts:ExternalId": EXTERNAL_ID}}}),
            )
        self.where: dict = {}  # secret ARN -> account

    def seed(self, prefix: str, count: int) -> list[BoundUser]:
        def one(i: int) -> BoundUser:
            account = self.accounts[i % len(self.accounts)]
            user = self.org.bound_user(account, f"{prefix}-{i:04d}")
            self.where[user.secret_arn] = account
            return user

        with ThreadPoolExecutor(SEED_THREADS) as pool:
            return list(pool.map(one, range(count)))

    def start(self, user: BoundUser) -> tuple[str, str]:
        """``RotateSecret`` in the user's account: (ClientRequestToken, RotationToken)."""
        self.org.client("secretsmanager", self.where[user.secret_arn]).rotate_secret(
            SecretId=user.secret_arn, RotationLambdaARN=FUNCTION_ARN, RotationRules={"AutomaticallyAfterDays": 30})
        rotation = next(r for r in reversed(self.aws.control.rotations()) if r["SecretArn"] == user.secret_arn)
        return rotation["ClientRequestToken"], rotation["RotationToken"]

    def password(self, user: BoundUser) -> str:
        return self.org.password(self.where[user.secret_arn], user.username)

    def held_values(self, user: BoundUser) -> list:
        account = self.where[user.secret_arn]
        values = []
        for stage in ("AWSCURRENT", "AWSPENDING"):
            try:
                values.append(self.org.value(account, user.secret_arn, stage)["password"])
            except Exception:  # noqa: BLE001 - no AWSPENDING version
                pass
        return values


class _Url:
    def __init__(self, url: str) -> None:
        self.url = url


def start_processes(url: str, binary: Path, count: int, env: dict) -> list[LocalLambda]:
    """``count`` function processes, each started and polling for its first event (warm)."""
    functions = [LocalLambda(url, config=env, binary=binary, timeout=FUNCTION_TIMEOUT) for _ in range(count)]
    for function in functions:
        function._ensure_process()
    for function in functions:
        if not function._api.polled.wait(30):
            raise RuntimeError("a function process did not poll for an event within 30 s")
    return functions


def run_fleet(aws: Aws, url: str, binary: Path, secrets: int = 500, processes: int = 50,
              rate: Optional[float] = DEFAULT_RATE, burst: Optional[int] = None, env: Optional[dict] = None,
              prefix: str = "fleet", accounts: int = 0) -> dict:
    """Rotate ``secrets`` new secrets with ``processes`` warm processes under an IAM limit of
    ``rate`` calls per second (bursts of ``burst``, default one second's worth; ``rate``
    None or 0: no limit). ``env``: the function's extra environment (``retry_env``).

    Returns ``{"secrets", "processes", "rate", "burst", "env", "seconds", "iam_calls",
    "throttled", "floor_seconds", "ratio", "failed_steps", "failed_rotations",
    "restarted_rotations", "slowest_step_seconds", "step_errors", "mismatches",
    "unreachable", "calls"}``: ``iam_calls`` are the IAM calls let through, ``throttled``
    those refused; ``floor_seconds`` = ``iam_calls / rate`` and ``ratio`` = ``seconds /
    floor_seconds`` (None without a limit); ``slowest_step_seconds``, the longest step
    invocation that answered; ``step_errors`` counts failed steps' error messages;
    ``mismatches``, the users whose IAM password is not their secret's AWSCURRENT one (a
    failed rotation may leave IAM on AWSPENDING's, for Secrets Manager's next attempt to
    finish); ``unreachable``, those whose IAM password is in neither (must be empty);
    ``calls``, every AWS call of the window. With ``accounts``: the secrets are spread over
    that many member accounts (see the module's doc), and ``assume_role`` counts the
    ``AssumeRole`` calls per account.
    """
    members = MemberAccounts(aws, url, accounts) if accounts else None
    users = members.seed(prefix, secrets) if members else seed(aws, prefix, secrets)
    config = members.org.config(**(env or {})) if members else (env or {})
    functions = start_processes(url, binary, processes, config)
    work: "queue.Queue[BoundUser]" = queue.Queue()
    for user in users:
        work.put(user)
    records, windows = [], []
    lock = threading.Lock()

    def worker(function: LocalLambda) -> None:
        driver = SecretsManagerDriver(aws, function)
        while True:
            try:
                user = work.get_nowait()
            except queue.Empty:
                return
            token, rotation_token = members.start(user) if members else (driver.start(user.secret_arn), None)
            started = time.monotonic()
            record = driver.run_steps(user.secret_arn, token, rotation_token, max_attempts=ROTATION_ATTEMPTS)
            with lock:
                records.append(record)
                windows.append((started, time.monotonic()))

    aws.control.clear_calls()
    if rate:
        aws.control.set_rate_limit("iam", rate, burst)
    limit = aws.control.rate_limits().get("iam")
    threads = [threading.Thread(target=worker, args=(f,)) for f in functions]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        aws.control.clear_rate_limits()
        for function in functions:
            function.stop()

    calls = aws.control.calls()
    seconds = max(end for _, end in windows) - min(start for start, _ in windows)
    iam = [c for c in calls if c["service"] == "iam"]
    through = sum(1 for c in iam if not c["throttled"])
    floor = through / rate if rate else None
    results = [result for record in records for _, result in record.results]
    failed = [result for result in results if not result.ok]
    mismatches, unreachable = [], []
    for user in users:
        if members:
            password, held = members.password(user), members.held_values(user)
            current = held[0] if held else None
        else:
            password, current = aws.iam_password(user.username), aws.value(user.secret_arn)["password"]
            held = None
        if password != current:
            mismatches.append(user.username)
            if password not in (held if held is not None else aws.held_values(user.secret_arn)):
                unreachable.append(user.username)
    return {
        "secrets": secrets,
        "processes": processes,
        "rate": limit["rate"] if limit else None,
        "burst": limit["burst"] if limit else None,
        "env": dict(env or {}),
        "seconds": seconds,
        "iam_calls": through,
        "throttled": len(iam) - through,
        "floor_seconds": floor,
        "ratio": seconds / floor if floor else None,
        "failed_steps": len(failed),
        "failed_rotations": sum(1 for record in records if not record.succeeded),
        "restarted_rotations": sum(1 for record in records if len(record.attempts) > 1),
        "slowest_step_seconds": max(result.duration_ms for result in results) / 1000,
        "step_errors": Counter(f"{r.error_type}: {r.error_message}"[:160] for r in failed),
        "mismatches": mismatches,
        "unreachable": unreachable,
        "calls": calls,
        "accounts": accounts,
        "assume_role": aws.control.assume_role_counts() if members else {},
    }


def describe(name: str, run: dict) -> str:
    """One markdown table row of a fleet run."""
    floor = f"{run['floor_seconds']:.1f} s" if run["floor_seconds"] else "–"
    ratio = f"{run['ratio']:.2f}x" if run["ratio"] else "–"
    limit = f"{run['rate']:g}/s (burst {run['burst']})" if run["rate"] else "none"
    return (f"| {name} | {limit} | {run['seconds']:.1f} s | {floor} | {ratio} | {run['iam_calls']} | "
            f"{run['throttled']} | {run['failed_steps']} | {run['failed_rotations']} | {len(run['mismatches'])} | "
            f"{len(run['unreachable'])} |")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--binary", default=str(REPO / "target/lambda/iam-password-rotation/bootstrap"))
    parser.add_argument("--secrets", type=int, default=500)
    parser.add_argument("--processes", type=int, default=50)
    parser.add_argument("--rate", type=float, default=DEFAULT_RATE, help="IAM calls per second; 0: no limit")
    parser.add_argument("--burst", type=int, default=None, help="IAM token bucket size (default: one second's worth)")
    parser.add_argument("--retry", default=DEFAULT_RETRY,
                        help="retry configurations to measure under the limit, comma-separated: "
                             "'default' or MODE[:ATTEMPTS], e.g. adaptive:5, standard:8")
    parser.add_argument("--no-baseline", action="store_true", help="skip the run without a limit")
    parser.add_argument("--accounts", type=int, default=0,
                        help="also run the default configuration across this many member accounts")
    args = parser.parse_args()
    binary = Path(args.binary)
    try:
        retries = {spec: retry_env(spec) for spec in args.retry.split(",") if spec}
    except ValueError as error:
        parser.error(str(error))

    plan = [] if args.no_baseline else [("no limit (harness floor), default retry", None, {}, 0)]
    plan += [(f"IAM limited, {spec} retry", args.rate or None, env, 0) for spec, env in retries.items()]
    if args.accounts:
        plan.append((f"IAM limited, default retry, {args.accounts} member accounts", args.rate or None, {},
                     args.accounts))
    emulator = start_emulator()
    aws = Aws(emulator.url)
    runs = []
    try:
        for index, (name, rate, env, accounts) in enumerate(plan):
            aws.control.reset()  # same start for every run: moto's lookups scan every secret
            run = run_fleet(aws, emulator.url, binary, args.secrets, args.processes, rate, args.burst,
                            env, prefix=f"fleet{index}", accounts=accounts)
            runs.append((name, run))
            print(f"done: {name}: {run['seconds']:.1f} s", file=sys.stderr, flush=True)
    finally:
        emulator.stop()

    print(f"binary: {binary}")
    print(f"fleet: {args.secrets} secrets, {args.processes} warm processes, one rotation at a time each; "
          f"a failed step restarts the rotation (at most {ROTATION_ATTEMPTS} attempts)\n")
    print("| run | IAM limit | total | floor (IAM calls / rate) | ratio | IAM calls | throttled | "
          "failed steps (absorbed) | failed rotations | IAM != AWSCURRENT | IAM in neither AWSCURRENT nor AWSPENDING |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for name, run in runs:
        print(describe(name, run))
    for name, run in runs:
        env = ", ".join(f"{k}={v}" for k, v in run["env"].items()) or "the function's default (standard, 8 attempts)"
        calls = len(run["calls"])
        print(f"\n{name}: {env}; {calls} AWS calls in {run['seconds']:.1f} s ({calls / run['seconds']:.0f}/s), "
              f"IAM {run['iam_calls'] / run['seconds']:.1f}/s let through; "
              f"{run['restarted_rotations']} rotations restarted; slowest answered step {run['slowest_step_seconds']:.1f} s")
        if run["assume_role"]:
            counts = sorted(run["assume_role"].values())
            print(f"  AssumeRole: {sum(counts)} in {len(counts)} accounts ({counts[0]}-{counts[-1]} per account, "
                  f"{run['processes']} processes)")
        for error, count in run["step_errors"].most_common(5):
            print(f"  {count} x {error}")
    ok = all(run["failed_rotations"] == 0 and not run["mismatches"] and not run["unreachable"] for _, run in runs)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
