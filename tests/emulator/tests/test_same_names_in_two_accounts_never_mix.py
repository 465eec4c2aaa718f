"""Every correction keeps accounts apart: the same user and secret names in two accounts."""

from __future__ import annotations

import pytest
from emulator_testlib import CENTRAL, MEMBERS, make_client, raises_aws
from rotation_emulator import EmulatorError

MEMBER = MEMBERS[0]
PASSWORD = "Initial-Passw0rd!"
LAMBDA = "arn:aws:lambda:us-east-1:{}:function:rotator"
TOKEN = "aaaaaaaa-bbbb-cccc-dddd-000000000001"
ACCOUNTS = (CENTRAL, MEMBER)


@pytest.fixture
def clients(emulator):
    """service -> account -> client (the member's through X-Moto-Account-Id)."""
    return {
        service: {CENTRAL: make_client(emulator, service), MEMBER: make_client(emulator, service, account=MEMBER)}
        for service in ("iam", "secretsmanager", "scheduler", "events")
    }


@pytest.fixture
def alice(emulator, clients):
    """User alice with a login profile and an access key in both accounts; her own IAM client per account."""
    own = {}
    for account in ACCOUNTS:
        iam = clients["iam"][account]
        iam.create_user(UserName="alice")
        iam.create_login_profile(UserName="alice", Password=PASSWORD)
        key = iam.create_access_key(UserName="alice")["AccessKey"]
        own[account] = make_client(emulator, "iam", access_key=key["AccessKeyId"], secret_key=key["SecretAccessKey"])
    return own


def test_passwords_and_histories_are_per_account(clients, alice, control):
    clients["iam"][MEMBER].update_account_password_policy(MinimumPasswordLength=8, PasswordReusePrevention=2)
    alice[MEMBER].change_password(OldPassword=PASSWORD, NewPassword="Member-Passw0rd!")
    assert control.iam_password("alice", account=MEMBER)["history"] == [PASSWORD, "Member-Passw0rd!"]
    assert control.iam_password("alice")["history"] == [PASSWORD]
    with raises_aws("PasswordPolicyViolation", 400):
        clients["iam"][MEMBER].update_login_profile(UserName="alice", Password=PASSWORD)
    clients["iam"][CENTRAL].update_login_profile(UserName="alice", Password="Central-Passw0rd!")
    assert control.iam_password("alice")["password"] == "Central-Passw0rd!"
    assert control.iam_password("alice", account=MEMBER)["password"] == "Member-Passw0rd!"


def test_a_denied_change_password_is_denied_in_its_account_only(alice, control):
    control.deny("alice", AccountId=MEMBER)
    with raises_aws("AccessDenied", 403) as info:
        alice[MEMBER].change_password(OldPassword=PASSWORD, NewPassword="Member-Passw0rd!")
    assert f"arn:aws:iam::{MEMBER}:user/alice" in info.value.response["Error"]["Message"]
    alice[CENTRAL].change_password(OldPassword=PASSWORD, NewPassword="Central-Passw0rd!")


def test_deleting_a_user_forgets_its_history_in_that_account_only(clients, alice, control):
    clients["iam"][MEMBER].delete_login_profile(UserName="alice")
    clients["iam"][MEMBER].delete_access_key(
        UserName="alice", AccessKeyId=clients["iam"][MEMBER].list_access_keys(UserName="alice")["AccessKeyMetadata"][0]["AccessKeyId"]
    )
    clients["iam"][MEMBER].delete_user(UserName="alice")
    assert control.iam_password("alice")["history"] == [PASSWORD]
    with pytest.raises(EmulatorError):
        control.iam_password("alice", account=MEMBER)


