"""Break-glass, locally: a console sign-in leads to a delayed reset of the password.

Starts the AWS emulator on 127.0.0.1, enrols a demo user (a bound secret whose rotation
function is this one, after its first rotation), then sends the function's binary the
CloudTrail sign-in event AWS would deliver. The function schedules a one-time reset; the
demo fires the schedule as EventBridge Scheduler would after RESET_DELAY_MINUTES, the
function starts a rotation with RotateSecret, and the demo runs it as Secrets Manager
would. Run it with `make demo-break-glass` (the `demo` build of the function).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO / "tests" / "emulator"))

from demo import masked  # noqa: E402
from harness import Aws, LocalLambda, SecretsManagerDriver  # noqa: E402
from harness.resets import RESET_CONFIG, ResetWorld, console_login  # noqa: E402
from rotation_emulator import start_emulator  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--binary", default=str(REPO / "target/demo/iam-password-rotation"))
    args = parser.parse_args()

    emulator = start_emulator()
    aws = Aws(emulator.url)
    function = LocalLambda(emulator.url, config=RESET_CONFIG, log_format="Text", binary=Path(args.binary))
    seen = 0

    def new_calls() -> str:
        nonlocal seen
        calls = aws.control.calls()[seen:]
        seen += len(calls)
        return ", ".join(call["action"] for call in calls) or "none"

    try:
        print(f"AWS emulator on {emulator.url}; RESET_DELAY_MINUTES={RESET_CONFIG['RESET_DELAY_MINUTES']}")
        world = ResetWorld(aws, SecretsManagerDriver(aws, function))
        user = world.enrol("break-glass-admin")
        before = aws.value(user.secret_arn)["password"]
        print(f"enrolled IAM user {user.username}: secret {user.secret_arn}")
        print(f"  console password {masked(aws.iam_password(user.username))} (= AWSCURRENT)")
        aws.control.clear_events()
        new_calls()

        print("\n1. someone signs in to the console as break-glass-admin (CloudTrail ConsoleLogin, Success)")
        result = function.invoke(console_login(user.username))
        decision = result.body["Decisions"][0]
        print(f"   function: {decision['Decision']} - {decision['Detail']}   AWS calls: {new_calls()}")
        for line in result.lines:
            print(f"    | {line}")

        print("\n2. a second sign-in during the incident")
        result = function.invoke(console_login(user.username))
        decision = result.body["Decisions"][0]
        print(f"   function: {decision['Decision']} - {decision['Detail']}   AWS calls: {new_calls()}")
        [schedule] = world.schedules()
        print(f"   one schedule: {schedule['Name']} {schedule['ScheduleExpression']} -> {schedule['TargetArn']}")
        print(f"   the password still works: {aws.iam_password(user.username) == before}")

        print("\n3. the delay is over: EventBridge Scheduler fires the schedule")
        result = world.fire(schedule)
        decision = result.body["Decisions"][0]
        print(f"   function: {decision['Decision']} - {decision['Detail']}   AWS calls: {new_calls()}")

        print("\n4. Secrets Manager runs the rotation it started")
        [record] = world.run_started(rotation_token="demo-rotation-token")
        for step, step_result in record.results:
            outcome = step_result.body["Outcome"] if step_result.ok else step_result.error_type
            print(f"   {step:<13} {outcome}")
        print(f"   AWS calls: {new_calls()}")

        current = aws.value(user.secret_arn)["password"]
        in_iam = aws.iam_password(user.username)
        print(f"\nIAM's password now {masked(in_iam)}; equals the new AWSCURRENT: {in_iam == current}; "
              f"the signed-in password is retired: {in_iam != before}")
        print("outcome events: " + json.dumps([e["DetailType"] for e in world.outcome_events()]))
        ok = record.succeeded and in_iam == current != before
        print("break-glass reset completed" if ok else "break-glass reset FAILED")
        return 0 if ok else 1
    finally:
        function.stop()
        emulator.stop()


if __name__ == "__main__":
    sys.exit(main())
