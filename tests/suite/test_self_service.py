"""The self-service strategy (the user's own ChangePassword, signed with the user's access
key) through the reliability suite: crash at every call, faults, replays, bad input,
confused deputy; the leak scan covers its access keys (tests/harness/leaks.py).

The secret names a credentials secret (``changePasswordCredentials``) holding the user's
access key; the function calls no IAM write of its own.
"""

from __future__ import annotations

import json

import pytest
from harness import SecretsManagerDriver
from harness.aws import INITIAL_PASSWORD
from harness.invariants import (ROTATION_CALLS, WRITE_ACTIONS, assert_converged, assert_invariant, raw_snapshot, record_case,
                                write_counts)

from harness.crash import crash_and_retry

# One rotation in one warm process, in order: createSecret and finishSecret as in the
# default strategy; setSecret and testSecret use the user's key.
SELF_SERVICE_CALLS = ROTATION_CALLS[:6] + [
    ("secretsmanager", "GetSecretValue"),  # setSecret: the credentials secret
    ("iam", "GetUser"),  # signed with the key: whose is it?
    ("iam", "ChangePassword"),  # OldPassword = AWSCURRENT's, NewPassword = AWSPENDING's
    ("secretsmanager", "UpdateSecretVersionStage"),  # IAM_APPLIED -> token
    ("secretsmanager", "DescribeSecret"),  # testSecret
    ("secretsmanager", "GetSecretValue"),  # the credentials secret
    ("iam", "GetUser"),  # signed with the key: still the user's, still bound?
    ("iam", "ChangePassword"),  # the control: OldPassword = a random wrong one, NewPassword = "x"
    ("iam", "ChangePassword"),  # the probe: OldPassword = AWSPENDING's, NewPassword = "x"
] + ROTATION_CALLS[-3:]
CHANGE_PASSWORD = SELF_SERVICE_CALLS.index(("iam", "ChangePassword")) + 1
REUSE_POLICY = dict(MinimumPasswordLength=12, PasswordReusePrevention=5, RequireNumbers=True)


def enrolled(aws, name, **kwargs):
    return aws.bound_user(name, self_service=True, **kwargs)


def test_one_rotation_changes_the_password_with_the_users_own_key_in_known_calls(aws, function, rotation_token):
    with record_case("crash at every call"):
        user = enrolled(aws, "self-measure")
        driver = SecretsManagerDriver(aws, function)
        token = driver.start(user.secret_arn)
        aws.control.clear_calls()
        record = driver.run_steps(user.secret_arn, token, rotation_token, max_attempts=1)
        calls = [(c["service"], c["action"]) for c in aws.control.calls()]
        assert_converged(aws, user, record, old_password=INITIAL_PASSWORD)
        assert calls == SELF_SERVICE_CALLS
        assert not any(a in ("UpdateLoginProfile", "CreateLoginProfile") for _, a in calls)
        history = aws.control.iam_password(user.username)["history"]
        assert history[-2:] == [INITIAL_PASSWORD, aws.value(user.secret_arn)["password"]], "the probe changed nothing"


CRASH_POINTS = [
    pytest.param(k, when, id=f"call{k:02d}-{SELF_SERVICE_CALLS[k - 1][1]}-{when}")
    for k in range(1, len(SELF_SERVICE_CALLS) + 1) for when in ("before", "after")
]


@pytest.mark.parametrize("reuse", [False, True], ids=["reuse-allowed", "reuse-prevented"])
@pytest.mark.parametrize("k, when", CRASH_POINTS)
def test_a_crash_at_any_call_of_the_self_service_rotation_converges(aws, make_lambda, rotation_token, k, when, reuse):
    with record_case("crash at every call", crash_points=1):
        if reuse:
            aws.set_policy(**REUSE_POLICY)
        user = enrolled(aws, f"self-crash-{k}-{when}-{int(reuse)}")
        function = make_lambda()
        record = crash_and_retry(aws, function, user, k, when, rotation_token, SELF_SERVICE_CALLS)
        assert_converged(aws, user, record, old_password=INITIAL_PASSWORD)
        assert len(record.attempts) == 2
        if k == CHANGE_PASSWORD and when == "after":
            # ChangePassword(current -> pending) is refused (the old password changed); the
            # probe shows IAM holds the pending one: applied, with nothing written.
            assert dict(record.attempts[1])["setSecret"].body["Outcome"] == "already_applied"


