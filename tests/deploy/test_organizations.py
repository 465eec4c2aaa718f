"""Deployment checks for organisations and the audit (docs/organizations.md).

One central function serves the member accounts of an AWS Organization:
- template.yaml with OrganizationId: the central role may assume the member role, only in
  accounts of the organisation; the audit schedule; the organisation's events on the bus;
- member-role.yaml, a service-managed StackSet in the member accounts: the role the central
  function assumes there, trusted by the central role alone, least privilege;
- central-invoke.yaml, in the central account: Secrets Manager may invoke the function for
  the listed member accounts' secrets, and each member role may (RotateSecret requires it).

The three guards are also shown refusing: a small evaluator of the policies these templates
create (Allow statements; StringEquals, ArnLike, Null) answers the requests an outsider could
make. Run from the repository root:  .venv/bin/python -m pytest tests/deploy -q
"""

from __future__ import annotations

import fnmatch
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
import test_template as base  # noqa: E402  (its helpers; no test is collected through this name)

ROOT = base.ROOT
TEMPLATE = base.TEMPLATE
MEMBER_TEMPLATE = base.MEMBER_TEMPLATE
CENTRAL_INVOKE = base.CENTRAL_INVOKE_TEMPLATE
FORWARDING = base.FORWARDING
README = base.README
GUARANTEES = base.GUARANTEES_PAGE
PERMISSIONS = base.PERMISSIONS_PAGE
GUIDE = base.ORGANIZATIONS_GUIDE

ORGANIZATION_ID = base.ORGANIZATION_ID
OUTSIDE_ORGANIZATION = "o-zz9yy8xx7w"
CENTRAL_ACCOUNT = "123456789012"
MEMBER_ACCOUNT = "111111111111"
OTHER_MEMBER = "222222222222"
OUTSIDER_ACCOUNT = "999999999999"
REGION = "eu-west-1"
CENTRAL_FUNCTION_ARN = f"arn:aws:lambda:{REGION}:{CENTRAL_ACCOUNT}:function:iam-password-rotation"
CENTRAL_ROLE_ARN = f"arn:aws:iam::{CENTRAL_ACCOUNT}:role/iam-password-rotation-FunctionRole-AbCdEfGh"
MEMBER_ROLE_NAME = "iam-password-rotation-member"
PSEUDO = {"AWS::Region": REGION, "AWS::Partition": "aws"}
CENTRAL = {**PSEUDO, "AWS::AccountId": CENTRAL_ACCOUNT}
MEMBER = {**PSEUDO, "AWS::AccountId": MEMBER_ACCOUNT}
MEMBER_PARAMETERS = {
    "CentralRoleArn": CENTRAL_ROLE_ARN,
    "CentralFunctionArn": CENTRAL_FUNCTION_ARN,
    "ExternalId": ORGANIZATION_ID,
    "OrganizationId": ORGANIZATION_ID,
}
CENTRAL_INVOKE_PARAMETERS = {
    "FunctionArn": CENTRAL_FUNCTION_ARN,
    "MemberAccountIds": f"{MEMBER_ACCOUNT},{OTHER_MEMBER}",
}
# What the audit schedule sends the function: exactly this (the function's contract).
AUDIT_REQUEST = {"source": "iam-password-rotation", "detail-type": "IAM Password Audit Requested", "detail": {}}
ORGANIZATION_SIDS = {"AssumeMemberRolesInOrganizationOnly", "ListOrganizationAccounts"}
AUDIT_SIDS = {"ReadCredentialReport", "ListSecrets"}
ALLOW_ROTATION_LAMBDA = "secretsmanager:resource/AllowRotationLambdaArn"


# ---------------------------------------------------------------------------------------
# Rendering templates: intrinsic functions resolved for given parameters and pseudo
# parameters, Fn::ForEach expanded. Resources stay symbolic: <Name> and <Name.Arn>.

NO_VALUE = base.NO_VALUE


def render(template: dict, value, parameters: dict[str, str], bindings: dict[str, str] | None = None):
    """`value` as CloudFormation would deploy it with these parameters (pseudo parameters
    given as "AWS::..." keys), `bindings` being Fn::ForEach identifiers."""
    bindings = bindings or {}
    pseudo = {**base.PSEUDO_PARAMETERS, **{k: v for k, v in parameters.items() if k.startswith("AWS::")}}

    def lookup(name: str):
        if name in bindings:
            return bindings[name]
        if name in template.get("Parameters", {}):
            return base.parameter_value(template, name, parameters)
        if name in pseudo:
            return pseudo[name]
        return f"<{name}>"

    def sub(text: str, variables: dict) -> str:
        def replace(match: re.Match) -> str:
            name = match.group(1)
            if name in variables:
                return str(variables[name])
            if "." in name and name.split(".")[0] in template.get("Resources", {}):
                return f"<{name}>"
            found = lookup(name)
            return ",".join(found) if isinstance(found, list) else str(found)
        return re.sub(r"\$\{([A-Za-z0-9:.]+)\}", replace, text)

    def go(value):
        if isinstance(value, list):
            return [v for v in (go(v) for v in value) if v is not NO_VALUE]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            (key, argument), = value.items()
            if key == "Ref":
                return NO_VALUE if argument == "AWS::NoValue" else lookup(argument)
            if key == "Fn::GetAtt":
                return "<" + ".".join(argument if isinstance(argument, list) else [argument]) + ">"
            if key == "Fn::If":
                condition, when_true, when_false = argument
                return go(when_true if base.condition_is_true(template, condition, parameters) else when_false)
            if key == "Fn::Select":
                index, items = argument
                return go(items)[int(go(index))]
            if key == "Fn::Split":
                separator, text = argument
                return go(text).split(separator)
            if key == "Fn::Join":
                separator, items = argument
                return separator.join(go(items))
            if key == "Fn::Sub":
                text, variables = (argument, {}) if isinstance(argument, str) else argument
                return sub(text, {k: go(v) for k, v in variables.items()})
        rendered = {k: go(v) for k, v in value.items()}
        return {k: v for k, v in rendered.items() if v is not NO_VALUE}

    return go(value)


def deployed_resources(template: dict, parameters: dict[str, str]) -> dict[str, dict]:
    """The resources CloudFormation would create, rendered, with Fn::ForEach expanded."""
    found = {}
    for key, body in template["Resources"].items():
        if key.startswith("Fn::ForEach::"):
            identifier, collection, outputs = body
            for item in render(template, collection, parameters):
                for logical_id, resource in outputs.items():
                    name = logical_id.replace("${%s}" % identifier, item)
                    name = name.replace("&{%s}" % identifier, re.sub(r"[^A-Za-z0-9]", "", item))
                    found[name] = (resource, {identifier: item})
        else:
            found[key] = (body, {})
    created = {}
    for name, (resource, bindings) in found.items():
        if "Condition" in resource and not base.condition_is_true(template, resource["Condition"], parameters):
            continue
        created[name] = render(template, resource, parameters, bindings)
    return created


