"""policies/break-glass-read.json: only a named break-glass role, signed in with MFA, and the
rotation function read a secret's value (docs/reading-the-password.md).

Evaluated with the emulator's IAM policy evaluator (tests/emulator/rotation_emulator/iam_policy.py)
as IAM evaluates a request in the secret's own account: an explicit Deny in the secret's
resource policy or the caller's identity policies refuses; otherwise an Allow in either grants.
The function's identity statements are the template's own."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
import test_template as base  # noqa: E402  (its helpers; no test is collected through this name)

from rotation_emulator.iam_policy import RequestContext, evaluate, parse_document  # noqa: E402

POLICY = base.ROOT / "policies" / "break-glass-read.json"
ACCOUNT = "123456789012"
BREAK_GLASS = f"arn:aws:iam::{ACCOUNT}:role/break-glass"
FUNCTION_ROLE = f"arn:aws:iam::{ACCOUNT}:role/iam-password-rotation-FunctionRole-AbCdEfGh1234"
FUNCTION_ARN = f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:iam-password-rotation"
SECRET = f"arn:aws:secretsmanager:us-east-1:{ACCOUNT}:secret:console/alice-AbCdEf"
ADMIN = f"arn:aws:iam::{ACCOUNT}:role/admin"
EVERYTHING = [{"Effect": "Allow", "Action": "*", "Resource": "*"}]


def filled_policy() -> list:
    text = POLICY.read_text(encoding="utf-8")
    return parse_document(text.replace("BREAK_GLASS_ROLE_ARN", BREAK_GLASS).replace("FUNCTION_ROLE_ARN", FUNCTION_ROLE))


SUBSTITUTIONS = {"AWS::Partition": "aws", "AWS::Region": "us-east-1", "AWS::AccountId": ACCOUNT,
                 "FunctionName": "iam-password-rotation"}


def substituted(value):
    """Fn::Sub of the pseudo parameters and the function's name, as CloudFormation renders it."""
    if isinstance(value, dict) and set(value) == {"Fn::Sub"} and isinstance(value["Fn::Sub"], str):
        return re.sub(r"\$\{([^}]+)\}", lambda m: SUBSTITUTIONS[m.group(1)], value["Fn::Sub"])
    if isinstance(value, dict):
        return {k: substituted(v) for k, v in value.items()}
    if isinstance(value, list):
        return [substituted(v) for v in value]
    return value


def function_statements() -> list:
    """The Secrets Manager statements of the function's role, as deployed with the defaults."""
    template = base.load_template()
    _, function = base.only_resource_of_type(template, "AWS::Serverless::Function")
    role = function["Properties"]["Role"]["Fn::GetAtt"][0]
    statements = [base.resolved(template, statement, {}) for _, statement in base.role_statements(template, role)]
    return [substituted(s) for s in statements
            if any(a.startswith("secretsmanager:") for a in base.as_list(s["Action"]))]


def role_session(role: str, mfa: bool | None, account: str = ACCOUNT) -> RequestContext:
    """A request by a session of `role`; `mfa` None: the key is absent (e.g. no MFA context at all)."""
    keys = {"aws:PrincipalArn": role, "aws:PrincipalAccount": account,
            "secretsmanager:resource/AllowRotationLambdaArn": FUNCTION_ARN}
    if mfa is not None:
        keys["aws:MultiFactorAuthPresent"] = "true" if mfa else "false"
    name = role.rsplit("/", 1)[1]
    return RequestContext(action="secretsmanager:GetSecretValue", resource=SECRET, principal_account=account,
                          principal_arns=frozenset({role, f"arn:aws:sts::{account}:assumed-role/{name}/session"}),
                          keys=keys)


def allowed(ctx: RequestContext, identity: list, action: str = "secretsmanager:GetSecretValue") -> bool:
    ctx.action = action
    resource = evaluate(filled_policy(), ctx, trust=True)
    own = evaluate(identity, ctx, trust=False)
    if resource.denied or own.denied:
        return False
    if ctx.principal_account != ACCOUNT:
        return resource.allowed and own.allowed  # across accounts both sides must allow
    return resource.allowed or own.allowed


def test_the_policy_file_is_json_with_exactly_two_placeholders():
    text = POLICY.read_text(encoding="utf-8")
    json.loads(text)
    assert "BREAK_GLASS_ROLE_ARN" in text and "FUNCTION_ROLE_ARN" in text
    filled = json.dumps(filled_policy())
    assert "ARN\"" not in filled and "arn:aws:iam::" in filled


def test_the_break_glass_role_signed_in_with_mfa_reads_the_password_with_no_permission_of_its_own():
    assert allowed(role_session(BREAK_GLASS, mfa=True), identity=[])


@pytest.mark.parametrize("mfa", [False, None], ids=["mfa false", "no mfa key"])
def test_the_break_glass_role_without_mfa_is_refused_even_with_every_permission(mfa):
    assert not allowed(role_session(BREAK_GLASS, mfa=mfa), identity=EVERYTHING)


def test_the_rotation_function_still_reads_and_writes_its_secret_with_the_templates_statements():
    statements = function_statements()
    for action in ("secretsmanager:GetSecretValue", "secretsmanager:PutSecretValue", "secretsmanager:DescribeSecret"):
        assert allowed(role_session(FUNCTION_ROLE, mfa=None), identity=statements, action=action), action


@pytest.mark.parametrize("caller", [
    ADMIN,
    f"arn:aws:iam::{ACCOUNT}:user/alice",
    f"arn:aws:iam::{ACCOUNT}:role/break-glass-2",
    "arn:aws:iam::210987654321:role/break-glass",  # the same name in another account
])
def test_anyone_else_is_refused_even_with_every_permission_and_mfa(caller):
    account = caller.split(":")[4]
    assert not allowed(role_session(caller, mfa=True, account=account), identity=EVERYTHING)


def test_other_actions_are_left_to_identity_policies():
    ctx = role_session(ADMIN, mfa=None)
    assert allowed(ctx, identity=EVERYTHING, action="secretsmanager:DescribeSecret")
    assert allowed(ctx, identity=EVERYTHING, action="secretsmanager:PutResourcePolicy")
