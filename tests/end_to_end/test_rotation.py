"""End to end: the release binary, through the Lambda Runtime API, against the emulator,
driven the way Secrets Manager drives a rotation."""

from __future__ import annotations

import json

import pytest
from harness import SecretsManagerDriver

WRITES = ("secretsmanager:PutSecretValue", "secretsmanager:UpdateSecretVersionStage", "iam:UpdateLoginProfile",
          "iam:CreateLoginProfile")


def assert_completed(aws, user, record, old_password=None):
    assert record.succeeded, record.last_error
    current = aws.value(user.secret_arn)
    assert aws.iam_password(user.username) == current["password"]
    if old_password:
        assert current["password"] != old_password
    assert aws.version_with(user.secret_arn, "AWSCURRENT") == record.token
    assert aws.version_with(user.secret_arn, "AWSPENDING") is None


def test_a_full_rotation_leaves_iams_password_equal_to_awscurrent(aws, driver, rotation_token):
    user = aws.bound_user("alice")
    record = driver.rotate(user.secret_arn, rotation_token=rotation_token)
    assert_completed(aws, user, record, old_password="Initial-Passw0rd!")
    assert len(aws.value(user.secret_arn)["password"]) == 32


def test_other_secret_keys_survive_the_rotation_unchanged(aws, driver, rotation_token):
    extra = {"note": "kept", "nested": {"a": [1, 2, {"b": None}]}, "port": 5432, "flag": True}
    user = aws.bound_user("bob", extra=extra)
    record = driver.rotate(user.secret_arn, rotation_token=rotation_token)
    assert_completed(aws, user, record)
    current = aws.value(user.secret_arn)
    assert {k: current[k] for k in extra} == extra
    assert current["username"] == "bob"


def test_a_secret_with_only_a_username_gets_its_first_password(aws, driver, rotation_token):
    user = aws.bound_user("carol", password=None, login_profile=True)
    record = driver.rotate(user.secret_arn, rotation_token=rotation_token)
    assert_completed(aws, user, record)


def test_each_step_replayed_after_the_rotation_completed_writes_nothing(aws, driver, rotation_token):
    user = aws.bound_user("dave")
    record = driver.rotate(user.secret_arn, rotation_token=rotation_token)
    assert_completed(aws, user, record)
    before = (aws.iam_password("dave"), aws.stages(user.secret_arn))
    aws.control.clear_calls()
    for step in ("createSecret", "setSecret", "testSecret", "finishSecret"):
        result = driver.invoke_step(step, user.secret_arn, record.token, rotation_token)
        assert result.ok, result
        assert result.body["Outcome"] == "already_current"
    counts = aws.control.counts()
    assert not any(counts.get(action) for action in WRITES), counts
    assert (aws.iam_password("dave"), aws.stages(user.secret_arn)) == before


def test_the_whole_rotation_replayed_after_it_finished_writes_nothing(aws, driver, rotation_token):
    user = aws.bound_user("erin")
    record = driver.rotate(user.secret_arn, rotation_token=rotation_token)
    aws.control.clear_calls()
    replay = driver.run_steps(user.secret_arn, record.token, rotation_token)
    assert replay.succeeded
    assert aws.writes() == 0


def test_the_test_run_with_awspending_equal_to_awscurrent_passes(aws, driver, rotation_token):
    user = aws.bound_user("frank")
    aws.set_policy(MinimumPasswordLength=12, PasswordReusePrevention=3, RequireNumbers=True)
    record = driver.test_run(user.secret_arn, rotation_token=rotation_token)
    assert record.succeeded, record.last_error
    assert aws.iam_password("frank") == "Initial-Passw0rd!"
    assert aws.value(user.secret_arn)["password"] == "Initial-Passw0rd!"


def test_an_unbound_user_is_refused_before_any_iam_write(aws, driver, rotation_token):
    user = aws.bound_user("grace", bind=False)
    record = driver.rotate(user.secret_arn, rotation_token=rotation_token, max_attempts=1)
    assert not record.succeeded
    assert record.last_error.error_type == "BindingTagMissing"
    assert "grace" in record.last_error.error_message
    assert aws.iam_password("grace") == "Initial-Passw0rd!"
    assert aws.value(user.secret_arn)["password"] == "Initial-Passw0rd!"
    assert aws.control.counts().get("iam:UpdateLoginProfile") is None


