"""Never wedged, never stale: the rotation converges when the world moves under it.

- IAM's acceptance is the truth: once IAM accepted the pending password (setSecret
  recorded it as the IAM_APPLIED label), a password policy tightened afterwards stops
  nothing, in testSecret or in a retried setSecret.
- The test run (``rotate-secret --no-rotate-immediately``: testSecret alone, on an
  AWSPENDING version holding AWSCURRENT's value) passes for every valid setup and
  fails, writing nothing, where the real rotation would fail for a reason it can see.
- IAM's eventual consistency (a login profile not visible yet, an old reset flag) is
  waited out inside testSecret.
- A Create/UpdateLoginProfile that IAM applied but whose response was lost (the SDK's
  retry meets EntityAlreadyExists or a reuse refusal) converges in the same attempt.
- Other keys of the secret come back byte for byte.
- The limits users hit (a secret ARN longer than a tag value, passwords that expire
  before the next rotation) are named.
- A rotation stopped midway is finished or cancelled safely the way docs/rotation.md says.
"""

from __future__ import annotations

import json
import uuid

import pytest
from harness import SecretsManagerDriver
from harness.aws import INITIAL_PASSWORD
from harness.invariants import assert_converged, assert_invariant, password_writes, record_case, write_counts

CATEGORY = "convergence"
REUSE_POLICY = dict(MinimumPasswordLength=12, PasswordReusePrevention=5, RequireNumbers=True)
CIS_POLICY = dict(MinimumPasswordLength=64, RequireSymbols=True, RequireNumbers=True,
                  RequireUppercaseCharacters=True, RequireLowercaseCharacters=True, PasswordReusePrevention=24)


def step(driver, user, token, name, rotation_token):
    result = driver.invoke_step(name, user.secret_arn, token, rotation_token)
    assert result.ok, (name, result.error_type, result.error_message)
    return result


def json_lines(result):
    lines = []
    for line in result.lines:
        try:
            lines.append(json.loads(line))
        except ValueError:
            continue
    return lines


# -- 1. No wedge after IAM accepted a password --------------------------------------------------------

@pytest.mark.parametrize("reuse", [False, True], ids=["reuse-allowed", "reuse-prevented"])
def test_a_policy_tightened_after_iam_accepted_the_password_does_not_stop_the_rotation(
        aws, function, rotation_token, reuse):
    with record_case(CATEGORY):
        if reuse:
            aws.set_policy(**REUSE_POLICY)
        user = aws.bound_user(f"wedge-test-{int(reuse)}")
        driver = SecretsManagerDriver(aws, function)
        token = driver.start(user.secret_arn)
        for name in ("createSecret", "setSecret"):
            step(driver, user, token, name, rotation_token)
        aws.set_policy(**CIS_POLICY)  # a CIS roll-out between setSecret and testSecret
        aws.control.clear_calls()
        record = driver.run_steps(user.secret_arn, token, rotation_token, max_attempts=1)
        assert_converged(aws, user, record, old_password=INITIAL_PASSWORD)
        assert "iam:GetAccountPasswordPolicy" not in aws.control.counts()


def test_the_wedge_sequence_of_the_review_now_completes(aws, function, rotation_token):
    """setSecret applied the password; testSecret failed for a passing reason; the policy was
    tightened; Secrets Manager retried from createSecret: setSecret must not be refused as a
    reuse that no longer meets the policy, and the rotation completes."""
    with record_case(CATEGORY, faults=1):
        aws.set_policy(**REUSE_POLICY)
        user = aws.bound_user("wedge-sequence")
        driver = SecretsManagerDriver(aws, function)
        token = driver.start(user.secret_arn)
        for name in ("createSecret", "setSecret"):
            step(driver, user, token, name, rotation_token)
        # One more than the function's 8 attempts per call: testSecret fails.
        aws.control.inject_fault("DescribeSecret", "500", nth=1, count=9)
        failed = driver.invoke_step("testSecret", user.secret_arn, token, rotation_token)
        assert not failed.ok
        assert_invariant(aws, user, "after testSecret failed")
        aws.control.clear_faults()
        aws.set_policy(**CIS_POLICY)
        aws.control.clear_calls()
        record = driver.run_steps(user.secret_arn, token, rotation_token, max_attempts=1)
        assert_converged(aws, user, record, old_password=INITIAL_PASSWORD)
        assert dict(record.attempts[0])["setSecret"].body["Outcome"] == "already_applied"
        assert password_writes(aws) == {"iam:UpdateLoginProfile": 0, "iam:CreateLoginProfile": 0,
                                        "iam:ChangePassword": 0}


