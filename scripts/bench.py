"""Measure what the issues set targets for: binary size, cold start, memory, AWS calls.

Runs the release binary through the local Lambda Runtime API against the emulator:
- size: the stripped release binary on disk;
- init: process start until it first polls for an event (SDK clients built, config read);
- cold/warm step: createSecret in a fresh process vs. a step in a warm one;
- memory: the process's peak resident set (VmHWM) after a whole rotation;
- AWS calls per step of one rotation in one process, and with a fresh process per step,
  for both strategies (UpdateLoginProfile, the self-service ChangePassword), writes per
  rotation, and the calls of each kind of reset decision.
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
from rotation_emulator import start_emulator  # noqa: E402


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
    return 0


if __name__ == "__main__":
    sys.exit(main())