def test_a_user_bound_to_another_secret_is_refused(aws, driver, rotation_token):
    victim = aws.bound_user("heidi")
    attacker_secret = aws.sm.create_secret(Name="attacker", SecretString=json.dumps({"username": "heidi"}))["ARN"]
    record = driver.rotate(attacker_secret, rotation_token=rotation_token, max_attempts=1)
    assert record.last_error.error_type == "BindingTagMismatch"
    assert victim.secret_arn in record.last_error.error_message
    assert aws.iam_password("heidi") == "Initial-Passw0rd!"


def test_the_binding_can_be_turned_off(aws, make_lambda, rotation_token):
    user = aws.bound_user("ivan", bind=False)
    driver = SecretsManagerDriver(aws, make_lambda(config={"REQUIRE_BINDING_TAG": "false"}))
    record = driver.rotate(user.secret_arn, rotation_token=rotation_token)
    assert_completed(aws, user, record)


def test_the_password_follows_the_account_policy_and_the_configuration(aws, make_lambda, rotation_token):
    aws.set_policy(MinimumPasswordLength=40, RequireSymbols=True, RequireNumbers=True,
                   RequireUppercaseCharacters=True, RequireLowercaseCharacters=True, PasswordReusePrevention=24)
    user = aws.bound_user("judy", password="Initial-Passw0rd!-long-enough-for-policy-40")
    config = {"PASSWORD_LENGTH": "16", "EXCLUDE_CHARACTERS": "'|", "PASSWORD_RESET_REQUIRED": "true"}
    driver = SecretsManagerDriver(aws, make_lambda(config=config))
    record = driver.rotate(user.secret_arn, rotation_token=rotation_token)
    assert_completed(aws, user, record)
    password = aws.value(user.secret_arn)["password"]
    assert len(password) == 40 and not set("'|") & set(password)
    assert aws.iam.get_login_profile(UserName="judy")["LoginProfile"]["PasswordResetRequired"] is True


@pytest.mark.parametrize("log_format", ["JSON", "Text"])
def test_no_log_line_contains_a_password_or_the_rotation_token(aws, make_lambda, rotation_token, log_format):
    user = aws.bound_user(f"kim-{log_format.lower()}")
    function = make_lambda(log_format=log_format)
    record = SecretsManagerDriver(aws, function).rotate(user.secret_arn, rotation_token=rotation_token)
    assert_completed(aws, user, record)
    bad = SecretsManagerDriver(aws, function).invoke_step(
        "setSecret", user.secret_arn, "not-a-version", rotation_token)
    assert bad.error_type == "UnknownVersion"
    lines = [line for _, result in record.results for line in result.lines] + bad.lines
    assert any("finishSecret" in line for line in lines)
    secrets = [rotation_token, "Initial-Passw0rd!", aws.value(user.secret_arn)["password"]]
    for line in lines:
        assert not any(secret in line for secret in secrets), line


def test_one_rotation_makes_at_most_14_aws_calls_in_one_process(aws, driver, rotation_token):
    user = aws.bound_user("leo")
    token = driver.start(user.secret_arn)
    aws.control.clear_calls()
    per_step = {}
    for step in ("createSecret", "setSecret", "testSecret", "finishSecret"):
        before = len(aws.control.calls())
        assert driver.invoke_step(step, user.secret_arn, token, rotation_token).ok
        per_step[step] = [call["action"] for call in aws.control.calls()[before:]]
    total = sum(len(calls) for calls in per_step.values())
    print(json.dumps({"aws_calls_per_step": per_step, "total": total}, indent=2))
    assert total <= 14, per_step
    assert driver.function.processes_started == 1


def test_a_rotation_whose_steps_each_run_in_a_fresh_process_completes(aws, driver, rotation_token):
    user = aws.bound_user("mia")
    token = driver.start(user.secret_arn)
    for step in ("createSecret", "setSecret", "testSecret", "finishSecret"):
        result = driver.invoke_step(step, user.secret_arn, token, rotation_token)
        assert result.ok and result.cold_start, result
        driver.function.kill()
    assert aws.iam_password("mia") == aws.value(user.secret_arn)["password"] != "Initial-Passw0rd!"
    assert driver.function.processes_started == 4


def test_two_rotations_in_one_warm_process_both_apply(aws, driver, rotation_token):
    user = aws.bound_user("noah")
    passwords = []
    for _ in range(2):
        record = driver.rotate(user.secret_arn, rotation_token=rotation_token)
        assert_completed(aws, user, record)
        passwords.append(aws.value(user.secret_arn)["password"])
    assert len(set(passwords)) == 2
    assert driver.function.processes_started == 1