def test_a_policy_tightened_between_create_and_set_is_refused_with_the_rule_and_iam_keeps_awscurrent(
        aws, function, rotation_token):
    """The pending password never reached IAM: the rotation cannot use it, says why, and IAM
    still holds AWSCURRENT's password (the "cancel" procedure of docs/rotation.md then starts afresh)."""
    with record_case(CATEGORY, bad_inputs=1):
        user = aws.bound_user("tightened-before-set")
        driver = SecretsManagerDriver(aws, function)
        token = driver.start(user.secret_arn)
        step(driver, user, token, "createSecret", rotation_token)
        aws.set_policy(**CIS_POLICY)
        refused = driver.invoke_step("setSecret", user.secret_arn, token, rotation_token)
        assert refused.error_type == "PasswordPolicyViolation", refused.error_message
        assert "no longer meets the policy (it is shorter than 64 characters)" in refused.error_message
        assert aws.iam_password(user.username) == INITIAL_PASSWORD
        finish = driver.invoke_step("finishSecret", user.secret_arn, token, rotation_token)
        assert finish.error_type == "PendingNotApplied", finish.error_message
        assert aws.value(user.secret_arn)["password"] == INITIAL_PASSWORD


# -- 2. The test run tests the setup ---------------------------------------------------------------

def setup_only_username(aws):
    return aws.bound_user("setup-only-username", password=None), {}


def setup_profile_to_create(aws):
    return aws.bound_user("setup-no-profile", password=None, login_profile=False), {"CREATE_LOGIN_PROFILE": "true"}


def setup_console_created_must_reset(aws):
    user = aws.bound_user("setup-must-reset")
    aws.iam.update_login_profile(UserName=user.username, PasswordResetRequired=True)
    return user, {}


def setup_password_below_a_later_policy(aws):
    user = aws.bound_user("setup-later-policy")
    aws.set_policy(**CIS_POLICY)
    return user, {}


def setup_unbound_with_binding_off(aws):
    return aws.bound_user("setup-unbound", bind=False), {"REQUIRE_BINDING_TAG": "false"}


VALID_SETUPS = [setup_only_username, setup_profile_to_create, setup_console_created_must_reset,
                setup_password_below_a_later_policy, setup_unbound_with_binding_off]


@pytest.mark.parametrize("arrange", [pytest.param(a, id=a.__name__[6:].replace("_", "-")) for a in VALID_SETUPS])
def test_the_test_run_passes_for_every_setup_the_docs_call_valid_and_writes_nothing(
        aws, make_lambda, rotation_token, arrange):
    with record_case(CATEGORY):
        user, config = arrange(aws)
        driver = SecretsManagerDriver(aws, make_lambda(config=config))
        aws.control.clear_calls()
        record = driver.test_run(user.secret_arn, rotation_token=rotation_token)
        assert record.succeeded, record.last_error and (record.last_error.error_type, record.last_error.error_message)
        assert record.attempts[0][0][1].body["Outcome"] == "setup_verified"
        writes = write_counts(aws)
        # The driver itself puts the test-run version and removes its label; the function writes nothing.
        assert set(writes) <= {"secretsmanager:PutSecretValue", "secretsmanager:UpdateSecretVersionStage"}, writes
        assert writes.get("secretsmanager:UpdateSecretVersionStage", 0) == 1 and \
            writes.get("secretsmanager:PutSecretValue", 0) == 1, writes
        # The real rotation then succeeds from the same setup.
        rotation = driver.rotate(user.secret_arn, rotation_token=rotation_token)
        assert_converged(aws, user, rotation)


def broken_unknown_user(aws):
    user = aws.bound_user("broken-unknown")
    aws.sm.put_secret_value(SecretId=user.secret_arn, SecretString=json.dumps({"username": "ghost-user"}))
    return user, {}, "UserNotFound", "IAM user ghost-user does not exist"


def broken_tag_missing(aws):
    return aws.bound_user("broken-untagged", bind=False), {}, "BindingTagMissing", "is not bound to secret"