def inject(aws, k, kind, count=1):
    action = SELF_SERVICE_CALLS[k - 1][1]
    if kind in ("409", "limit-exceeded"):
        nth = sum(1 for _, a in SELF_SERVICE_CALLS[:k] if a == action)
        aws.control.inject_fault(action, kind, nth=nth, count=count)
    else:
        aws.control.inject_fault("*", kind, nth=k, count=count)


FAULTS = [pytest.param(k, kind, id=f"call{k:02d}-{SELF_SERVICE_CALLS[k - 1][1]}-{kind}")
          for k in range(1, len(SELF_SERVICE_CALLS) + 1) for kind in ("throttle", "500")]
FAULTS += [pytest.param(CHANGE_PASSWORD, "409", id="change-password-409"),
           pytest.param(CHANGE_PASSWORD, "applied-500", id="change-password-applied-then-500")]


@pytest.mark.parametrize("k, kind", FAULTS)
def test_a_fault_at_any_call_of_the_self_service_rotation_is_absorbed(aws, function, rotation_token, k, kind):
    with record_case("faults", faults=1):
        user = enrolled(aws, f"self-fault-{k}-{kind}")
        driver = SecretsManagerDriver(aws, function)
        token = driver.start(user.secret_arn)
        inject(aws, k, kind)
        record = driver.run_steps(user.secret_arn, token, rotation_token)
        assert_converged(aws, user, record, old_password=INITIAL_PASSWORD)
        assert len(record.attempts) == 1, record.last_error and record.last_error.error_message


@pytest.mark.parametrize("kind, count, error_type", [
    # One more than the function's 8 attempts per call (LimitExceeded is not retried).
    ("409", 9, "EntityTemporarilyUnmodifiable"),
    ("limit-exceeded", 1, "LimitExceeded"),
    ("500", 9, "ServiceFailure"),
])
def test_change_password_errors_that_outlast_the_retries_fail_cleanly_and_the_next_attempt_completes(
        aws, function, rotation_token, kind, count, error_type):
    with record_case("faults", faults=count):
        user = enrolled(aws, f"self-error-{kind}")
        driver = SecretsManagerDriver(aws, function)
        token = driver.start(user.secret_arn)
        aws.control.inject_fault("ChangePassword", kind, nth=1, count=count)
        record = driver.run_steps(user.secret_arn, token, rotation_token)
        failed = record.attempts[0][-1][1]
        assert failed.error_type == error_type, (failed.error_type, failed.error_message)
        assert user.username in failed.error_message
        assert_converged(aws, user, record, old_password=INITIAL_PASSWORD)


@pytest.mark.parametrize("step", ["createSecret", "setSecret", "testSecret", "finishSecret"])
def test_a_self_service_step_replayed_after_it_succeeded_writes_nothing(aws, function, rotation_token, step):
    with record_case("replays"):
        user = enrolled(aws, f"self-replay-{step}")
        driver = SecretsManagerDriver(aws, function)
        token = driver.start(user.secret_arn)
        steps = ["createSecret", "setSecret", "testSecret", "finishSecret"]
        for name in steps[:steps.index(step) + 1]:
            assert driver.invoke_step(name, user.secret_arn, token, rotation_token).ok
        history = aws.control.iam_password(user.username)["history"]
        aws.control.clear_calls()
        assert driver.invoke_step(step, user.secret_arn, token, rotation_token).ok
        # testSecret's probe is a ChangePassword that IAM refuses: no write succeeds.
        applied = [c for c in aws.control.calls()
                   if f"{c['service']}:{c['action']}" in WRITE_ACTIONS and c["status"] == 200]
        assert applied == [], applied
        assert aws.control.iam_password(user.username)["history"] == history
        for name in steps[steps.index(step) + 1:]:
            assert driver.invoke_step(name, user.secret_arn, token, rotation_token).ok
        assert_invariant(aws, user, "after the replay")


