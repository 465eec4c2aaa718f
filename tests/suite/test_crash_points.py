"""Crash at every call: the function process is killed just before (the call never
reaches AWS) or just after (AWS applied it, the reply is lost) each AWS call of a
rotation. At the crash point IAM's password is AWSCURRENT's or AWSPENDING's, and
Secrets Manager's retry with the same token, in a fresh process, completes the rotation.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Optional

import pytest
from harness import SecretsManagerDriver
from harness.aws import INITIAL_PASSWORD
from harness.crash import crash_and_retry, crash_at
from harness.invariants import ROTATION_CALLS, assert_converged, assert_invariant, record_case

CATEGORY = "crash at every call"
REUSE_POLICY = dict(MinimumPasswordLength=12, PasswordReusePrevention=5, RequireNumbers=True)

# A user without a console password yet: setSecret's UpdateLoginProfile finds no profile
# (NoSuchEntity) and CreateLoginProfile makes it.
NEW_PROFILE_CALLS = ROTATION_CALLS[:8] + [("iam", "CreateLoginProfile")] + ROTATION_CALLS[8:]


@dataclass
class Scenario:
    name: str
    calls: list
    config: dict = field(default_factory=dict)
    policy: Optional[dict] = None
    new_profile: bool = False  # the user has no login profile and the secret no password

    def arrange(self, aws, make_lambda, username):
        if self.policy:
            aws.set_policy(**self.policy)
        if self.new_profile:
            user = aws.bound_user(username, password=None, login_profile=False)
        else:
            user = aws.bound_user(username)
        return user, make_lambda(config=self.config)


SCENARIOS = [
    Scenario("default", ROTATION_CALLS),
    Scenario("reuse-prevention", ROTATION_CALLS, policy=REUSE_POLICY),
    Scenario("new-login-profile", NEW_PROFILE_CALLS, config={"CREATE_LOGIN_PROFILE": "true"}, new_profile=True),
]
UPDATE_LOGIN_PROFILE = ROTATION_CALLS.index(("iam", "UpdateLoginProfile")) + 1

CRASH_POINTS = [
    pytest.param(scenario, k, when, id=f"{scenario.name}-call{k:02d}-{scenario.calls[k - 1][1]}-{when}")
    for scenario in SCENARIOS
    for k in range(1, len(scenario.calls) + 1)
    for when in ("before", "after")
]


@pytest.mark.parametrize("scenario", [pytest.param(s, id=s.name) for s in SCENARIOS])
def test_one_clean_rotation_makes_its_aws_calls_in_a_known_order(aws, make_lambda, rotation_token, scenario):
    with record_case(CATEGORY):
        user, function = scenario.arrange(aws, make_lambda, "crash-measure")
        driver = SecretsManagerDriver(aws, function)
        token = driver.start(user.secret_arn)
        aws.control.clear_calls()
        record = driver.run_steps(user.secret_arn, token, rotation_token, max_attempts=1)
        calls = [(call["service"], call["action"]) for call in aws.control.calls()]
        assert_converged(aws, user, record, old_password=None if scenario.new_profile else INITIAL_PASSWORD)
        assert calls == scenario.calls
        assert len(ROTATION_CALLS) == 14
        assert function.processes_started == 1


@pytest.mark.parametrize("scenario, k, when", CRASH_POINTS)
def test_a_crash_at_any_call_leaves_a_held_password_and_the_retry_converges(
        aws, make_lambda, rotation_token, scenario, k, when):
    with record_case(CATEGORY, crash_points=1):
        user, function = scenario.arrange(aws, make_lambda, f"crash-{k}-{when}")
        record = crash_and_retry(aws, function, user, k, when, rotation_token, scenario.calls, scenario.new_profile)
        assert_converged(aws, user, record, old_password=None if scenario.new_profile else INITIAL_PASSWORD)
        first = record.attempts[0]
        assert not first[-1][1].ok, "the crashed attempt should have failed"
        assert len(record.attempts) == 2, [[(s, r.error_type) for s, r in a] for a in record.attempts]
        assert function.processes_started == 2


@pytest.mark.parametrize("when", ["before", "after"])
@pytest.mark.parametrize("reset_required", [False, True], ids=["no-reset", "reset-required"])
def test_a_crash_at_update_login_profile_under_reuse_prevention_still_converges(
        aws, make_lambda, rotation_token, when, reset_required):
    """After the crash IAM already has the pending password: the retried setSecret is
    refused as a reuse and must count as applied."""
    with record_case(CATEGORY, crash_points=1):
        aws.set_policy(**REUSE_POLICY)
        user = aws.bound_user(f"crash-reuse-{when}-{int(reset_required)}")
        function = make_lambda(config={"PASSWORD_RESET_REQUIRED": str(reset_required).lower()})
        record = crash_and_retry(aws, function, user, UPDATE_LOGIN_PROFILE, when, rotation_token)
        assert_converged(aws, user, record, old_password=INITIAL_PASSWORD)
        retried = dict(record.attempts[-1])
        if when == "after":
            assert retried["setSecret"].body["Outcome"] == "already_applied"
        profile = aws.iam.get_login_profile(UserName=user.username)["LoginProfile"]
        assert profile["PasswordResetRequired"] is reset_required


# The retry after a crash just after UpdateLoginProfile under reuse prevention, in a fresh
# process: IAM refuses the pending password as a reuse and setSecret checks it is applied.
REUSE_RETRY_CALLS = [
    ("secretsmanager", "DescribeSecret"),  # createSecret
    ("secretsmanager", "GetSecretValue"),  # the token's value: there, already created
    ("secretsmanager", "DescribeSecret"),  # setSecret: no IAM_APPLIED on the token yet
    ("secretsmanager", "GetSecretValue"),  # AWSCURRENT (the pending value is cached)
    ("iam", "GetUser"),
    ("iam", "UpdateLoginProfile"),  # refused: PasswordPolicyViolation (reuse)
    ("iam", "GetAccountPasswordPolicy"),
    ("iam", "GetLoginProfile"),
    ("secretsmanager", "UpdateSecretVersionStage"),  # IAM_APPLIED -> token
    ("secretsmanager", "DescribeSecret"),  # testSecret
    ("iam", "GetLoginProfile"),
    ("secretsmanager", "DescribeSecret"),  # finishSecret
    ("secretsmanager", "UpdateSecretVersionStage"),
    ("secretsmanager", "UpdateSecretVersionStage"),
]

SECOND_CRASH_POINTS = [
    pytest.param(k, when, id=f"retry-call{k:02d}-{REUSE_RETRY_CALLS[k - 1][1]}-{when}")
    for k in range(1, len(REUSE_RETRY_CALLS) + 1)
    for when in ("before", "after")
]


def crash_once(aws, function, driver, user, token, k, when, calls, rotation_token):
    """One attempt of the rotation, killed at its call ``k``; the attempt's record."""
    record = crash_at(aws, function, driver, user, token, k, when, calls, rotation_token, max_attempts=1)
    assert not record.succeeded
    return record