def broken_tag_wrong(aws):
    user = aws.bound_user("broken-wrong-tag")
    aws.bind(user.username, "arn:aws:secretsmanager:us-east-1:123456789012:secret:other-Zz9Zz9")
    return user, {}, "BindingTagMismatch", "is bound to secret arn:aws:secretsmanager:us-east-1:123456789012:secret:other"


def broken_no_profile_creation_off(aws):
    user = aws.bound_user("broken-no-profile", login_profile=False)
    return user, {}, "LoginProfileMissing", "has no login profile"


def broken_arn_too_long(aws):
    user = aws.bound_user("broken-long-arn", secret_name="console/" + "x" * 220)
    return user, {}, "SecretArnTooLong", "an IAM tag value holds at most 256"


def broken_unsatisfiable(aws):
    user = aws.bound_user("broken-unsatisfiable")
    aws.set_policy(RequireSymbols=True)
    return user, {"EXCLUDE_PUNCTUATION": "true"}, "PolicyUnsatisfiable", "the policy requires symbols"


BROKEN_SETUPS = [broken_unknown_user, broken_tag_missing, broken_tag_wrong, broken_no_profile_creation_off,
                 broken_arn_too_long, broken_unsatisfiable]


@pytest.mark.parametrize("arrange", [pytest.param(a, id=a.__name__[7:].replace("_", "-")) for a in BROKEN_SETUPS])
def test_the_test_run_fails_where_the_real_rotation_would_with_its_error_and_no_write(
        aws, make_lambda, rotation_token, arrange):
    with record_case(CATEGORY, bad_inputs=1):
        user, config, error_type, message = arrange(aws)
        driver = SecretsManagerDriver(aws, make_lambda(config=config))
        aws.control.clear_calls()
        record = driver.test_run(user.secret_arn, rotation_token=rotation_token)
        failed = record.last_error
        assert failed is not None and failed.error_type == error_type, failed and failed.error_message
        assert message in failed.error_message
        writes = write_counts(aws)
        assert not any(action.startswith("iam:") for action in writes), writes
        assert writes.get("secretsmanager:UpdateSecretVersionStage", 0) == 1  # the driver's own cleanup


# -- 3. IAM's eventual consistency ------------------------------------------------------------------

@pytest.mark.parametrize("kind, count, config", [
    ("no-such-entity", 1, {}),
    ("no-such-entity", 3, {}),
    ("stale-read", 1, {"PASSWORD_RESET_REQUIRED": "true"}),
    ("stale-read", 2, {}),
], ids=["profile-not-visible-once", "profile-not-visible-three-times", "old-reset-flag-once", "old-reset-flag-twice"])
def test_get_login_profile_behind_iam_writes_is_waited_out_inside_test_secret(
        aws, make_lambda, rotation_token, kind, count, config):
    with record_case(CATEGORY, faults=count):
        user = aws.bound_user(f"consistency-{kind}-{count}")
        driver = SecretsManagerDriver(aws, make_lambda(config=config))
        token = driver.start(user.secret_arn)
        aws.control.inject_fault("GetLoginProfile", kind, nth=1, count=count)
        record = driver.run_steps(user.secret_arn, token, rotation_token, max_attempts=1)
        assert_converged(aws, user, record, old_password=INITIAL_PASSWORD)
        tested = dict(record.attempts[0])["testSecret"]
        assert tested.body["Warnings"] == [], tested.body
        assert aws.control.counts()["iam:GetLoginProfile"] == count + 1


def test_a_new_login_profile_not_visible_yet_is_waited_out_too(aws, make_lambda, rotation_token):
    with record_case(CATEGORY, faults=1):
        user = aws.bound_user("consistency-new-profile", password=None, login_profile=False)
        driver = SecretsManagerDriver(aws, make_lambda(config={"CREATE_LOGIN_PROFILE": "true"}))
        token = driver.start(user.secret_arn)
        aws.control.inject_fault("GetLoginProfile", "no-such-entity", nth=1, count=1)
        record = driver.run_steps(user.secret_arn, token, rotation_token, max_attempts=1)
        assert_converged(aws, user, record)
        assert dict(record.attempts[0])["setSecret"].body["Outcome"] == "profile_created"


