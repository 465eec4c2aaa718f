"""policies/self-service-user.json, the policy every user enrolled in the self-service strategy
must carry, through the emulator's IAM policy evaluator: without MFA (the stored access key,
or a console sign-in without MFA) the user may only call iam:ChangePassword and iam:GetUser on
itself, whatever else its policies allow; with MFA, its own permissions apply.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
POLICY = ROOT / "policies" / "self-service-user.json"
_spec = importlib.util.spec_from_file_location(
    "iam_policy", ROOT / "tests" / "emulator" / "rotation_emulator" / "iam_policy.py")
iam_policy = importlib.util.module_from_spec(_spec)
sys.modules["iam_policy"] = iam_policy  # dataclasses look their module up there
_spec.loader.exec_module(iam_policy)

ALICE = "arn:aws:iam::123456789012:user/rotated/alice"
ALICE_AT_ROOT = "arn:aws:iam::123456789012:user/alice"
BOB = "arn:aws:iam::123456789012:user/rotated/bob"
# What the person may do otherwise: here everything (the worst case for the stored key).
ADMINISTRATOR = {"Effect": "Allow", "Action": "*", "Resource": "*"}
WITHOUT_MFA = {}  # a request signed with an access key carries no aws:MultiFactorAuthPresent
CONSOLE_WITHOUT_MFA = {"aws:MultiFactorAuthPresent": "false"}
WITH_MFA = {"aws:MultiFactorAuthPresent": "true"}


def allowed(action: str, resource: str, mfa: dict, others=(ADMINISTRATOR,), user: str = "alice") -> bool:
    statements = iam_policy.parse_document(POLICY.read_text()) + list(others)
    ctx = iam_policy.RequestContext(action=action, resource=resource, keys={"aws:username": user, **mfa})
    decision = iam_policy.evaluate(statements, ctx, trust=False)
    return decision.allowed and not decision.denied


@pytest.mark.parametrize("mfa", [WITHOUT_MFA, CONSOLE_WITHOUT_MFA], ids=["access-key", "console-without-mfa"])
def test_without_mfa_the_user_may_change_its_own_password_and_read_itself_only(mfa):
    for resource in (ALICE, ALICE_AT_ROOT):
        assert allowed("iam:ChangePassword", resource, mfa)
        assert allowed("iam:GetUser", resource, mfa)
    # Even with no other policy at all.
    assert allowed("iam:ChangePassword", ALICE, mfa, others=())
    assert allowed("iam:GetUser", ALICE, mfa, others=())


@pytest.mark.parametrize("mfa", [WITHOUT_MFA, CONSOLE_WITHOUT_MFA], ids=["access-key", "console-without-mfa"])
@pytest.mark.parametrize("action, resource", [
    ("iam:GetUser", BOB),
    ("iam:ChangePassword", BOB),
    ("iam:CreateAccessKey", ALICE),
    ("iam:UpdateLoginProfile", ALICE),
    ("iam:AttachUserPolicy", ALICE),
    ("sts:AssumeRole", "arn:aws:iam::123456789012:role/admin"),
    ("secretsmanager:GetSecretValue", "arn:aws:secretsmanager:eu-west-1:123456789012:secret:console/alice-AbCdEf"),
    ("s3:GetObject", "arn:aws:s3:::any-bucket/any-key"),
])
def test_without_mfa_every_other_action_and_every_other_user_is_denied_whatever_else_is_allowed(mfa, action, resource):
    assert not allowed(action, resource, mfa)


def test_another_user_carrying_the_same_policy_is_limited_to_itself():
    assert allowed("iam:ChangePassword", BOB, WITHOUT_MFA, user="bob")
    assert not allowed("iam:GetUser", ALICE, WITHOUT_MFA, user="bob")


@pytest.mark.parametrize("action, resource", [
    ("iam:GetUser", BOB),
    ("iam:CreateAccessKey", ALICE),
    ("s3:GetObject", "arn:aws:s3:::any-bucket/any-key"),
])
def test_with_mfa_the_persons_own_permissions_apply(action, resource):
    assert allowed(action, resource, WITH_MFA)
    # The policy grants nothing beyond the two actions on itself: the rest is the person's own.
    assert not allowed(action, resource, WITH_MFA, others=())


def test_the_policy_is_the_one_the_enrolment_steps_attach():
    document = json.loads(POLICY.read_text())
    assert document["Version"] == "2012-10-17"
    guide = (ROOT / "docs" / "self-service.md").read_text()
    assert "policies/self-service-user.json" in guide
