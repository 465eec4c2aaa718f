"""Confused deputy: whoever can write a secret must not be able to make the function
set the console password of a user the secret is not bound to. Each attempt is
refused before any IAM password write, and no password changes.
"""

from __future__ import annotations

import hashlib
import json

import pytest
from harness import SecretsManagerDriver
from harness.aws import BINDING_TAG
from harness.invariants import password_writes, record_case

CATEGORY = "confused deputy"


def fingerprint(aws, *usernames):
    """Digests of the users' IAM passwords and histories (no password in a failing assertion)."""
    states = [aws.control.iam_password(name) for name in usernames]
    return {s["user"]: hashlib.sha256(json.dumps(s, sort_keys=True).encode()).hexdigest()[:16] for s in states}


def assert_refused_before_any_iam_write(aws, result, error_type, named):
    assert not result.ok, result.body
    assert result.error_type == error_type, (result.error_type, result.error_message)
    for text in named:
        assert text in result.error_message, result.error_message
    assert password_writes(aws) == {"iam:UpdateLoginProfile": 0, "iam:CreateLoginProfile": 0,
                                    "iam:ChangePassword": 0}


def attacker_secret(aws, name, username):
    return aws.sm.create_secret(Name=name, SecretString=json.dumps({"username": username}))["ARN"]


NEAR_MISSES = {
    "another-suffix": lambda arn: arn[:-6] + ("AAAAAA" if not arn.endswith("AAAAAA") else "BBBBBB"),
    "the-name-not-the-arn": lambda arn: arn.split(":secret:", 1)[1][:-7],
    "trailing-space": lambda arn: arn + " ",
    "leading-space": lambda arn: " " + arn,
    "other-case": lambda arn: arn.upper(),
    "the-arn-without-its-suffix": lambda arn: arn[:-7],
    "another-account": lambda arn: arn.replace("123456789012", "210987654321"),
    "another-region": lambda arn: arn.replace("us-east-1", "eu-west-1"),
}


@pytest.mark.parametrize("config", [{}, {"CREATE_LOGIN_PROFILE": "true"}], ids=["default", "create-login-profile"])
def test_a_secret_naming_a_user_bound_to_another_secret_is_refused(aws, make_lambda, rotation_token, config):
    with record_case(CATEGORY):
        victim = aws.bound_user("deputy-victim", login_profile=not config)
        arn = attacker_secret(aws, "attacker/victim", victim.username)
        before = fingerprint(aws, victim.username)
        aws.control.clear_calls()
        driver = SecretsManagerDriver(aws, make_lambda(config=config))
        record = driver.rotate(arn, rotation_token=rotation_token, max_attempts=1)
        assert_refused_before_any_iam_write(aws, record.last_error, "BindingTagMismatch",
                                            [victim.username, victim.secret_arn, arn])
        assert fingerprint(aws, victim.username) == before


def test_a_user_that_is_not_bound_is_refused(aws, function, rotation_token):
    with record_case(CATEGORY):
        user = aws.bound_user("deputy-unbound", bind=False)
        before = fingerprint(aws, user.username)
        aws.control.clear_calls()
        record = SecretsManagerDriver(aws, function).rotate(user.secret_arn, rotation_token=rotation_token,
                                                            max_attempts=1)
        assert_refused_before_any_iam_write(aws, record.last_error, "BindingTagMissing", [user.username, BINDING_TAG])
        assert fingerprint(aws, user.username) == before


@pytest.mark.parametrize("near_miss", NEAR_MISSES)
def test_a_user_bound_with_a_near_miss_of_the_secrets_arn_is_refused(aws, function, rotation_token, near_miss):
    with record_case(CATEGORY):
        user = aws.bound_user(f"deputy-{near_miss}", bind=False)
        tag = NEAR_MISSES[near_miss](user.secret_arn)
        assert tag != user.secret_arn
        aws.bind(user.username, tag)
        before = fingerprint(aws, user.username)
        aws.control.clear_calls()
        record = SecretsManagerDriver(aws, function).rotate(user.secret_arn, rotation_token=rotation_token,
                                                            max_attempts=1)
        assert_refused_before_any_iam_write(aws, record.last_error, "BindingTagMismatch",
                                            [user.username, user.secret_arn])
        assert fingerprint(aws, user.username) == before


