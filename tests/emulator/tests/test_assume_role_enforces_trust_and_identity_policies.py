"""Correction 10: sts:AssumeRole checks the role, its trust policy and the caller's own policies."""

from __future__ import annotations

import datetime

import pytest
from emulator_testlib import (
    CENTRAL,
    CENTRAL_ROLE,
    EXTERNAL_ID,
    MEMBER_ROLE,
    MEMBERS,
    ORG_ID,
    OUTSIDE,
    make_client,
    policy_document,
    raises_aws,
    role_arn,
    seed_central_and_members,
)
from rotation_emulator import EmulatorError

MEMBER = MEMBERS[0]


@pytest.fixture
def central(emulator, control):
    """The central role's credentials, with the organisation and member roles seeded."""
    return seed_central_and_members(emulator, control)


@pytest.fixture
def central_sts(emulator, central):
    return make_client(emulator, "sts", credentials=central)


def _assume(sts, account=MEMBER, name=MEMBER_ROLE, **extra):
    params = {"RoleArn": role_arn(account, name), "RoleSessionName": "rotation", "ExternalId": EXTERNAL_ID}
    params.update(extra)
    return sts.assume_role(**{k: v for k, v in params.items() if v is not None})


def _create_role(emulator, account, name, trust, inline=None, max_session=None):
    iam = make_client(emulator, "iam", account=account)
    extra = {"MaxSessionDuration": max_session} if max_session else {}
    iam.create_role(RoleName=name, AssumeRolePolicyDocument=policy_document(*trust), **extra)
    if inline:
        iam.put_role_policy(RoleName=name, PolicyName="inline", PolicyDocument=policy_document(*inline))


def _session(emulator, account, name):
    """Credentials of role ``name`` in ``account``, assumed with the identity-less default keys."""
    sts = make_client(emulator, "sts", account=account)
    return sts.assume_role(RoleArn=role_arn(account, name), RoleSessionName="caller")["Credentials"]


ALLOW_ASSUME_ANY = {"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "*"}
ALLOW_LAMBDA = {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}


def _trusting(principal: str) -> dict:
    return {"Effect": "Allow", "Principal": {"AWS": principal}, "Action": "sts:AssumeRole"}


def test_the_central_role_assumes_the_member_role_with_the_external_id(central_sts):
    answer = _assume(central_sts)
    assert answer["AssumedRoleUser"]["Arn"] == f"arn:aws:sts::{MEMBER}:assumed-role/{MEMBER_ROLE}/rotation"


def test_a_missing_role_is_access_denied_403_naming_the_caller_and_the_role(central_sts):
    with raises_aws("AccessDenied", 403) as info:
        _assume(central_sts, name="no-such-role")
    assert info.value.response["Error"]["Message"] == (
        f"User: arn:aws:sts::{CENTRAL}:assumed-role/{CENTRAL_ROLE}/central is not authorized to perform: "
        f"sts:AssumeRole on resource: {role_arn(MEMBER, 'no-such-role')}"
    )


@pytest.mark.parametrize("external_id", [None, "another-external-id"])
def test_a_missing_or_wrong_external_id_is_access_denied(central_sts, external_id):
    with raises_aws("AccessDenied", 403):
        _assume(central_sts, ExternalId=external_id)


def test_a_role_in_an_account_outside_the_organisation_is_refused_by_the_resource_org_condition(central_sts):
    # The outside role trusts the central role; the central role's own policy
    # allows member roles only in its organisation (aws:ResourceOrgID).
    with raises_aws("AccessDenied", 403):
        _assume(central_sts, account=OUTSIDE)
    assert _assume(central_sts, account=MEMBERS[1])["AssumedRoleUser"]["Arn"].startswith(f"arn:aws:sts::{MEMBERS[1]}:")


def test_the_management_account_is_in_its_organisation_for_resource_org_id(emulator, central_sts):
    _create_role(
        emulator,
        CENTRAL,
        MEMBER_ROLE,
        [{"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{CENTRAL}:root"}, "Action": "sts:AssumeRole"}],
    )
    _assume(central_sts, account=CENTRAL, ExternalId=None)