def test_a_profile_deleted_after_iam_accepted_the_password_is_a_warning_and_the_rotation_completes(
        aws, function, rotation_token):
    with record_case(CATEGORY):
        user = aws.bound_user("consistency-deleted")
        driver = SecretsManagerDriver(aws, function)
        token = driver.start(user.secret_arn)
        for name in ("createSecret", "setSecret"):
            step(driver, user, token, name, rotation_token)
        aws.iam.delete_login_profile(UserName=user.username)  # containment, say
        tested = step(driver, user, token, "testSecret", rotation_token)
        assert tested.body["Warnings"] == ["LoginProfileNotVisible"]
        assert [line for line in json_lines(tested) if line.get("level") == "WARN"
                and "LoginProfileNotVisible" in json.dumps(line)], tested.lines
        step(driver, user, token, "finishSecret", rotation_token)
        assert aws.version_with(user.secret_arn, "AWSCURRENT") == token


# -- 4. Lost responses ----------------------------------------------------------------------------------

@pytest.mark.parametrize("reuse", [False, True], ids=["reuse-allowed", "reuse-prevented"])
@pytest.mark.parametrize("action", ["UpdateLoginProfile", "CreateLoginProfile"])
def test_a_password_write_iam_applied_but_whose_response_was_lost_converges_in_the_same_attempt(
        aws, make_lambda, rotation_token, action, reuse):
    with record_case(CATEGORY, faults=1):
        if reuse:
            aws.set_policy(**REUSE_POLICY)
        new_profile = action == "CreateLoginProfile"
        user = aws.bound_user(f"lost-{action}-{int(reuse)}", password=None if new_profile else INITIAL_PASSWORD,
                              login_profile=not new_profile)
        driver = SecretsManagerDriver(aws, make_lambda(config={"CREATE_LOGIN_PROFILE": "true"}))
        token = driver.start(user.secret_arn)
        aws.control.inject_fault(action, "applied-500", nth=1, count=1)
        record = driver.run_steps(user.secret_arn, token, rotation_token, max_attempts=1)
        assert_converged(aws, user, record, old_password=None if new_profile else INITIAL_PASSWORD)
        assert len(record.attempts) == 1
        faulted = [call for call in aws.control.calls() if call["fault"] == "applied-500"]
        assert [call["action"] for call in faulted] == [action]


def test_a_lost_response_to_recording_iam_acceptance_converges_in_the_same_attempt(aws, function, rotation_token):
    """The SDK's retry of the IAM_APPLIED move finds the label already moved (an
    InvalidParameterException): the step reads the labels again and sees it done."""
    with record_case(CATEGORY, faults=1):
        user = aws.bound_user("lost-iam-applied")
        driver = SecretsManagerDriver(aws, function)
        token = driver.start(user.secret_arn)
        aws.control.inject_fault("UpdateSecretVersionStage", "applied-500", nth=1, count=1)
        record = driver.run_steps(user.secret_arn, token, rotation_token, max_attempts=1)
        assert_converged(aws, user, record, old_password=INITIAL_PASSWORD)
        assert len(record.attempts) == 1


# -- 5. Other keys byte-exact ------------------------------------------------------------------------------

def test_other_keys_come_back_byte_for_byte_after_a_rotation(aws, function, rotation_token):
    with record_case(CATEGORY):
        user = aws.bound_user("byte-exact")
        raw = ('{"engine": "console", "big": 123456789012345678901234567890, "username": "byte-exact", '
               '"pi": 3.14159265358979323846264, "tiny": 1e-400, "password": "Initial-Passw0rd!", '
               '"nested": {"z": [1.0, 2E+5, -0.0], "a": null}, "text": "caf\\u00e9 \\ud83d\\ude00"}')
        aws.sm.put_secret_value(SecretId=user.secret_arn, SecretString=raw)
        record = SecretsManagerDriver(aws, function).rotate(user.secret_arn, rotation_token=rotation_token)
        assert_converged(aws, user, record, old_password=INITIAL_PASSWORD)
        stored = aws.sm.get_secret_value(SecretId=user.secret_arn)["SecretString"]
        password = json.loads(stored)["password"]
        # Keys keep their order and every other value its stored text; only the separators
        # between the top-level entries are written compactly.
        assert stored == (
            '{"engine":"console","big":123456789012345678901234567890,"username":"byte-exact",'
            '"pi":3.14159265358979323846264,"tiny":1e-400,"password":' + json.dumps(password) + ','
            '"nested":{"z": [1.0, 2E+5, -0.0], "a": null},"text":"caf\\u00e9 \\ud83d\\ude00"}'
        )


