"""Fault kind applied-500: the call is applied, then its answer is replaced by a 500."""

from __future__ import annotations

import pytest
from emulator_testlib import raises_aws

PASSWORD = "Str0ng!Passw0rd"
NEW = "N3w!Passw0rd"
TOKEN = "11111111-2222-3333-4444-555555555555"


@pytest.fixture
def alice(iam):
    iam.create_user(UserName="alice")
    iam.create_login_profile(UserName="alice", Password=PASSWORD)
    return "alice"


def test_update_login_profile_with_applied_500_changes_the_password_yet_answers_500(iam, control, alice):
    control.inject_fault("UpdateLoginProfile", "applied-500")
    with raises_aws("ServiceFailure", 500):
        iam.update_login_profile(UserName="alice", Password=NEW, PasswordResetRequired=True)
    assert control.iam_password("alice")["password"] == NEW
    assert iam.get_login_profile(UserName="alice")["LoginProfile"]["PasswordResetRequired"] is True


def test_a_retry_of_an_applied_update_login_profile_is_refused_under_reuse_prevention(iam, control, alice):
    iam.update_account_password_policy(MinimumPasswordLength=8, PasswordReusePrevention=1)
    control.inject_fault("UpdateLoginProfile", "applied-500")
    with raises_aws("ServiceFailure", 500):
        iam.update_login_profile(UserName="alice", Password=NEW)
    with raises_aws("PasswordPolicyViolation", 400):
        iam.update_login_profile(UserName="alice", Password=NEW)


def test_create_login_profile_with_applied_500_creates_the_profile_and_a_retry_is_entity_already_exists(iam, control):
    iam.create_user(UserName="alice")
    control.inject_fault("CreateLoginProfile", "applied-500")
    with raises_aws("ServiceFailure", 500):
        iam.create_login_profile(UserName="alice", Password=PASSWORD)
    assert iam.get_login_profile(UserName="alice")["LoginProfile"]["UserName"] == "alice"
    with raises_aws("EntityAlreadyExists", 409):
        iam.create_login_profile(UserName="alice", Password=PASSWORD)


def test_put_secret_value_with_applied_500_stores_the_version(sm, control):
    sm.create_secret(Name="app", SecretString="v1")
    control.inject_fault("PutSecretValue", "applied-500")
    with raises_aws("InternalServiceError", 500):
        sm.put_secret_value(SecretId="app", SecretString="v2", ClientRequestToken=TOKEN, VersionStages=["AWSPENDING"])
    got = sm.get_secret_value(SecretId="app", VersionStage="AWSPENDING")
    assert (got["VersionId"], got["SecretString"]) == (TOKEN, "v2")
    # The SDK's retry (same token, same value) succeeds without changes.
    again = sm.put_secret_value(
        SecretId="app", SecretString="v2", ClientRequestToken=TOKEN, VersionStages=["AWSPENDING"]
    )
    assert (again["VersionId"], again["VersionStages"]) == (TOKEN, ["AWSPENDING"])


def test_an_applied_500_call_is_logged_with_its_fault_and_status_500(iam, control):
    control.inject_fault("CreateUser", "applied-500")
    with raises_aws("ServiceFailure", 500):
        iam.create_user(UserName="alice")
    assert control.calls() == [
        {"index": 1, "service": "iam", "action": "CreateUser", "account": "123456789012", "status": 500, "fault": "applied-500", "throttled": False}
    ]


def test_a_wildcard_applied_500_applies_calls_of_every_service(iam, sm, control):
    control.inject_fault("*", "applied-500", count=2)
    with raises_aws("ServiceFailure", 500):
        iam.create_user(UserName="alice")
    with raises_aws("InternalServiceError", 500):
        sm.create_secret(Name="app", SecretString="v1")
    assert iam.get_user(UserName="alice")["User"]["UserName"] == "alice"
    assert sm.get_secret_value(SecretId="app")["SecretString"] == "v1"


def test_an_applied_500_replaces_an_error_answer_too(iam, control):
    control.inject_fault("GetUser", "applied-500")
    with raises_aws("ServiceFailure", 500):
        iam.get_user(UserName="ghost")


def test_reset_clears_pending_faults_of_the_new_kinds(iam, control):
    iam.create_user(UserName="alice")
    control.inject_fault("CreateUser", "applied-500")
    control.inject_fault("GetUser", "no-such-entity")
    control.inject_fault("GetLoginProfile", "stale-read")
    control.reset()
    iam.create_user(UserName="alice")
    iam.get_user(UserName="alice")
    assert [c["fault"] for c in control.calls()] == [None, None]