def no_current_password(aws, user):
    value = json.loads(aws.sm.get_secret_value(SecretId=user.secret_arn)["SecretString"])
    value.pop("password")
    aws.sm.put_secret_value(SecretId=user.secret_arn, SecretString=json.dumps(value))


def key_of_another_user(aws, user):
    aws.iam.create_user(UserName=f"{user.username}-other")
    value = json.loads(aws.sm.get_secret_value(SecretId=user.secret_arn)["SecretString"])
    value["changePasswordCredentials"] = aws.credentials_secret(f"{user.username}-other")
    aws.sm.put_secret_value(SecretId=user.secret_arn, SecretString=json.dumps(value))


def broken_credentials(aws, user):
    value = json.loads(aws.sm.get_secret_value(SecretId=user.secret_arn)["SecretString"])
    aws.sm.put_secret_value(SecretId=value["changePasswordCredentials"],
                            SecretString=json.dumps({"accessKeyId": "AKIAONLYHALF"}))


def changed_outside(aws, user):
    aws.iam.update_login_profile(UserName=user.username, Password="Changed-Outside-Passw0rd!")


def denied(aws, user):
    aws.control.deny(user.username)


def untagged(aws, user):
    aws.iam.untag_user(UserName=user.username, TagKeys=["password-rotation:secret-arn"])


def no_login_profile(aws, user):
    aws.iam.delete_login_profile(UserName=user.username)


REFUSALS = [
    ("CurrentPasswordMissing", no_current_password, "AWSCURRENT has no \"password\""),
    ("CredentialsUserMismatch", key_of_another_user, "belongs to"),
    ("InvalidCredentialsSecret", broken_credentials, "it has no string \"secretAccessKey\""),
    ("OldPasswordIncorrect", changed_outside, "changed outside this function"),
    ("ChangePasswordNotAllowed", denied, "iam:ChangePassword"),
    ("BindingTagMissing", untagged, "is not bound to secret"),
    ("LoginProfileMissing", no_login_profile, "has no login profile"),
]


@pytest.mark.parametrize("error_type, arrange, message", REFUSALS, ids=[r[0] for r in REFUSALS])
def test_a_self_service_rotation_that_cannot_work_is_refused_with_its_cause_and_changes_nothing(
        aws, function, rotation_token, error_type, arrange, message):
    with record_case("bad input", bad_inputs=1):
        user = enrolled(aws, f"self-refused-{error_type}")
        arrange(aws, user)
        before = raw_snapshot(aws, user)
        driver = SecretsManagerDriver(aws, function)
        record = driver.rotate(user.secret_arn, rotation_token=rotation_token, max_attempts=1)
        failed = record.last_error
        assert failed is not None and failed.error_type == error_type, failed and failed.error_message
        assert message in failed.error_message, failed.error_message
        assert raw_snapshot(aws, user) == before
        assert "IAM_APPLIED" not in aws.stages(user.secret_arn).get(record.token, [])


