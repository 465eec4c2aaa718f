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

Run alone: `python scripts/bench_fleet.py --binary target/lambda/iam-password-rotation/bootstrap`
measures the harness without a limit (its own floor), then the limited fleet with the
function's default retry configuration (standard, 8 attempts) and with the SDK's adaptive
retry mode (8 attempts);
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

from harness import Aws, BoundUser, LocalLambda, SecretsManagerDriver  # noqa: E402
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
              prefix: str = "fleet") -> dict:
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
    ``calls``, every AWS call of the window.
    """
    users = seed(aws, prefix, secrets)
    functions = start_processes(url, binary, processes, env or {})
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
            token = driver.start(user.secret_arn)
            started = time.monotonic()
            record = driver.run_steps(user.secret_arn, token, max_attempts=ROTATION_ATTEMPTS)
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
        password = aws.iam_password(user.username)
        if password != aws.value(user.secret_arn)["password"]:
            mismatches.append(user.username)
            if password not in aws.held_values(user.secret_arn):
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
    args = parser.parse_args()
    binary = Path(args.binary)
    try:
        retries = {spec: retry_env(spec) for spec in args.retry.split(",") if spec}
    except ValueError as error:
        parser.error(str(error))

    plan = [] if args.no_baseline else [("no limit (harness floor), default retry", None, {})]
    plan += [(f"IAM limited, {spec} retry", args.rate or None, env) for spec, env in retries.items()]
    emulator = start_emulator()
    aws = Aws(emulator.url)
    runs = []
    try:
        for index, (name, rate, env) in enumerate(plan):
            aws.control.reset()  # same start for every run: moto's lookups scan every secret
            run = run_fleet(aws, emulator.url, binary, args.secrets, args.processes, rate, args.burst,
                            env, prefix=f"fleet{index}")
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
        for error, count in run["step_errors"].most_common(5):
            print(f"  {count} x {error}")
    ok = all(run["failed_rotations"] == 0 and not run["mismatches"] and not run["unreachable"] for _, run in runs)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