# -- 6. Limits users will hit ---------------------------------------------------------------------------

def test_a_secret_arn_longer_than_a_tag_value_is_refused_before_any_write(aws, function, rotation_token):
    with record_case(CATEGORY, bad_inputs=1):
        user = aws.bound_user("limit-long-arn", secret_name="console/" + "y" * 220, bind=False)
        assert len(user.secret_arn) > 256
        driver = SecretsManagerDriver(aws, function)
        token = driver.start(user.secret_arn)
        aws.control.clear_calls()
        result = driver.invoke_step("createSecret", user.secret_arn, token, rotation_token)
        assert result.error_type == "SecretArnTooLong", result.error_message
        assert f"is {len(user.secret_arn)} characters" in result.error_message
        assert "REQUIRE_BINDING_TAG=false" in result.error_message
        assert write_counts(aws) == {}


@pytest.mark.parametrize("hard_expiry", [True, False], ids=["hard-expiry", "soft-expiry"])
def test_passwords_that_expire_before_the_next_rotation_are_warned_about_in_the_step_log_line(
        aws, function, rotation_token, hard_expiry):
    with record_case(CATEGORY):
        user = aws.bound_user(f"limit-expiry-{int(hard_expiry)}")
        aws.set_policy(MaxPasswordAge=30, HardExpiry=hard_expiry)
        driver = SecretsManagerDriver(aws, function)
        token = str(uuid.uuid4())
        aws.control.rotation_placeholder(user.secret_arn, token, RotationRules={"ScheduleExpression": "rate(90 days)"})
        created = step(driver, user, token, "createSecret", rotation_token)
        assert created.body["Warnings"] == ["PasswordsExpireBeforeRotation"]
        warned = [line for line in json_lines(created) if line.get("level") == "WARN"]
        assert len(warned) == 1, created.lines
        text = json.dumps(warned[0])
        assert "MaxPasswordAge (30 days)" in text and "(90 days)" in text
        assert ("HardExpiry" in text) is hard_expiry
        record = driver.run_steps(user.secret_arn, token, rotation_token, max_attempts=1)
        assert_converged(aws, user, record, old_password=INITIAL_PASSWORD)


# -- 7. A rotation stopped midway: finish or cancel, as docs/rotation.md says -------------------------------

def test_a_rotation_stopped_after_set_secret_is_finished_by_invoking_finish_secret(aws, function, rotation_token):
    with record_case(CATEGORY):
        user = aws.bound_user("midway-finish")
        driver = SecretsManagerDriver(aws, function)
        token = driver.start(user.secret_arn)
        for name in ("createSecret", "setSecret"):
            step(driver, user, token, name, rotation_token)
        # IAM holds AWSPENDING's password, and the version says so.
        assert aws.iam_password(user.username) == aws.value(user.secret_arn, "AWSPENDING")["password"]
        assert "IAM_APPLIED" in aws.stages(user.secret_arn)[token]
        step(driver, user, token, "finishSecret", rotation_token)
        assert aws.iam_password(user.username) == aws.value(user.secret_arn)["password"] != INITIAL_PASSWORD
        assert aws.version_with(user.secret_arn, "AWSPENDING") is None


def test_a_rotation_stopped_before_set_secret_is_cancelled_by_removing_awspending_and_rotates_again(
        aws, function, rotation_token):
    with record_case(CATEGORY):
        user = aws.bound_user("midway-cancel")
        driver = SecretsManagerDriver(aws, function)
        token = driver.start(user.secret_arn)
        step(driver, user, token, "createSecret", rotation_token)
        # IAM still holds AWSCURRENT's password: finishSecret refuses to promote the pending one.
        refused = driver.invoke_step("finishSecret", user.secret_arn, token, rotation_token)
        assert refused.error_type == "PendingNotApplied", refused.error_message
        assert aws.version_with(user.secret_arn, "IAM_APPLIED") != token
        aws.sm.update_secret_version_stage(SecretId=user.secret_arn, VersionStage="AWSPENDING",
                                           RemoveFromVersionId=token)
        assert_invariant(aws, user, "after the cancel")
        record = driver.rotate(user.secret_arn, rotation_token=rotation_token)
        assert_converged(aws, user, record, old_password=INITIAL_PASSWORD)