def test_the_retry_after_a_crash_behind_update_login_profile_makes_known_calls(aws, make_lambda, rotation_token):
    with record_case(CATEGORY, crash_points=1):
        aws.set_policy(**REUSE_POLICY)
        user = aws.bound_user("crash-retry-measure")
        function = make_lambda(config={"PASSWORD_RESET_REQUIRED": "true"})
        driver = SecretsManagerDriver(aws, function)
        token = driver.start(user.secret_arn)
        crash_once(aws, function, driver, user, token, UPDATE_LOGIN_PROFILE, "after", ROTATION_CALLS, rotation_token)
        aws.control.clear_calls()
        record = driver.run_steps(user.secret_arn, token, rotation_token, max_attempts=1)
        calls = [(call["service"], call["action"]) for call in aws.control.calls()]
        assert_converged(aws, user, record, old_password=INITIAL_PASSWORD)
        assert calls == REUSE_RETRY_CALLS
        assert dict(record.attempts[0])["setSecret"].body["Outcome"] == "already_applied"


@pytest.mark.parametrize("k, when", SECOND_CRASH_POINTS)
def test_a_second_crash_in_the_retry_after_update_login_profile_still_converges(
        aws, make_lambda, rotation_token, k, when):
    """Under reuse prevention, the process dies just after UpdateLoginProfile, then its retry
    dies at any of its own calls; the third attempt completes the rotation."""
    with record_case(CATEGORY, crash_points=2):
        aws.set_policy(**REUSE_POLICY)
        user = aws.bound_user(f"crash2-{k}-{when}")
        function = make_lambda(config={"PASSWORD_RESET_REQUIRED": "true"})
        driver = SecretsManagerDriver(aws, function)
        token = driver.start(user.secret_arn)
        crash_once(aws, function, driver, user, token, UPDATE_LOGIN_PROFILE, "after", ROTATION_CALLS, rotation_token)
        crash_once(aws, function, driver, user, token, k, when, REUSE_RETRY_CALLS, rotation_token)
        record = driver.run_steps(user.secret_arn, token, rotation_token, max_attempts=1)
        assert_converged(aws, user, record, old_password=INITIAL_PASSWORD)
        assert function.processes_started == 3
        profile = aws.iam.get_login_profile(UserName=user.username)["LoginProfile"]
        assert profile["PasswordResetRequired"] is True
