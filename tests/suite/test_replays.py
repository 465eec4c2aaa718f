"""Replays: Secrets Manager (or Lambda) may deliver a step again after it succeeded.
A replayed step succeeds and writes nothing: createSecret stores no second value,
setSecret finds IAM's acceptance recorded on the version (IAM_APPLIED) and calls no
IAM write, finishSecret moves no label, a whole rotation replayed after it finished
writes nothing. A setSecret retried after IAM applied the password but before the
step recorded it (a crash) is refused as a reuse under reuse prevention and counts
as already applied.
"""

from __future__ import annotations

import hashlib
import json

import pytest
from harness import SecretsManagerDriver
from harness.aws import INITIAL_PASSWORD
from harness.invariants import assert_converged, assert_invariant, record_case, write_counts

CATEGORY = "replays"
STEPS = ("createSecret", "setSecret", "testSecret", "finishSecret")
REUSE_POLICY = dict(MinimumPasswordLength=12, PasswordReusePrevention=5, RequireNumbers=True)


def observable(aws, user):
    """Everything a replay must leave as it is: IAM's password and history, the versions and labels."""
    state = aws.control.iam_password(user.username)
    stages = aws.stages(user.secret_arn)
    values = {}
    for version in stages:
        try:
            values[version] = aws.sm.get_secret_value(SecretId=user.secret_arn, VersionId=version)["SecretString"]
        except aws.sm.exceptions.ResourceNotFoundException:  # the placeholder, before createSecret
            values[version] = None
    return digest(state["password"]), digest(tuple(state["history"])), stages, digest(values)


def digest(value) -> str:
    """Compare secrets by digest, so that a failing assertion prints no password."""
    return hashlib.sha256(json.dumps(value, sort_keys=True).encode()).hexdigest()[:16]


def run_until(driver, user, token, rotation_token, last_step):
    for step in STEPS[:STEPS.index(last_step) + 1]:
        result = driver.invoke_step(step, user.secret_arn, token, rotation_token)
        assert result.ok, (step, result.error_type, result.error_message)


@pytest.mark.parametrize("process", ["warm", "cold"])
@pytest.mark.parametrize("step", STEPS)
def test_a_step_replayed_right_after_it_succeeded_writes_nothing_new(aws, function, rotation_token, step, process):
    with record_case(CATEGORY):
        user = aws.bound_user(f"replay-{step}-{process}")
        driver = SecretsManagerDriver(aws, function)
        token = driver.start(user.secret_arn)
        run_until(driver, user, token, rotation_token, step)
        if process == "cold":
            function.kill()
        before = observable(aws, user)
        aws.control.clear_calls()
        replay = driver.invoke_step(step, user.secret_arn, token, rotation_token)
        writes = write_counts(aws)
        assert replay.ok, (replay.error_type, replay.error_message)
        after = observable(aws, user)
        assert after == before
        assert_invariant(aws, user, f"after {step} was replayed")
        assert writes == {}, writes
        if step == "createSecret":
            assert replay.body["Outcome"] == "already_created"
        if step == "setSecret":
            assert replay.body["Outcome"] == "already_applied"
            assert not any(action.startswith("iam:") for action in aws.control.counts()), aws.control.counts()
        if step == "finishSecret":
            assert replay.body["Outcome"] == "already_current"
        for rest in STEPS[STEPS.index(step) + 1:]:
            assert driver.invoke_step(rest, user.secret_arn, token, rotation_token).ok
        record = driver.run_steps(user.secret_arn, token, rotation_token, max_attempts=1)
        assert_converged(aws, user, record, old_password=INITIAL_PASSWORD)


