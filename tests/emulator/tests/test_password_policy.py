"""Correction 1: CreateLoginProfile / UpdateLoginProfile enforce the password policy."""

from __future__ import annotations

import pytest

from rotation_emulator import policy as pw

from emulator_testlib import raises_aws

STRONG = "Str0ng!Passw0rd"


@pytest.fixture
def user(iam):
    iam.create_user(UserName="alice")
    return "alice"


@pytest.fixture
def strict_policy(iam):
    iam.update_account_password_policy(
        MinimumPasswordLength=14,
        RequireUppercaseCharacters=True,
        RequireLowercaseCharacters=True,
        RequireNumbers=True,
        RequireSymbols=True,
        PasswordReusePrevention=3,
        AllowUsersToChangePassword=True,
    )


# -- pure policy functions -------------------------------------------------------


def test_iam_symbols_are_exactly_the_documented_set():
    assert pw.IAM_SYMBOLS == set("!@#$%^&*()_+-=[]{}|'")


def test_a_dot_or_tilde_is_allowed_but_does_not_count_as_a_symbol():
    policy = pw.PasswordPolicy(minimum_length=4, require_symbols=True)
    violation = pw.check_password("abcd.~", policy)
    assert violation is not None and violation.code == "PasswordPolicyViolation"


def test_without_an_account_policy_three_of_four_classes_and_eight_characters_are_required():
    assert pw.check_password("abcdefgh", None).code == "PasswordPolicyViolation"
    assert pw.check_password("abcdEFGH", None).code == "PasswordPolicyViolation"
    assert pw.check_password("abcdEF12", None) is None
    assert pw.check_password("aB1!", None).code == "PasswordPolicyViolation"


def test_characters_outside_iams_alphabet_are_a_validation_error():
    assert pw.check_password("Abcdefg1!\u0100", None).code == "ValidationError"
    assert pw.check_password("Abcdefg1!\x07", None).code == "ValidationError"
    assert pw.check_password("Abc\tdefg1!\u00e9", None) is None


def test_reuse_prevention_looks_only_at_the_last_n_passwords():
    policy = pw.PasswordPolicy(minimum_length=1, reuse_prevention=2)
    assert pw.check_policy("old1", policy, ["old1", "old2", "cur"]) is None
    assert pw.check_policy("old2", policy, ["old1", "old2", "cur"]).code == "PasswordPolicyViolation"
    assert pw.check_policy("cur", policy, ["old1", "old2", "cur"]).code == "PasswordPolicyViolation"


# -- over HTTP -------------------------------------------------------------------


def test_create_login_profile_refuses_a_password_that_fails_the_default_policy(iam, user, control):
    with raises_aws("PasswordPolicyViolation", 400):
        iam.create_login_profile(UserName=user, Password="alllowercase")
    assert control.iam_password(user)["password"] is None


def test_create_login_profile_accepts_a_password_meeting_the_default_policy(iam, user, control):
    iam.create_login_profile(UserName=user, Password="abcDEF12")
    assert control.iam_password(user) == {"user": user, "password": "abcDEF12", "history": ["abcDEF12"]}


def test_update_login_profile_refuses_a_password_shorter_than_the_policy_minimum(iam, user, strict_policy, control):
    iam.create_login_profile(UserName=user, Password=STRONG)
    with raises_aws("PasswordPolicyViolation", 400):
        iam.update_login_profile(UserName=user, Password="Sh0rt!Pass")
    assert control.iam_password(user)["password"] == STRONG


@pytest.mark.parametrize(
    "password",
    ["nouppercase1!xyz", "NOLOWERCASE1!XYZ", "NoNumbers!Xyzabc", "NoSymbols1Xyzabc"],
    ids=["uppercase", "lowercase", "numbers", "symbols"],
)
def test_update_login_profile_refuses_a_password_missing_a_required_character_class(iam, user, strict_policy, password):
    iam.create_login_profile(UserName=user, Password=STRONG)
    with raises_aws("PasswordPolicyViolation", 400):
        iam.update_login_profile(UserName=user, Password=password)


def test_update_login_profile_refuses_a_password_longer_than_128_characters(iam, user):
    iam.create_login_profile(UserName=user, Password=STRONG)
    with raises_aws("ValidationError", 400):
        iam.update_login_profile(UserName=user, Password="Aa1!" * 33)


def test_update_login_profile_accepts_a_128_character_password(iam, user, control):
    iam.create_login_profile(UserName=user, Password=STRONG)
    iam.update_login_profile(UserName=user, Password="Aa1!" * 32)
    assert control.iam_password(user)["password"] == "Aa1!" * 32


def test_update_login_profile_refuses_the_current_password_under_reuse_prevention(iam, user, strict_policy):
    iam.create_login_profile(UserName=user, Password=STRONG)
    with raises_aws("PasswordPolicyViolation", 400):
        iam.update_login_profile(UserName=user, Password=STRONG)


def test_update_login_profile_allows_a_password_older_than_the_reuse_window(iam, user, strict_policy, control):
    passwords = [f"Str0ng!Passw0rd{i}" for i in range(4)]
    iam.create_login_profile(UserName=user, Password=passwords[0])
    for password in passwords[1:]:
        iam.update_login_profile(UserName=user, Password=password)
    # Window of 3 = passwords[1..3]; passwords[0] may come back.
    with raises_aws("PasswordPolicyViolation", 400):
        iam.update_login_profile(UserName=user, Password=passwords[1])
    iam.update_login_profile(UserName=user, Password=passwords[0])
    assert control.iam_password(user)["history"] == passwords + [passwords[0]]


def test_update_login_profile_for_a_missing_user_is_no_such_entity_even_with_a_bad_password(iam):
    with raises_aws("NoSuchEntity", 404):
        iam.update_login_profile(UserName="ghost", Password="x")


def test_update_login_profile_without_a_login_profile_is_no_such_entity(iam, user):
    with raises_aws("NoSuchEntity", 404):
        iam.update_login_profile(UserName=user, Password=STRONG)


def test_update_login_profile_with_only_password_reset_required_keeps_the_password(iam, user, strict_policy, control):
    iam.create_login_profile(UserName=user, Password=STRONG)
    iam.update_login_profile(UserName=user, PasswordResetRequired=True)
    assert iam.get_login_profile(UserName=user)["LoginProfile"]["PasswordResetRequired"] is True
    assert control.iam_password(user)["password"] == STRONG


def test_a_rejected_password_is_not_recorded_in_the_history(iam, user, strict_policy, control):
    iam.create_login_profile(UserName=user, Password=STRONG)
    with raises_aws("PasswordPolicyViolation", 400):
        iam.update_login_profile(UserName=user, Password="weak")
    assert control.iam_password(user)["history"] == [STRONG]


def test_create_login_profile_for_a_user_that_already_has_one_is_entity_already_exists(iam, user):
    iam.create_login_profile(UserName=user, Password=STRONG)
    with raises_aws("EntityAlreadyExists", 409):
        iam.create_login_profile(UserName=user, Password="weak")
