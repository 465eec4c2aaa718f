"""A user denied iam:ChangePassword (the control API's stand-in for a missing permission)."""

from emulator_testlib import make_client, raises_aws


def test_a_denied_user_gets_access_denied_naming_the_permission_and_keeps_its_password(emulator, control, iam):
    iam.create_user(UserName="denied")
    iam.create_login_profile(UserName="denied", Password="Old-Passw0rd!x")
    key = iam.create_access_key(UserName="denied")["AccessKey"]
    control.deny("denied")
    as_user = make_client(emulator, "iam", access_key=key["AccessKeyId"], secret_key=key["SecretAccessKey"])
    with raises_aws("AccessDenied", 403) as refused:
        as_user.change_password(OldPassword="Old-Passw0rd!x", NewPassword="New-Passw0rd!x")
    assert "not authorized to perform: iam:ChangePassword" in str(refused.value)
    assert control.iam_password("denied")["password"] == "Old-Passw0rd!x"


def test_get_user_signed_with_a_users_key_returns_that_user_with_its_tags(emulator, iam):
    iam.create_user(UserName="self", Tags=[{"Key": "password-rotation:secret-arn", "Value": "arn:s"}])
    key = iam.create_access_key(UserName="self")["AccessKey"]
    as_user = make_client(emulator, "iam", access_key=key["AccessKeyId"], secret_key=key["SecretAccessKey"])
    user = as_user.get_user()["User"]
    assert user["UserName"] == "self"
    assert {"Key": "password-rotation:secret-arn", "Value": "arn:s"} in user.get("Tags", [])
