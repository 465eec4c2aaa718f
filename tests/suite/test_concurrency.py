"""Concurrency: 20 secrets of 20 users rotated at the same time by 20 function
processes. Each converges to its own state: IAM's password equals its AWSCURRENT,
and no two users end with the same password.
"""

from __future__ import annotations

import hashlib
import threading
import time
import uuid

import pytest

from harness import SecretsManagerDriver
from harness.aws import INITIAL_PASSWORD
from harness.invariants import FUNCTION_ERROR_TYPES, assert_converged, assert_invariant, record_case

CATEGORY = "concurrency"
SECRETS = 20


def test_twenty_secrets_rotated_at_once_by_twenty_processes_each_converge_to_their_own_password(
        aws, make_lambda, rotation_token):
    users = [aws.bound_user(f"parallel-{i:02d}") for i in range(SECRETS)]
    functions = [make_lambda() for _ in users]
    drivers = [SecretsManagerDriver(aws, function) for function in functions]
    tokens = [driver.start(user.secret_arn) for driver, user in zip(drivers, users)]
    records = [None] * SECRETS
    errors = [None] * SECRETS
    spans = [[None, None] for _ in range(SECRETS)]  # when each rotation's first and last step returned
    gate = threading.Barrier(SECRETS)

    def timed(i):
        def on_step(step, result):
            spans[i][0] = spans[i][0] or time.monotonic()
            spans[i][1] = time.monotonic()
        return on_step

    for i, driver in enumerate(drivers):
        driver.on_step = timed(i)

    def rotate(i):
        try:
            gate.wait(timeout=30)
            records[i] = drivers[i].run_steps(users[i].secret_arn, tokens[i], rotation_token)
        except Exception as error:  # reported below, per secret
            errors[i] = error

    threads = [threading.Thread(target=rotate, args=(i,), daemon=True) for i in range(SECRETS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=180)

    failures = {}
    for i, user in enumerate(users):
        try:
            with record_case(CATEGORY):
                assert errors[i] is None, errors[i]
                assert records[i] is not None, f"rotation {i} did not finish"
                assert_converged(aws, user, records[i], old_password=INITIAL_PASSWORD)
                assert_invariant(aws, user)
                assert functions[i].processes_started == 1
        except AssertionError as failure:
            failures[user.username] = str(failure)
    assert not failures, failures
    # The rotations ran at the same time: some were between their first and last step together.
    overlap = max(sum(1 for first, _ in spans if first <= end) for _, end in spans)
    assert overlap >= 2, spans
    digests = {hashlib.sha256(aws.iam_password(user.username).encode()).hexdigest() for user in users}
    assert len(digests) == SECRETS, "two users ended with the same password"


@pytest.mark.parametrize("racers", [2, 2, 4], ids=["two-a", "two-b", "four"])
def test_the_same_rotation_run_by_several_processes_at_once_converges(aws, make_lambda, rotation_token, racers):
    """Lambda may run a retried invocation while the first one still runs: several processes
    drive the same token of the same secret at once. One pending value wins, IAM ends with
    it, and every driver ends with a completed rotation (after retries)."""
    with record_case(CATEGORY):
        user = aws.bound_user(f"race-{racers}-{uuid.uuid4().hex[:6]}")
        drivers = [SecretsManagerDriver(aws, make_lambda()) for _ in range(racers)]
        token = drivers[0].start(user.secret_arn)
        aws.control.clear_calls()
        records = [None] * racers
        gate = threading.Barrier(racers)

        def rotate(i):
            gate.wait(timeout=30)
            records[i] = drivers[i].run_steps(user.secret_arn, token, rotation_token, max_attempts=3)

        threads = [threading.Thread(target=rotate, args=(i,), daemon=True) for i in range(racers)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
        for record in records:
            assert record is not None
            for _, result in record.results:
                assert result.ok or result.error_type in FUNCTION_ERROR_TYPES, (result.error_type,
                                                                                result.error_message)
            assert_converged(aws, user, record, old_password=INITIAL_PASSWORD)
        assert len(aws.stages(user.secret_arn)) == 2  # the token's version and the previous one
