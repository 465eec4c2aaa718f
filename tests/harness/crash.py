"""Crashing the function at one AWS call: the process is killed while the emulator holds
the call before it reaches AWS (never applied) or after AWS applied it (the reply is
lost); Secrets Manager's driver then goes on as it would, in a fresh process."""

from __future__ import annotations

import threading

from .driver import SecretsManagerDriver
from .invariants import ROTATION_CALLS, assert_invariant


def crash_at(aws, function, driver, user, token, k, when, calls, rotation_token, max_attempts,
             no_password_yet=False):
    """Run the rotation, kill the process at its call ``k`` (``when``), let the driver go on
    for up to ``max_attempts`` attempts in all; the record."""
    aws.control.hold(k, when)
    box = {}
    runner = threading.Thread(
        target=lambda: box.setdefault("record", driver.run_steps(user.secret_arn, token, rotation_token, max_attempts)),
        daemon=True,
    )
    runner.start()
    try:
        state = aws.control.wait_held(timeout=30)
        held = (state["call"]["service"], state["call"]["action"])
        assert held == calls[k - 1], f"call {k} is {held}, expected {calls[k - 1]}"
        assert_invariant(aws, user, f"at the crash point {when} call {k} {held[1]}", no_password_yet)
    finally:
        function.kill()
        aws.control.release()
        runner.join(timeout=120)
    assert "record" in box, "the driver did not finish"
    return box["record"]


def crash_and_retry(aws, function, user, k, when, rotation_token, calls=ROTATION_CALLS, no_password_yet=False):
    """Start a rotation, kill the process at call ``k`` (``when``), let the driver retry; the record."""
    driver = SecretsManagerDriver(aws, function)
    token = driver.start(user.secret_arn)
    return crash_at(aws, function, driver, user, token, k, when, calls, rotation_token, 3, no_password_yet)