def role_policy(resources: dict, role: str) -> list[dict]:
    props = resources[role]["Properties"]
    return [s for p in props.get("Policies", []) for s in base.as_list(p["PolicyDocument"]["Statement"])]


def by_sid(statements: list[dict]) -> dict[str, dict]:
    return {s["Sid"]: s for s in statements}


def permission_statement(props: dict) -> dict:
    """The statement an AWS::Lambda::Permission adds to the function's resource policy."""
    principal = props["Principal"]
    principal = {"Service": principal} if principal.endswith(".amazonaws.com") else {"AWS": principal}
    condition: dict = {}
    if "SourceAccount" in props:
        condition.setdefault("StringEquals", {})["AWS:SourceAccount"] = props["SourceAccount"]
    if "SourceArn" in props:
        condition.setdefault("ArnLike", {})["AWS:SourceArn"] = props["SourceArn"]
    if "PrincipalOrgID" in props:
        condition.setdefault("StringEquals", {})["aws:PrincipalOrgID"] = props["PrincipalOrgID"]
    # No Resource: the policy is the function's own (the stacks name it by ARN or by reference).
    statement = {"Effect": "Allow", "Principal": principal, "Action": props["Action"]}
    return {**statement, "Condition": condition} if condition else statement


def function_policy(*resource_sets: dict) -> list[dict]:
    """The function's resource policy: every permission of these stacks."""
    return [permission_statement(r["Properties"]) for resources in resource_sets for r in resources.values()
            if r["Type"] == "AWS::Lambda::Permission"]


# ---------------------------------------------------------------------------------------
# A small policy evaluator: enough for the policies above, and strict about the rest.


def iam_match(pattern: str, value: str) -> bool:
    """IAM's wildcards: * any run of characters, ? one character; nothing else is special."""
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, value, re.S) is not None


def condition_holds(condition: dict | None, context: dict[str, str]) -> bool:
    keys = {k.lower(): v for k, v in context.items()}
    for operator, tests in (condition or {}).items():
        for key, expected in tests.items():
            actual = keys.get(key.lower())
            values = [str(e) for e in base.as_list(expected)]
            if operator == "StringEquals":
                holds = actual is not None and actual in values
            elif operator in ("ArnLike", "ArnEquals", "StringLike"):
                holds = actual is not None and any(iam_match(v, actual) for v in values)
            elif operator == "Null":
                holds = (actual is None) == (values == ["true"])
            else:
                raise AssertionError(f"the evaluator does not know {operator}")
            if not holds:
                return False
    return True


def principal_matches(statement: dict, principal: dict[str, str]) -> bool:
    if "Principal" not in statement:
        return True  # an identity policy: the principal is its role
    named = statement["Principal"]
    if named == "*":
        return True
    (kind, value), = principal.items()
    return any(iam_match(p, value) for p in base.as_list(named.get(kind, [])))


def allows(policy: list[dict], action: str, resource: str, context: dict[str, str],
           principal: dict[str, str] | None = None) -> bool:
    """Whether the policy allows the request; with no Allow that matches, it is refused."""
    assert all(s["Effect"] == "Allow" for s in policy), "the evaluator handles Allow statements only"
    for statement in policy:
        if not any(iam_match(a.lower(), action.lower()) for a in base.as_list(statement["Action"])):
            continue
        if "Resource" in statement and not any(iam_match(r, resource) for r in base.as_list(statement["Resource"])):
            continue
        if principal is not None and not principal_matches(statement, principal):
            continue
        if condition_holds(statement.get("Condition"), context):
            return True
    return False


def test_the_policy_evaluator_refuses_what_no_statement_allows():
    policy = [{"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "arn:aws:iam::*:role/r",
               "Condition": {"StringEquals": {"aws:ResourceOrgID": "o-1"}}}]
    assert allows(policy, "sts:AssumeRole", "arn:aws:iam::1:role/r", {"aws:ResourceOrgID": "o-1"})
    assert not allows(policy, "sts:AssumeRole", "arn:aws:iam::1:role/r", {"aws:ResourceOrgID": "o-2"})
    assert not allows(policy, "sts:AssumeRole", "arn:aws:iam::1:role/r", {}), "a missing key never matches"
    assert not allows(policy, "sts:AssumeRole", "arn:aws:iam::1:role/other", {"aws:ResourceOrgID": "o-1"})
    assert not allows(policy, "sts:TagSession", "arn:aws:iam::1:role/r", {"aws:ResourceOrgID": "o-1"})
    assert condition_holds({"Null": {"aws:ResourceTag/t": "false"}}, {"aws:ResourceTag/t": "x"})
    assert not condition_holds({"Null": {"aws:ResourceTag/t": "false"}}, {})
    with pytest.raises(AssertionError):
        condition_holds({"StringNotEquals": {"k": "v"}}, {})


# ---------------------------------------------------------------------------------------
# Fixtures


@pytest.fixture(scope="module")
def template() -> dict:
    return base.load_template(TEMPLATE)


@pytest.fixture(scope="module")
def member() -> dict:
    return base.load_template(MEMBER_TEMPLATE)


@pytest.fixture(scope="module")
def central_invoke() -> dict:
    return base.load_template(CENTRAL_INVOKE)


def central_stack(template: dict, **parameters: str) -> dict[str, dict]:
    return deployed_resources(template, {**CENTRAL, **parameters})


def central_role(template: dict, **parameters: str) -> dict[str, dict]:
    return by_sid(role_policy(central_stack(template, **parameters), "FunctionRole"))


def member_stack(member: dict, **parameters: str) -> dict[str, dict]:
    return deployed_resources(member, {**MEMBER, **MEMBER_PARAMETERS, **parameters})


def member_role(member: dict, **parameters: str) -> dict[str, dict]:
    return by_sid(role_policy(member_stack(member, **parameters), "MemberRole"))


def member_trust(member: dict, **parameters: str) -> list[dict]:
    props = member_stack(member, **parameters)["MemberRole"]["Properties"]
    return base.as_list(props["AssumeRolePolicyDocument"]["Statement"])


