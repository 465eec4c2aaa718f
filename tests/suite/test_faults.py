"""Faults: AWS answers a call of the rotation with throttling, a 500 or (IAM) a 409
EntityTemporarilyUnmodifiable, once or in a burst. The rotation either completes
through the SDK's retries, or fails cleanly (a function error type, IAM's password
still AWSCURRENT's or AWSPENDING's) and completes on Secrets Manager's retry.

The SDK's backoff is real (about 1 s base with jitter), so bursts run on a
representative call of each step; single faults run on every call.
"""

from __future__ import annotations

import pytest
from harness import SecretsManagerDriver
from harness.aws import INITIAL_PASSWORD
from harness.invariants import (FUNCTION_ERROR_TYPES, ROTATION_CALLS, assert_converged, assert_invariant,
                                record_case)

CATEGORY = "faults"
N = len(ROTATION_CALLS)
IAM_CALLS = [k for k in range(1, N + 1) if ROTATION_CALLS[k - 1][0] == "iam"]
# 409 on these is retried by the SDK (the function's retry classifier); on the reads it is not.
SDK_RETRIES_409 = {"UpdateLoginProfile", "CreateLoginProfile"}


def call_id(k: int) -> str:
    return f"call{k:02d}-{ROTATION_CALLS[k - 1][1]}"


def occurrence(k: int) -> int:
    """Which occurrence of its action call ``k`` is (for per-action rules)."""
    action = ROTATION_CALLS[k - 1][1]
    return sum(1 for _, a in ROTATION_CALLS[:k] if a == action)


def inject(aws, k: int, kind: str, count: int) -> None:
    if kind in ("409", "limit-exceeded"):  # IAM only, and only with an explicit action
        aws.control.inject_fault(ROTATION_CALLS[k - 1][1], kind, nth=occurrence(k), count=count)
    else:
        aws.control.inject_fault("*", kind, nth=k, count=count)


def clean_failure_check(aws, user):
    """``on_step``: every failed step is a clean failure that keeps the invariant."""
    def check(step, result):
        if not result.ok:
            assert result.error_type in FUNCTION_ERROR_TYPES, (step, result.error_type, result.error_message)
            assert_invariant(aws, user, f"after {step} failed with {result.error_type}")
    return check


def rotate_with_fault(aws, function, user, k, kind, count, rotation_token, max_attempts=3):
    """Start a rotation, inject the fault(s) at call ``k``, run the steps; (record, faulted calls)."""
    driver = SecretsManagerDriver(aws, function, on_step=clean_failure_check(aws, user))
    token = driver.start(user.secret_arn)
    inject(aws, k, kind, count)
    record = driver.run_steps(user.secret_arn, token, rotation_token, max_attempts=max_attempts)
    faulted = [call for call in aws.control.calls() if call["fault"]]
    return record, faulted


ONCE = [pytest.param(k, kind, id=f"{call_id(k)}-{kind}") for k in range(1, N + 1) for kind in ("throttle", "500")]
ONCE += [pytest.param(k, "409", id=f"{call_id(k)}-409") for k in IAM_CALLS]


@pytest.mark.parametrize("k, kind", ONCE)
def test_a_single_fault_at_any_call_is_retried_and_the_rotation_completes(aws, function, rotation_token, k, kind):
    with record_case(CATEGORY) as case:
        user = aws.bound_user(f"fault-{k}-{kind}")
        record, faulted = rotate_with_fault(aws, function, user, k, kind, 1, rotation_token)
        case.counts["faults"] = len(faulted)
        assert [(c["service"], c["action"]) for c in faulted] == [ROTATION_CALLS[k - 1]], faulted
        assert_converged(aws, user, record, old_password=INITIAL_PASSWORD)
        action = ROTATION_CALLS[k - 1][1]
        if kind != "409" or action in SDK_RETRIES_409:
            # the SDK retried the call: Secrets Manager saw no failure
            assert len(record.attempts) == 1, record.last_error


BURSTS = [pytest.param(k, kind, id=f"{call_id(k)}-{kind}")
          for k in (1, 8, 13) for kind in ("throttle", "500")]