def test_cross_account_needs_the_callers_identity_policy_even_when_the_trust_names_the_caller(emulator):
    _create_role(emulator, CENTRAL, "no-permissions", [ALLOW_LAMBDA])
    _create_role(emulator, MEMBER, "target", [_trusting(role_arn(CENTRAL, "no-permissions"))])
    sts = make_client(emulator, "sts", credentials=_session(emulator, CENTRAL, "no-permissions"))
    with raises_aws("AccessDenied", 403):
        _assume(sts, name="target", ExternalId=None)


def test_in_one_account_a_trust_policy_naming_the_caller_suffices(emulator):
    _create_role(emulator, CENTRAL, "no-permissions", [ALLOW_LAMBDA])
    _create_role(emulator, CENTRAL, "target", [_trusting(role_arn(CENTRAL, "no-permissions"))])
    sts = make_client(emulator, "sts", credentials=_session(emulator, CENTRAL, "no-permissions"))
    _assume(sts, account=CENTRAL, name="target", ExternalId=None)


def test_in_one_account_a_trust_policy_naming_only_the_account_also_needs_the_identity_policy(emulator):
    _create_role(emulator, CENTRAL, "no-permissions", [ALLOW_LAMBDA])
    _create_role(emulator, CENTRAL, "allowed", [ALLOW_LAMBDA], inline=[ALLOW_ASSUME_ANY])
    _create_role(emulator, CENTRAL, "target", [_trusting(CENTRAL)])
    denied = make_client(emulator, "sts", credentials=_session(emulator, CENTRAL, "no-permissions"))
    with raises_aws("AccessDenied", 403):
        _assume(denied, account=CENTRAL, name="target", ExternalId=None)
    allowed = make_client(emulator, "sts", credentials=_session(emulator, CENTRAL, "allowed"))
    _assume(allowed, account=CENTRAL, name="target", ExternalId=None)


def test_an_attached_managed_policy_grants_like_an_inline_one(emulator):
    iam = make_client(emulator, "iam")
    arn = iam.create_policy(PolicyName="assume", PolicyDocument=policy_document(ALLOW_ASSUME_ANY))["Policy"]["Arn"]
    _create_role(emulator, CENTRAL, "caller", [ALLOW_LAMBDA])
    iam.attach_role_policy(RoleName="caller", PolicyArn=arn)
    _create_role(emulator, MEMBER, "target", [_trusting(role_arn(CENTRAL, "caller"))])
    sts = make_client(emulator, "sts", credentials=_session(emulator, CENTRAL, "caller"))
    _assume(sts, name="target", ExternalId=None)


