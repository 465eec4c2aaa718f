"""Measure what the issues set targets for: binary size, cold start, memory, AWS calls.

Runs the release binary through the local Lambda Runtime API against the emulator:
- size: the stripped release binary on disk;
- init: process start until it first polls for an event (SDK clients built, config read);
- cold/warm step: createSecret in a fresh process vs. a step in a warm one;
- memory: the process's peak resident set (VmHWM) after a whole rotation;
- AWS calls per step of one rotation in one process, and with a fresh process per step.
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
from rotation_emulator import start_emulator  # noqa: E402


def peak_rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


def rotation_in_one_process(aws: Aws, url: str, binary: Path, name: str) -> dict:
    user = aws.bound_user(name)
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
    function.stop()
    assert aws.iam_password(name) == aws.value(user.secret_arn)["password"]
    return {"init_ms": init_ms, "steps_ms": steps, "calls": calls, "rss_kib": rss}


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
    return 0


if __name__ == "__main__":
    sys.exit(main())