@pytest.mark.parametrize("process", ["warm", "cold"])
def test_a_set_secret_retried_before_it_recorded_iam_acceptance_counts_as_already_applied_under_reuse_prevention(
        aws, function, rotation_token, process):
    with record_case(CATEGORY):
        aws.set_policy(**REUSE_POLICY)
        user = aws.bound_user(f"replay-reuse-{process}")
        driver = SecretsManagerDriver(aws, function)
        token = driver.start(user.secret_arn)
        run_until(driver, user, token, rotation_token, "setSecret")
        # As if the step had died between UpdateLoginProfile and recording IAM's acceptance.
        aws.sm.update_secret_version_stage(SecretId=user.secret_arn, VersionStage="IAM_APPLIED",
                                           RemoveFromVersionId=token)
        if process == "cold":
            function.kill()
        before = observable(aws, user)
        replay = driver.invoke_step("setSecret", user.secret_arn, token, rotation_token)
        assert replay.ok, (replay.error_type, replay.error_message)
        assert replay.body["Outcome"] == "already_applied"
        after = observable(aws, user)
        assert after[:2] == before[:2]  # IAM refused it: no password change, no history entry
        assert "IAM_APPLIED" in after[2][token]  # and the step recorded the acceptance again
        record = driver.run_steps(user.secret_arn, token, rotation_token, max_attempts=1)
        assert_converged(aws, user, record, old_password=INITIAL_PASSWORD)


@pytest.mark.parametrize("reuse", [False, True], ids=["reuse-allowed", "reuse-prevented"])
def test_the_whole_rotation_replayed_after_it_finished_writes_nothing(aws, function, rotation_token, reuse):
    with record_case(CATEGORY):
        if reuse:
            aws.set_policy(**REUSE_POLICY)
        user = aws.bound_user(f"replay-all-{int(reuse)}")
        driver = SecretsManagerDriver(aws, function)
        record = driver.rotate(user.secret_arn, rotation_token=rotation_token)
        assert_converged(aws, user, record, old_password=INITIAL_PASSWORD)
        before = observable(aws, user)
        for process in ("warm", "cold"):
            if process == "cold":
                function.kill()
            aws.control.clear_calls()
            replay = driver.run_steps(user.secret_arn, record.token, rotation_token, max_attempts=1)
            assert replay.succeeded, replay.last_error
            assert [r.body["Outcome"] for _, r in replay.results] == ["already_current"] * 4
            assert aws.writes() == 0, write_counts(aws)
            assert observable(aws, user) == before


def test_a_rotation_retried_from_the_start_after_test_secret_failed_stores_one_value(aws, function, rotation_token):
    """Secrets Manager's own replay: a failed testSecret makes it run createSecret and
    setSecret again with the same token; the second createSecret writes nothing."""
    with record_case(CATEGORY, faults=1):
        user = aws.bound_user("replay-after-failure")
        driver = SecretsManagerDriver(aws, function)
        token = driver.start(user.secret_arn)
        aws.control.clear_calls()
        aws.control.inject_fault("GetLoginProfile", "409", nth=1, count=1)  # a read: not retried by the SDK
        record = driver.run_steps(user.secret_arn, token, rotation_token)
        counts = aws.control.counts()
        assert_converged(aws, user, record, old_password=INITIAL_PASSWORD)
        assert len(record.attempts) == 2
        assert record.attempts[0][-1][0] == "testSecret"
        assert dict(record.attempts[1])["createSecret"].body["Outcome"] == "already_created"
        assert counts.get("secretsmanager:PutSecretValue") == 1
        assert counts.get("secretsmanager:UpdateSecretVersionStage") == 3  # IAM_APPLIED, then the two of finishSecret


def test_the_test_run_with_pending_equal_to_current_under_reuse_prevention_changes_nothing(
        aws, function, rotation_token):
    with record_case(CATEGORY):
        aws.set_policy(**REUSE_POLICY)
        user = aws.bound_user("replay-test-run")
        driver = SecretsManagerDriver(aws, function)
        before = digest(aws.control.iam_password(user.username))
        aws.control.clear_calls()
        record = driver.test_run(user.secret_arn, rotation_token=rotation_token)
        assert record.succeeded, record.last_error
        assert dict(record.attempts[0])["testSecret"].body["Outcome"] == "setup_verified"
        assert not any(action.startswith("iam:") and action in write_counts(aws) for action in aws.control.counts())
        assert digest(aws.control.iam_password(user.username)) == before
        assert aws.value(user.secret_arn)["password"] == INITIAL_PASSWORD