def test_a_secret_cannot_borrow_another_users_key_to_take_over_that_users_console(aws, function, rotation_token):
    """The attacker's secret names the victim and carries the attacker's own key: refused
    before any change; and naming the victim with the victim's key needs the victim's key."""
    with record_case("confused deputy"):
        victim = enrolled(aws, "self-victim")
        aws.iam.create_user(UserName="self-attacker")
        attacker_key = aws.credentials_secret("self-attacker")
        forged = aws.sm.create_secret(Name="console/forged", SecretString=json.dumps(
            {"username": "self-victim", "password": INITIAL_PASSWORD, "changePasswordCredentials": attacker_key}))["ARN"]
        aws.bind("self-victim", forged)  # even bound to the forged secret
        record = SecretsManagerDriver(aws, function).rotate(forged, rotation_token=rotation_token, max_attempts=1)
        assert record.last_error.error_type == "CredentialsUserMismatch"
        assert aws.iam_password(victim.username) == INITIAL_PASSWORD


def test_the_test_run_of_the_self_service_strategy_checks_the_setup_and_writes_nothing(aws, function, rotation_token):
    with record_case("convergence"):
        user = enrolled(aws, "self-test-run")
        driver = SecretsManagerDriver(aws, function)
        aws.control.clear_calls()
        record = driver.test_run(user.secret_arn, rotation_token=rotation_token)
        assert record.succeeded, record.last_error and record.last_error.error_message
        assert record.attempts[0][0][1].body["Outcome"] == "setup_verified"
        state = aws.control.iam_password(user.username)
        assert state["password"] == INITIAL_PASSWORD and state["history"] == [INITIAL_PASSWORD]
        changed_outside(aws, user)
        record = driver.test_run(user.secret_arn, rotation_token=rotation_token)
        assert record.last_error.error_type == "OldPasswordIncorrect"


def test_test_secret_sees_a_password_changed_between_set_secret_and_test_secret(aws, function, rotation_token):
    with record_case("convergence"):
        user = enrolled(aws, "self-drift-mid")
        driver = SecretsManagerDriver(aws, function)
        token = driver.start(user.secret_arn)
        for step in ("createSecret", "setSecret"):
            assert driver.invoke_step(step, user.secret_arn, token, rotation_token).ok
        changed_outside(aws, user)
        tested = driver.invoke_step("testSecret", user.secret_arn, token, rotation_token)
        assert tested.error_type == "PendingNotHeld", tested.error_message


def key_id_of(aws, user):
    """The access key id in the credentials secret ``user``'s secret names."""
    credentials = aws.value(user.secret_arn)["changePasswordCredentials"]
    return json.loads(aws.sm.get_secret_value(SecretId=credentials)["SecretString"])["accessKeyId"]


def test_a_writer_of_a_rotated_secret_cannot_probe_another_users_password_with_that_users_key(
        aws, function, rotation_token):
    """The attacker may write their own rotated secret. They stage a pending value that names
    the victim's credentials secret and a guess of the victim's password (here the right one),
    label it IAM_APPLIED and invoke testSecret: the key is shown not to be theirs before it
    signs any ChangePassword, so IAM is never asked about the guess."""
    with record_case("confused deputy"):
        victim = enrolled(aws, "self-oracle-victim")
        attacker = enrolled(aws, "self-oracle-attacker")
        victim_credentials = aws.value(victim.secret_arn)["changePasswordCredentials"]
        driver = SecretsManagerDriver(aws, function)
        token = driver.start(attacker.secret_arn)
        aws.sm.put_secret_value(SecretId=attacker.secret_arn, ClientRequestToken=token, VersionStages=["AWSPENDING"],
                                SecretString=json.dumps({"username": attacker.username, "password": INITIAL_PASSWORD,
                                                         "changePasswordCredentials": victim_credentials}))
        aws.sm.update_secret_version_stage(SecretId=attacker.secret_arn, VersionStage="IAM_APPLIED",
                                           MoveToVersionId=token)
        aws.control.clear_calls()
        tested = driver.invoke_step("testSecret", attacker.secret_arn, token, rotation_token)
        assert tested.error_type == "CredentialsUserMismatch", (tested.error_type, tested.error_message)
        assert f"belongs to {victim.username}" in tested.error_message
        signed_by_victim = [c["action"] for c in aws.control.calls() if c.get("AccessKeyId") == key_id_of(aws, victim)]
        # The one GetUser that tells whose key it is; no ChangePassword.
        assert signed_by_victim == ["GetUser"], signed_by_victim
        assert aws.control.iam_password(victim.username)["history"] == [INITIAL_PASSWORD]


