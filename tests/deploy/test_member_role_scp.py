"""The service control policy that protects the member role (policies/member-role-scp.json,
docs/organizations.md "Protect the member role"), evaluated with the emulator's IAM policy
evaluator: an administrator of a member account may neither assume the member role nor
change it, its policies or its trust; the central function's role still assumes it and the
StackSet still deploys it.

Run from the repository root:  .venv/bin/python -m pytest tests/deploy/test_member_role_scp.py -q
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "emulator"))
from rotation_emulator.iam_policy import RequestContext, evaluate  # noqa: E402

SCP = ROOT / "policies" / "member-role-scp.json"
MEMBER_ACCOUNT = "111111111111"
CENTRAL_ACCOUNT = "123456789012"
MEMBER_ROLE_NAME = "iam-password-rotation-member"
CENTRAL_ROLE_ARN = f"arn:aws:iam::{CENTRAL_ACCOUNT}:role/iam-password-rotation-FunctionRole-AbCdEfGh"
MEMBER_ROLE_ARN = f"arn:aws:iam::{MEMBER_ACCOUNT}:role/{MEMBER_ROLE_NAME}"
STACKSET_ROLE_ARN = f"arn:aws:iam::{MEMBER_ACCOUNT}:role/stacksets-exec-0123456789abcdef0123456789abcdef"
ATTACKERS = {
    "the account's administrator role": f"arn:aws:iam::{MEMBER_ACCOUNT}:role/OrganizationAccountAccessRole",
    "an administrator user": f"arn:aws:iam::{MEMBER_ACCOUNT}:user/admin",
    "the account's root user": f"arn:aws:iam::{MEMBER_ACCOUNT}:root",
    "a role named like the central role, in the member account":
        f"arn:aws:iam::{MEMBER_ACCOUNT}:role/iam-password-rotation-FunctionRole-AbCdEfGh",
}
# Every IAM action that changes a role, its policies or its trust, or hands it to a service.
ROLE_WRITES = [
    "iam:UpdateAssumeRolePolicy", "iam:PutRolePolicy", "iam:DeleteRolePolicy", "iam:AttachRolePolicy",
    "iam:DetachRolePolicy", "iam:DeleteRole", "iam:CreateRole", "iam:UpdateRole", "iam:UpdateRoleDescription",
    "iam:PutRolePermissionsBoundary", "iam:DeleteRolePermissionsBoundary", "iam:TagRole", "iam:UntagRole",
    "iam:PassRole",
]
ASSUMES = ["sts:AssumeRole", "sts:AssumeRoleWithWebIdentity", "sts:AssumeRoleWithSAML"]


def rendered(central_role_arn: str = CENTRAL_ROLE_ARN, member_role_name: str = MEMBER_ROLE_NAME) -> list[dict]:
    """The SCP's statements with its two placeholders filled in, as the documented step does."""
    text = SCP.read_text().replace("CENTRAL_ROLE_ARN", central_role_arn).replace("MEMBER_ROLE_NAME", member_role_name)
    return json.loads(text)["Statement"]


def denied(principal_arn: str, action: str, resource: str) -> bool:
    """Whether the SCP denies the request of a principal (a role's session is named by its role)."""
    account = principal_arn.split(":")[4]
    context = RequestContext(action=action, resource=resource, principal_account=account,
                             principal_arns=frozenset([principal_arn]),
                             keys={"aws:PrincipalArn": principal_arn, "aws:PrincipalAccount": account})
    return evaluate(rendered(), context, trust=False).denied