BURSTS += [pytest.param(k, "409", id=f"{call_id(k)}-409") for k in (7, 8)]


@pytest.mark.parametrize("k, kind", BURSTS)
def test_a_burst_of_three_faults_is_absorbed_or_fails_cleanly_and_the_retry_completes(
        aws, function, rotation_token, k, kind):
    with record_case(CATEGORY) as case:
        user = aws.bound_user(f"burst-{k}-{kind}")
        # 409 on a read is not retried by the SDK: each driver attempt meets one fault.
        record, faulted = rotate_with_fault(aws, function, user, k, kind, 3, rotation_token, max_attempts=5)
        case.counts["faults"] = len(faulted)
        assert len(faulted) == 3, faulted
        assert {(c["service"], c["action"]) for c in faulted} == {ROTATION_CALLS[k - 1]}
        assert_converged(aws, user, record, old_password=INITIAL_PASSWORD)
        if kind != "409" or ROTATION_CALLS[k - 1][1] in SDK_RETRIES_409:
            assert len(record.attempts) == 1, record.last_error  # 3 faults < the function's 8 attempts
        else:
            assert len(record.attempts) == 4
            assert all(a[-1][1].error_type == "AwsApiError" for a in record.attempts[:3])


def test_a_409_burst_longer_than_the_sdk_retries_fails_cleanly_and_the_next_attempt_completes(
        aws, function, rotation_token):
    with record_case(CATEGORY) as case:
        user = aws.bound_user("burst-ulp-409-long")
        k = ROTATION_CALLS.index(("iam", "UpdateLoginProfile")) + 1
        # One more 409 than the function's 8 attempts per call.
        record, faulted = rotate_with_fault(aws, function, user, k, "409", 9, rotation_token)
        case.counts["faults"] = len(faulted)
        first = record.attempts[0]
        assert [step for step, _ in first] == ["createSecret", "setSecret"]
        failed = first[-1][1]
        assert failed.error_type == "EntityTemporarilyUnmodifiable", (failed.error_type, failed.error_message)
        assert user.username in failed.error_message and "EntityTemporarilyUnmodifiable" in failed.error_message
        assert len(faulted) == 9
        assert_converged(aws, user, record, old_password=INITIAL_PASSWORD)
        assert len(record.attempts) == 2


def test_limit_exceeded_on_update_login_profile_fails_cleanly_and_the_next_attempt_completes(
        aws, function, rotation_token):
    with record_case(CATEGORY) as case:
        user = aws.bound_user("limit-exceeded")
        k = ROTATION_CALLS.index(("iam", "UpdateLoginProfile")) + 1
        record, faulted = rotate_with_fault(aws, function, user, k, "limit-exceeded", 1, rotation_token)
        case.counts["faults"] = len(faulted)
        failed = record.attempts[0][-1][1]
        assert failed.error_type == "LimitExceeded", (failed.error_type, failed.error_message)
        assert user.username in failed.error_message
        assert_converged(aws, user, record, old_password=INITIAL_PASSWORD)
        assert len(record.attempts) == 2


def test_a_fault_in_a_fresh_process_after_a_crash_is_retried_too(aws, function, rotation_token):
    """A cold process (no cached versions) meets a throttled GetSecretValue on the retry."""
    with record_case(CATEGORY) as case:
        user = aws.bound_user("fault-after-crash")
        driver = SecretsManagerDriver(aws, function, on_step=clean_failure_check(aws, user))
        token = driver.start(user.secret_arn)
        for step in ("createSecret", "setSecret"):
            assert driver.invoke_step(step, user.secret_arn, token, rotation_token).ok
        function.kill()
        aws.control.inject_fault("GetSecretValue", "throttle", nth=1, count=2)
        aws.control.inject_fault("UpdateSecretVersionStage", "500", nth=1, count=1)
        record = driver.run_steps(user.secret_arn, token, rotation_token)
        faulted = [call for call in aws.control.calls() if call["fault"]]
        case.counts["faults"] = len(faulted)
        assert len(faulted) == 3, faulted
        assert_converged(aws, user, record, old_password=INITIAL_PASSWORD)
        assert len(record.attempts) == 1