def applied(aws, driver, user, rotation_token):
    """createSecret and setSecret: IAM holds the pending password, recorded as IAM_APPLIED."""
    token = driver.start(user.secret_arn)
    for step in ("createSecret", "setSecret"):
        assert driver.invoke_step(step, user.secret_arn, token, rotation_token).ok
    return token


def revoke_key(aws, user):
    aws.iam.delete_access_key(UserName=user.username, AccessKeyId=key_id_of(aws, user))


@pytest.mark.parametrize("arrange, cause", [(denied, "ChangePasswordNotAllowed"), (revoke_key, None)],
                         ids=["change-password-denied", "key-deleted"])
def test_after_iam_applied_a_probe_that_cannot_be_made_is_a_warning_and_the_rotation_completes(
        aws, function, rotation_token, arrange, cause):
    with record_case("convergence"):
        user = enrolled(aws, f"self-unprobed-{cause or 'key'}")
        driver = SecretsManagerDriver(aws, function)
        token = applied(aws, driver, user, rotation_token)
        arrange(aws, user)
        tested = driver.invoke_step("testSecret", user.secret_arn, token, rotation_token)
        assert tested.ok, (tested.error_type, tested.error_message)
        assert tested.body["Warnings"] == ["PendingNotChecked"]
        if cause:
            assert any(cause in line for line in tested.lines), tested.lines
        assert driver.invoke_step("finishSecret", user.secret_arn, token, rotation_token).ok
        assert aws.version_with(user.secret_arn, "AWSCURRENT") == token
        assert aws.iam_password(user.username) == aws.value(user.secret_arn)["password"]


def test_when_iam_judges_the_new_password_first_the_probe_is_not_trusted(aws, function, rotation_token):
    """AWS does not document that ChangePassword judges OldPassword first. When it does not,
    the negative control sees it: the test run refuses the strategy, a retried setSecret does
    not take a refusal for an earlier success, and an applied rotation completes with the
    check named as not made."""
    with record_case("convergence"):
        aws.control.set_change_password_order("new-first")
        driver = SecretsManagerDriver(aws, function)

        checked = enrolled(aws, "self-order-test-run")
        record = driver.test_run(checked.secret_arn, rotation_token=rotation_token)
        assert record.last_error.error_type == "ProbeUntrusted", record.last_error.error_message
        assert "PasswordPolicyViolation" in record.last_error.error_message
        assert aws.control.iam_password(checked.username)["history"] == [INITIAL_PASSWORD]

        retried = enrolled(aws, "self-order-retry")
        token = applied(aws, driver, retried, rotation_token)
        # As if the first setSecret had stopped before it recorded IAM's acceptance.
        aws.sm.update_secret_version_stage(SecretId=retried.secret_arn, VersionStage="IAM_APPLIED",
                                           RemoveFromVersionId=token)
        again = driver.invoke_step("setSecret", retried.secret_arn, token, rotation_token)
        assert again.error_type == "ProbeUntrusted", (again.error_type, again.error_message)
        assert "IAM_APPLIED" not in aws.stages(retried.secret_arn)[token]

        rotated = enrolled(aws, "self-order-rotation")
        token = applied(aws, driver, rotated, rotation_token)
        tested = driver.invoke_step("testSecret", rotated.secret_arn, token, rotation_token)
        assert tested.ok and tested.body["Warnings"] == ["PendingNotChecked"], tested.error_message
        assert any("ProbeUntrusted" in line for line in tested.lines), tested.lines
        assert driver.invoke_step("finishSecret", rotated.secret_arn, token, rotation_token).ok
        assert aws.iam_password(rotated.username) == aws.value(rotated.secret_arn)["password"]