def cfn_lint(path: Path, parameters: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    arguments = [f"{k}={v}" for k, v in (parameters or {}).items()]
    return subprocess.run(
        [*base.cfn_lint_command(), str(path), *(["--parameters", *arguments] if arguments else [])],
        cwd=ROOT, env=base._tool_env(), capture_output=True, text=True, timeout=300,
    )


# ---------------------------------------------------------------------------------------
# The member template: plain CloudFormation for a service-managed StackSet


@pytest.mark.parametrize("path", [MEMBER_TEMPLATE, CENTRAL_INVOKE], ids=lambda p: p.name)
def test_cfn_lint_passes_on_the_organisation_templates(path):
    result = cfn_lint(path)
    assert result.returncode == 0, f"cfn-lint found problems in {path.name}:\n{result.stdout}{result.stderr}"


def test_the_member_template_deploys_with_no_sam_transform_and_every_parameter_has_a_description(member):
    # A service-managed StackSet deploys the template as it is, to accounts that may never
    # have seen SAM: no transform, no SAM resource, and every value a parameter explains.
    assert "Transform" not in member
    assert not [r for r in member["Resources"].values() if r["Type"].startswith("AWS::Serverless::")]
    assert [r["Type"] for r in member["Resources"].values()] == ["AWS::IAM::Role"]
    for name, parameter in member["Parameters"].items():
        assert len(parameter.get("Description", "")) >= 20, name
    grouped = [p for g in member["Metadata"]["AWS::CloudFormation::Interface"]["ParameterGroups"] for p in g["Parameters"]]
    assert sorted(grouped) == sorted(member["Parameters"])
    assert set(member["Parameters"]) == {
        "CentralRoleArn", "CentralFunctionArn", "ExternalId", "OrganizationId", "MemberRoleName", "UserPath",
        "RequireBindingTag", "UpdateLoginProfileStrategy", "CreateLoginProfile", "KmsKeyArn", "AllowResets", "AllowAudit",
    }
    # The values that identify the central function have no default: a StackSet states them once.
    for name in ("CentralRoleArn", "CentralFunctionArn", "ExternalId", "OrganizationId"):
        assert "Default" not in member["Parameters"][name], name


def test_the_member_templates_defaults_are_the_central_stacks(member, template):
    for name in ("MemberRoleName", "UserPath", "RequireBindingTag", "UpdateLoginProfileStrategy",
                 "CreateLoginProfile", "KmsKeyArn"):
        assert str(member["Parameters"][name]["Default"]) == str(template["Parameters"][name]["Default"]), name
        assert member["Parameters"][name].get("AllowedPattern") == template["Parameters"][name].get("AllowedPattern"), name
        assert member["Parameters"][name].get("AllowedValues") == template["Parameters"][name].get("AllowedValues"), name
    # The external id the central function gives by default is the organisation's id.
    assert re.fullmatch(member["Parameters"]["ExternalId"]["AllowedPattern"], ORGANIZATION_ID)
    assert re.fullmatch(member["Parameters"]["CentralFunctionArn"]["AllowedPattern"], CENTRAL_FUNCTION_ARN)
    assert re.fullmatch(member["Parameters"]["CentralRoleArn"]["AllowedPattern"], CENTRAL_ROLE_ARN)


def test_the_member_roles_trust_admits_only_the_central_role_with_the_external_id_inside_the_organisation(member):
    role = member["Resources"]["MemberRole"]["Properties"]
    assert role["RoleName"] == {"Ref": "MemberRoleName"}
    assert "ManagedPolicyArns" not in role and "PermissionsBoundary" not in role
    (statement,) = member_trust(member)
    assert statement == {
        "Effect": "Allow",
        "Principal": {"AWS": CENTRAL_ROLE_ARN},
        "Action": "sts:AssumeRole",
        "Condition": {"StringEquals": {"sts:ExternalId": ORGANIZATION_ID, "aws:PrincipalOrgID": ORGANIZATION_ID}},
    }


def test_every_secrets_manager_statement_of_the_member_role_but_the_audits_list_names_the_central_function(member):
    for parameters in ({"AllowResets": "true"},
                       {"KmsKeyArn": base.FAKE_KMS_KEY, "CreateLoginProfile": "true", "AllowResets": "true"}):
        statements = member_role(member, **parameters)
        secrets = {sid: s for sid, s in statements.items() if any(a.startswith("secretsmanager:") for a in base.actions_of(s))}
        assert set(secrets) == {"RotateOnlySecretsThatNameThisFunction", "StartRotationsOfSecretsThatNameThisFunction", "ListSecrets"}
        for sid, statement in secrets.items():
            if sid == "ListSecrets":
                # Metadata only, and an action with no resource or condition to scope it by.
                assert base.actions_of(statement) == {"secretsmanager:ListSecrets"}
                assert statement["Resource"] == "*" and "Condition" not in statement
                continue
            assert statement["Condition"] == {"StringEquals": {ALLOW_ROTATION_LAMBDA: CENTRAL_FUNCTION_ARN}}, sid
            # This account's secrets, in the central function's region.
            assert statement["Resource"] == f"arn:aws:secretsmanager:{REGION}:{MEMBER_ACCOUNT}:secret:*", sid


def test_the_member_role_mirrors_the_central_roles_least_privilege_statements(member, template):
    everything = {"CreateLoginProfile": "true", "KmsKeyArn": base.FAKE_KMS_KEY}
    mine = member_role(member, **everything, AllowResets="true")
    central = central_role(template, **everything, OrganizationId=ORGANIZATION_ID, **base.ALL_TRIGGERS_ON)
    # The same Sids where they mean the same thing, with the same actions.
    shared = {
        "RotateOnlySecretsThatNameThisFunction", "ReadUsersUnderPath", "UpdateConsolePasswordsOfUsersUnderPath",
        "CreateConsolePasswordsOfUsersUnderPath", "ReadAccountPasswordPolicy", "UseSecretsKeyThroughSecretsManagerOnly",
        "StartRotationsOfSecretsThatNameThisFunction", "InvokeThisFunctionToStartRotations",
        "ReadCredentialReport", "ListSecrets",
    }
    assert set(mine) == shared
    for sid in shared:
        assert base.actions_of(mine[sid]) == base.actions_of(central[sid]), sid
    # What only the central account does: logs, schedules, outcome events, member roles.
    # (The audit's fan-out invokes the central function, as InvokeThisFunctionToStartRotations does.)
    central_only = {a for sid in set(central) - shared - {"InvokeThisFunctionToAuditEachAccount"}
                    for a in base.actions_of(central[sid])}
    assert not central_only & {a for s in mine.values() for a in base.actions_of(s)}
    granted = {a for s in mine.values() for a in base.actions_of(s)}
    assert granted <= base.EXPECTED_ACTIONS - base.ORGANIZATION_ACTIONS - base.OUTCOME_ACTIONS
    assert "kms:Encrypt" not in granted and not [a for a in granted if "*" in a]
    assert mine["InvokeThisFunctionToStartRotations"]["Resource"] == CENTRAL_FUNCTION_ARN
    assert mine["UseSecretsKeyThroughSecretsManagerOnly"]["Condition"] == {
        "StringEquals": {"kms:ViaService": f"secretsmanager.{REGION}.amazonaws.com"}
    }
    for sid, statement in mine.items():
        if statement["Resource"] == "*":
            assert base.actions_of(statement) == base.ACCOUNT_LEVEL_STATEMENTS[sid], sid


@pytest.mark.parametrize("require_binding_tag", ["true", "false"])
def test_the_member_roles_iam_actions_are_scoped_to_the_user_path_and_its_writes_to_tagged_users(member, require_binding_tag):
    statements = member_role(member, UserPath="/rotated/", CreateLoginProfile="true", RequireBindingTag=require_binding_tag)
    users = f"arn:aws:iam::{MEMBER_ACCOUNT}:user/rotated/*"
    for sid, statement in statements.items():
        actions = base.actions_of(statement)
        if actions & base.IAM_USER_ACTIONS:
            assert actions <= base.IAM_USER_ACTIONS and statement["Resource"] == users, sid
    assert "Condition" not in statements["ReadUsersUnderPath"]
    for sid in ("UpdateConsolePasswordsOfUsersUnderPath", "CreateConsolePasswordsOfUsersUnderPath"):
        expected = base.TAG_PRESENT if require_binding_tag == "true" else None
        assert statements[sid].get("Condition") == expected, sid


def test_the_member_role_writes_passwords_resets_and_audits_only_when_allowed(member):
    assert set(member_role(member, AllowResets="true")) >= {
        "UpdateConsolePasswordsOfUsersUnderPath", "StartRotationsOfSecretsThatNameThisFunction",
        "InvokeThisFunctionToStartRotations", "ReadCredentialReport", "ListSecrets"}
    assert "CreateConsolePasswordsOfUsersUnderPath" not in member_role(member)
    assert "UseSecretsKeyThroughSecretsManagerOnly" not in member_role(member)
    least = member_role(member, UpdateLoginProfileStrategy="false", AllowResets="false", AllowAudit="false")
    assert set(least) == {"RotateOnlySecretsThatNameThisFunction", "ReadUsersUnderPath", "ReadAccountPasswordPolicy"}
    assert base.rules_refusing(member, {**MEMBER_PARAMETERS, "CreateLoginProfile": "true", "UpdateLoginProfileStrategy": "false"}) == {
        "CreateLoginProfileNeedsUpdateLoginProfileStrategy"
    }


def test_member_resets_are_off_by_default_so_no_member_role_may_invoke_the_function(member, central_invoke):
    # A principal that may invoke the function may send it any payload: by default no
    # principal of a member account may (docs/organizations.md, "Member resets").
    assert member["Parameters"]["AllowResets"]["Default"] == "false"
    assert central_invoke["Parameters"]["MemberResets"]["Default"] == "false"
    assert not {"StartRotationsOfSecretsThatNameThisFunction", "InvokeThisFunctionToStartRotations"} & set(member_role(member))
    invoke = deployed_resources(central_invoke, {**CENTRAL, **CENTRAL_INVOKE_PARAMETERS})
    assert {r["Properties"]["Principal"] for r in invoke.values()} == {"secretsmanager.amazonaws.com"}
    policy = function_policy(deployed_resources(central_invoke, {**CENTRAL, **CENTRAL_INVOKE_PARAMETERS}))
    for account in (MEMBER_ACCOUNT, OTHER_MEMBER):
        member_role_arn = f"arn:aws:iam::{account}:role/{MEMBER_ROLE_NAME}"
        assert not allows(policy, "lambda:InvokeFunction", "*", {"aws:PrincipalOrgID": ORGANIZATION_ID},
                          {"AWS": member_role_arn}), account
    # Turning them on names the service control policy that must come with them.
    assert "member-role-scp.json" in " ".join(central_invoke["Parameters"]["MemberResets"]["Description"].split())


# ---------------------------------------------------------------------------------------
# The central template: OrganizationId, the member role, the audit


def test_the_organisation_parameters_are_grouped_with_safe_defaults(template):
    parameters = template["Parameters"]
    assert parameters["OrganizationId"]["Default"] == ""
    pattern = parameters["OrganizationId"]["AllowedPattern"]
    assert re.fullmatch(pattern, "") and re.fullmatch(pattern, ORGANIZATION_ID)
    assert not re.fullmatch(pattern, "o-short") and not re.fullmatch(pattern, "r-a1b2c3d4e5")
    assert parameters["MemberRoleName"]["Default"] == MEMBER_ROLE_NAME
    assert parameters["MemberExternalId"]["Default"] == ""
    assert parameters["AuditSchedule"]["Default"] == "rate(1 day)"
    for expression in ("rate(1 day)", "cron(0 6 * * ? *)", ""):
        assert re.fullmatch(parameters["AuditSchedule"]["AllowedPattern"], expression), expression
    assert parameters["AuditAccounts"]["Default"] == ""
    assert re.fullmatch(parameters["AuditAccounts"]["AllowedPattern"], f"{MEMBER_ACCOUNT},{OTHER_MEMBER}")
    assert not re.fullmatch(parameters["AuditAccounts"]["AllowedPattern"], f"{MEMBER_ACCOUNT}, {OTHER_MEMBER}")
    assert parameters["AuditResetDrift"]["Default"] == "false"
    groups = {g["Label"]["default"]: g["Parameters"] for g in template["Metadata"]["AWS::CloudFormation::Interface"]["ParameterGroups"]}
    assert groups["Organisation"] == ["OrganizationId", "MemberRoleName", "MemberExternalId"]
    assert groups["Audit"] == ["AuditSchedule", "AuditAccounts", "AuditResetDrift"]
    grouped = [p for names in groups.values() for p in names]
    assert sorted(grouped) == sorted(parameters), "every parameter is in one group"


def test_the_central_roles_assume_role_statement_requires_the_organisation_of_the_role_assumed(template):
    statements = base.role_statements(template, "FunctionRole")
    ((condition, statement),) = [(c, s) for c, s in statements if "sts:AssumeRole" in base.actions_of(s)]
    assert template["Conditions"][condition] == {"Fn::Not": [{"Fn::Equals": [{"Ref": "OrganizationId"}, ""]}]}
    assert statement["Sid"] == "AssumeMemberRolesInOrganizationOnly"
    assert base.actions_of(statement) == {"sts:AssumeRole"}
    assert base.flatten(statement["Resource"]) == "arn:${AWS::Partition}:iam::*:role/${MemberRoleName}"
    assert statement["Condition"] == {"StringEquals": {"aws:ResourceOrgID": {"Ref": "OrganizationId"}}}


def test_with_organization_id_empty_nothing_cross_account_is_granted_and_no_organisation_permission_exists(template):
    for parameters in ({}, {**base.ALL_TRIGGERS_ON, "AuditResetDrift": "true"}):
        stack = central_stack(template, **parameters)
        statements = role_policy(stack, "FunctionRole")
        granted = {a for s in statements for a in base.actions_of(s)}
        assert not granted & base.ORGANIZATION_ACTIONS
        assert not {s["Sid"] for s in statements} & ORGANIZATION_SIDS
        assert "aws:PrincipalOrgID" not in json.dumps(stack) and "aws:ResourceOrgID" not in json.dumps(stack)
        variables = stack["RotationFunction"]["Properties"]["Environment"]["Variables"]
        assert variables["MEMBER_ROLE_NAME"] == "" and variables["MEMBER_EXTERNAL_ID"] == "", "unset: this account only"
        # Secrets Manager, for this account's secrets only.
        permissions = [r["Properties"] for r in stack.values() if r["Type"] == "AWS::Lambda::Permission"
                       and r["Properties"]["Principal"] == "secretsmanager.amazonaws.com"]
        assert permissions == [{**permissions[0], "SourceAccount": CENTRAL_ACCOUNT}]
        assert "OrganizationEventsPolicy" not in stack
    # The audit's own permissions stay: the audit covers this account.
    assert AUDIT_SIDS <= set(central_role(template))


@pytest.mark.parametrize("audit_accounts, lists", [("", True), (f"{MEMBER_ACCOUNT},{OTHER_MEMBER}", False)])
def test_list_organization_accounts_is_granted_only_for_an_audit_of_the_whole_organisation(template, audit_accounts, lists):
    statements = central_role(template, OrganizationId=ORGANIZATION_ID, AuditAccounts=audit_accounts)
    assert ("ListOrganizationAccounts" in statements) is lists
    if lists:
        assert statements["ListOrganizationAccounts"] == {
            "Sid": "ListOrganizationAccounts", "Effect": "Allow",
            "Action": ["organizations:ListAccounts", "organizations:DescribeAccount"], "Resource": "*",
        }
    assert "AssumeMemberRolesInOrganizationOnly" in statements
    no_audit = central_role(template, OrganizationId=ORGANIZATION_ID, AuditSchedule="")
    assert "ListOrganizationAccounts" not in no_audit and not AUDIT_SIDS & set(no_audit)


def test_the_audit_may_invoke_only_this_function_and_only_to_fan_out_across_an_organisation(template):
    statements = central_role(template, OrganizationId=ORGANIZATION_ID)
    fan_out = statements["InvokeThisFunctionToAuditEachAccount"]
    assert base.actions_of(fan_out) == {"lambda:InvokeFunction"}
    assert fan_out["Resource"] == CENTRAL_FUNCTION_ARN
    assert "Condition" not in fan_out
    assert "InvokeThisFunctionToAuditEachAccount" not in central_role(template)
    assert "InvokeThisFunctionToAuditEachAccount" not in central_role(
        template, OrganizationId=ORGANIZATION_ID, AuditSchedule="")


def test_the_function_gets_the_member_role_and_the_external_id_only_with_an_organisation(template):
    def variables(**parameters):
        return central_stack(template, **parameters)["RotationFunction"]["Properties"]["Environment"]["Variables"]

    on = variables(OrganizationId=ORGANIZATION_ID)
    # The external id defaults to the organisation's id, which member-role.yaml's trust requires.
    assert on["MEMBER_ROLE_NAME"] == MEMBER_ROLE_NAME and on["MEMBER_EXTERNAL_ID"] == ORGANIZATION_ID
    own = variables(OrganizationId=ORGANIZATION_ID, MemberExternalId="rotation-external-id", MemberRoleName="rotator")
    assert own["MEMBER_ROLE_NAME"] == "rotator" and own["MEMBER_EXTERNAL_ID"] == "rotation-external-id"
    off = variables(MemberExternalId="rotation-external-id")
    assert off["MEMBER_ROLE_NAME"] == "" and off["MEMBER_EXTERNAL_ID"] == ""
    audit = variables(OrganizationId=ORGANIZATION_ID, AuditAccounts=MEMBER_ACCOUNT, AuditResetDrift="true", UserPath="/rotated/")
    assert (audit["AUDIT_ACCOUNTS"], audit["AUDIT_RESET_DRIFT"], audit["USER_PATH"]) == (MEMBER_ACCOUNT, "true", "/rotated/")
    assert re.fullmatch(template["Parameters"]["MemberExternalId"]["AllowedPattern"], "rotation-external-id")


def test_the_rules_refuse_audit_accounts_without_an_organisation_and_drift_resets_without_an_audit(template):
    assert base.rules_refusing(template, {"AuditAccounts": MEMBER_ACCOUNT}) == {"AuditAccountsNeedOrganizationId"}
    assert not base.rules_refusing(template, {"AuditAccounts": MEMBER_ACCOUNT, "OrganizationId": ORGANIZATION_ID})
    assert base.rules_refusing(template, {"AuditResetDrift": "true", "AuditSchedule": ""}) == {"AuditResetDriftNeedsAuditSchedule"}
    assert not base.rules_refusing(template, {"AuditResetDrift": "true"})


def test_the_outputs_give_what_the_member_template_and_central_invoke_need(template, member):
    outputs = template["Outputs"]
    assert outputs["FunctionRoleArn"]["Value"] == {"Fn::GetAtt": ["FunctionRole", "Arn"]}
    assert outputs["FunctionArn"]["Value"] == {"Fn::GetAtt": ["RotationFunction", "Arn"]}
    assert outputs["MemberExternalId"]["Condition"] == "CrossAccountOn"
    assert render(template, outputs["MemberExternalId"]["Value"], {"OrganizationId": ORGANIZATION_ID}) == ORGANIZATION_ID
    steps = render(template, outputs["OrganizationNextSteps"]["Value"], {**CENTRAL, "OrganizationId": ORGANIZATION_ID})
    for name in ("member-role.yaml", "central-invoke.yaml", "CentralRoleArn=", "CentralFunctionArn=", "MemberRoleName="):
        assert name in steps, name
    # Each name the output gives is a parameter of the member template.
    for name in re.findall(r"(\w+)=", steps):
        assert name in member["Parameters"], name


# ---------------------------------------------------------------------------------------
# The audit schedule


def test_the_audit_schedule_sends_exactly_the_audit_request_to_the_function(template):
    schedule = central_stack(template)["AuditInvocationSchedule"]
    assert schedule["Type"] == "AWS::Scheduler::Schedule"
    target = schedule["Properties"]["Target"]
    assert json.loads(target["Input"]) == AUDIT_REQUEST
    assert target["Arn"] == "<RotationFunction.Arn>"
    assert target["RoleArn"] == "<AuditSchedulerRole.Arn>"
    assert set(target) == {"Arn", "RoleArn", "Input", "DeadLetterConfig", "RetryPolicy"}
    # The guide shows the same request (to run an audit by hand).
    assert AUDIT_REQUEST in [json.loads(block) for block in base.json_blocks(GUIDE)]


def test_the_audit_schedule_runs_daily_by_default_in_its_own_group_with_a_role_that_may_only_invoke_the_function(template):
    stack = central_stack(template)
    props = stack["AuditInvocationSchedule"]["Properties"]
    assert props["ScheduleExpression"] == "rate(1 day)"
    assert props["FlexibleTimeWindow"] == {"Mode": "OFF"}
    assert props["State"] == "ENABLED"
    assert props["GroupName"] == "<AuditScheduleGroup>"
    assert stack["AuditScheduleGroup"]["Properties"]["Name"] == "iam-password-rotation-audit"
    assert central_stack(template, AuditSchedule="cron(0 6 * * ? *)")["AuditInvocationSchedule"]["Properties"][
        "ScheduleExpression"] == "cron(0 6 * * ? *)"
    role = stack["AuditSchedulerRole"]["Properties"]
    assert "ManagedPolicyArns" not in role
    assert role["AssumeRolePolicyDocument"]["Statement"] == [{
        "Effect": "Allow",
        "Principal": {"Service": "scheduler.amazonaws.com"},
        "Action": "sts:AssumeRole",
        "Condition": {"StringEquals": {"aws:SourceAccount": CENTRAL_ACCOUNT, "aws:SourceArn": "<AuditScheduleGroup.Arn>"}},
    }]
    # Besides invoking: delivering what it could not to the dead-letter queue (test_alarms.py).
    (statement,) = [s for s in role_policy(stack, "AuditSchedulerRole") if s.get("Sid") != "SendUndeliveredToDeadLetterQueue"]
    assert base.actions_of(statement) == {"lambda:InvokeFunction"}
    assert statement["Resource"] == f"arn:aws:lambda:{REGION}:{CENTRAL_ACCOUNT}:function:iam-password-rotation"
    # The function has no permission on the audit's group, and cannot pass the audit's role.
    everything = central_role(template, **base.ALL_TRIGGERS_ON, AuditResetDrift="true")
    assert not [s for s in everything.values() if "audit" in json.dumps(s.get("Resource"))]
    assert everything["PassSchedulerRoleToSchedulerOnly"]["Resource"] == "<SchedulerRole.Arn>"
    # <FunctionName>-audit fits a schedule group name (64 characters at most).
    assert len("f" * 57 + "-audit") <= 64


def test_without_an_audit_schedule_there_is_no_audit_schedule_and_no_audit_permission(template):
    stack = central_stack(template, AuditSchedule="", OrganizationId=ORGANIZATION_ID)
    assert not {"AuditScheduleGroup", "AuditSchedulerRole", "AuditInvocationSchedule"} & set(stack)
    granted = {a for s in role_policy(stack, "FunctionRole") for a in base.actions_of(s)}
    assert not granted & (base.AUDIT_ACTIONS | {"organizations:ListAccounts"})
    assert "sts:AssumeRole" in granted, "rotations in member accounts do not need the audit"


def test_the_audit_resets_drift_through_the_reset_mechanism_only_when_asked(template):
    off = {**base.ALL_TRIGGERS_OFF}
    assert not set(central_role(template, **off)) & {"StartRotationsOfSecretsThatNameThisFunction", "ManageSchedulesInOwnResetGroupOnly"}
    resets = central_stack(template, **off, AuditResetDrift="true")
    statements = by_sid(role_policy(resets, "FunctionRole"))
    granted = {a for s in statements.values() for a in base.actions_of(s)}
    assert base.RESET_ACTIONS <= granted, "RotateSecret, and a schedule when a rotation is in progress"
    assert {"ResetScheduleGroup", "SchedulerRole"} <= set(resets)
    assert not [r for r in resets.values() if r["Type"] == "AWS::Events::Rule"], "no trigger rule"
    variables = resets["RotationFunction"]["Properties"]["Environment"]["Variables"]
    assert variables["AUDIT_RESET_DRIFT"] == "true" and variables["SCHEDULE_GROUP"] == "<ResetScheduleGroup>"
    assert "dry run" in template["Parameters"]["AuditResetDrift"]["Description"]


# ---------------------------------------------------------------------------------------
# The invoke permission: Secrets Manager for this account and the listed member accounts


def test_the_central_function_admits_secrets_manager_for_its_own_account_and_the_listed_member_accounts_only(
    template, central_invoke
):
    central = central_stack(template, OrganizationId=ORGANIZATION_ID)
    invoke = deployed_resources(central_invoke, {**CENTRAL, **CENTRAL_INVOKE_PARAMETERS})
    # Every permission for Secrets Manager names one account as SourceAccount: no permission
    # admits the service without one.
    secrets_manager = [r["Properties"] for r in [*central.values(), *invoke.values()]
                       if r["Type"] == "AWS::Lambda::Permission" and r["Properties"]["Principal"] == "secretsmanager.amazonaws.com"]
    assert sorted(p["SourceAccount"] for p in secrets_manager) == sorted([CENTRAL_ACCOUNT, MEMBER_ACCOUNT, OTHER_MEMBER])
    for props in secrets_manager:
        assert set(props) == {"Action", "FunctionName", "Principal", "SourceAccount"}
        assert props["Action"] == "lambda:InvokeFunction"
    assert {p["FunctionName"] for p in secrets_manager} == {"<RotationFunction.Arn>", CENTRAL_FUNCTION_ARN}
    # One permission per listed account, whatever the list.
    three = deployed_resources(central_invoke, {**CENTRAL, **CENTRAL_INVOKE_PARAMETERS,
                                                "MemberAccountIds": f"{MEMBER_ACCOUNT},{OTHER_MEMBER},333333333333"})
    assert sorted(n for n in three if n.startswith("SecretsManagerInvokePermission")) == [
        f"SecretsManagerInvokePermission{a}" for a in (MEMBER_ACCOUNT, OTHER_MEMBER, "333333333333")
    ]
    pattern = central_invoke["Parameters"]["MemberAccountIds"]["AllowedPattern"]
    assert re.fullmatch(pattern, MEMBER_ACCOUNT) and not re.fullmatch(pattern, "*") and not re.fullmatch(pattern, "")
    assert central_invoke["Parameters"]["MemberAccountIds"]["Type"] == "CommaDelimitedList"
    assert "Default" not in central_invoke["Parameters"]["MemberAccountIds"]


def test_the_central_invoke_template_is_only_lambda_permissions_through_the_language_extensions(central_invoke):
    # Fn::ForEach needs the AWS::LanguageExtensions transform; template.yaml keeps the SAM
    # transform alone, which the Serverless Application Repository accepts.
    assert central_invoke["Transform"] == "AWS::LanguageExtensions"
    assert load_transforms(TEMPLATE) == ["AWS::Serverless-2016-10-31"]
    (loop,) = central_invoke["Resources"].values()
    _, collection, outputs = loop
    assert collection == {"Ref": "MemberAccountIds"}
    assert {r["Type"] for r in outputs.values()} == {"AWS::Lambda::Permission"}
    for name, parameter in central_invoke["Parameters"].items():
        assert len(parameter.get("Description", "")) >= 20, name


def load_transforms(path: Path) -> list[str]:
    return base.as_list(base.load_template(path).get("Transform", []))


def test_the_central_invoke_permissions_admit_each_member_role_and_no_other_principal_of_the_member_accounts(central_invoke):
    invoke = deployed_resources(central_invoke, {**CENTRAL, **CENTRAL_INVOKE_PARAMETERS, "MemberResets": "true"})
    roles = [r["Properties"] for r in invoke.values() if r["Properties"]["Principal"] != "secretsmanager.amazonaws.com"]
    assert sorted(p["Principal"] for p in roles) == [
        f"arn:aws:iam::{account}:role/{MEMBER_ROLE_NAME}" for account in (MEMBER_ACCOUNT, OTHER_MEMBER)
    ]
    for props in roles:
        assert set(props) == {"Action", "FunctionName", "Principal"} and props["Action"] == "lambda:InvokeFunction"
    # Without member resets, Secrets Manager alone.
    without = deployed_resources(central_invoke, {**CENTRAL, **CENTRAL_INVOKE_PARAMETERS, "MemberResets": "false"})
    assert {r["Properties"]["Principal"] for r in without.values()} == {"secretsmanager.amazonaws.com"}


# ---------------------------------------------------------------------------------------
# The three guards, refusing


def test_the_central_role_is_refused_a_member_role_outside_the_organisation(template):
    # Guard 1: even if an outsider creates a role of the member role's name that trusts the
    # central role, the central role's own policy refuses to assume it.
    policy = role_policy(central_stack(template, OrganizationId=ORGANIZATION_ID), "FunctionRole")
    inside = f"arn:aws:iam::{MEMBER_ACCOUNT}:role/{MEMBER_ROLE_NAME}"
    outside = f"arn:aws:iam::{OUTSIDER_ACCOUNT}:role/{MEMBER_ROLE_NAME}"
    assert allows(policy, "sts:AssumeRole", inside, {"aws:ResourceOrgID": ORGANIZATION_ID})
    assert not allows(policy, "sts:AssumeRole", outside, {"aws:ResourceOrgID": OUTSIDE_ORGANIZATION})
    assert not allows(policy, "sts:AssumeRole", outside, {}), "an account in no organisation"
    # Nor any other role of a member account, whatever its trust policy says.
    assert not allows(policy, "sts:AssumeRole", f"arn:aws:iam::{MEMBER_ACCOUNT}:role/admin", {"aws:ResourceOrgID": ORGANIZATION_ID})
    # And without OrganizationId, no role at all.
    off = role_policy(central_stack(template), "FunctionRole")
    assert not allows(off, "sts:AssumeRole", inside, {"aws:ResourceOrgID": ORGANIZATION_ID})


def test_secrets_manager_is_refused_on_behalf_of_an_account_that_is_not_listed(template, central_invoke):
    # Guard 2: a secret in another account that names the central function as its rotation
    # function: Secrets Manager may not invoke it (nor may RotateSecret's caller there).
    policy = function_policy(
        central_stack(template, OrganizationId=ORGANIZATION_ID),
        deployed_resources(central_invoke, {**CENTRAL, **CENTRAL_INVOKE_PARAMETERS, "MemberResets": "true"}),
    )
    service = {"Service": "secretsmanager.amazonaws.com"}
    for account in (CENTRAL_ACCOUNT, MEMBER_ACCOUNT, OTHER_MEMBER):
        assert allows(policy, "lambda:InvokeFunction", "*", {"aws:SourceAccount": account}, service), account
    assert not allows(policy, "lambda:InvokeFunction", "*", {"aws:SourceAccount": OUTSIDER_ACCOUNT}, service)
    assert not allows(policy, "lambda:InvokeFunction", "*", {}, service), "no SourceAccount, no invocation"
    member_role_arn = f"arn:aws:iam::{MEMBER_ACCOUNT}:role/{MEMBER_ROLE_NAME}"
    assert allows(policy, "lambda:InvokeFunction", "*", {}, {"AWS": member_role_arn})
    for principal in (f"arn:aws:iam::{OUTSIDER_ACCOUNT}:role/{MEMBER_ROLE_NAME}", f"arn:aws:iam::{MEMBER_ACCOUNT}:role/admin",
                      f"arn:aws:iam::{MEMBER_ACCOUNT}:root"):
        assert not allows(policy, "lambda:InvokeFunction", "*", {"aws:PrincipalOrgID": ORGANIZATION_ID}, {"AWS": principal}), principal


def test_the_member_role_refuses_every_principal_but_the_central_role_and_a_wrong_external_id(member):
    # Guard 3: only the central role, with the external id, from inside the organisation.
    trust = member_trust(member)
    right = {"sts:ExternalId": ORGANIZATION_ID, "aws:PrincipalOrgID": ORGANIZATION_ID}
    assert allows(trust, "sts:AssumeRole", "*", right, {"AWS": CENTRAL_ROLE_ARN})
    assert not allows(trust, "sts:AssumeRole", "*", {**right, "sts:ExternalId": "guessed"}, {"AWS": CENTRAL_ROLE_ARN})
    assert not allows(trust, "sts:AssumeRole", "*", {"aws:PrincipalOrgID": ORGANIZATION_ID}, {"AWS": CENTRAL_ROLE_ARN})
    for principal in (f"arn:aws:iam::{CENTRAL_ACCOUNT}:role/admin", f"arn:aws:iam::{CENTRAL_ACCOUNT}:root",
                      f"arn:aws:iam::{OUTSIDER_ACCOUNT}:role/iam-password-rotation-FunctionRole-AbCdEfGh"):
        assert not allows(trust, "sts:AssumeRole", "*", right, {"AWS": principal}), principal
    assert not allows(trust, "sts:AssumeRole", "*", {**right, "aws:PrincipalOrgID": OUTSIDE_ORGANIZATION}, {"AWS": CENTRAL_ROLE_ARN})


# ---------------------------------------------------------------------------------------
# Events from member accounts


FORWARDER = f"arn:aws:iam::{MEMBER_ACCOUNT}:role/iam-password-rotation-forwarding/forwarding-ForwardingRole-AbCd"


def put_events_allowed(statement: dict, principal_arn: str, source: str, org: str = ORGANIZATION_ID) -> bool:
    context = {"aws:PrincipalOrgID": org, "aws:PrincipalArn": principal_arn, "events:source": source}
    return allows([statement], "events:PutEvents", statement["Resource"], context, {"AWS": principal_arn})


def test_member_accounts_may_put_on_the_central_default_bus_only_the_forwarded_events_through_the_forwarding_role(template):
    stack = central_stack(template, OrganizationId=ORGANIZATION_ID, BreakGlassResets="true")
    policy = stack["OrganizationEventsPolicy"]["Properties"]
    assert policy["EventBusName"] == "default"
    assert re.fullmatch(r"[A-Za-z0-9_-]{1,64}", render(template, {"Fn::Sub": "${FunctionName}-org"}, {"FunctionName": "f" * 57}))
    statement = policy["Statement"]
    assert statement == {
        "Effect": "Allow", "Principal": "*", "Action": "events:PutEvents",
        "Resource": f"arn:aws:events:{REGION}:{CENTRAL_ACCOUNT}:event-bus/default",
        "Condition": {
            "StringEquals": {"aws:PrincipalOrgID": ORGANIZATION_ID, "events:source": ["aws.signin"]},
            "ArnLike": {"aws:PrincipalArn": "arn:aws:iam::*:role/iam-password-rotation-forwarding/*"},
        },
    }
    assert put_events_allowed(statement, FORWARDER, "aws.signin")
    assert not put_events_allowed(statement, FORWARDER, "aws.signin", org=OUTSIDE_ORGANIZATION)
    # Any other principal of the organisation (an administrator, an application role) may put
    # nothing on the security account's bus, whatever the source.
    for principal in (f"arn:aws:iam::{MEMBER_ACCOUNT}:role/admin", f"arn:aws:iam::{MEMBER_ACCOUNT}:user/app",
                      f"arn:aws:iam::{MEMBER_ACCOUNT}:role/forwarding-ForwardingRole-AbCd"):
        for source in ("aws.signin", "iam-password-rotation", "com.example.app"):
            assert not put_events_allowed(statement, principal, source), (principal, source)
    # Nor may the forwarding role put other sources: a custom event, or a source no trigger uses.
    for source in ("iam-password-rotation", "com.example.app", "aws.iam", "aws.secretsmanager", "aws.securityhub"):
        assert not put_events_allowed(statement, FORWARDER, source), source
    # Only when member accounts have events to forward, and only with an organisation.
    assert "OrganizationEventsPolicy" not in central_stack(template, OrganizationId=ORGANIZATION_ID)
    assert "OrganizationEventsPolicy" not in central_stack(template, BreakGlassResets="true")


def test_the_organisation_bus_policy_admits_exactly_the_sources_of_the_forwardable_triggers_that_are_on(template):
    triggers = {"BreakGlassResets": "aws.signin", "CheckoutResets": "aws.secretsmanager", "DriftRepair": "aws.iam"}
    every = central_stack(template, OrganizationId=ORGANIZATION_ID, **{t: "true" for t in triggers})
    sources = every["OrganizationEventsPolicy"]["Properties"]["Statement"]["Condition"]["StringEquals"]["events:source"]
    assert sorted(sources) == sorted(triggers.values())
    for trigger, source in triggers.items():
        one = central_stack(template, OrganizationId=ORGANIZATION_ID, **{trigger: "true"})
        assert one["OrganizationEventsPolicy"]["Properties"]["Statement"]["Condition"]["StringEquals"]["events:source"] == [source]


def test_forwarding_rules_use_a_role_under_the_path_the_central_bus_admits_and_forward_only_those_sources(template):
    forwarding = base.load_template(FORWARDING)
    parameters = {"TargetEventBusArn": f"arn:aws:events:{REGION}:{CENTRAL_ACCOUNT}:event-bus/default",
                  "ForwardSignIns": "true", "ForwardSecretReads": "true", "ForwardIamDrift": "true", **MEMBER}
    resources = deployed_resources(forwarding, parameters)
    assert resources["ForwardingRole"]["Properties"]["Path"] == "/iam-password-rotation-forwarding/"
    admitted = central_stack(template, OrganizationId=ORGANIZATION_ID, BreakGlassResets="true", CheckoutResets="true",
                             DriftRepair="true")["OrganizationEventsPolicy"]["Properties"]["Statement"]
    for name, rule in resources.items():
        if rule["Type"] != "AWS::Events::Rule":
            continue
        assert [t["RoleArn"] for t in rule["Properties"]["Targets"]] == ["<ForwardingRole.Arn>"], name
        for source in rule["Properties"]["EventPattern"]["source"]:
            assert put_events_allowed(admitted, FORWARDER, source), (name, source)


@pytest.mark.parametrize("target_account, target_region, forwards", [
    (CENTRAL_ACCOUNT, REGION, True),      # a member account, in the central function's region
    (CENTRAL_ACCOUNT, "us-east-1", True),  # a member account, another region
    (MEMBER_ACCOUNT, REGION, False),       # its own bus in its own region: would loop
    (MEMBER_ACCOUNT, "us-east-1", True),   # its own bus elsewhere (a single-account deployment)
])
def test_forwarding_targets_any_bus_but_its_own_in_its_own_region(target_account, target_region, forwards):
    forwarding = base.load_template(FORWARDING)
    parameters = {
        "TargetEventBusArn": f"arn:aws:events:{target_region}:{target_account}:event-bus/default",
        "ForwardSignIns": "true", "ForwardSecretReads": "true", "ForwardIamDrift": "true", **MEMBER,
    }
    rules = {n for n, r in deployed_resources(forwarding, parameters).items() if r["Type"] == "AWS::Events::Rule"}
    assert rules == (set(base.FORWARDED_RULES) if forwards else set())


# ---------------------------------------------------------------------------------------
# Documentation

GUARDS = {
    "the central role assumes only roles inside the organisation": ("aws:ResourceOrgID", "AssumeMemberRolesInOrganizationOnly"),
    "the invoke permission admits Secrets Manager for the listed accounts only": ("SourceAccount", "central-invoke.yaml"),
    "the member role trusts only the central role": ("sts:ExternalId", "CentralRoleArn"),
}


def test_the_guarantees_page_has_an_organisations_section_that_explains_each_of_the_three_guards():
    section = base.markdown_section(GUARANTEES, "Nobody outside the organisation can make the function act")
    assert len(section.split()) < 900, "concise: the walk-through is docs/organizations.md"
    assert "](organizations.md)" in section
    assert "](docs/organizations.md)" in base.markdown_section(README, "What you can use it for")
    for guard, words in GUARDS.items():
        for word in words:
            assert word in section, (guard, word)
    assert "aws:PrincipalOrgID" in section, "why the invoke permission lists accounts"
    central_stack = base.markdown_section(GUIDE, "1. Deploy the central stack")
    for name in ("OrganizationId", "MemberRoleName", "MemberExternalId", "AuditSchedule", "AuditAccounts", "AuditResetDrift"):
        assert f"`{name}`" in central_stack, name
    # Each guard's refusal has a test, named on the page.
    for test in ("test_the_central_role_is_refused_a_member_role_outside_the_organisation",
                 "test_secrets_manager_is_refused_on_behalf_of_an_account_that_is_not_listed",
                 "test_the_member_role_refuses_every_principal_but_the_central_role_and_a_wrong_external_id"):
        assert test in section and test in globals(), test


def test_the_organisations_guide_walks_through_the_stackset_the_invoke_stack_enrolment_forwarding_and_the_audit():
    guide = GUIDE.read_text(encoding="utf-8")
    for text in (
        "--permission-model SERVICE_MANAGED", "--auto-deployment Enabled=true", "create-stack-instances",
        "--deployment-targets OrganizationalUnitIds=", "CAPABILITY_NAMED_IAM", "CAPABILITY_AUTO_EXPAND",
        "central-invoke.yaml", "member-role.yaml", "forwarding.yaml", "--rotation-lambda-arn",
        "password-rotation:secret-arn", "OrganizationId=", "IAM Password Audit Finding", "IAM Password Audit Summary",
        "aws:SourceOrgID", "PrincipalOrgID", "RESET_DRY_RUN", "organizations:ListAccounts",
    ):
        assert text in guide, text
    for block in base.json_blocks(GUIDE):
        json.loads(block)
    for parameter in base.load_template(MEMBER_TEMPLATE)["Parameters"]:
        assert f"`{parameter}`" in guide, parameter


def test_the_deployment_guide_and_the_design_link_the_organisations_guide():
    assert "](organizations.md)" in base.DEPLOY_GUIDE.read_text(encoding="utf-8")
    assert "](organizations.md" in base.RESETS_DESIGN.read_text(encoding="utf-8")
    assert "IAM Password Audit Requested" in base.RESETS_DESIGN.read_text(encoding="utf-8")


def test_the_permissions_page_names_the_organisation_and_audit_statements():
    table = base.markdown_section(PERMISSIONS, "The function's role")
    for sid in ORGANIZATION_SIDS | AUDIT_SIDS:
        assert f"| `{sid}`" in table, sid
    assert "aws:ResourceOrgID" in table
