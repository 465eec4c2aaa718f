"""A complete local rotation of a demo user's console password, step by step.

Starts the AWS emulator on 127.0.0.1 (moto with AWS-faithful corrections), creates an
IAM user with a console password, a secret naming it and the binding tag, then plays
Secrets Manager: starts a rotation and invokes the function's binary through the Lambda
Runtime API for each step. Run it with `make demo` (the `demo` build of the function: the
same code, compiled quickly); the end-to-end tests run it with the release `bootstrap`.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO / "tests" / "emulator"))

from harness import Aws, LocalLambda, SecretsManagerDriver  # noqa: E402
from rotation_emulator import start_emulator  # noqa: E402


def masked(password: str | None) -> str:
    """A password's length and fingerprint: enough to compare, nothing to sign in with."""
    if not password:
        return "(none)"
    return f"[{len(password)} chars, sha256 {hashlib.sha256(password.encode()).hexdigest()[:12]}]"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--binary", default=str(REPO / "target/demo/iam-password-rotation"))
    parser.add_argument("--log-format", default="Text", choices=["Text", "JSON"])
    args = parser.parse_args()

    emulator = start_emulator()
    aws = Aws(emulator.url)
    function = LocalLambda(emulator.url, log_format=args.log_format, binary=Path(args.binary))
    try:
        print(f"AWS emulator on {emulator.url}")
        aws.set_policy(MinimumPasswordLength=16, RequireSymbols=True, RequireNumbers=True,
                       RequireUppercaseCharacters=True, RequireLowercaseCharacters=True, PasswordReusePrevention=5)
        user = aws.bound_user("demo-user", extra={"note": "other keys are kept"})
        print(f"IAM user demo-user, console password {masked(aws.iam_password('demo-user'))}")
        print(f"secret {user.secret_arn}")
        print("account password policy: 16+ characters, all four classes, no reuse of the last 5\n")

        calls_seen = 0

        def on_step(step: str, result) -> None:
            nonlocal calls_seen
            calls = aws.control.calls()[calls_seen:]
            calls_seen += len(calls)
            status = f"ok ({result.body['Outcome']})" if result.ok else f"FAILED {result.error_type}: {result.error_message}"
            print(f"{step:<13} {status:<24} {result.duration_ms:6.0f} ms  AWS calls: "
                  + ", ".join(call["action"] for call in calls))
            for line in result.lines:
                print(f"    | {line}")

        driver = SecretsManagerDriver(aws, function, on_step=on_step)
        token = driver.start(user.secret_arn)
        calls_seen = len(aws.control.calls())
        print(f"rotation started: token {token} staged AWSPENDING (no value yet)\n")
        record = driver.run_steps(user.secret_arn, token, rotation_token="demo-rotation-token")

        current = aws.value(user.secret_arn)
        in_iam = aws.iam_password("demo-user")
        print()
        print(f"AWSCURRENT is now version {aws.version_with(user.secret_arn, 'AWSCURRENT')}, "
              f"password {masked(current['password'])}, note={current['note']!r}")
        print(f"IAM's password now: {masked(in_iam)}")
        print(f"IAM password equals AWSCURRENT: {in_iam == current['password']}")
        print(f"AWSPENDING left behind: {aws.version_with(user.secret_arn, 'AWSPENDING') or 'none'}")
        ok = record.succeeded and in_iam == current["password"]
        print("rotation completed" if ok else "rotation FAILED")
        return 0 if ok else 1
    finally:
        function.stop()
        emulator.stop()


if __name__ == "__main__":
    sys.exit(main())
