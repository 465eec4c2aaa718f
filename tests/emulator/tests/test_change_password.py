"""Correction 3: ChangePassword as the calling IAM user (moto has no ChangePassword)."""

from __future__ import annotations

import pytest

from emulator_testlib import make_client, raises_aws

OLD = "0ld!Password"
NEW = "N3w!Password"


@pytest.fixture
def bob(emulator, iam):
    """An IAM client signed with an access key of user bob, who has a console password."""
    iam.create_user(UserName="bob")
    iam.create_login_profile(UserName="bob", Password=OLD)
    key = iam.create_access_key(UserName="bob")["AccessKey"]
    return make_client(emulator, "iam", key["AccessKeyId"], key["SecretAccessKey"])


def test_change_password_sets_the_callers_password(bob, control):
    bob.change_password(OldPassword=OLD, NewPassword=NEW)
    assert control.iam_password("bob") == {"user": "bob", "password": NEW, "history": [OLD, NEW]}


def test_change_password_clears_password_reset_required(bob, iam):
    iam.update_login_profile(UserName="bob", PasswordResetRequired=True)
    bob.change_password(OldPassword=OLD, NewPassword=NEW)
    assert iam.get_login_profile(UserName="bob")["LoginProfile"]["PasswordResetRequired"] is False


def test_change_password_with_credentials_that_are_not_an_iam_user_is_invalid_user_type(iam):
    with raises_aws("InvalidUserType", 400):
        iam.change_password(OldPassword=OLD, NewPassword=NEW)


def test_change_password_for_a_user_without_a_login_profile_is_no_such_entity(bob, iam):
    iam.delete_login_profile(UserName="bob")
    with raises_aws("NoSuchEntity", 404):
        bob.change_password(OldPassword=OLD, NewPassword=NEW)


def test_change_password_with_a_wrong_old_password_is_access_denied(bob, control):
    with raises_aws("AccessDenied", 403):
        bob.change_password(OldPassword="wrong-Passw0rd", NewPassword=NEW)
    assert control.iam_password("bob")["password"] == OLD


def test_change_password_refuses_a_new_password_that_violates_the_policy(bob, control):
    with raises_aws("PasswordPolicyViolation", 400):
        bob.change_password(OldPassword=OLD, NewPassword="weak")
    assert control.iam_password("bob")["password"] == OLD


def test_change_password_refuses_a_recently_used_password_under_reuse_prevention(bob, iam, control):
    iam.update_account_password_policy(MinimumPasswordLength=8, PasswordReusePrevention=2)
    bob.change_password(OldPassword=OLD, NewPassword=NEW)
    with raises_aws("PasswordPolicyViolation", 400):
        bob.change_password(OldPassword=NEW, NewPassword=OLD)
    with raises_aws("PasswordPolicyViolation", 400):
        bob.change_password(OldPassword=NEW, NewPassword=NEW)
    assert control.iam_password("bob")["password"] == NEW


@pytest.mark.parametrize(
    "kind,code,status",
    [("409", "EntityTemporarilyUnmodifiable", 409), ("limit-exceeded", "LimitExceeded", 409), ("500", "ServiceFailure", 500)],
)
def test_change_password_can_fail_with_each_documented_service_error(bob, control, kind, code, status):
    control.inject_fault("ChangePassword", kind)
    with raises_aws(code, status):
        bob.change_password(OldPassword=OLD, NewPassword=NEW)
    assert control.iam_password("bob")["password"] == OLD


def test_a_wrong_old_password_is_refused_as_wrong_before_the_new_one_is_judged_by_default(bob, control):
    with raises_aws("AccessDenied", 403):
        bob.change_password(OldPassword="Wr0ng!Password", NewPassword="x")
    with raises_aws("PasswordPolicyViolation", 400):
        bob.change_password(OldPassword=OLD, NewPassword="x")
    assert control.iam_password("bob")["history"] == [OLD]


def test_the_new_first_order_judges_the_new_password_before_the_old_one_until_reset(bob, control):
    control.set_change_password_order("new-first")
    with raises_aws("PasswordPolicyViolation", 400):
        bob.change_password(OldPassword="Wr0ng!Password", NewPassword="x")
    with raises_aws("AccessDenied", 403):
        bob.change_password(OldPassword="Wr0ng!Password", NewPassword=NEW)
    assert control.iam_password("bob")["history"] == [OLD]
    control.set_change_password_order("old-first")
    with raises_aws("AccessDenied", 403):
        bob.change_password(OldPassword="Wr0ng!Password", NewPassword="x")


def test_the_call_log_names_the_users_access_key_that_signed_an_iam_call(emulator, iam, control):
    iam.create_user(UserName="carol")
    key = iam.create_access_key(UserName="carol")["AccessKey"]
    control.clear_calls()
    make_client(emulator, "iam", key["AccessKeyId"], key["SecretAccessKey"]).get_user()
    iam.get_user(UserName="carol")
    signed = [c.get("AccessKeyId") for c in control.calls()]
    assert signed == [key["AccessKeyId"], None]


def test_a_deleted_access_key_signs_no_iam_call(emulator, iam):
    iam.create_user(UserName="dave")
    key = iam.create_access_key(UserName="dave")["AccessKey"]
    as_dave = make_client(emulator, "iam", key["AccessKeyId"], key["SecretAccessKey"])
    assert as_dave.get_user()["User"]["UserName"] == "dave"
    iam.delete_access_key(UserName="dave", AccessKeyId=key["AccessKeyId"])
    with raises_aws("InvalidClientTokenId", 403):
        as_dave.get_user()