@pytest.mark.parametrize("where", ["trust", "identity"])
def test_an_explicit_deny_wins_over_any_allow(emulator, where):
    deny = {"Effect": "Deny", "Action": "sts:*", "Resource": "*"}
    trust = [_trusting(role_arn(CENTRAL, "caller"))]
    if where == "trust":
        trust.append({"Effect": "Deny", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole"})
    inline = [ALLOW_ASSUME_ANY] + ([deny] if where == "identity" else [])
    _create_role(emulator, CENTRAL, "caller", [ALLOW_LAMBDA], inline=inline)
    _create_role(emulator, MEMBER, "target", trust)
    sts = make_client(emulator, "sts", credentials=_session(emulator, CENTRAL, "caller"))
    with raises_aws("AccessDenied", 403):
        _assume(sts, name="target", ExternalId=None)


def test_principal_org_id_and_principal_arn_conditions_in_the_trust_policy(emulator, control):
    control.seed_organization(CENTRAL, MEMBERS, organization_id=ORG_ID)
    trust = {
        "Effect": "Allow",
        "Principal": {"AWS": "*"},
        "Action": "sts:AssumeRole",
        "Condition": {
            "StringEquals": {"aws:PrincipalOrgID": ORG_ID},
            "StringLike": {"aws:PrincipalArn": "arn:aws:iam::*:role/central-*"},
        },
    }
    _create_role(emulator, MEMBER, "target", [trust])
    for account, name in ((CENTRAL, "central-a"), (OUTSIDE, "central-b"), (CENTRAL, "other")):
        _create_role(emulator, account, name, [ALLOW_LAMBDA], inline=[ALLOW_ASSUME_ANY])
    _assume(make_client(emulator, "sts", credentials=_session(emulator, CENTRAL, "central-a")), name="target")
    for account, name in ((OUTSIDE, "central-b"), (CENTRAL, "other")):
        with raises_aws("AccessDenied", 403):
            _assume(make_client(emulator, "sts", credentials=_session(emulator, account, name)), name="target")


def test_an_iam_users_policies_and_groups_are_its_identity_policies(emulator):
    iam = make_client(emulator, "iam")
    iam.create_user(UserName="operator")
    keys = iam.create_access_key(UserName="operator")["AccessKey"]
    _create_role(emulator, MEMBER, "target", [_trusting(f"arn:aws:iam::{CENTRAL}:user/operator")])
    sts = make_client(emulator, "sts", access_key=keys["AccessKeyId"], secret_key=keys["SecretAccessKey"])
    with raises_aws("AccessDenied", 403) as info:
        _assume(sts, name="target", ExternalId=None)
    assert f"User: arn:aws:iam::{CENTRAL}:user/operator is not authorized" in info.value.response["Error"]["Message"]
    iam.create_group(GroupName="operators")
    iam.add_user_to_group(GroupName="operators", UserName="operator")
    iam.put_group_policy(GroupName="operators", PolicyName="assume", PolicyDocument=policy_document(ALLOW_ASSUME_ANY))
    _assume(sts, name="target", ExternalId=None)


def test_keys_without_an_identity_assume_any_existing_role_unchecked(emulator):
    # The default keys stand in for the AWS service (Lambda) assuming a
    # function's execution role: no policy is evaluated, the role must exist.
    _create_role(emulator, OUTSIDE, "target", [{"Effect": "Deny", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole"}])
    sts = make_client(emulator, "sts")
    _assume(sts, account=OUTSIDE, name="target", ExternalId=None)
    with raises_aws("AccessDenied", 403) as info:
        _assume(sts, account=OUTSIDE, name="missing", ExternalId=None)
    assert info.value.response["Error"]["Message"].startswith(f"User: arn:aws:iam::{CENTRAL}:root is not authorized")


def test_the_credentials_work_in_the_member_account(emulator, central_sts):
    before = datetime.datetime.now(datetime.timezone.utc)
    answer = _assume(central_sts, DurationSeconds=900)
    after = datetime.datetime.now(datetime.timezone.utc)
    expiration = answer["Credentials"]["Expiration"]
    assert before + datetime.timedelta(seconds=899) <= expiration <= after + datetime.timedelta(seconds=901)
    creds = answer["Credentials"]
    identity = make_client(emulator, "sts", credentials=creds).get_caller_identity()
    assert (identity["Account"], identity["Arn"]) == (MEMBER, f"arn:aws:sts::{MEMBER}:assumed-role/{MEMBER_ROLE}/rotation")
    iam = make_client(emulator, "iam", credentials=creds)
    assert iam.create_user(UserName="alice")["User"]["Arn"] == f"arn:aws:iam::{MEMBER}:user/alice"
    sm = make_client(emulator, "secretsmanager", credentials=creds)
    assert sm.create_secret(Name="console/alice", SecretString="{}")["ARN"].startswith(
        f"arn:aws:secretsmanager:us-east-1:{MEMBER}:secret:console/alice-"
    )
    assert make_client(emulator, "iam", account=MEMBER).get_user(UserName="alice")["User"]["UserName"] == "alice"
    with raises_aws("NoSuchEntity", 404):
        make_client(emulator, "iam").get_user(UserName="alice")


def test_the_expiration_defaults_to_one_hour(central_sts):
    before = datetime.datetime.now(datetime.timezone.utc)
    expiration = _assume(central_sts)["Credentials"]["Expiration"]
    assert before + datetime.timedelta(seconds=3599) <= expiration <= before + datetime.timedelta(seconds=3605)


@pytest.mark.parametrize(
    "params, fragment",
    [
        ({"RoleSessionName": "x"}, "at 'roleSessionName' failed to satisfy constraint: Member must have length greater"),
        ({"RoleSessionName": "x" * 65}, "at 'roleSessionName' failed to satisfy constraint: Member must have length less"),
        ({"RoleSessionName": "has space"}, "Member must satisfy regular expression pattern: [\\w+=,.@-]*"),
        ({"ExternalId": "x"}, "Value at 'externalId' failed to satisfy constraint: Member must have length greater"),
        ({"ExternalId": "x" * 1225}, "Value at 'externalId' failed to satisfy constraint: Member must have length less"),
        ({"ExternalId": "no spaces"}, "Value at 'externalId' failed to satisfy constraint: Member must satisfy"),
        ({"DurationSeconds": 899}, "Member must have value greater than or equal to 900"),
        ({"DurationSeconds": 43201}, "Member must have value less than or equal to 43200"),
        ({"RoleArn": "arn:aws:iam::1"}, "at 'roleArn' failed to satisfy constraint: Member must have length greater"),
    ],
)
def test_parameter_constraints_are_validation_errors_400(emulator, central, params, fragment):
    sts = make_client(emulator, "sts", credentials=central, validate=False)
    with raises_aws("ValidationError", 400) as info:
        _assume(sts, **params)
    message = info.value.response["Error"]["Message"]
    assert message.startswith("1 validation error detected: ") and fragment in message
    assert EXTERNAL_ID not in message and "no spaces" not in message


def test_two_violations_are_reported_together(emulator, central):
    sts = make_client(emulator, "sts", credentials=central, validate=False)
    with raises_aws("ValidationError", 400) as info:
        _assume(sts, RoleSessionName="x", DurationSeconds=1)
    assert info.value.response["Error"]["Message"].startswith("2 validation errors detected: ")


def test_duration_beyond_the_roles_maximum_is_a_validation_error(emulator):
    _create_role(emulator, OUTSIDE, "short", [ALLOW_LAMBDA], max_session=3600)
    _create_role(emulator, OUTSIDE, "long", [ALLOW_LAMBDA], max_session=7200)
    sts = make_client(emulator, "sts")
    with raises_aws("ValidationError", 400) as info:
        _assume(sts, account=OUTSIDE, name="short", ExternalId=None, DurationSeconds=3601)
    assert "MaxSessionDuration" in info.value.response["Error"]["Message"]
    _assume(sts, account=OUTSIDE, name="long", ExternalId=None, DurationSeconds=7200)


def test_a_role_session_assuming_a_role_gets_at_most_one_hour(emulator, central_sts):
    make_client(emulator, "iam", account=MEMBER).update_role(RoleName=MEMBER_ROLE, MaxSessionDuration=7200)
    with raises_aws("ValidationError", 400) as info:
        _assume(central_sts, DurationSeconds=3601)
    assert "role chaining" in info.value.response["Error"]["Message"]
    _assume(central_sts, DurationSeconds=3600)


def test_assume_role_calls_are_logged_with_the_role_asked_for_and_counted_per_role_account(central_sts, control):
    control.clear_calls()
    _assume(central_sts)
    _assume(central_sts, account=MEMBERS[1])
    with raises_aws("AccessDenied", 403):
        _assume(central_sts, account=OUTSIDE, ExternalId=None)
    calls = control.calls()
    assert calls[0] == {
        "index": calls[0]["index"],
        "service": "sts",
        "action": "AssumeRole",
        "account": CENTRAL,
        "status": 200,
        "fault": None,
        "throttled": False,
        "RoleArn": role_arn(MEMBER, MEMBER_ROLE),
        "RoleAccount": MEMBER,
        "RoleSessionName": "rotation",
        "HasExternalId": True,
    }
    assert [(c["RoleAccount"], c["status"], c["HasExternalId"]) for c in calls[1:]] == [
        (MEMBERS[1], 200, True),
        (OUTSIDE, 403, False),
    ]
    assert control.assume_role_counts() == {MEMBER: 1, MEMBERS[1]: 1, OUTSIDE: 1}
    assert control.counts(account=CENTRAL) == {"sts:AssumeRole": 3}


def test_calls_with_member_credentials_are_logged_in_the_member_account(emulator, central_sts, control):
    creds = _assume(central_sts)["Credentials"]
    control.clear_calls()
    make_client(emulator, "iam", credentials=creds).list_users()
    assert [(c["action"], c["account"]) for c in control.calls()] == [("ListUsers", MEMBER)]


def test_assume_role_faults_use_stss_error_codes(central_sts, control):
    control.inject_fault("AssumeRole", "throttle")
    with raises_aws("Throttling", 400):
        _assume(central_sts)
    control.inject_fault("AssumeRole", "500")
    with raises_aws("InternalFailure", 500):
        _assume(central_sts)
    _assume(central_sts)


def test_iam_only_fault_kinds_are_refused_for_sts_and_organizations(control):
    for action in ("AssumeRole", "ListAccounts"):
        with pytest.raises(EmulatorError) as info:
            control.inject_fault(action, "no-such-entity")
        assert info.value.status == 400