@pytest.mark.parametrize("victim_bound_here", [False, True], ids=["victim-bound-elsewhere", "victim-bound-here-too"])
@pytest.mark.parametrize("config", [{}, {"REQUIRE_BINDING_TAG": "false"}], ids=["binding-on", "binding-off"])
def test_a_pending_version_edited_to_name_another_user_is_refused(
        aws, make_lambda, rotation_token, victim_bound_here, config):
    """The pending value names a user other than AWSCURRENT's: even a user that is bound
    to this very secret, even with the binding check off."""
    with record_case(CATEGORY):
        owner = aws.bound_user("deputy-owner")
        victim = aws.bound_user("deputy-other")
        if victim_bound_here:
            aws.bind(victim.username, owner.secret_arn)
        driver = SecretsManagerDriver(aws, make_lambda(config=config))
        token = driver.start(owner.secret_arn)
        aws.sm.put_secret_value(SecretId=owner.secret_arn, ClientRequestToken=token, VersionStages=["AWSPENDING"],
                                SecretString=json.dumps({"username": victim.username, "password": "Edited-Passw0rd!"}))
        before = fingerprint(aws, owner.username, victim.username)
        aws.control.clear_calls()
        for step in ("setSecret", "testSecret"):
            result = driver.invoke_step(step, owner.secret_arn, token, rotation_token)
            assert_refused_before_any_iam_write(aws, result, "UserMismatch",
                                                [victim.username, owner.username, token])
        assert fingerprint(aws, owner.username, victim.username) == before


def test_a_pending_version_naming_another_user_after_create_secret_is_refused(aws, function, rotation_token):
    """createSecret stored a sound pending value; a second version under a new token,
    edited to name the victim, is refused on the retry."""
    with record_case(CATEGORY):
        owner = aws.bound_user("deputy-owner2")
        victim = aws.bound_user("deputy-victim2")
        aws.bind(victim.username, owner.secret_arn)
        driver = SecretsManagerDriver(aws, function)
        first = driver.start(owner.secret_arn)
        assert driver.invoke_step("createSecret", owner.secret_arn, first, rotation_token).ok
        token = driver.start(owner.secret_arn)  # Secrets Manager starts over: a new token
        aws.sm.put_secret_value(SecretId=owner.secret_arn, ClientRequestToken=token, VersionStages=["AWSPENDING"],
                                SecretString=json.dumps({"username": victim.username, "password": "Edited-Passw0rd!"}))
        before = fingerprint(aws, owner.username, victim.username)
        aws.control.clear_calls()
        record = driver.run_steps(owner.secret_arn, token, rotation_token, max_attempts=2)
        assert_refused_before_any_iam_write(aws, record.last_error, "UserMismatch", [victim.username])
        assert [step for step, _ in record.attempts[-1]] == ["createSecret", "setSecret"]
        assert fingerprint(aws, owner.username, victim.username) == before


def test_a_rotation_invoked_with_the_secrets_name_is_checked_against_its_arn(aws, function, rotation_token):
    """The event may name the secret instead of giving its ARN: the binding still compares the ARN."""
    with record_case(CATEGORY):
        user = aws.bound_user("deputy-by-name")
        name = f"console/{user.username}"
        record = SecretsManagerDriver(aws, function).rotate(name, rotation_token=rotation_token, max_attempts=1)
        assert record.succeeded, (record.last_error.error_type, record.last_error.error_message)
        assert aws.version_with(user.secret_arn, "AWSCURRENT") == record.token
        assert aws.control.iam_password(user.username)["password"] == aws.value(user.secret_arn)["password"], \
            "IAM's password is not AWSCURRENT's"


def test_a_user_tagged_with_the_secret_name_the_event_uses_is_refused(aws, function, rotation_token):
    """A tag equal to the event's SecretId string is not a binding: only the secret's ARN is."""
    with record_case(CATEGORY):
        user = aws.bound_user("deputy-name-tag", bind=False)
        name = f"console/{user.username}"
        aws.bind(user.username, name)
        before = fingerprint(aws, user.username)
        aws.control.clear_calls()
        record = SecretsManagerDriver(aws, function).rotate(name, rotation_token=rotation_token, max_attempts=1)
        assert_refused_before_any_iam_write(aws, record.last_error, "BindingTagMismatch",
                                            [user.username, user.secret_arn])
        assert fingerprint(aws, user.username) == before
