"""Fault kind no-such-entity: IAM's eventual consistency (an entity not visible yet)."""

from __future__ import annotations

import pytest
from emulator_testlib import make_client, raises_aws

from rotation_emulator import EmulatorError

PASSWORD = "Str0ng!Passw0rd"
NEW = "N3w!Passw0rd"


@pytest.fixture
def alice(iam):
    iam.create_user(UserName="alice")
    iam.create_login_profile(UserName="alice", Password=PASSWORD)
    return "alice"


def test_get_login_profile_right_after_create_login_profile_can_be_no_such_entity(iam, control):
    iam.create_user(UserName="alice")
    control.inject_fault("GetLoginProfile", "no-such-entity")
    iam.create_login_profile(UserName="alice", Password=PASSWORD)
    with raises_aws("NoSuchEntity", 404) as info:
        iam.get_login_profile(UserName="alice")
    assert info.value.response["Error"]["Message"] == "Login Profile for User alice cannot be found."
    assert iam.get_login_profile(UserName="alice")["LoginProfile"]["UserName"] == "alice"


def test_a_no_such_entity_fault_does_not_apply_the_call(iam, control, alice):
    control.inject_fault("UpdateLoginProfile", "no-such-entity")
    with raises_aws("NoSuchEntity", 404) as info:
        iam.update_login_profile(UserName="alice", Password=NEW)
    assert info.value.response["Error"]["Message"] == "Login Profile for User alice cannot be found."
    assert control.iam_password("alice")["password"] == PASSWORD


def test_a_no_such_entity_fault_on_a_user_action_names_the_user(iam, control, alice):
    control.inject_fault("GetUser", "no-such-entity")
    with raises_aws("NoSuchEntity", 404) as info:
        iam.get_user(UserName="alice")
    assert info.value.response["Error"]["Message"] == "The user with name alice cannot be found."


def test_a_no_such_entity_fault_on_change_password_names_the_calling_user(emulator, iam, control, alice):
    key = iam.create_access_key(UserName="alice")["AccessKey"]
    as_alice = make_client(emulator, "iam", key["AccessKeyId"], key["SecretAccessKey"])
    control.inject_fault("ChangePassword", "no-such-entity")
    with raises_aws("NoSuchEntity", 404) as info:
        as_alice.change_password(OldPassword=PASSWORD, NewPassword=NEW)
    assert info.value.response["Error"]["Message"] == "Login Profile for User alice cannot be found."
    assert control.iam_password("alice")["password"] == PASSWORD


def test_a_no_such_entity_fault_is_logged_with_its_kind_and_status_404(iam, control, alice):
    control.clear_calls()
    control.inject_fault("GetLoginProfile", "no-such-entity")
    with raises_aws("NoSuchEntity", 404):
        iam.get_login_profile(UserName="alice")
    assert [(c["action"], c["status"], c["fault"]) for c in control.calls()] == [
        ("GetLoginProfile", 404, "no-such-entity")
    ]


def test_a_no_such_entity_fault_is_refused_for_secrets_manager_actions_and_the_wildcard(control):
    for action in ("GetSecretValue", "*"):
        with pytest.raises(EmulatorError) as info:
            control.inject_fault(action, "no-such-entity")
        assert info.value.status == 400