def test_staging_labels_rotations_and_version_lists_are_per_account(clients, control):
    sm = clients["secretsmanager"]
    first = {account: sm[account].create_secret(Name="app", SecretString=f"v1-{account}") for account in ACCOUNTS}
    sm[MEMBER].rotate_secret(SecretId="app", RotationLambdaARN=LAMBDA.format(MEMBER), ClientRequestToken=TOKEN)
    # The same token names a version of the other account's secret too: no conflict.
    sm[CENTRAL].put_secret_value(SecretId="app", SecretString="v2-central", ClientRequestToken=TOKEN)
    assert sm[MEMBER].describe_secret(SecretId="app")["VersionIdsToStages"] == {
        first[MEMBER]["VersionId"]: ["AWSCURRENT"],
        TOKEN: ["AWSPENDING"],
    }
    assert sm[CENTRAL].describe_secret(SecretId="app")["VersionIdsToStages"] == {
        first[CENTRAL]["VersionId"]: ["AWSPREVIOUS"],
        TOKEN: ["AWSCURRENT"],
    }
    assert sm[MEMBER].get_secret_value(SecretId="app")["SecretString"] == f"v1-{MEMBER}"
    assert [v["VersionId"] for v in sm[MEMBER].list_secret_version_ids(SecretId="app")["Versions"]] == [
        first[MEMBER]["VersionId"],
        TOKEN,
    ]
    assert [r["SecretArn"] for r in control.rotations()] == [first[MEMBER]["ARN"]]
    assert "RotationEnabled" not in sm[CENTRAL].describe_secret(SecretId="app")
    with raises_aws("InvalidRequestException", 400):
        sm[MEMBER].rotate_secret(SecretId="app", ClientRequestToken="aaaaaaaa-bbbb-cccc-dddd-000000000002")
    sm[CENTRAL].rotate_secret(
        SecretId="app", RotationLambdaARN=LAMBDA.format(CENTRAL), ClientRequestToken="aaaaaaaa-bbbb-cccc-dddd-000000000002"
    )


def test_control_endpoints_name_the_account(clients, control):
    sm = clients["secretsmanager"]
    for account in ACCOUNTS:
        sm[account].create_secret(Name="app", SecretString="v1")
    control.rotation_placeholder("app", TOKEN, AccountId=MEMBER)
    assert TOKEN in sm[MEMBER].describe_secret(SecretId="app")["VersionIdsToStages"]
    assert TOKEN not in sm[CENTRAL].describe_secret(SecretId="app")["VersionIdsToStages"]
    control.set_secret_dates("app", CreatedDate=1_600_000_000, AccountId=MEMBER)
    assert sm[MEMBER].describe_secret(SecretId="app")["CreatedDate"].timestamp() == 1_600_000_000
    assert sm[CENTRAL].describe_secret(SecretId="app")["CreatedDate"].timestamp() > 1_600_000_000


def test_every_call_is_logged_with_its_account(clients, control):
    clients["iam"][CENTRAL].create_user(UserName="alice")
    clients["iam"][MEMBER].create_user(UserName="alice")
    clients["secretsmanager"][MEMBER].list_secrets()
    assert [(c["action"], c["account"]) for c in control.calls()] == [
        ("CreateUser", CENTRAL),
        ("CreateUser", MEMBER),
        ("ListSecrets", MEMBER),
    ]
    assert control.counts(account=MEMBER) == {"iam:CreateUser": 1, "secretsmanager:ListSecrets": 1}
    assert control.counts() == {"iam:CreateUser": 2, "secretsmanager:ListSecrets": 1}


def test_a_fault_restricted_to_an_account_hits_only_its_calls(clients, control):
    control.inject_fault("CreateUser", "throttle", account=MEMBER)
    clients["iam"][CENTRAL].create_user(UserName="alice")
    with raises_aws("Throttling", 400):
        clients["iam"][MEMBER].create_user(UserName="alice")
    clients["iam"][MEMBER].create_user(UserName="alice")
    assert control._request("GET", "faults")["faults"][0]["account"] == MEMBER


def test_schedules_and_event_buses_are_per_account(clients, control):
    target = {"Arn": LAMBDA.format(MEMBER), "RoleArn": f"arn:aws:iam::{MEMBER}:role/scheduler"}
    for account, payload in ((CENTRAL, "central"), (MEMBER, "member")):
        clients["scheduler"][account].create_schedule(
            Name="reset-alice",
            ScheduleExpression="at(2030-01-01T00:00:00)",
            FlexibleTimeWindow={"Mode": "OFF"},
            Target={**target, "Input": payload},
        )
    assert control.fire_schedule("reset-alice", AccountId=MEMBER)["Input"] == "member"
    assert control.fire_schedule("reset-alice")["Input"] == "central"
    assert sorted(s["AccountId"] for s in control.schedules()) == sorted(ACCOUNTS)
    clients["events"][MEMBER].create_event_bus(Name="outcomes")
    entry = {"Source": "rotation", "DetailType": "d", "Detail": "{}", "EventBusName": "outcomes"}
    assert clients["events"][MEMBER].put_events(Entries=[entry])["FailedEntryCount"] == 0
    assert clients["events"][CENTRAL].put_events(Entries=[entry])["FailedEntryCount"] == 1
    assert [(e["AccountId"], e["ErrorCode"]) for e in control.put_events_log()] == [
        (MEMBER, None),
        (CENTRAL, "ResourceNotFoundException"),
    ]
