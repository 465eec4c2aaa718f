"""Fault kind stale-read: GetLoginProfile answers with the PasswordResetRequired of before the latest change."""

from __future__ import annotations

import pytest
from emulator_testlib import make_client, raises_aws

from rotation_emulator import EmulatorError

PASSWORD = "Str0ng!Passw0rd"
NEW = "N3w!Passw0rd"


def _flag(iam, user="alice"):
    return iam.get_login_profile(UserName=user)["LoginProfile"]["PasswordResetRequired"]


@pytest.fixture
def alice(iam):
    iam.create_user(UserName="alice")
    iam.create_login_profile(UserName="alice", Password=PASSWORD, PasswordResetRequired=False)
    return "alice"


def test_a_stale_read_right_after_update_login_profile_returns_the_old_reset_flag(iam, control, alice):
    iam.update_login_profile(UserName="alice", Password=NEW, PasswordResetRequired=True)
    control.inject_fault("GetLoginProfile", "stale-read")
    assert _flag(iam) is False
    assert _flag(iam) is True


def test_a_stale_read_after_clearing_the_flag_returns_true(iam, control, alice):
    iam.update_login_profile(UserName="alice", PasswordResetRequired=True)
    iam.update_login_profile(UserName="alice", PasswordResetRequired=False)
    control.inject_fault("GetLoginProfile", "stale-read")
    assert _flag(iam) is True


def test_an_update_that_keeps_the_flag_does_not_change_what_a_stale_read_returns(iam, control, alice):
    iam.update_login_profile(UserName="alice", PasswordResetRequired=True)
    iam.update_login_profile(UserName="alice", Password=NEW, PasswordResetRequired=True)
    iam.update_login_profile(UserName="alice", Password="An0ther!Passw0rd")
    control.inject_fault("GetLoginProfile", "stale-read")
    assert _flag(iam) is False


@pytest.mark.parametrize("created_with", [True, False])
def test_a_stale_read_of_a_new_profile_returns_the_opposite_of_its_flag(iam, control, created_with):
    iam.create_user(UserName="bob")
    iam.create_login_profile(UserName="bob", Password=PASSWORD, PasswordResetRequired=created_with)
    control.inject_fault("GetLoginProfile", "stale-read")
    assert _flag(iam, "bob") is (not created_with)


def test_a_stale_read_after_change_password_returns_the_flag_it_cleared(emulator, iam, control, alice):
    iam.update_login_profile(UserName="alice", PasswordResetRequired=True)
    key = iam.create_access_key(UserName="alice")["AccessKey"]
    make_client(emulator, "iam", key["AccessKeyId"], key["SecretAccessKey"]).change_password(
        OldPassword=PASSWORD, NewPassword=NEW
    )
    control.inject_fault("GetLoginProfile", "stale-read")
    assert _flag(iam) is True
    assert _flag(iam) is False


def test_a_stale_read_changes_only_the_reset_flag_and_is_logged(iam, control, alice):
    iam.update_login_profile(UserName="alice", PasswordResetRequired=True)
    fresh = iam.get_login_profile(UserName="alice")["LoginProfile"]
    control.clear_calls()
    control.inject_fault("GetLoginProfile", "stale-read")
    stale = iam.get_login_profile(UserName="alice")["LoginProfile"]
    assert stale == {**fresh, "PasswordResetRequired": False}
    assert [(c["status"], c["fault"]) for c in control.calls()] == [(200, "stale-read")]


def test_a_stale_read_of_a_missing_login_profile_is_still_no_such_entity(iam, control):
    iam.create_user(UserName="alice")
    control.inject_fault("GetLoginProfile", "stale-read")
    with raises_aws("NoSuchEntity", 404):
        iam.get_login_profile(UserName="alice")


@pytest.mark.parametrize("action", ["GetUser", "UpdateLoginProfile", "GetSecretValue", "*"])
def test_a_stale_read_fault_is_refused_for_any_action_but_get_login_profile(control, action):
    with pytest.raises(EmulatorError) as info:
        control.inject_fault(action, "stale-read")
    assert info.value.status == 400
    assert "GetLoginProfile" in str(info.value)


def test_a_recreated_login_profile_starts_without_password_reset_required(iam, control, alice):
    iam.update_login_profile(UserName="alice", PasswordResetRequired=True)
    iam.delete_login_profile(UserName="alice")
    created = iam.create_login_profile(UserName="alice", Password=PASSWORD)["LoginProfile"]
    assert created["PasswordResetRequired"] is False
    assert _flag(iam) is False


def test_reset_forgets_the_earlier_reset_flags(emulator, iam, control, alice):
    iam.update_login_profile(UserName="alice", PasswordResetRequired=True)
    assert emulator.app.previous_reset_flag
    control.reset()
    assert emulator.app.previous_reset_flag == {}


def test_deleting_the_user_forgets_its_earlier_reset_flag(emulator, iam, control, alice):
    iam.update_login_profile(UserName="alice", PasswordResetRequired=True)
    iam.delete_login_profile(UserName="alice")
    iam.delete_user(UserName="alice")
    assert emulator.app.previous_reset_flag == {}