def test_the_evaluator_reads_iams_arn_operators_with_wildcards_and_fails_closed_on_an_unknown_one():
    def deny(operator: str, pattern: str, arn: str) -> bool:
        statement = {"Effect": "Deny", "Action": "sts:AssumeRole", "Resource": "*",
                     "Condition": {operator: {"aws:PrincipalArn": pattern}}}
        context = RequestContext(action="sts:AssumeRole", resource="r", keys={"aws:PrincipalArn": arn})
        return evaluate([statement], context, trust=False).denied

    role = "arn:aws:iam::111111111111:role/stacksets-exec-abc"
    assert deny("ArnLike", "arn:*:iam::*:role/stacksets-exec-*", role)
    assert not deny("ArnNotLike", "arn:*:iam::*:role/stacksets-exec-*", role)
    assert deny("ArnNotEquals", CENTRAL_ROLE_ARN, role) and not deny("ArnNotEquals", CENTRAL_ROLE_ARN, CENTRAL_ROLE_ARN)
    assert not deny("ArnLike", "arn:*:iam::*:role/STACKSETS-exec-*", role), "ARNs compare case-sensitively"
    assert deny("ArnSomethingElse", "*", role), "an operator it does not know denies"


def test_the_scp_is_deny_only_within_the_size_limit_with_two_documented_placeholders():
    text = SCP.read_text()
    document = json.loads(text)
    assert all(s["Effect"] == "Deny" for s in document["Statement"])
    # Organizations' limit for a service control policy, whitespace excluded.
    assert len(json.dumps(document, separators=(",", ":"))) <= 5120
    assert "CENTRAL_ROLE_ARN" in text and "MEMBER_ROLE_NAME" in text
    assert "${" not in text, "IAM would read ${...} as a policy variable"
    filled = json.dumps(rendered())
    assert "CENTRAL_ROLE_ARN" not in filled and "MEMBER_ROLE_NAME" not in filled


@pytest.mark.parametrize("attacker", sorted(ATTACKERS))
def test_an_administrator_of_a_member_account_may_not_assume_the_member_role(attacker):
    for action in ASSUMES:
        assert denied(ATTACKERS[attacker], action, MEMBER_ROLE_ARN), action


@pytest.mark.parametrize("attacker", sorted(ATTACKERS))
def test_an_administrator_of_a_member_account_may_not_change_the_member_role_or_its_trust(attacker):
    for action in ROLE_WRITES:
        assert denied(ATTACKERS[attacker], action, MEMBER_ROLE_ARN), action


@pytest.mark.parametrize("attacker", sorted(ATTACKERS))
def test_an_administrator_may_not_take_over_the_stacksets_role_to_change_the_member_role_through_it(attacker):
    for action in [*ASSUMES, *ROLE_WRITES]:
        assert denied(ATTACKERS[attacker], action, STACKSET_ROLE_ARN), action


def test_the_central_functions_role_still_assumes_the_member_role():
    assert not denied(CENTRAL_ROLE_ARN, "sts:AssumeRole", MEMBER_ROLE_ARN)
    # And nothing else: it may not change the role.
    assert denied(CENTRAL_ROLE_ARN, "iam:UpdateAssumeRolePolicy", MEMBER_ROLE_ARN)


def test_the_stacksets_role_still_creates_updates_and_deletes_the_member_role():
    for action in ROLE_WRITES:
        if action != "iam:PassRole":
            assert not denied(STACKSET_ROLE_ARN, action, MEMBER_ROLE_ARN), action
    # It cannot assume the member role: only the central role may.
    assert denied(STACKSET_ROLE_ARN, "sts:AssumeRole", MEMBER_ROLE_ARN)


def test_the_scp_leaves_every_other_role_of_the_account_alone():
    admin = ATTACKERS["the account's administrator role"]
    for action in [*ASSUMES, *ROLE_WRITES]:
        assert not denied(admin, action, f"arn:aws:iam::{MEMBER_ACCOUNT}:role/application"), action
        assert not denied(admin, action, f"arn:aws:iam::{MEMBER_ACCOUNT}:role/{MEMBER_ROLE_NAME}-other"), action


def test_the_scp_names_the_member_role_that_member_role_yaml_creates():
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import test_template as base

    member = base.load_template(base.MEMBER_TEMPLATE)
    assert member["Parameters"]["MemberRoleName"]["Default"] == MEMBER_ROLE_NAME
    assert member["Resources"]["MemberRole"]["Properties"]["RoleName"] == {"Ref": "MemberRoleName"}
    assert "Path" not in member["Resources"]["MemberRole"]["Properties"], "the SCP names the role without a path"
