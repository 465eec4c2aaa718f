"""Deployment checks: template.yaml, the sample events and the CDK example.

Run from the repository root:  .venv/bin/python -m pytest tests/deploy -q

Everything runs offline. The tools come from the pinned requirements:
- cfn-lint (tests/deploy/requirements.txt) from the same virtualenv as pytest;
- the AWS SAM CLI (tests/deploy/sam-cli-requirements.txt) from its own virtualenv,
  .venv/sam-cli, created on first use (it pins boto3 against moto's, see that file);
- the CDK app's node_modules, installed with `npm ci` when missing.
"""

from __future__ import annotations

import concurrent.futures
import fnmatch
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"
FORWARDING = ROOT / "forwarding.yaml"
EVENTS = ROOT / "events"
CDK_DIR = ROOT / "examples" / "cdk"
SAM_REQUIREMENTS = Path(__file__).resolve().parent / "sam-cli-requirements.txt"
SAM_VENV = ROOT / ".venv" / "sam-cli"
SAMCONFIG = ROOT / "samconfig.toml"
README = ROOT / "README.md"
DEPLOY_GUIDE = ROOT / "docs" / "deploy.md"
SELF_SERVICE_GUIDE = ROOT / "docs" / "self-service.md"
RESETS_DESIGN = ROOT / "docs" / "resets.md"
ORGANIZATIONS_GUIDE = ROOT / "docs" / "organizations.md"
PERMISSIONS_PAGE = ROOT / "docs" / "permissions.md"
CONFIGURATION_PAGE = ROOT / "docs" / "configuration.md"
GUARANTEES_PAGE = ROOT / "docs" / "guarantees.md"
MEMBER_TEMPLATE = ROOT / "member-role.yaml"
CENTRAL_INVOKE_TEMPLATE = ROOT / "central-invoke.yaml"
CARGO_TOML = ROOT / "Cargo.toml"

# What event-triggered resets add to the role when at least one trigger is on
# (docs/resets.md): start a rotation (RotateSecret, which needs lambda:InvokeFunction on the
# rotation function), tell whether one started after the trigger (ListSecretVersionIds),
# and the one-time schedules of delayed resets and retries (with the role they pass).
RESET_ACTIONS = {
    "secretsmanager:RotateSecret",
    "secretsmanager:ListSecretVersionIds",
    "lambda:InvokeFunction",
    "scheduler:CreateSchedule",
    "scheduler:GetSchedule",
    "scheduler:UpdateSchedule",
    "scheduler:DeleteSchedule",
    "iam:PassRole",
}
# Only when OutcomeEventBusName is set.
OUTCOME_ACTIONS = {"events:PutEvents"}
# The audit (docs/organizations.md), on by default (AuditSchedule): the credential report, the users
# with their tags, and the secrets' metadata. Account-level calls: no ARN to scope them to.
AUDIT_IAM_READS = {"iam:GenerateCredentialReport", "iam:GetCredentialReport", "iam:GetAccountAuthorizationDetails"}
AUDIT_ACTIONS = AUDIT_IAM_READS | {"secretsmanager:ListSecrets"}
# Only with OrganizationId: assume the member roles (only of the organisation's accounts),
# and list the organisation's accounts for the audit and check one is among them (only when
# AuditAccounts is empty).
ORGANIZATION_ACTIONS = {"sts:AssumeRole", "organizations:ListAccounts", "organizations:DescribeAccount"}
# The statements granted on "*", each with the only actions that may be: account-level reads.
ACCOUNT_LEVEL_STATEMENTS = {
    "ReadAccountPasswordPolicy": {"iam:GetAccountPasswordPolicy"},
    "ReadCredentialReport": AUDIT_IAM_READS,
    "ListSecrets": {"secretsmanager:ListSecrets"},
    "ListOrganizationAccounts": {"organizations:ListAccounts", "organizations:DescribeAccount"},
}

# The AWS calls the function makes, and nothing else (docs/permissions.md).
# No kms:Encrypt: Secrets Manager reads with Decrypt and writes with GenerateDataKey.
# The self-service strategy adds no action: it reads its credentials secrets with
# secretsmanager:GetSecretValue, and signs GetUser and ChangePassword with the user's key.
EXPECTED_ACTIONS = RESET_ACTIONS | OUTCOME_ACTIONS | AUDIT_ACTIONS | ORGANIZATION_ACTIONS | {
    "secretsmanager:DescribeSecret",
    "secretsmanager:GetSecretValue",
    "secretsmanager:PutSecretValue",
    "secretsmanager:UpdateSecretVersionStage",
    "iam:GetUser",
    "iam:GetLoginProfile",
    "iam:UpdateLoginProfile",
    "iam:CreateLoginProfile",
    "iam:GetAccountPasswordPolicy",
    "kms:Decrypt",
    "kms:GenerateDataKey",
    "logs:CreateLogStream",
    "logs:PutLogEvents",
    # Lambda sends failed asynchronous invocations to the dead-letter queue with the role.
    "sqs:SendMessage",
}
# What every rule target and schedule target carries besides its destination (docs/runbook.md).
ASYNC_DELIVERY = {
    "DeadLetterConfig": {"Arn": {"Fn::GetAtt": ["DeadLetterQueue", "Arn"]}},
    "RetryPolicy": {"MaximumRetryAttempts": 20, "MaximumEventAgeInSeconds": 3600},
}
IAM_USER_READS = {"iam:GetUser", "iam:GetLoginProfile"}
IAM_USER_WRITES = {"iam:UpdateLoginProfile", "iam:CreateLoginProfile"}
IAM_USER_ACTIONS = IAM_USER_READS | IAM_USER_WRITES
# The IAM actions that write nothing: the user reads and the account password policy.
# (iam:PassRole, with a reset trigger on, passes the scheduler role to EventBridge Scheduler
# only: it sets no password and changes nothing in IAM.)
IAM_READS = IAM_USER_READS | {"iam:GetAccountPasswordPolicy"}

# The two strategies of setSecret (docs/self-service.md): UpdateLoginProfileStrategy keeps
# the password writes above, SelfServiceStrategy adds the read of the credentials secrets,
# tagged for the function.
CREDENTIALS_TAG = "password-rotation:credentials-for"
CREDENTIALS_READ = "ReadChangePasswordCredentials"
SELF_SERVICE_ONLY = {"SelfServiceStrategy": "true", "UpdateLoginProfileStrategy": "false"}
SECRETS_ARN = "arn:${AWS::Partition}:secretsmanager:${AWS::Region}:${AWS::AccountId}:secret:*"

# With RequireBindingTag=true, IAM refuses password writes to users without the binding tag.
BINDING_TAG = "password-rotation:secret-arn"
TAG_PRESENT = {"Null": {f"aws:ResourceTag/{BINDING_TAG}": "false"}}

# Environment variable -> (template parameter, documented default).
DOCUMENTED_CONFIGURATION = {
    "PASSWORD_LENGTH": ("PasswordLength", "32"),
    "EXCLUDE_CHARACTERS": ("ExcludeCharacters", ""),
    "EXCLUDE_LOWERCASE": ("ExcludeLowercase", "false"),
    "EXCLUDE_UPPERCASE": ("ExcludeUppercase", "false"),
    "EXCLUDE_NUMBERS": ("ExcludeNumbers", "false"),
    "EXCLUDE_PUNCTUATION": ("ExcludePunctuation", "false"),
    "REQUIRE_EACH_INCLUDED_TYPE": ("RequireEachIncludedType", "true"),
    "PASSWORD_RESET_REQUIRED": ("PasswordResetRequired", "false"),
    "CREATE_LOGIN_PROFILE": ("CreateLoginProfile", "false"),
    "REQUIRE_BINDING_TAG": ("RequireBindingTag", "true"),
    # Event-triggered resets (docs/resets.md, "Settings").
    "RESET_DRY_RUN": ("ResetDryRun", "false"),
    "RESET_DELAY_MINUTES": ("ResetDelayMinutes", "60"),
    "RESET_MIN_INTERVAL_MINUTES": ("ResetMinIntervalMinutes", "15"),
    "OUTCOME_EVENT_BUS": ("OutcomeEventBusName", ""),
    # The audit (docs/organizations.md); USER_PATH is the path the IAM statements are scoped to.
    "AUDIT_ACCOUNTS": ("AuditAccounts", ""),
    "AUDIT_RESET_DRIFT": ("AuditResetDrift", "false"),
    "USER_PATH": ("UserPath", "/"),
}
# Set by the template itself, not by parameters (docs/resets.md, "Settings").
TEMPLATE_SET_ENVIRONMENT = {"FUNCTION_ROLE_ARN", "SCHEDULE_GROUP", "SCHEDULER_ROLE_ARN"}
# Where reset schedules send what Scheduler cannot deliver (docs/runbook.md).
TEMPLATE_SET_ENVIRONMENT |= {"SCHEDULE_DEAD_LETTER_ARN"}
# Set from OrganizationId, MemberRoleName and MemberExternalId, empty (unset) without an
# organisation (docs/organizations.md; tests/deploy/test_organizations.py).
ORGANIZATION_ENVIRONMENT = {"MEMBER_ROLE_NAME", "MEMBER_EXTERNAL_ID"}

# The custom action's ARN, which the Security Hub rule matches whether or not the stack
# created the action (CloudFormation offers the type in some regions only).
SECURITY_HUB_ACTION_ARN = "arn:${AWS::Partition}:securityhub:${AWS::Region}:${AWS::AccountId}:action/custom/ResetConsolePwd"

# Event-triggered resets: each trigger's parameter and the rule it creates.
RESET_TRIGGERS = {
    "OnDemandResets": "OnDemandResetRule",
    "SecurityHubResets": "SecurityHubResetRule",
    "BreakGlassResets": "ConsoleSignInResetRule",
    "CheckoutResets": "SecretReadResetRule",
    "DriftRepair": "DriftRepairRule",
}
# The rules' event patterns and states, as docs/resets.md accepts the events.
CLOUDTRAIL = "AWS API Call via CloudTrail"
EXPECTED_RULES = {
    "OnDemandResetRule": (
        {"source": ["iam-password-rotation"], "detail-type": ["IAM Password Reset Requested"]},
        "ENABLED",
    ),
    "SecurityHubResetRule": (
        {
            "source": ["aws.securityhub"],
            "detail-type": ["Security Hub Findings - Custom Action"],
            "resources": [{"Fn::Sub": SECURITY_HUB_ACTION_ARN}],
        },
        "ENABLED",
    ),
    "ConsoleSignInResetRule": (
        {
            "source": ["aws.signin"],
            "detail-type": ["AWS Console Sign In via CloudTrail"],
            "detail": {
                "eventName": ["ConsoleLogin"],
                "userIdentity": {"type": ["IAMUser"]},
                "responseElements": {"ConsoleLogin": ["Success"]},
            },
        },
        "ENABLED",
    ),
    # GetSecretValue is a read-only management event: it reaches a rule only in this state.
    # Successful reads by anyone but the function's role (anything-but never matches a missing
    # field: a caller without a role session matches through the first branch), and with
    # CheckoutSecretNamePrefix only secrets under it, by name or by ARN.
    "SecretReadResetRule": (
        {
            "source": ["aws.secretsmanager"],
            "detail-type": [CLOUDTRAIL],
            "detail": {
                "eventName": ["GetSecretValue"],
                "errorCode": [{"exists": False}],
                "$or": [
                    {"userIdentity": {"type": [{"anything-but": "AssumedRole"}]}},
                    {"userIdentity": {"sessionContext": {"sessionIssuer": {
                        "arn": [{"anything-but": {"Fn::GetAtt": ["FunctionRole", "Arn"]}}],
                    }}}},
                ],
                "requestParameters": {"Fn::If": [
                    "HasCheckoutSecretNamePrefix",
                    {"secretId": [
                        {"prefix": {"Ref": "CheckoutSecretNamePrefix"}},
                        {"wildcard": {"Fn::Sub": "arn:*:secretsmanager:*:secret:${CheckoutSecretNamePrefix}*"}},
                    ]},
                    {"Ref": "AWS::NoValue"},
                ]},
            },
        },
        "ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS",
    ),
    # Successful calls; ChangePassword only by an IAM user (the caller is the subject), the
    # login-profile calls by anyone (the subject is requestParameters.userName).
    "DriftRepairRule": (
        {
            "source": ["aws.iam"],
            "detail-type": [CLOUDTRAIL],
            "detail": {
                "eventSource": ["iam.amazonaws.com"],
                "errorCode": [{"exists": False}],
                "$or": [
                    {"eventName": ["UpdateLoginProfile", "CreateLoginProfile", "DeleteLoginProfile"]},
                    {"eventName": ["ChangePassword"], "userIdentity": {"type": ["IAMUser"]}},
                ],
            },
        },
        "ENABLED",
    ),
}
# What forwarding.yaml's secret-read rule forwards: successful reads. The function's role and
# the secret-name prefix are the function stack's rule's to filter, which every forwarded
# event meets on the target bus; the other forwarding rules are their function rule's.
FORWARDED_SECRET_READ_PATTERN = {
    "source": ["aws.secretsmanager"],
    "detail-type": [CLOUDTRAIL],
    "detail": {"eventName": ["GetSecretValue"], "errorCode": [{"exists": False}]},
}
OUTCOME_BUS = "password-rotation-outcomes"
SENDERS = ["arn:aws:iam::123456789012:role/helpdesk-resets", "arn:aws:iam::210987654321:role/soc-automation"]
ALL_TRIGGERS_OFF = {parameter: "false" for parameter in RESET_TRIGGERS}
ALL_TRIGGERS_ON = {
    **{parameter: "true" for parameter in RESET_TRIGGERS},
    "OutcomeEventBusName": OUTCOME_BUS,
    "OnDemandSenderArns": ",".join(SENDERS),
    "CheckoutSecretNamePrefix": "console/",
}
FUNCTION_ARN = "arn:${AWS::Partition}:lambda:${AWS::Region}:${AWS::AccountId}:function:${FunctionName}"
# An organisation id, for the parameters that turn the cross-account statements on.
ORGANIZATION_ID = "o-a1b2c3d4e5"

STEPS = {"createSecret", "setSecret", "testSecret", "finishSecret"}
REQUIRED_EVENT_FIELDS = ("Step", "SecretId", "ClientRequestToken")
STEP_EVENT_FILES = {
    "create-secret.json": "createSecret",
    "set-secret.json": "setSecret",
    "test-secret.json": "testSecret",
    "finish-secret.json": "finishSecret",
    "test-run.json": "testSecret",
}

FAKE_KMS_KEY = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"


# ---------------------------------------------------------------------------------------
# Reading CloudFormation YAML (short-form intrinsic functions) and policies


class CloudFormationLoader(yaml.SafeLoader):
    """SafeLoader that turns `!Sub x` into {"Fn::Sub": x}, `!Ref x` into {"Ref": x}, ..."""


def _construct_intrinsic(loader: CloudFormationLoader, tag_suffix: str, node: yaml.Node):
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    if tag_suffix == "Ref":
        return {"Ref": value}
    if tag_suffix == "Condition":
        return {"Condition": value}
    if tag_suffix == "GetAtt" and isinstance(value, str):
        value = value.split(".", 1)
    return {f"Fn::{tag_suffix}": value}


CloudFormationLoader.add_multi_constructor("!", _construct_intrinsic)


def load_template(path: Path = TEMPLATE) -> dict:
    return yaml.load(path.read_text(encoding="utf-8"), Loader=CloudFormationLoader)


def as_list(value) -> list:
    return value if isinstance(value, list) else [value]


def is_no_value(value) -> bool:
    return value == {"Ref": "AWS::NoValue"}


def role_statements(template: dict, role_name: str) -> list[tuple[str | None, dict]]:
    """Every statement granted to the role, with the condition it depends on (or None).

    Covers the role's inline Policies and any AWS::IAM::Policy / RolePolicy attached to it,
    and unfolds `Fn::If [cond, statement, AWS::NoValue]`.
    """
    resources = template["Resources"]
    documents = [p["PolicyDocument"] for p in resources[role_name]["Properties"].get("Policies", [])]
    for resource in resources.values():
        if resource["Type"] in ("AWS::IAM::Policy", "AWS::IAM::RolePolicy"):
            props = resource["Properties"]
            roles = as_list(props.get("Roles", [])) + as_list(props.get("RoleName", []))
            if {"Ref": role_name} in roles:
                documents.append(props["PolicyDocument"])
    found = []
    for document in documents:
        for statement in as_list(document["Statement"]):
            if isinstance(statement, dict) and "Fn::If" in statement:
                condition, when_true, when_false = statement["Fn::If"]
                for branch in (when_true, when_false):
                    if not is_no_value(branch):
                        found.append((condition, branch))
            else:
                found.append((None, statement))
    return found


def resources_of_type(template: dict, type_name: str) -> dict:
    return {name: r for name, r in template["Resources"].items() if r["Type"] == type_name}


def only_resource_of_type(template: dict, type_name: str) -> tuple[str, dict]:
    found = resources_of_type(template, type_name)
    assert len(found) == 1, f"expected one {type_name}, found {sorted(found)}"
    return next(iter(found.items()))


def actions_of(statement: dict) -> set[str]:
    return set(as_list(statement["Action"]))


def flatten(value) -> str:
    """A readable string of an ARN expression: Fn::Sub text, or Fn::Join parts, with refs as ${X}."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        if "Fn::Sub" in value:
            return value["Fn::Sub"] if isinstance(value["Fn::Sub"], str) else value["Fn::Sub"][0]
        if "Fn::Join" in value:
            separator, parts = value["Fn::Join"]
            return separator.join(flatten(p) for p in parts)
        if "Ref" in value:
            return "${" + value["Ref"] + "}"
        if "Fn::GetAtt" in value:
            return "${" + ".".join(value["Fn::GetAtt"]) + "}"
    return json.dumps(value, sort_keys=True)


NO_VALUE = object()

# The pseudo parameters, as the tests evaluate templates (override them like parameters,
# e.g. {"AWS::Region": "eu-west-1"}).
PSEUDO_PARAMETERS = {"AWS::Region": "us-east-1", "AWS::AccountId": "123456789012", "AWS::Partition": "aws"}


def parameter_value(template: dict, name: str, parameters: dict[str, str]):
    """A parameter's (or pseudo parameter's) value: a string, or a list for CommaDelimitedList."""
    if name in PSEUDO_PARAMETERS and name not in template.get("Parameters", {}):
        return str(parameters.get(name, PSEUDO_PARAMETERS[name]))
    declared = template["Parameters"][name]
    raw = str(parameters.get(name, declared.get("Default", "")))
    if declared["Type"] == "CommaDelimitedList":
        return [item.strip() for item in raw.split(",")]
    return raw


def condition_is_true(template: dict, name: str, parameters: dict[str, str]) -> bool:
    """Evaluate template Condition `name` for the given parameter values (defaults otherwise)."""
    return expression_is_true(template, template["Conditions"][name], parameters)


def expression_is_true(template: dict, expression, parameters: dict[str, str]) -> bool:
    """Evaluate a condition expression (Fn::Equals, Fn::And, ..., Condition) as CloudFormation
    would for the given parameter values: the body of a Condition, a RuleCondition or an Assert."""

    def value(expression):
        if isinstance(expression, dict) and "Ref" in expression:
            return parameter_value(template, expression["Ref"], parameters)
        if isinstance(expression, dict) and "Fn::Join" in expression:
            separator, items = expression["Fn::Join"]
            items = value(items) if isinstance(items, dict) else [value(i) for i in items]
            return separator.join(items)
        if isinstance(expression, dict) and "Fn::Select" in expression:
            index, items = expression["Fn::Select"]
            return value(items)[int(index)]
        if isinstance(expression, dict) and "Fn::Split" in expression:
            separator, text = expression["Fn::Split"]
            return value(text).split(separator)
        assert not isinstance(expression, (dict, list)), f"unsupported in a condition: {expression}"
        return str(expression)

    def evaluate(expression) -> bool:
        (function, args), = expression.items()
        if function == "Condition":
            return evaluate(template["Conditions"][args])
        if function == "Fn::Equals":
            return value(args[0]) == value(args[1])
        if function == "Fn::Not":
            return not evaluate(args[0])
        if function == "Fn::And":
            return all(evaluate(a) for a in args)
        if function == "Fn::Or":
            return any(evaluate(a) for a in args)
        raise AssertionError(f"unsupported condition function {function}")

    return evaluate(expression)


def rules_refusing(template: dict, parameters: dict[str, str]) -> set[str]:
    """The template Rules that refuse these parameter values: their RuleCondition holds (or
    they have none) and one of their assertions does not."""
    refusing = set()
    for name, rule in template.get("Rules", {}).items():
        if "RuleCondition" in rule and not expression_is_true(template, rule["RuleCondition"], parameters):
            continue
        if not all(expression_is_true(template, a["Assert"], parameters) for a in rule["Assertions"]):
            refusing.add(name)
    return refusing


def resolve_ifs(template: dict, value, parameters: dict[str, str]):
    """`value` with every Fn::If decided for the given parameter values and AWS::NoValue removed."""
    if isinstance(value, dict):
        if set(value) == {"Fn::If"}:
            condition, when_true, when_false = value["Fn::If"]
            chosen = when_true if condition_is_true(template, condition, parameters) else when_false
            return resolve_ifs(template, chosen, parameters)
        if is_no_value(value):
            return NO_VALUE
        resolved = {k: resolve_ifs(template, v, parameters) for k, v in value.items()}
        return {k: v for k, v in resolved.items() if v is not NO_VALUE}
    if isinstance(value, list):
        resolved = [resolve_ifs(template, v, parameters) for v in value]
        return [v for v in resolved if v is not NO_VALUE]
    return value


def substitute_parameters(template: dict, value, parameters: dict[str, str]):
    """`value` with every Ref to a parameter, and every ${Parameter} in a Fn::Sub, replaced by
    its value (lists for CommaDelimitedList). Pseudo parameters and resources stay references."""
    declared = template.get("Parameters", {})
    if isinstance(value, dict):
        if set(value) == {"Ref"} and value["Ref"] in declared:
            return parameter_value(template, value["Ref"], parameters)
        if set(value) == {"Fn::Sub"} and isinstance(value["Fn::Sub"], str):
            text = re.sub(
                r"\$\{([A-Za-z0-9]+)\}",
                lambda m: parameter_value(template, m.group(1), parameters) if m.group(1) in declared else m.group(0),
                value["Fn::Sub"],
            )
            return {"Fn::Sub": text}
        return {k: substitute_parameters(template, v, parameters) for k, v in value.items()}
    if isinstance(value, list):
        return [substitute_parameters(template, v, parameters) for v in value]
    return value


def resolved(template: dict, value, parameters: dict[str, str]):
    """`value` as CloudFormation would see it with these parameters: Fn::If decided, parameters substituted."""
    return substitute_parameters(template, resolve_ifs(template, value, parameters), parameters)


def resources_for(template: dict, **parameters: str) -> dict[str, dict]:
    """The resources CloudFormation would create with these parameters, with Fn::If decided."""
    found = {}
    for name, resource in template["Resources"].items():
        if "Condition" in resource and not condition_is_true(template, resource["Condition"], parameters):
            continue
        found[name] = resolve_ifs(template, resource, parameters)
    return found


def normalized(value):
    """An expression as comparable text, whoever wrote it: Fn::Sub and Fn::Join flattened to
    `arn:${AWS::Partition}:...`, the CDK's hash suffixes dropped from logical ids, lists sorted."""
    if isinstance(value, dict) and not set(value) & {"Ref", "Fn::Sub", "Fn::Join", "Fn::GetAtt"}:
        return {k: normalized(v) for k, v in value.items()}
    if isinstance(value, list):
        return sorted((normalized(v) for v in value), key=lambda v: json.dumps(v, sort_keys=True))
    if isinstance(value, (dict, str)):
        return re.sub(r"\$\{([A-Za-z0-9]+?)[0-9A-F]{8}([.}])", r"${\1\2", flatten(value))
    return value


def wildcard_matches(wildcard: str, value: str) -> bool:
    """EventBridge's `wildcard`: `*` stands for any run of characters, `\\*` for a `*`."""
    parts = re.split(r"(?<!\\)\*", wildcard)
    return re.fullmatch(".*".join(re.escape(p.replace("\\*", "*")) for p in parts), value) is not None


def matches_value(matcher, value) -> bool:
    """Whether one element of a pattern's list matches one value of the event (a present field)."""
    if isinstance(matcher, str):
        return value == matcher
    assert isinstance(matcher, dict) and len(matcher) == 1, f"unsupported matcher: {matcher!r}"
    (operator, argument), = matcher.items()
    if operator == "prefix":
        assert isinstance(argument, str), matcher
        return isinstance(value, str) and value.startswith(argument)
    if operator == "suffix":
        assert isinstance(argument, str), matcher
        return isinstance(value, str) and value.endswith(argument)
    if operator == "wildcard":
        assert isinstance(argument, str), matcher
        return isinstance(value, str) and wildcard_matches(argument, value)
    if operator == "anything-but":
        excluded = argument if isinstance(argument, list) else [argument]
        assert all(isinstance(v, str) for v in excluded), f"anything-but of exact strings only: {matcher!r}"
        return value not in excluded
    raise AssertionError(f"unsupported matcher: {matcher!r}")


def matches_event_pattern(pattern: dict, event: dict) -> bool:
    """EventBridge's matching for the operators the rules use: every key of the pattern must
    match the event's field; a list matches when one of its elements matches the value (or, for
    an array in the event, any element): an exact string, `prefix`, `suffix`, `wildcard`,
    `anything-but` (a string or a list), none of which matches a missing field, and `exists`
    (true: the field is there, false: it is not); a nested object matches a nested object;
    `$or` holds a list of patterns, one of which must match besides the other keys."""
    for key, expected in pattern.items():
        if key == "$or":
            assert isinstance(expected, list) and len(expected) >= 2, f"$or needs two patterns or more: {expected!r}"
            if not any(matches_event_pattern(alternative, event) for alternative in expected):
                return False
            continue
        if isinstance(expected, dict):
            if not isinstance(event.get(key), dict) or not matches_event_pattern(expected, event[key]):
                return False
            continue
        assert isinstance(expected, list) and expected, f"unsupported pattern value for {key}: {expected!r}"
        exists = [m["exists"] for m in expected if isinstance(m, dict) and "exists" in m]
        if exists:
            assert expected == [{"exists": exists[0]}] and isinstance(exists[0], bool), f"exists stands alone: {expected!r}"
            present = key in event and not isinstance(event[key], dict)
            if present != exists[0]:
                return False
            continue
        if key not in event:
            return False
        actual = event[key]
        values = actual if isinstance(actual, list) else [actual]
        if not any(matches_value(m, v) for m in expected for v in values):
            return False
    return True


def statements_for(template: dict, role_name: str, **parameters: str) -> dict[str, dict]:
    """The role's statements, by Sid, as CloudFormation would create them with these parameters."""
    policies = template["Resources"][role_name]["Properties"]["Policies"]
    found = {}
    for policy in resolve_ifs(template, policies, parameters):
        for statement in as_list(policy["PolicyDocument"]["Statement"]):
            found[statement["Sid"]] = statement
    return found


def function_role_of_cdk(cdk_template: dict) -> str:
    _, function = only_resource_of_type(cdk_template, "AWS::Lambda::Function")
    return function["Properties"]["Role"]["Fn::GetAtt"][0]


def statements_of_cdk(cdk_template: dict) -> dict[str, dict]:
    return {s["Sid"]: s for _, s in role_statements(cdk_template, function_role_of_cdk(cdk_template))}


def version_tuple(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split("."))


def pinned_sam_cli_version() -> str:
    pins = re.findall(r"^aws-sam-cli==([0-9.]+)$", SAM_REQUIREMENTS.read_text(encoding="utf-8"), re.M)
    assert len(pins) == 1, "tests/deploy/sam-cli-requirements.txt pins aws-sam-cli exactly once"
    return pins[0]


def markdown_section(path: Path, heading: str) -> str:
    """The text of the `## heading` section of a Markdown file, up to the next `## `."""
    text = path.read_text(encoding="utf-8")
    match = re.search(rf"^## {re.escape(heading)}\n(.*?)(?=^## |\Z)", text, re.M | re.S)
    assert match, f"{path.name} has no section '## {heading}'"
    return match.group(1)


@pytest.fixture(scope="module")
def template() -> dict:
    return load_template()


@pytest.fixture(scope="module")
def role_name(template) -> str:
    """The function's execution role (the stack has a second one, for EventBridge Scheduler)."""
    function_name, function = only_resource_of_type(template, "AWS::Serverless::Function")
    return function["Properties"]["Role"]["Fn::GetAtt"][0]


@pytest.fixture(scope="module")
def statements(template, role_name) -> list[tuple[str | None, dict]]:
    return role_statements(template, role_name)


@pytest.fixture(scope="module")
def function(template) -> dict:
    return only_resource_of_type(template, "AWS::Serverless::Function")[1]


# ---------------------------------------------------------------------------------------
# Linters


def _tool_env(**extra: str) -> dict:
    env = dict(os.environ)
    env.update(
        AWS_DEFAULT_REGION="us-east-1",
        AWS_REGION="us-east-1",
        AWS_EC2_METADATA_DISABLED="true",
        SAM_CLI_TELEMETRY="0",
        CDK_DISABLE_VERSION_CHECK="true",
        CDK_DISABLE_CLI_TELEMETRY="true",
    )
    env.update(extra)
    return env


def test_cfn_lint_passes_on_the_template():
    cfn_lint = Path(sys.executable).with_name("cfn-lint")
    command = [str(cfn_lint)] if cfn_lint.exists() else [sys.executable, "-m", "cfnlint"]
    result = subprocess.run(
        [*command, str(TEMPLATE)], cwd=ROOT, env=_tool_env(), capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, f"cfn-lint found problems:\n{result.stdout}{result.stderr}"


@pytest.fixture(scope="session")
def sam_cli() -> Path:
    """The pinned AWS SAM CLI, in its own virtualenv (created or updated when needed)."""
    sam = SAM_VENV / "bin" / "sam"
    stamp = SAM_VENV / ".installed-requirements"
    wanted = SAM_REQUIREMENTS.read_text(encoding="utf-8")
    if not sam.exists() or not stamp.exists() or stamp.read_text(encoding="utf-8") != wanted:
        if not (SAM_VENV / "bin" / "python").exists():
            subprocess.run([sys.executable, "-m", "venv", str(SAM_VENV)], check=True, timeout=300)
        install = subprocess.run(
            [str(SAM_VENV / "bin" / "python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
             "-r", str(SAM_REQUIREMENTS)],
            capture_output=True, text=True, timeout=1200,
        )
        assert install.returncode == 0, f"could not install the AWS SAM CLI:\n{install.stdout}{install.stderr}"
        stamp.write_text(wanted, encoding="utf-8")
    return sam


def test_sam_validate_with_lint_passes_offline(sam_cli):
    result = subprocess.run(
        [str(sam_cli), "validate", "--lint", "--template-file", str(TEMPLATE)],
        cwd=ROOT, env=_tool_env(), capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, f"sam validate --lint failed:\n{result.stdout}{result.stderr}"
    assert "is a valid SAM Template" in result.stdout + result.stderr


# ---------------------------------------------------------------------------------------
# samconfig.toml: the documented commands work as written


@pytest.fixture(scope="module")
def samconfig() -> dict:
    return tomllib.loads(SAMCONFIG.read_text(encoding="utf-8"))


def test_the_samconfig_parses_and_deploys_with_both_iam_capabilities(samconfig):
    assert samconfig["version"] == 0.1
    deploy = samconfig["default"]["deploy"]["parameters"]
    # The optional example user has a fixed UserName: CAPABILITY_IAM alone is refused.
    assert set(deploy["capabilities"].split()) == {"CAPABILITY_IAM", "CAPABILITY_NAMED_IAM"}
    assert deploy["confirm_changeset"] is True
    assert deploy["resolve_s3"] is True
    assert samconfig["default"]["global"]["parameters"]["stack_name"] == "iam-password-rotation"
    assert "parameters" in samconfig["default"]["build"]


def test_the_samconfig_pins_no_account_region_or_credentials():
    text = SAMCONFIG.read_text(encoding="utf-8")
    assert not re.search(r"\b\d{12}\b", text), "no account id"
    assert not re.search(r"\b[a-z]{2}(-gov)?-[a-z]+-\d\b", text), "no region"
    for key in ("region", "profile", "s3_bucket", "parameter_overrides", "role_arn"):
        assert not re.search(rf"^\s*{key}\s*=", text, re.M), f"{key} is the user's own choice"


def test_every_samconfig_setting_is_an_option_of_its_sam_command(sam_cli, samconfig):
    """A misspelt key would be ignored silently: each must be an option of `sam <command>`."""
    settings = {command: set(sections["parameters"]) for command, sections in samconfig["default"].items()}
    helps = {}
    for command in ("build", "deploy", "validate"):
        result = subprocess.run(
            [str(sam_cli), command, "--help"], cwd=ROOT, env=_tool_env(), capture_output=True, text=True, timeout=120
        )
        assert result.returncode == 0, result.stderr
        helps[command] = result.stdout
    for command, keys in settings.items():
        for key in keys:
            option = "--" + key.replace("_", "-")
            targets = helps.values() if command == "global" else [helps[command]]
            assert any(re.search(rf"{re.escape(option)}\b", text) for text in targets), f"{command}: {key}"


def test_sam_validate_reads_the_checked_in_samconfig_and_passes(sam_cli):
    result = subprocess.run(
        [str(sam_cli), "validate", "--debug"], cwd=ROOT, env=_tool_env(), capture_output=True, text=True, timeout=300
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, f"sam validate failed with samconfig.toml:\n{output}"
    assert f"Config file location: {SAMCONFIG}" in output
    assert "'lint': True" in output, "samconfig.toml turns on cfn-lint for sam validate"
    assert "is a valid SAM Template" in output


def test_the_deployment_guide_states_a_minimum_sam_cli_version_no_newer_than_the_pinned_one():
    pinned = pinned_sam_cli_version()
    # The README's deploy section sends readers to the guide's prerequisites.
    assert "](docs/deploy.md)" in markdown_section(README, "Deploy")
    for path in (DEPLOY_GUIDE,):
        text = path.read_text(encoding="utf-8")
        minimums = re.findall(r"SAM CLI(?:\]\([^)]*\))?[*\s,]+(\d+\.\d+\.\d+) or later", text)
        assert minimums, f"{path.name} states no minimum SAM CLI version"
        assert all(version_tuple(v) <= version_tuple(pinned) for v in minimums), (minimums, pinned)
        assert pinned in text, f"{path.name} states the version the tests use, {pinned}"
        assert "--beta-features" in text, f"{path.name} says why: rust-cargolambda without --beta-features"


# ---------------------------------------------------------------------------------------
# The function resource


def test_the_function_is_built_by_cargo_lambda_as_bootstrap_for_provided_al2023(function):
    assert function["Metadata"]["BuildMethod"] == "rust-cargolambda"
    assert function["Metadata"]["BuildProperties"]["Binary"] == "iam-password-rotation"
    props = function["Properties"]
    assert props["Runtime"] == "provided.al2023"
    assert props["Handler"] == "bootstrap"
    assert props["CodeUri"] == "."
    assert props["MemorySize"] == 128
    assert 60 <= props["Timeout"] <= 900


def test_the_architecture_is_a_parameter_defaulting_to_arm64(template, function):
    assert function["Properties"]["Architectures"] == [{"Ref": "Architecture"}]
    parameter = template["Parameters"]["Architecture"]
    assert parameter["Default"] == "arm64"
    assert sorted(parameter["AllowedValues"]) == ["arm64", "x86_64"]


def test_logs_are_json_and_kept_in_a_log_group_with_a_retention_parameter(template, function):
    logging = function["Properties"]["LoggingConfig"]
    assert logging["LogFormat"] == "JSON"
    assert {"ApplicationLogLevel", "SystemLogLevel"} <= set(logging)
    assert logging["LogGroup"]["Ref"] in resources_of_type(template, "AWS::Logs::LogGroup")
    log_group = template["Resources"][logging["LogGroup"]["Ref"]]
    assert log_group["Properties"]["RetentionInDays"] == {"Ref": "LogRetentionInDays"}
    assert template["Parameters"]["LogRetentionInDays"]["Default"] == 90


@pytest.mark.parametrize("variable", sorted(DOCUMENTED_CONFIGURATION))
def test_every_configuration_variable_has_a_parameter_with_the_documented_default(template, function, variable):
    parameter_name, default = DOCUMENTED_CONFIGURATION[variable]
    assert function["Properties"]["Environment"]["Variables"][variable] == {"Ref": parameter_name}
    parameter = template["Parameters"][parameter_name]
    assert str(parameter["Default"]) == default
    if default in ("true", "false"):
        assert sorted(parameter["AllowedValues"]) == ["false", "true"]


def test_the_function_gets_no_environment_variable_beyond_the_documented_ones(function):
    variables = set(function["Properties"]["Environment"]["Variables"])
    assert variables == set(DOCUMENTED_CONFIGURATION) | TEMPLATE_SET_ENVIRONMENT | ORGANIZATION_ENVIRONMENT


def test_every_reset_setting_the_template_sets_is_documented_in_the_design():
    settings = markdown_section(RESETS_DESIGN, "Settings")
    documented = set(re.findall(r"`([A-Z][A-Z_]+)`", settings))
    reset_variables = {v for v, (p, _) in DOCUMENTED_CONFIGURATION.items() if v.startswith(("RESET_", "OUTCOME_"))}
    assert reset_variables | TEMPLATE_SET_ENVIRONMENT <= documented


def test_password_length_is_limited_to_1_through_128(template):
    parameter = template["Parameters"]["PasswordLength"]
    assert parameter["Type"] == "Number"
    assert (parameter["MinValue"], parameter["MaxValue"]) == (1, 128)


def test_the_deployment_parameters_have_safe_defaults(template):
    parameters = template["Parameters"]
    assert parameters["UserPath"]["Default"] == "/"
    assert parameters["KmsKeyArn"]["Default"] == ""
    assert parameters["CreateExample"]["Default"] == "false"


# ---------------------------------------------------------------------------------------
# The role: least privilege


def test_the_role_grants_exactly_the_actions_the_function_calls(statements):
    granted = set().union(*(actions_of(s) for _, s in statements))
    assert granted == EXPECTED_ACTIONS


def test_no_statement_uses_a_wildcard_action_or_a_deny_or_not_action(statements):
    for _, statement in statements:
        assert statement["Effect"] == "Allow"
        assert "NotAction" not in statement and "NotResource" not in statement
        assert all("*" not in action for action in actions_of(statement)), statement


def test_the_role_has_no_managed_policies_and_only_lambda_can_assume_it(template, role_name):
    props = template["Resources"][role_name]["Properties"]
    assert "ManagedPolicyArns" not in props
    assert not resources_of_type(template, "AWS::IAM::ManagedPolicy")
    trust = as_list(props["AssumeRolePolicyDocument"]["Statement"])
    assert trust == [
        {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}
    ]


def test_the_function_uses_the_least_privilege_role(function, role_name):
    assert function["Properties"]["Role"] == {"Fn::GetAtt": [role_name, "Arn"]}
    assert "Policies" not in function["Properties"]


def test_every_secrets_manager_statement_but_the_credentials_read_and_the_audits_list_requires_this_function(
    template, statements, function
):
    secrets_statements = [(c, s) for c, s in statements if any(a.startswith("secretsmanager:") for a in actions_of(s))]
    assert secrets_statements
    function_name = function["Properties"]["FunctionName"]
    assert function_name == {"Ref": "FunctionName"}
    # One exception reads the self-service strategy's credentials secrets, which no
    # rotation of this function's names: it requires their tag instead (tested below).
    (credentials_condition,) = [c for c, s in secrets_statements if s["Sid"] == CREDENTIALS_READ]
    assert template["Conditions"][credentials_condition] == {"Fn::Equals": [{"Ref": "SelfServiceStrategy"}, "true"]}
    # The other is the audit's ListSecrets: metadata only (never a value), and an action
    # with no resource-level permission, so granted on "*" and only with an audit.
    (list_condition, list_statement), = [(c, s) for c, s in secrets_statements if s["Sid"] == "ListSecrets"]
    assert template["Conditions"][list_condition] == {"Fn::Not": [{"Fn::Equals": [{"Ref": "AuditSchedule"}, ""]}]}
    assert actions_of(list_statement) == {"secretsmanager:ListSecrets"}
    assert list_statement["Resource"] == "*" and "Condition" not in list_statement
    for _, statement in secrets_statements:
        assert all(a.startswith("secretsmanager:") for a in actions_of(statement))
        if statement["Sid"] == "ListSecrets":
            continue
        assert flatten(statement["Resource"]) == SECRETS_ARN
        if statement["Sid"] == CREDENTIALS_READ:
            continue
        condition = statement["Condition"]["StringEquals"]["secretsmanager:resource/AllowRotationLambdaArn"]
        assert flatten(condition) == "arn:${AWS::Partition}:lambda:${AWS::Region}:${AWS::AccountId}:function:${FunctionName}"


def test_iam_user_actions_are_scoped_to_the_user_path(statements):
    user_statements = [s for _, s in statements if actions_of(s) & IAM_USER_ACTIONS]
    assert user_statements
    for statement in user_statements:
        assert actions_of(statement) <= IAM_USER_ACTIONS
        for resource in as_list(statement["Resource"]):
            assert flatten(resource) == "arn:${AWS::Partition}:iam::${AWS::AccountId}:user${UserPath}*"


def test_create_login_profile_is_granted_only_when_create_login_profile_and_the_update_login_profile_strategy_are_on(
    template, statements
):
    creating = [(c, s) for c, s in statements if "iam:CreateLoginProfile" in actions_of(s)]
    assert len(creating) == 1
    for condition, statement in creating:
        assert actions_of(statement) == {"iam:CreateLoginProfile"}
        assert condition is not None
        for create_login_profile in ("true", "false"):
            for strategy in ("true", "false"):
                parameters = {"CreateLoginProfile": create_login_profile, "UpdateLoginProfileStrategy": strategy}
                expected = create_login_profile == "true" and strategy == "true"
                assert condition_is_true(template, condition, parameters) is expected, parameters


def test_only_account_level_reads_are_granted_on_every_resource(statements):
    # The account password policy, the audit's credential report and secret list, and the
    # organisation's accounts: calls that have no resource ARN to scope them to.
    for _, statement in statements:
        if "*" in as_list(statement["Resource"]):
            assert actions_of(statement) == ACCOUNT_LEVEL_STATEMENTS[statement["Sid"]], statement["Sid"]
            assert "Condition" not in statement


def test_kms_is_granted_only_for_the_given_key_and_only_via_secrets_manager(template, statements):
    kms_statements = [(c, s) for c, s in statements if any(a.startswith("kms:") for a in actions_of(s))]
    assert kms_statements
    for condition, statement in kms_statements:
        assert template["Conditions"][condition] == {"Fn::Not": [{"Fn::Equals": [{"Ref": "KmsKeyArn"}, ""]}]}
        assert statement["Resource"] == {"Ref": "KmsKeyArn"}
        via = statement["Condition"]["StringEquals"]["kms:ViaService"]
        assert flatten(via) == "secretsmanager.${AWS::Region}.amazonaws.com"


def test_logs_are_written_only_to_the_functions_own_log_group(template, statements, function):
    log_group = function["Properties"]["LoggingConfig"]["LogGroup"]["Ref"]
    logs_statements = [s for _, s in statements if any(a.startswith("logs:") for a in actions_of(s))]
    assert len(logs_statements) == 1
    assert actions_of(logs_statements[0]) == {"logs:CreateLogStream", "logs:PutLogEvents"}
    assert logs_statements[0]["Resource"] == {"Fn::GetAtt": [log_group, "Arn"]}
    assert flatten(template["Resources"][log_group]["Properties"]["LogGroupName"]) == "/aws/lambda/${FunctionName}"


def test_kms_encrypt_is_not_granted_because_secrets_manager_never_calls_it(statements):
    granted = set().union(*(actions_of(s) for _, s in statements))
    assert "kms:Encrypt" not in granted
    assert {"kms:Decrypt", "kms:GenerateDataKey"} <= granted


def test_iam_user_reads_and_password_writes_are_separate_statements(template, role_name):
    by_sid = statements_for(template, role_name, CreateLoginProfile="true")
    for statement in by_sid.values():
        actions = actions_of(statement)
        assert not (actions & IAM_USER_READS and actions & IAM_USER_WRITES), statement["Sid"]
    assert actions_of(by_sid["ReadUsersUnderPath"]) == IAM_USER_READS
    assert actions_of(by_sid["UpdateConsolePasswordsOfUsersUnderPath"]) == {"iam:UpdateLoginProfile"}
    assert actions_of(by_sid["CreateConsolePasswordsOfUsersUnderPath"]) == {"iam:CreateLoginProfile"}


@pytest.mark.parametrize("create_login_profile", ["true", "false"])
def test_with_require_binding_tag_true_iam_refuses_password_writes_to_untagged_users(
    template, role_name, create_login_profile
):
    by_sid = statements_for(template, role_name, RequireBindingTag="true", CreateLoginProfile=create_login_profile)
    writes = [s for s in by_sid.values() if actions_of(s) & IAM_USER_WRITES]
    expected = IAM_USER_WRITES if create_login_profile == "true" else {"iam:UpdateLoginProfile"}
    assert set().union(*(actions_of(s) for s in writes)) == expected
    for statement in writes:
        assert statement["Condition"] == TAG_PRESENT, statement["Sid"]


def test_with_require_binding_tag_false_password_writes_carry_no_tag_condition(template, role_name):
    by_sid = statements_for(template, role_name, RequireBindingTag="false", CreateLoginProfile="true")
    writes = [s for s in by_sid.values() if actions_of(s) & IAM_USER_WRITES]
    assert len(writes) == 2
    for statement in writes:
        assert "Condition" not in statement, statement["Sid"]


@pytest.mark.parametrize("require_binding_tag", ["true", "false"])
def test_reading_a_user_never_depends_on_its_tag_so_an_untagged_user_is_reported_clearly(
    template, role_name, require_binding_tag
):
    by_sid = statements_for(template, role_name, RequireBindingTag=require_binding_tag)
    reads = [s for s in by_sid.values() if actions_of(s) & IAM_USER_READS]
    assert len(reads) == 1
    assert "Condition" not in reads[0]


# ---------------------------------------------------------------------------------------
# The strategies: UpdateLoginProfile (the function's own IAM write) and self-service (the
# user's own ChangePassword, with its key kept in a credentials secret tagged for the function)


def iam_actions_granted(template: dict, role_name: str, **parameters: str) -> set[str]:
    by_sid = statements_for(template, role_name, **parameters)
    return {a for s in by_sid.values() for a in actions_of(s) if a.startswith("iam:")}


def test_the_strategy_parameters_default_to_update_login_profile_only_and_are_iam_user_handling(template):
    parameters = template["Parameters"]
    assert parameters["UpdateLoginProfileStrategy"]["Default"] == "true"
    assert parameters["SelfServiceStrategy"]["Default"] == "false"
    for name in ("UpdateLoginProfileStrategy", "SelfServiceStrategy"):
        assert parameters[name]["AllowedValues"] == ["true", "false"], name
        assert "docs/self-service.md" in parameters[name]["Description"], name
    group = next(g for g in template["Metadata"]["AWS::CloudFormation::Interface"]["ParameterGroups"]
                 if g["Label"]["default"] == "IAM user handling")
    assert {"UpdateLoginProfileStrategy", "SelfServiceStrategy"} <= set(group["Parameters"])


@pytest.mark.parametrize("create_login_profile", ["true", "false"])
@pytest.mark.parametrize("triggers", ["all triggers off", "all triggers on"])
def test_without_the_update_login_profile_strategy_the_role_has_no_iam_write_action_at_all(
    template, role_name, create_login_profile, triggers
):
    trigger_parameters = ALL_TRIGGERS_OFF if triggers == "all triggers off" else ALL_TRIGGERS_ON
    parameters = {
        **trigger_parameters, "UpdateLoginProfileStrategy": "false", "CreateLoginProfile": create_login_profile,
        "KmsKeyArn": FAKE_KMS_KEY,
    }
    granted = iam_actions_granted(template, role_name, **parameters)
    assert not granted & IAM_USER_WRITES
    # Only the reads (the audit's credential report included), and with a trigger on the
    # scheduler role passed to Scheduler alone.
    reads = IAM_READS | AUDIT_IAM_READS
    assert granted == (reads if triggers == "all triggers off" else reads | {"iam:PassRole"})
    by_sid = statements_for(template, role_name, **parameters)
    assert "UpdateConsolePasswordsOfUsersUnderPath" not in by_sid
    assert "CreateConsolePasswordsOfUsersUnderPath" not in by_sid
    assert actions_of(by_sid["ReadUsersUnderPath"]) == IAM_USER_READS
    assert actions_of(by_sid["ReadAccountPasswordPolicy"]) == {"iam:GetAccountPasswordPolicy"}


def test_with_the_update_login_profile_strategy_the_role_keeps_its_password_writes(template, role_name):
    assert iam_actions_granted(template, role_name) == IAM_READS | AUDIT_IAM_READS | {"iam:UpdateLoginProfile"}
    assert iam_actions_granted(template, role_name, OnDemandResets="true", OnDemandSenderArns=SENDERS[0]) == (
        IAM_READS | AUDIT_IAM_READS | {"iam:UpdateLoginProfile", "iam:PassRole"}
    )
    assert iam_actions_granted(template, role_name, CreateLoginProfile="true", AuditSchedule="", **ALL_TRIGGERS_OFF) == (
        IAM_READS | IAM_USER_WRITES
    )
    # Both strategies at once: each secret chooses its own.
    both = statements_for(template, role_name, SelfServiceStrategy="true", CreateLoginProfile="true")
    assert {"UpdateConsolePasswordsOfUsersUnderPath", "CreateConsolePasswordsOfUsersUnderPath", CREDENTIALS_READ} <= set(both)


def test_the_rules_refuse_create_login_profile_without_the_update_login_profile_strategy(template):
    rule = template["Rules"]["CreateLoginProfileNeedsUpdateLoginProfileStrategy"]
    assert rule["RuleCondition"] == {"Fn::Equals": [{"Ref": "CreateLoginProfile"}, "true"]}
    assert [a["Assert"] for a in rule["Assertions"]] == [{"Fn::Equals": [{"Ref": "UpdateLoginProfileStrategy"}, "true"]}]
    assert "UpdateLoginProfileStrategy=true" in rule["Assertions"][0]["AssertDescription"]
    for create_login_profile in ("true", "false"):
        for strategy in ("true", "false"):
            for example in ("true", "false"):
                parameters = {
                    "CreateLoginProfile": create_login_profile, "UpdateLoginProfileStrategy": strategy,
                    "CreateExample": example,
                }
                expected = set()
                if create_login_profile == "true" and strategy == "false":
                    expected.add("CreateLoginProfileNeedsUpdateLoginProfileStrategy")
                if example == "true" and create_login_profile == "false":
                    expected.add("ExampleNeedsCreateLoginProfile")
                assert rules_refusing(template, parameters) == expected, parameters
    # So the example, which needs CreateLoginProfile, is refused without the strategy too.
    assert rules_refusing(template, {"CreateExample": "true", "CreateLoginProfile": "true", **SELF_SERVICE_ONLY})


@pytest.mark.parametrize("update_login_profile_strategy", ["true", "false"])
def test_read_change_password_credentials_appears_only_with_the_self_service_strategy(
    template, role_name, statements, update_login_profile_strategy
):
    for self_service, present in (("true", True), ("false", False)):
        by_sid = statements_for(
            template, role_name, SelfServiceStrategy=self_service,
            UpdateLoginProfileStrategy=update_login_profile_strategy, **ALL_TRIGGERS_ON,
        )
        assert (CREDENTIALS_READ in by_sid) is present, self_service
    (condition,) = [c for c, s in statements if s["Sid"] == CREDENTIALS_READ]
    assert template["Conditions"][condition] == {"Fn::Equals": [{"Ref": "SelfServiceStrategy"}, "true"]}
    assert CREDENTIALS_READ not in statements_for(template, role_name)


def test_read_change_password_credentials_grants_only_get_secret_value_on_secrets_tagged_for_this_function(
    template, role_name
):
    statement = statements_for(template, role_name, **SELF_SERVICE_ONLY)[CREDENTIALS_READ]
    assert set(statement) == {"Sid", "Effect", "Action", "Resource", "Condition"}
    assert statement["Effect"] == "Allow"
    assert actions_of(statement) == {"secretsmanager:GetSecretValue"}
    assert flatten(statement["Resource"]) == SECRETS_ARN
    # Exactly the tag condition: nothing more (it would be a second gate the docs do not
    # name), nothing less (any secret of the account).
    assert statement["Condition"] == {
        "StringEquals": {f"secretsmanager:ResourceTag/{CREDENTIALS_TAG}": {"Ref": "FunctionName"}}
    }
    resolved_condition = resolved(template, statement["Condition"], {"FunctionName": "team-a-rotation"})
    assert resolved_condition == {"StringEquals": {f"secretsmanager:ResourceTag/{CREDENTIALS_TAG}": "team-a-rotation"}}


def test_the_self_service_strategy_adds_no_action_the_function_does_not_call(template, role_name):
    everything = {
        **ALL_TRIGGERS_ON, "SelfServiceStrategy": "true", "CreateLoginProfile": "true", "KmsKeyArn": FAKE_KMS_KEY,
        "OrganizationId": ORGANIZATION_ID,
    }
    by_sid = statements_for(template, role_name, **everything)
    assert set().union(*(actions_of(s) for s in by_sid.values())) == EXPECTED_ACTIONS
    # The secrets' key, when there is one, decrypts the credentials secrets too: no second KMS statement.
    kms = [sid for sid, s in by_sid.items() if any(a.startswith("kms:") for a in actions_of(s))]
    assert kms == ["UseSecretsKeyThroughSecretsManagerOnly"]


# ---------------------------------------------------------------------------------------
# Invocation and the example


def secrets_manager_permission(template: dict) -> tuple[str, dict]:
    found = {n: r for n, r in resources_of_type(template, "AWS::Lambda::Permission").items()
             if r["Properties"]["Principal"] == "secretsmanager.amazonaws.com"}
    assert len(found) == 1, sorted(found)
    return next(iter(found.items()))


def test_the_invoke_permission_is_for_secrets_manager_of_this_account_only(template):
    permissions = resources_of_type(template, "AWS::Lambda::Permission")
    # Beside it: one permission per reset rule, for events.amazonaws.com (see below).
    assert {r["Properties"]["Principal"] for r in permissions.values()} == {
        "secretsmanager.amazonaws.com", "events.amazonaws.com"
    }
    name, permission = secrets_manager_permission(template)
    assert "Condition" not in permission
    props = permission["Properties"]
    assert props["Action"] == "lambda:InvokeFunction"
    assert props["SourceAccount"] == {"Ref": "AWS::AccountId"}


def test_the_example_is_optional_and_binds_its_user_to_its_secret(template):
    secret_name, secret = only_resource_of_type(template, "AWS::SecretsManager::Secret")
    user_name, user = only_resource_of_type(template, "AWS::IAM::User")
    for resource in (secret, user):
        assert resource["Condition"] == "CreateExample"
    assert template["Conditions"]["CreateExample"] == {"Fn::Equals": [{"Ref": "CreateExample"}, "true"]}
    # The secret names the user and holds no password: the first rotation sets one.
    assert secret["Properties"]["SecretString"] == {"Fn::Sub": '{"username": "${ExampleUserName}"}'}
    assert user["Properties"]["UserName"] == {"Ref": "ExampleUserName"}
    assert user["Properties"]["Path"] == {"Ref": "UserPath"}
    assert "LoginProfile" not in user["Properties"]
    assert {"Key": "password-rotation:secret-arn", "Value": {"Ref": secret_name}} in user["Properties"]["Tags"]
    # Without a login profile, the first rotation must be allowed to create one.
    rule = template["Rules"]["ExampleNeedsCreateLoginProfile"]
    assert rule["RuleCondition"] == {"Fn::Equals": [{"Ref": "CreateExample"}, "true"]}
    assert rule["Assertions"][0]["Assert"] == {"Fn::Equals": [{"Ref": "CreateLoginProfile"}, "true"]}


def test_the_example_rotates_every_30_days_once_the_function_may_be_invoked(template):
    _, schedule = only_resource_of_type(template, "AWS::SecretsManager::RotationSchedule")
    secret_name, _ = only_resource_of_type(template, "AWS::SecretsManager::Secret")
    user_name, _ = only_resource_of_type(template, "AWS::IAM::User")
    function_name, _ = only_resource_of_type(template, "AWS::Serverless::Function")
    permission_name, _ = secrets_manager_permission(template)
    assert schedule["Condition"] == "CreateExample"
    props = schedule["Properties"]
    assert props["SecretId"] == {"Ref": secret_name}
    assert props["RotationLambdaARN"] == {"Fn::GetAtt": [function_name, "Arn"]}
    assert props["RotationRules"]["ScheduleExpression"] == "rate(30 days)"
    assert props["RotationRules"]["Duration"]
    assert {permission_name, user_name} <= set(as_list(schedule["DependsOn"]))


def test_the_outputs_give_the_function_arn_and_the_example_secret_arn(template):
    outputs = template["Outputs"]
    function_name, _ = only_resource_of_type(template, "AWS::Serverless::Function")
    secret_name, _ = only_resource_of_type(template, "AWS::SecretsManager::Secret")
    assert outputs["FunctionArn"]["Value"] == {"Fn::GetAtt": [function_name, "Arn"]}
    assert outputs["ExampleSecretArn"]["Value"] == {"Ref": secret_name}
    assert outputs["ExampleSecretArn"]["Condition"] == "CreateExample"


# ---------------------------------------------------------------------------------------
# Event-triggered resets: rules, invoke permissions, the reset bus, the scheduler, the role


def rules_for(template: dict, **parameters: str) -> dict[str, dict]:
    return {n: r for n, r in resources_for(template, **parameters).items() if r["Type"] == "AWS::Events::Rule"}


@pytest.mark.parametrize("parameter", sorted(RESET_TRIGGERS))
def test_each_trigger_creates_its_rule_only_when_its_parameter_is_on(template, parameter):
    rule = RESET_TRIGGERS[parameter]
    assert set(rules_for(template, **{**ALL_TRIGGERS_OFF, parameter: "true"})) == {rule}
    others_on = {**ALL_TRIGGERS_ON, parameter: "false"}
    assert rule not in rules_for(template, **others_on)
    assert template["Parameters"][parameter]["AllowedValues"] == ["true", "false"]


def test_no_rule_and_no_reset_resource_exists_when_every_trigger_is_off(template):
    # Without the audit too, whose own schedule group and role are not the resets'.
    created = resources_for(template, **ALL_TRIGGERS_OFF, AuditSchedule="")
    reset_types = {
        "AWS::Events::Rule", "AWS::Events::EventBus", "AWS::Events::EventBusPolicy",
        "AWS::SecurityHub::ActionTarget", "AWS::Scheduler::ScheduleGroup", "AWS::Scheduler::Schedule",
    }
    assert not [n for n, r in created.items() if r["Type"] in reset_types]
    assert [n for n, r in created.items() if r["Type"] == "AWS::IAM::Role"] == ["FunctionRole"]
    with_audit = resources_for(template, **ALL_TRIGGERS_OFF)
    assert {n for n, r in with_audit.items() if r["Type"] in reset_types | {"AWS::IAM::Role"}} == {
        "FunctionRole", "AuditScheduleGroup", "AuditSchedulerRole", "AuditInvocationSchedule",
    }


def test_the_trigger_parameters_have_the_documented_defaults(template):
    parameters = template["Parameters"]
    defaults = {p: parameters[p]["Default"] for p in RESET_TRIGGERS}
    assert defaults == {
        "OnDemandResets": "false", "SecurityHubResets": "false", "BreakGlassResets": "false",
        "CheckoutResets": "false", "DriftRepair": "false",
    }
    assert parameters["ResetDryRun"]["Default"] == "false"
    assert parameters["OutcomeEventBusName"]["Default"] == ""
    senders = parameters["OnDemandSenderArns"]
    assert (senders["Type"], senders["Default"]) == ("CommaDelimitedList", "")
    delay = parameters["ResetDelayMinutes"]
    assert (delay["Type"], delay["Default"], delay["MinValue"], delay["MaxValue"]) == ("Number", 60, 1, 1440)
    group = next(g for g in template["Metadata"]["AWS::CloudFormation::Interface"]["ParameterGroups"]
                 if g["Label"]["default"] == "Event-triggered resets")
    assert set(group["Parameters"]) == set(RESET_TRIGGERS) | {
        "OnDemandSenderArns", "ResetDelayMinutes", "ResetMinIntervalMinutes", "ResetDryRun", "OutcomeEventBusName",
        "CheckoutSecretNamePrefix",
    }


@pytest.mark.parametrize("rule", sorted(EXPECTED_RULES))
def test_each_rule_matches_exactly_its_documented_pattern_and_targets_the_function(template, rule):
    pattern, state = EXPECTED_RULES[rule]
    props = template["Resources"][rule]["Properties"]
    assert props["EventPattern"] == pattern
    assert props["State"] == state
    assert props["Targets"] == [{"Id": "RotationFunction", "Arn": {"Fn::GetAtt": ["RotationFunction", "Arn"]}, **ASYNC_DELIVERY}]
    # On-demand events come on the stack's own bus; AWS's events on the default bus.
    if rule == "OnDemandResetRule":
        assert props["EventBusName"] == {"Ref": "ResetEventBus"}
    else:
        assert "EventBusName" not in props


def test_every_rule_has_its_own_invoke_permission_whose_source_arn_is_that_rule(template):
    created = resources_for(template, **ALL_TRIGGERS_ON)
    rules = {n for n, r in created.items() if r["Type"] == "AWS::Events::Rule"}
    assert rules == set(EXPECTED_RULES)
    permissions = [r for r in created.values()
                   if r["Type"] == "AWS::Lambda::Permission" and r["Properties"]["Principal"] == "events.amazonaws.com"]
    sources = [p["Properties"]["SourceArn"] for p in permissions]
    assert sorted(json.dumps(s) for s in sources) == sorted(json.dumps({"Fn::GetAtt": [r, "Arn"]}) for r in rules)
    for permission in permissions:
        props = permission["Properties"]
        assert props["Action"] == "lambda:InvokeFunction"
        assert props["FunctionName"] == {"Fn::GetAtt": ["RotationFunction", "Arn"]}
        rule = props["SourceArn"]["Fn::GetAtt"][0]
        assert permission["Condition"] == template["Resources"][rule]["Condition"]


def test_no_permission_lets_eventbridge_invoke_the_function_without_a_source_arn(template):
    for name, permission in resources_of_type(template, "AWS::Lambda::Permission").items():
        props = permission["Properties"]
        if props["Principal"] == "events.amazonaws.com":
            assert "Fn::GetAtt" in props["SourceArn"] and props["SourceArn"]["Fn::GetAtt"][1] == "Arn", name
            assert template["Resources"][props["SourceArn"]["Fn::GetAtt"][0]]["Type"] == "AWS::Events::Rule", name
        assert "*" not in json.dumps(props), name


def test_the_reset_bus_is_named_after_the_function_and_is_created_only_for_on_demand_resets(template):
    bus = template["Resources"]["ResetEventBus"]
    assert bus["Type"] == "AWS::Events::EventBus"
    assert bus["Condition"] == "OnDemandResetsOn"
    assert bus["Properties"]["Name"] == {"Fn::Sub": "${FunctionName}-resets"}
    assert "ResetEventBus" not in resources_for(template, OnDemandResets="false")


def bus_policies_for(template: dict, **parameters: str) -> dict[str, dict]:
    return {
        r["Properties"]["StatementId"]: resolved(template, r["Properties"], parameters)
        for r in resources_for(template, **parameters).values() if r["Type"] == "AWS::Events::EventBusPolicy"
    }


def test_with_sender_arns_the_reset_bus_policy_names_only_those_principals(template):
    policies = bus_policies_for(template, OnDemandResets="true", OnDemandSenderArns=",".join(SENDERS))
    assert set(policies) == {"AllowOnDemandResetSenders", "DenyEveryoneButOnDemandResetSenders"}
    for policy in policies.values():
        assert policy["EventBusName"] == {"Ref": "ResetEventBus"}
        assert policy["Statement"]["Action"] == "events:PutEvents"
        assert policy["Statement"]["Resource"] == {"Fn::GetAtt": ["ResetEventBus", "Arn"]}
    allow = policies["AllowOnDemandResetSenders"]["Statement"]
    assert allow["Effect"] == "Allow"
    assert allow["Principal"] == {"AWS": SENDERS}
    assert "Condition" not in allow
    # Nobody else, even in this account with events:PutEvents on "*" in their own policy.
    deny = policies["DenyEveryoneButOnDemandResetSenders"]["Statement"]
    assert (deny["Effect"], deny["Principal"]) == ("Deny", "*")
    assert deny["Condition"] == {"ArnNotEquals": {"aws:PrincipalArn": SENDERS}}
    # Each EventBusPolicy rewrites the bus's policy: the two must not be written at once.
    assert template["Resources"]["ResetEventBusOnlySendersPolicy"]["DependsOn"] == "ResetEventBusSendersPolicy"


def test_on_demand_resets_are_off_by_default_and_refused_without_named_senders(template):
    # Any principal whose own policy allows events:PutEvents on "*" must not be able to
    # reset a user: the template refuses on-demand resets that do not name their senders.
    assert template["Parameters"]["OnDemandResets"]["Default"] == "false"
    assert not bus_policies_for(template)
    assert rules_refusing(template, {"OnDemandResets": "true"}) == {"OnDemandResetsNeedSenders"}
    assert rules_refusing(template, {"OnDemandResets": "true", "OnDemandSenderArns": ""}) == {"OnDemandResetsNeedSenders"}
    assert "OnDemandResetsNeedSenders" not in rules_refusing(template, {"OnDemandResets": "true", "OnDemandSenderArns": SENDERS[0]})
    assert "OnDemandResetsNeedSenders" not in rules_refusing(template, {})
    # With senders, no statement admits the account as a whole.
    for policy in bus_policies_for(template, OnDemandResets="true", OnDemandSenderArns=SENDERS[0]).values():
        assert ":root" not in json.dumps(policy), policy


def test_the_security_hub_custom_action_fits_security_hubs_limits(template):
    action = template["Resources"]["SecurityHubActionTarget"]
    assert action["Type"] == "AWS::SecurityHub::ActionTarget"
    assert action["Condition"] == "CreateSecurityHubActionTarget"
    props = action["Properties"]
    assert 1 <= len(props["Name"]) <= 20
    assert re.fullmatch(r"[A-Za-z0-9]{1,20}", props["Id"])
    assert props["Description"]


def test_the_scheduler_group_is_named_after_the_function_and_exists_whenever_a_trigger_is_on(template):
    group = template["Resources"]["ResetScheduleGroup"]
    assert group["Type"] == "AWS::Scheduler::ScheduleGroup"
    assert group["Properties"]["Name"] == {"Fn::Sub": "${FunctionName}-resets"}
    for parameter in RESET_TRIGGERS:
        created = resources_for(template, **{**ALL_TRIGGERS_OFF, parameter: "true"})
        assert {"ResetScheduleGroup", "SchedulerRole"} <= set(created), parameter
    # <FunctionName>-resets must fit a schedule group name (64 characters at most).
    pattern = template["Parameters"]["FunctionName"]["AllowedPattern"]
    assert re.fullmatch(pattern, "f" * 57) and not re.fullmatch(pattern, "f" * 58)


def test_the_scheduler_role_may_only_invoke_the_function_and_trusts_only_scheduler_for_this_account(template):
    role = template["Resources"]["SchedulerRole"]
    assert role["Condition"] == "AnyResetTrigger"
    props = role["Properties"]
    assert "ManagedPolicyArns" not in props
    assert props["AssumeRolePolicyDocument"]["Statement"] == [{
        "Effect": "Allow",
        "Principal": {"Service": "scheduler.amazonaws.com"},
        "Action": "sts:AssumeRole",
        "Condition": {"StringEquals": {
            "aws:SourceAccount": {"Ref": "AWS::AccountId"},
            "aws:SourceArn": {"Fn::GetAtt": ["ResetScheduleGroup", "Arn"]},
        }},
    }]
    statements = [s for p in props["Policies"] for s in as_list(p["PolicyDocument"]["Statement"])]
    # Besides invoking: delivering what it could not to the dead-letter queue (tests/deploy/test_alarms.py).
    statements = [s for s in statements if s.get("Sid") != "SendUndeliveredToDeadLetterQueue"]
    assert len(statements) == 1
    assert statements[0]["Effect"] == "Allow"
    assert actions_of(statements[0]) == {"lambda:InvokeFunction"}
    assert flatten(statements[0]["Resource"]) == FUNCTION_ARN
    assert not [r for r in resources_of_type(template, "AWS::IAM::Policy").values()
                if {"Ref": "SchedulerRole"} in as_list(r["Properties"].get("Roles", []))]


def reset_actions_granted(template: dict, role_name: str, **parameters: str) -> set[str]:
    by_sid = statements_for(template, role_name, **parameters)
    return set().union(*(actions_of(s) for s in by_sid.values())) & (RESET_ACTIONS | OUTCOME_ACTIONS)


@pytest.mark.parametrize("parameter", sorted(RESET_TRIGGERS))
def test_each_trigger_gives_the_role_exactly_the_reset_actions(template, role_name, parameter):
    assert reset_actions_granted(template, role_name, **{**ALL_TRIGGERS_OFF, parameter: "true"}) == RESET_ACTIONS


def test_with_every_trigger_off_the_role_gains_none_of_the_reset_actions(template, role_name):
    assert reset_actions_granted(template, role_name, **ALL_TRIGGERS_OFF) == set()
    assert statements_for(template, role_name, **ALL_TRIGGERS_OFF).keys() == statements_for(
        template, role_name, OnDemandResets="false"
    ).keys()


def test_the_reset_statements_are_scoped_to_this_functions_secrets_schedules_and_scheduler_role(template, role_name):
    by_sid = statements_for(template, role_name, **ALL_TRIGGERS_ON)
    rotate = by_sid["StartRotationsOfSecretsThatNameThisFunction"]
    assert actions_of(rotate) == {"secretsmanager:RotateSecret", "secretsmanager:ListSecretVersionIds"}
    assert rotate["Resource"] == by_sid["RotateOnlySecretsThatNameThisFunction"]["Resource"]
    assert rotate["Condition"] == by_sid["RotateOnlySecretsThatNameThisFunction"]["Condition"]
    invoke = by_sid["InvokeThisFunctionToStartRotations"]
    assert actions_of(invoke) == {"lambda:InvokeFunction"}
    assert flatten(invoke["Resource"]) == FUNCTION_ARN
    schedules = by_sid["ManageSchedulesInOwnResetGroupOnly"]
    assert actions_of(schedules) == {
        "scheduler:CreateSchedule", "scheduler:GetSchedule", "scheduler:UpdateSchedule", "scheduler:DeleteSchedule"
    }
    assert flatten(schedules["Resource"]) == (
        "arn:${AWS::Partition}:scheduler:${AWS::Region}:${AWS::AccountId}:schedule/${FunctionName}-resets/*"
    )


def test_pass_role_is_only_for_the_scheduler_role_and_only_to_eventbridge_scheduler(template, statements):
    passing = [(c, s) for c, s in statements if "iam:PassRole" in actions_of(s)]
    assert len(passing) == 1
    condition, statement = passing[0]
    assert condition == "AnyResetTrigger"
    assert actions_of(statement) == {"iam:PassRole"}
    assert statement["Resource"] == {"Fn::GetAtt": ["SchedulerRole", "Arn"]}
    assert statement["Condition"] == {"StringEquals": {"iam:PassedToService": "scheduler.amazonaws.com"}}


def test_put_events_is_granted_only_with_an_outcome_bus_name_and_only_on_that_bus(template, role_name, statements):
    assert "events:PutEvents" not in reset_actions_granted(template, role_name, **{**ALL_TRIGGERS_ON, "OutcomeEventBusName": ""})
    assert reset_actions_granted(template, role_name, **{**ALL_TRIGGERS_OFF, "OutcomeEventBusName": OUTCOME_BUS}) == {
        "events:PutEvents"
    }
    (condition, statement), = [(c, s) for c, s in statements if "events:PutEvents" in actions_of(s)]
    assert template["Conditions"][condition] == {"Fn::Not": [{"Fn::Equals": [{"Ref": "OutcomeEventBusName"}, ""]}]}
    assert actions_of(statement) == {"events:PutEvents"}
    assert flatten(statement["Resource"]) == (
        "arn:${AWS::Partition}:events:${AWS::Region}:${AWS::AccountId}:event-bus/${OutcomeEventBusName}"
    )
    # A bus name, never an ARN or a wildcard.
    pattern = template["Parameters"]["OutcomeEventBusName"]["AllowedPattern"]
    assert re.fullmatch(pattern, OUTCOME_BUS) and re.fullmatch(pattern, "")
    assert not re.fullmatch(pattern, "*") and not re.fullmatch(pattern, "arn:aws:events:us-east-1:123456789012:event-bus/x")


def test_the_reset_environment_variables_are_wired_to_the_stacks_resources(template, function, role_name):
    variables = function["Properties"]["Environment"]["Variables"]
    assert variables["FUNCTION_ROLE_ARN"] == {"Fn::GetAtt": [role_name, "Arn"]}
    on = resolve_ifs(template, variables, ALL_TRIGGERS_ON)
    assert on["SCHEDULE_GROUP"] == {"Ref": "ResetScheduleGroup"}
    assert on["SCHEDULER_ROLE_ARN"] == {"Fn::GetAtt": ["SchedulerRole", "Arn"]}
    off = resolve_ifs(template, variables, ALL_TRIGGERS_OFF)
    assert off["SCHEDULE_GROUP"] == "" and off["SCHEDULER_ROLE_ARN"] == ""
    assert off["FUNCTION_ROLE_ARN"] == {"Fn::GetAtt": [role_name, "Arn"]}
    for variable, parameter in (("RESET_DRY_RUN", "ResetDryRun"), ("RESET_DELAY_MINUTES", "ResetDelayMinutes"),
                                ("OUTCOME_EVENT_BUS", "OutcomeEventBusName")):
        assert variables[variable] == {"Ref": parameter}


def test_the_outputs_give_the_reset_bus_and_the_security_hub_action(template):
    outputs = template["Outputs"]
    assert outputs["ResetEventBusArn"]["Value"] == {"Fn::GetAtt": ["ResetEventBus", "Arn"]}
    assert outputs["ResetEventBusArn"]["Condition"] == "OnDemandResetsOn"
    assert outputs["SecurityHubActionTargetArn"]["Value"] == {"Fn::Sub": SECURITY_HUB_ACTION_ARN}
    assert outputs["SecurityHubActionTargetArn"]["Condition"] == "SecurityHubResetsOn"
    assert flatten(outputs["ForwardingTargetEventBusArn"]["Value"]) == (
        "arn:${AWS::Partition}:events:${AWS::Region}:${AWS::AccountId}:event-bus/default"
    )


@pytest.mark.parametrize("region, told", [("us-east-1", False), ("eu-west-1", True)])
def test_drift_repair_outside_us_east_1_says_to_forward_iams_events(template, region, told):
    parameters = {"DriftRepair": "true", "AWS::Region": region}
    assert condition_is_true(template, template["Outputs"]["DriftRepairNeedsForwarding"]["Condition"], parameters) is told
    assert "DriftRepairRule" in rules_for(template, **parameters)
    assert "forwarding.yaml" in flatten(template["Outputs"]["DriftRepairNeedsForwarding"]["Value"])


# ---------------------------------------------------------------------------------------
# Linters, for every combination of parameters the tests exercise

LINT_COMBINATIONS = {
    "template.yaml defaults": (TEMPLATE, {}),
    "template.yaml all triggers off": (TEMPLATE, ALL_TRIGGERS_OFF),
    **{f"template.yaml only {p}": (TEMPLATE, {**ALL_TRIGGERS_OFF, p: "true"}) for p in sorted(RESET_TRIGGERS)},
    "template.yaml everything on": (
        TEMPLATE,
        {**ALL_TRIGGERS_ON, "CreateExample": "true", "CreateLoginProfile": "true", "KmsKeyArn": FAKE_KMS_KEY,
         "SelfServiceStrategy": "true"},
    ),
    # No IAM write at all (docs/self-service.md).
    "template.yaml self-service strategy only": (TEMPLATE, {**SELF_SERVICE_ONLY, "KmsKeyArn": FAKE_KMS_KEY}),
    "template.yaml self-service strategy only, all triggers off": (TEMPLATE, {**SELF_SERVICE_ONLY, **ALL_TRIGGERS_OFF}),
    # Organisations and the audit (docs/organizations.md; tests/deploy/test_organizations.py).
    "template.yaml organisation, every trigger, audit resets drift": (
        TEMPLATE,
        {**ALL_TRIGGERS_ON, "OrganizationId": ORGANIZATION_ID, "AuditResetDrift": "true", "KmsKeyArn": FAKE_KMS_KEY},
    ),
    "template.yaml organisation, listed accounts, own external id, no triggers": (
        TEMPLATE,
        {**ALL_TRIGGERS_OFF, "OrganizationId": ORGANIZATION_ID, "AuditAccounts": "111111111111,222222222222",
         "MemberExternalId": "rotation-external-id"},
    ),
    "template.yaml no audit": (TEMPLATE, {"AuditSchedule": ""}),
    "member-role.yaml defaults": (MEMBER_TEMPLATE, {
        "CentralRoleArn": "arn:aws:iam::123456789012:role/iam-password-rotation-FunctionRole-AbCdEf",
        "CentralFunctionArn": "arn:aws:lambda:eu-west-1:123456789012:function:iam-password-rotation",
        "ExternalId": ORGANIZATION_ID, "OrganizationId": ORGANIZATION_ID,
    }),
    "member-role.yaml everything": (MEMBER_TEMPLATE, {
        "CentralRoleArn": "arn:aws:iam::123456789012:role/iam-password-rotation-FunctionRole-AbCdEf",
        "CentralFunctionArn": "arn:aws:lambda:eu-west-1:123456789012:function:iam-password-rotation",
        "ExternalId": ORGANIZATION_ID, "OrganizationId": ORGANIZATION_ID, "UserPath": "/rotated/",
        "CreateLoginProfile": "true", "KmsKeyArn": "arn:aws:kms:eu-west-1:210987654321:key/1234abcd-12ab-34cd-56ef-1234567890ab",
    }),
    "member-role.yaml no writes, no resets, no audit": (MEMBER_TEMPLATE, {
        "CentralRoleArn": "arn:aws:iam::123456789012:role/iam-password-rotation-FunctionRole-AbCdEf",
        "CentralFunctionArn": "arn:aws:lambda:eu-west-1:123456789012:function:iam-password-rotation",
        "ExternalId": ORGANIZATION_ID, "OrganizationId": ORGANIZATION_ID, "UpdateLoginProfileStrategy": "false",
        "RequireBindingTag": "false", "AllowResets": "false", "AllowAudit": "false",
    }),
    "central-invoke.yaml": (CENTRAL_INVOKE_TEMPLATE, {
        "FunctionArn": "arn:aws:lambda:eu-west-1:123456789012:function:iam-password-rotation",
        "MemberAccountIds": "111111111111,222222222222",
    }),
    "forwarding.yaml everything": (
        FORWARDING,
        {"TargetEventBusArn": "arn:aws:events:eu-west-1:123456789012:event-bus/default",
         "ForwardSignIns": "true", "ForwardSecretReads": "true", "ForwardIamDrift": "true"},
    ),
    "forwarding.yaml target in this region": (
        FORWARDING,
        {"TargetEventBusArn": "arn:aws:events:us-east-1:123456789012:event-bus/default", "ForwardSignIns": "true"},
    ),
}


def cfn_lint_command() -> list[str]:
    cfn_lint = Path(sys.executable).with_name("cfn-lint")
    return [str(cfn_lint)] if cfn_lint.exists() else [sys.executable, "-m", "cfnlint"]


def with_defaults(path: Path, parameters: dict[str, str]) -> dict:
    """The template (long-form JSON) with these values as its parameters' defaults: `sam validate`
    takes no parameter values."""
    document = load_template(path)
    for name, value in parameters.items():
        document["Parameters"][name]["Default"] = value
    return document


@pytest.fixture(scope="module")
def lint_results(sam_cli, tmp_path_factory) -> dict[str, list[tuple[str, int, str]]]:
    """cfn-lint (with --parameters) and `sam validate --lint` (on the template with those
    defaults) for every combination, a few at a time."""
    directory = tmp_path_factory.mktemp("lint")
    jobs = []
    for index, (name, (path, parameters)) in enumerate(LINT_COMBINATIONS.items()):
        arguments = [f"{k}={v}" for k, v in parameters.items()]
        jobs.append((name, "cfn-lint", [*cfn_lint_command(), str(path), *(["--parameters", *arguments] if arguments else [])]))
        derived = directory / f"{index}-{path.stem}.json"
        derived.write_text(json.dumps(with_defaults(path, parameters), indent=1), encoding="utf-8")
        jobs.append((name, "sam validate --lint", [str(sam_cli), "validate", "--lint", "--template-file", str(derived)]))

    def run(job):
        name, tool, command = job
        result = subprocess.run(command, cwd=ROOT, env=_tool_env(), capture_output=True, text=True, timeout=300)
        return name, (tool, result.returncode, result.stdout + result.stderr)

    results: dict[str, list[tuple[str, int, str]]] = {name: [] for name in LINT_COMBINATIONS}
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(2, os.cpu_count() or 2)) as pool:
        for name, outcome in pool.map(run, jobs):
            results[name].append(outcome)
    return results


@pytest.mark.parametrize("combination", list(LINT_COMBINATIONS))
def test_cfn_lint_and_sam_validate_pass_for_every_combination_the_tests_exercise(lint_results, combination):
    outcomes = lint_results[combination]
    assert [tool for tool, _, _ in outcomes] == ["cfn-lint", "sam validate --lint"]
    for tool, returncode, output in outcomes:
        assert returncode == 0, f"{tool} failed for {combination}:\n{output}"
    assert "is a valid SAM Template" in outcomes[1][2]


# ---------------------------------------------------------------------------------------
# forwarding.yaml: AWS events from other regions to the function's region

FORWARDED_RULES = {
    # forwarding.yaml rule -> (its parameter, the function stack's rule it feeds)
    "SignInForwardingRule": ("ForwardSignIns", "ConsoleSignInResetRule"),
    "SecretReadForwardingRule": ("ForwardSecretReads", "SecretReadResetRule"),
    "IamDriftForwardingRule": ("ForwardIamDrift", "DriftRepairRule"),
}
FORWARD_NOTHING = {"ForwardSignIns": "false", "ForwardSecretReads": "false", "ForwardIamDrift": "false"}
TARGET_BUS = "arn:aws:events:eu-west-1:123456789012:event-bus/default"


@pytest.fixture(scope="module")
def forwarding() -> dict:
    return load_template(FORWARDING)


def test_forwarding_is_plain_cloudformation_with_the_documented_parameters(forwarding):
    assert "Transform" not in forwarding
    parameters = forwarding["Parameters"]
    assert set(parameters) == {"TargetEventBusArn", "ForwardSignIns", "ForwardSecretReads", "ForwardIamDrift"}
    for name in FORWARD_NOTHING:
        assert parameters[name]["AllowedValues"] == ["true", "false"]
    pattern = parameters["TargetEventBusArn"]["AllowedPattern"]
    assert re.fullmatch(pattern, TARGET_BUS)
    assert not re.fullmatch(pattern, "arn:aws:events:eu-west-1:123456789012:event-bus/iam-password-rotation-resets")
    assert not re.fullmatch(pattern, "*")


def test_cfn_lint_and_sam_validate_pass_on_the_forwarding_template(sam_cli):
    lint = subprocess.run([*cfn_lint_command(), str(FORWARDING)], cwd=ROOT, env=_tool_env(),
                          capture_output=True, text=True, timeout=300)
    assert lint.returncode == 0, f"cfn-lint found problems:\n{lint.stdout}{lint.stderr}"
    validate = subprocess.run([str(sam_cli), "validate", "--lint", "--template-file", str(FORWARDING)],
                              cwd=ROOT, env=_tool_env(), capture_output=True, text=True, timeout=300)
    assert validate.returncode == 0, f"sam validate --lint failed:\n{validate.stdout}{validate.stderr}"


@pytest.mark.parametrize("rule", sorted(FORWARDED_RULES))
def test_each_forwarding_rule_matches_the_function_stacks_pattern_and_exists_only_when_asked(
    forwarding, template, rule
):
    parameter, function_rule = FORWARDED_RULES[rule]
    props = forwarding["Resources"][rule]["Properties"]
    if rule == "SecretReadForwardingRule":
        assert (props["EventPattern"], props["State"]) == (FORWARDED_SECRET_READ_PATTERN, EXPECTED_RULES[function_rule][1])
    else:
        assert (props["EventPattern"], props["State"]) == EXPECTED_RULES[function_rule]
        assert props["EventPattern"] == template["Resources"][function_rule]["Properties"]["EventPattern"]
    assert props["Targets"] == [{
        "Id": "FunctionRegionDefaultBus",
        "Arn": {"Ref": "TargetEventBusArn"},
        "RoleArn": {"Fn::GetAtt": ["ForwardingRole", "Arn"]},
        **ASYNC_DELIVERY,
    }]
    only_this = {**FORWARD_NOTHING, parameter: "true", "TargetEventBusArn": TARGET_BUS}
    created = {n for n, r in resources_for(forwarding, **only_this).items() if r["Type"] == "AWS::Events::Rule"}
    assert created == {rule}


def test_forwarding_never_targets_a_bus_in_its_own_region(forwarding):
    everything = {"ForwardSignIns": "true", "ForwardSecretReads": "true", "ForwardIamDrift": "true"}
    same_region = resources_for(forwarding, **everything, TargetEventBusArn=TARGET_BUS, **{"AWS::Region": "eu-west-1"})
    assert not [n for n, r in same_region.items() if r["Type"] == "AWS::Events::Rule"]
    elsewhere = resources_for(forwarding, **everything, TargetEventBusArn=TARGET_BUS, **{"AWS::Region": "us-east-1"})
    assert {n for n, r in elsewhere.items() if r["Type"] == "AWS::Events::Rule"} == set(FORWARDED_RULES)


def test_forwarding_asks_for_at_least_one_kind_of_event(forwarding):
    (rule,) = forwarding["Rules"].values()
    (assertion,) = rule["Assertions"]
    assert assertion["Assert"] == {"Fn::Or": [{"Fn::Equals": [{"Ref": p}, "true"]} for p in FORWARD_NOTHING]}


def test_the_forwarding_role_may_only_put_events_on_the_target_bus_and_trusts_only_eventbridge(forwarding):
    (name, role), = resources_of_type(forwarding, "AWS::IAM::Role").items()
    props = role["Properties"]
    assert "ManagedPolicyArns" not in props
    assert props["AssumeRolePolicyDocument"]["Statement"] == [{
        "Effect": "Allow",
        "Principal": {"Service": "events.amazonaws.com"},
        "Action": "sts:AssumeRole",
        "Condition": {"StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}},
    }]
    (statement,) = [s for p in props["Policies"] for s in as_list(p["PolicyDocument"]["Statement"])]
    assert statement["Effect"] == "Allow"
    assert actions_of(statement) == {"events:PutEvents"}
    assert statement["Resource"] == {"Ref": "TargetEventBusArn"}
    assert not resources_of_type(forwarding, "AWS::IAM::Policy")
    assert not resources_of_type(forwarding, "AWS::Lambda::Permission")


# ---------------------------------------------------------------------------------------
# Sample events


def event_files() -> list[Path]:
    return sorted(EVENTS.glob("*.json"))


def test_the_events_directory_has_every_sample_event():
    names = {p.name for p in event_files()}
    assert set(STEP_EVENT_FILES) | {"malformed.json"} <= names


@pytest.mark.parametrize("path", event_files(), ids=lambda p: p.name)
def test_every_event_file_parses_as_a_json_object(path):
    assert isinstance(json.loads(path.read_text(encoding="utf-8")), dict)


@pytest.mark.parametrize("name", sorted(STEP_EVENT_FILES))
def test_every_step_event_has_the_fields_secrets_manager_sends(name):
    event = json.loads((EVENTS / name).read_text(encoding="utf-8"))
    for field in REQUIRED_EVENT_FIELDS:
        assert isinstance(event.get(field), str) and event[field], f"{name}: {field}"
    assert event["Step"] == STEP_EVENT_FILES[name]
    assert event["SecretId"].startswith("arn:aws:secretsmanager:")
    assert set(event) <= set(REQUIRED_EVENT_FIELDS) | {"RotationToken"}


def test_the_four_steps_share_one_token_and_one_carries_a_rotation_token():
    events = [json.loads((EVENTS / n).read_text(encoding="utf-8")) for n in STEP_EVENT_FILES if n != "test-run.json"]
    assert {e["Step"] for e in events} == STEPS
    assert len({e["ClientRequestToken"] for e in events}) == 1
    assert len({e["SecretId"] for e in events}) == 1
    assert any("RotationToken" in e for e in events)


def test_the_malformed_event_lacks_a_required_field_or_names_no_known_step():
    event = json.loads((EVENTS / "malformed.json").read_text(encoding="utf-8"))
    missing = [f for f in REQUIRED_EVENT_FIELDS if f not in event]
    assert missing or event.get("Step") not in STEPS
    assert "ClientRequestToken" in missing


# EventBridge events (event-triggered resets): file -> (the rule that receives it, or None)
EVENTBRIDGE_EVENT_FILES = {
    "reset-on-demand-user.json": "OnDemandResetRule",
    "reset-on-demand-secret.json": "OnDemandResetRule",
    "reset-security-hub.json": "SecurityHubResetRule",
    "console-login-success.json": "ConsoleSignInResetRule",
    # A failed sign-in reaches no rule (the function would skip it anyway).
    "console-login-failure.json": None,
    "secret-read.json": "SecretReadResetRule",
    "drift-update-login-profile.json": "DriftRepairRule",
    "drift-change-password.json": "DriftRepairRule",
    "drift-delete-login-profile.json": "DriftRepairRule",
}
ENVELOPE_FIELDS = ("version", "id", "detail-type", "source", "account", "time", "region", "resources", "detail")
CLOUDTRAIL_DETAIL_FIELDS = (
    "eventVersion", "userIdentity", "eventTime", "eventSource", "eventName", "awsRegion", "sourceIPAddress",
    "userAgent", "requestParameters", "responseElements", "eventID", "eventType",
)
SAMPLE_ACCOUNT = "123456789012"
SAMPLE_SECRET = "arn:aws:secretsmanager:us-east-1:123456789012:secret:console/alice-AbCdEf"
SAMPLE_USER_ARN = "arn:aws:iam::123456789012:user/alice"
UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}"


def load_event(name: str) -> dict:
    return json.loads((EVENTS / name).read_text(encoding="utf-8"))


# The function's role as deployed (what `!GetAtt FunctionRole.Arn` gives), for the sample events.
SAMPLE_FUNCTION_ROLE_ARN = "arn:aws:iam::123456789012:role/iam-password-rotation-FunctionRole-AbCdEf"


def deployed_pattern(template: dict, rule: str, **parameters: str) -> dict:
    """The rule's pattern as deployed in account 123456789012, us-east-1 with these parameters
    (defaults otherwise): conditions decided, parameters, pseudo parameters and the function
    role's ARN filled in."""
    pattern = resolved(template, template["Resources"][rule]["Properties"]["EventPattern"], parameters)
    action_id = template["Resources"]["SecurityHubActionTarget"]["Properties"]["Id"]
    action_arn = f"arn:aws:securityhub:us-east-1:{SAMPLE_ACCOUNT}:action/custom/{action_id}"

    def deploy(value):
        if isinstance(value, dict) and set(value) == {"Fn::Sub"}:
            text = value["Fn::Sub"].replace("${AWS::Partition}", "aws").replace("${AWS::Region}", "us-east-1")
            return text.replace("${AWS::AccountId}", SAMPLE_ACCOUNT)
        if value == {"Fn::GetAtt": ["FunctionRole", "Arn"]}:
            return SAMPLE_FUNCTION_ROLE_ARN
        if isinstance(value, dict):
            return {k: deploy(v) for k, v in value.items()}
        if isinstance(value, list):
            return [deploy(v) for v in value]
        return value

    deployed = deploy(pattern)
    assert "Fn::" not in json.dumps(deployed) and '"Ref"' not in json.dumps(deployed), deployed
    if rule == "SecurityHubResetRule":
        assert deployed["resources"] == [action_arn]
    return deployed


def test_the_event_pattern_matcher_follows_eventbridges_rules_for_the_subset_used():
    event = {"source": "aws.iam", "resources": ["a", "b"], "detail": {"eventName": "X", "userIdentity": {"type": "IAMUser"}}}
    assert matches_event_pattern({"source": ["aws.iam", "aws.signin"]}, event)
    assert matches_event_pattern({"resources": ["b"]}, event), "an array in the event matches any element"
    assert matches_event_pattern({"detail": {"userIdentity": {"type": ["IAMUser"]}}}, event)
    assert not matches_event_pattern({"source": ["aws.signin"]}, event)
    assert not matches_event_pattern({"detail": {"errorCode": ["X"]}}, event), "a missing key never matches"
    assert not matches_event_pattern({"detail": {"eventName": {"X": ["Y"]}}}, event), "a value is not an object"
    with pytest.raises(AssertionError):
        matches_event_pattern({"source": [{"numeric": [">", 0]}]}, event)
    with pytest.raises(AssertionError):
        matches_event_pattern({"$or": [{"source": ["aws.iam"]}]}, event)


def test_the_matcher_reads_exists_as_eventbridge_does_for_a_leaf():
    event = {"detail": {"errorCode": "AccessDenied", "eventName": "X", "requestParameters": {"userName": "alice"}}}
    assert matches_event_pattern({"detail": {"errorCode": [{"exists": True}]}}, event)
    assert not matches_event_pattern({"detail": {"errorCode": [{"exists": False}]}}, event)
    assert matches_event_pattern({"detail": {"errorMessage": [{"exists": False}]}}, event)
    assert not matches_event_pattern({"detail": {"errorMessage": [{"exists": True}]}}, event)
    assert not matches_event_pattern({"detail": {"requestParameters": [{"exists": True}]}}, event), "leaves only"


def test_the_matcher_reads_anything_but_as_eventbridge_does_a_missing_field_never_matching():
    event = {"detail": {"userIdentity": {"type": "IAMUser", "arn": "arn:aws:iam::123456789012:user/alice"}}}
    assert matches_event_pattern({"detail": {"userIdentity": {"type": [{"anything-but": "AssumedRole"}]}}}, event)
    assert not matches_event_pattern({"detail": {"userIdentity": {"type": [{"anything-but": "IAMUser"}]}}}, event)
    assert not matches_event_pattern({"detail": {"userIdentity": {"type": [{"anything-but": ["Root", "IAMUser"]}]}}}, event)
    assert matches_event_pattern({"detail": {"userIdentity": {"type": [{"anything-but": ["Root", "AssumedRole"]}]}}}, event)
    missing = {"detail": {"userIdentity": {"sessionContext": {"sessionIssuer": {"arn": [{"anything-but": "x"}]}}}}}
    assert not matches_event_pattern(missing, event), "anything-but does not match a missing field"
    assert not matches_event_pattern({"detail": {"userIdentity": {"userName": [{"anything-but": "bob"}]}}}, event)


def test_the_matcher_reads_prefix_suffix_and_wildcard_as_eventbridge_does():
    event = {"detail": {"requestParameters": {"secretId": "arn:aws:secretsmanager:eu-west-1:210987654321:secret:console/alice-AbCdEf"}}}

    def secret_id(*matchers):
        return {"detail": {"requestParameters": {"secretId": list(matchers)}}}

    assert matches_event_pattern(secret_id({"prefix": "arn:aws:secretsmanager:"}), event)
    assert not matches_event_pattern(secret_id({"prefix": "console/"}), event)
    assert matches_event_pattern(secret_id({"suffix": "-AbCdEf"}), event)
    assert matches_event_pattern(secret_id({"wildcard": "arn:*:secretsmanager:*:secret:console/*"}), event)
    assert not matches_event_pattern(secret_id({"wildcard": "arn:*:secretsmanager:*:secret:app/*"}), event)
    assert not matches_event_pattern(secret_id({"wildcard": "arn:*:secret:console/alice"}), event), "the whole value"
    assert matches_event_pattern(secret_id({"prefix": "console/"}, {"wildcard": "*:secret:console/*"}), event), "a list is an or"
    assert wildcard_matches("a\\*b*", "a*bcd") and not wildcard_matches("a\\*b*", "axbcd"), "an escaped * is a *"
    assert not matches_event_pattern(secret_id({"prefix": "x"}), {"detail": {"requestParameters": {}}})


def test_the_matcher_reads_or_as_eventbridge_does_one_alternative_besides_the_other_fields():
    pattern = {"detail": {"a": ["1"], "$or": [{"b": ["2"]}, {"c": {"d": ["3"]}}]}}
    assert matches_event_pattern(pattern, {"detail": {"a": "1", "b": "2"}})
    assert matches_event_pattern(pattern, {"detail": {"a": "1", "b": "x", "c": {"d": "3"}}})
    assert not matches_event_pattern(pattern, {"detail": {"a": "1", "b": "x", "c": {"d": "x"}}})
    assert not matches_event_pattern(pattern, {"detail": {"a": "x", "b": "2"}}), "the other fields still apply"


def test_the_events_directory_has_every_eventbridge_sample():
    assert set(EVENTBRIDGE_EVENT_FILES) <= {p.name for p in event_files()}


@pytest.mark.parametrize("name", sorted(EVENTBRIDGE_EVENT_FILES))
def test_every_eventbridge_sample_is_a_complete_eventbridge_event(name):
    event = load_event(name)
    assert tuple(event) == ENVELOPE_FIELDS, "the envelope's fields, in EventBridge's order"
    assert event["version"] == "0"
    assert re.fullmatch(UUID, event["id"])
    assert event["account"] == SAMPLE_ACCOUNT
    assert event["region"] == "us-east-1"
    assert re.fullmatch(r"2026-\d\d-\d\dT\d\d:\d\d:\d\dZ", event["time"])
    assert isinstance(event["resources"], list) and isinstance(event["detail"], dict)
    if event["source"].startswith("aws.") and event["source"] != "aws.securityhub":
        detail = event["detail"]
        for field in CLOUDTRAIL_DETAIL_FIELDS:
            assert field in detail, f"{name}: detail.{field}"
        assert detail["eventTime"] == event["time"]
        assert detail["awsRegion"] == event["region"]
        assert detail["userIdentity"]["accountId"] == SAMPLE_ACCOUNT
        assert detail["recipientAccountId"] == SAMPLE_ACCOUNT
        assert re.fullmatch(UUID, detail["eventID"])
        assert event["resources"] == [], "CloudTrail events carry their resources in detail"


@pytest.mark.parametrize("name", sorted(EVENTBRIDGE_EVENT_FILES))
def test_every_eventbridge_sample_matches_its_rule_and_no_other(template, name):
    event = load_event(name)
    matched = {rule for rule in EXPECTED_RULES if matches_event_pattern(deployed_pattern(template, rule), event)}
    expected = EVENTBRIDGE_EVENT_FILES[name]
    assert matched == ({expected} if expected else set())


@pytest.mark.parametrize("name", sorted(n for n, r in EVENTBRIDGE_EVENT_FILES.items() if r in
                                        {"ConsoleSignInResetRule", "SecretReadResetRule", "DriftRepairRule"}))
def test_every_forwardable_sample_is_forwarded_by_exactly_one_forwarding_rule(forwarding, name):
    event = load_event(name)
    matched = {rule for rule in FORWARDED_RULES
               if matches_event_pattern(forwarding["Resources"][rule]["Properties"]["EventPattern"], event)}
    assert [FORWARDED_RULES[rule][1] for rule in matched] == [EVENTBRIDGE_EVENT_FILES[name]]


def with_detail(name: str, **changes) -> dict:
    """A sample event with some `detail` fields replaced (None: removed)."""
    event = load_event(name)
    for key, value in changes.items():
        if value is None:
            event["detail"].pop(key, None)
        else:
            event["detail"][key] = value
    return event


ROOT_IDENTITY = {"type": "Root", "principalId": SAMPLE_ACCOUNT, "arn": f"arn:aws:iam::{SAMPLE_ACCOUNT}:root",
                 "accountId": SAMPLE_ACCOUNT, "accessKeyId": "ASIA4EXAMPLEROOT0001"}
FEDERATED_IDENTITY = {"type": "FederatedUser", "principalId": f"{SAMPLE_ACCOUNT}:carol",
                      "arn": f"arn:aws:sts::{SAMPLE_ACCOUNT}:federated-user/carol", "accountId": SAMPLE_ACCOUNT}
ALICE_IDENTITY = {"type": "IAMUser", "principalId": "AIDA4EXAMPLEALICE0001", "arn": SAMPLE_USER_ARN,
                  "accountId": SAMPLE_ACCOUNT, "accessKeyId": "AKIA4EXAMPLEALICE001", "userName": "alice"}
FUNCTION_ROLE_SESSION = {
    "type": "AssumedRole", "principalId": "AROA4EXAMPLEFUNCTION1:iam-password-rotation",
    "arn": f"arn:aws:sts::{SAMPLE_ACCOUNT}:assumed-role/iam-password-rotation-FunctionRole-AbCdEf/iam-password-rotation",
    "accountId": SAMPLE_ACCOUNT, "accessKeyId": "ASIA4EXAMPLEFUNCTION1",
    "sessionContext": {"sessionIssuer": {"type": "Role", "principalId": "AROA4EXAMPLEFUNCTION1",
                                         "arn": SAMPLE_FUNCTION_ROLE_ARN, "accountId": SAMPLE_ACCOUNT,
                                         "userName": "iam-password-rotation-FunctionRole-AbCdEf"}},
}
ADMIN_SESSION = load_event("drift-update-login-profile.json")["detail"]["userIdentity"]
FAILED = {"errorCode": "NoSuchEntityException", "errorMessage": "The user with name alice cannot be found."}

# Events that cannot concern an enrolled IAM user: no rule invokes the function for them.
NOT_INVOKING = {
    "a root ChangePassword": ("drift-change-password.json", {"userIdentity": ROOT_IDENTITY}),
    "an assumed role's ChangePassword": ("drift-change-password.json", {"userIdentity": ADMIN_SESSION}),
    "a federated user's ChangePassword": ("drift-change-password.json", {"userIdentity": FEDERATED_IDENTITY}),
    "a failed ChangePassword": ("drift-change-password.json", FAILED),
    "a failed UpdateLoginProfile": ("drift-update-login-profile.json", FAILED),
    "a failed DeleteLoginProfile": ("drift-delete-login-profile.json", FAILED),
    "the function role's GetSecretValue": ("secret-read.json", {"userIdentity": FUNCTION_ROLE_SESSION}),
    "a failed GetSecretValue": ("secret-read.json", {"errorCode": "AccessDenied", "errorMessage": "denied"}),
}
# Events that concern one: their rule invokes the function.
INVOKING = {
    "an IAM user's own ChangePassword": ("drift-change-password.json", {}, "DriftRepairRule"),
    "an administrator's UpdateLoginProfile": ("drift-update-login-profile.json", {}, "DriftRepairRule"),
    "the root's UpdateLoginProfile": ("drift-update-login-profile.json", {"userIdentity": ROOT_IDENTITY}, "DriftRepairRule"),
    "an administrator's DeleteLoginProfile": ("drift-delete-login-profile.json", {}, "DriftRepairRule"),
    "another role's GetSecretValue": ("secret-read.json", {}, "SecretReadResetRule"),
    "an IAM user's GetSecretValue": ("secret-read.json", {"userIdentity": ALICE_IDENTITY}, "SecretReadResetRule"),
    "an IAM user's console GetSecretValue": (
        "secret-read.json", {"userIdentity": {**ALICE_IDENTITY, "sessionContext": {"sessionIssuer": {}}}},
        "SecretReadResetRule",
    ),
    "the root's GetSecretValue": ("secret-read.json", {"userIdentity": ROOT_IDENTITY}, "SecretReadResetRule"),
}


@pytest.mark.parametrize("case", sorted(NOT_INVOKING))
def test_an_event_that_cannot_concern_an_enrolled_user_invokes_no_rule(template, case):
    name, changes = NOT_INVOKING[case]
    event = with_detail(name, **changes)
    for parameters in ({}, ALL_TRIGGERS_ON):
        matched = {rule for rule in EXPECTED_RULES if matches_event_pattern(deployed_pattern(template, rule, **parameters), event)}
        assert matched == set(), (case, parameters)


@pytest.mark.parametrize("case", sorted(INVOKING))
def test_an_event_that_may_concern_an_enrolled_user_invokes_its_rule(template, case):
    name, changes, rule = INVOKING[case]
    event = with_detail(name, **changes)
    for parameters in ({}, ALL_TRIGGERS_ON):
        matched = {r for r in EXPECTED_RULES if matches_event_pattern(deployed_pattern(template, r, **parameters), event)}
        assert matched == {rule}, (case, parameters)


PREFIX = ALL_TRIGGERS_ON["CheckoutSecretNamePrefix"]
# requestParameters.secretId as a reader may give it, and whether the prefix console/ admits it.
SECRET_IDS = {
    "console/alice": True,
    SAMPLE_SECRET: True,
    "arn:aws:secretsmanager:us-east-1:123456789012:secret:console/alice": True,  # partial ARN
    "arn:aws:secretsmanager:eu-west-1:210987654321:secret:console/bob-XyZ123": True,  # forwarded replica, member account
    "arn:aws-us-gov:secretsmanager:us-gov-west-1:123456789012:secret:console/alice-AbCdEf": True,
    "app/db": False,
    "consoles/alice": False,
    "arn:aws:secretsmanager:us-east-1:123456789012:secret:app/db-AbCdEf": False,
    "arn:aws:secretsmanager:us-east-1:123456789012:secret:app/console/alice-AbCdEf": False,
    "arn:aws:secretsmanager:us-east-1:123456789012:secret:consoles/alice-AbCdEf": False,
}


@pytest.mark.parametrize("secret_id", sorted(SECRET_IDS))
def test_with_a_secret_name_prefix_only_reads_of_secrets_under_it_by_name_or_arn_invoke(template, secret_id):
    event = with_detail("secret-read.json", requestParameters={"secretId": secret_id})
    with_prefix = deployed_pattern(template, "SecretReadResetRule", CheckoutResets="true", CheckoutSecretNamePrefix=PREFIX)
    assert matches_event_pattern(with_prefix, event) == SECRET_IDS[secret_id]
    without = deployed_pattern(template, "SecretReadResetRule", CheckoutResets="true")
    assert matches_event_pattern(without, event), "no prefix: reads of every secret"
    assert "requestParameters" not in without["detail"]


def test_the_secret_name_prefix_parameter_admits_secret_names_only(template):
    parameter = template["Parameters"]["CheckoutSecretNamePrefix"]
    assert (parameter["Type"], parameter["Default"]) == ("String", "")
    for good in ("", "console/", "prod/console-", "a_b+c=d.e@f"):
        assert re.fullmatch(parameter["AllowedPattern"], good), good
    for bad in ("*", "con*sole", "arn:aws:secretsmanager:", "a b", "x" * 257):
        assert not re.fullmatch(parameter["AllowedPattern"], bad), bad


@pytest.mark.parametrize("case", sorted(NOT_INVOKING))
def test_forwarding_drops_failed_calls_and_password_changes_by_anything_but_an_iam_user(forwarding, case):
    name, changes = NOT_INVOKING[case]
    event = with_detail(name, **changes)
    forwarded = {rule for rule in FORWARDED_RULES
                 if matches_event_pattern(forwarding["Resources"][rule]["Properties"]["EventPattern"], event)}
    # The function's own reads are forwarded: the function stack's rule drops them on the target bus.
    assert forwarded == ({"SecretReadForwardingRule"} if case == "the function role's GetSecretValue" else set())


@pytest.mark.parametrize("case", sorted(INVOKING))
def test_forwarding_forwards_every_event_that_may_concern_an_enrolled_user(forwarding, case):
    name, changes, rule = INVOKING[case]
    event = with_detail(name, **changes)
    forwarded = [FORWARDED_RULES[r][1] for r in FORWARDED_RULES
                 if matches_event_pattern(forwarding["Resources"][r]["Properties"]["EventPattern"], event)]
    assert forwarded == [rule]


def test_the_samples_name_user_alice_and_her_secret_consistently():
    assert load_event("reset-on-demand-user.json")["detail"]["userName"] == "alice"
    assert 0 < len(load_event("reset-on-demand-user.json")["detail"]["reason"]) <= 256
    assert load_event("reset-on-demand-secret.json")["detail"] == {"secretId": SAMPLE_SECRET}
    (finding,) = load_event("reset-security-hub.json")["detail"]["findings"]
    (resource,) = finding["Resources"]
    assert (resource["Type"], resource["Id"]) == ("AwsIamUser", SAMPLE_USER_ARN)
    assert resource["Details"]["AwsIamUser"]["UserName"] == "alice"
    for name in ("console-login-success.json", "console-login-failure.json", "drift-change-password.json"):
        assert load_event(name)["detail"]["userIdentity"]["userName"] == "alice", name
    read = load_event("secret-read.json")["detail"]
    assert read["requestParameters"] == {"secretId": SAMPLE_SECRET}
    assert read["userIdentity"]["type"] == "AssumedRole"
    for name in ("drift-update-login-profile.json", "drift-delete-login-profile.json"):
        detail = load_event(name)["detail"]
        assert detail["requestParameters"]["userName"] == "alice", name
        assert detail["userIdentity"]["type"] == "AssumedRole", "an administrator's role session"
    change = load_event("drift-change-password.json")["detail"]
    assert change["userIdentity"]["type"] == "IAMUser" and change["requestParameters"] is None
    failure = load_event("console-login-failure.json")["detail"]
    assert failure["responseElements"] == {"ConsoleLogin": "Failure"}


def test_the_events_readme_documents_every_sample():
    text = (EVENTS / "README.md").read_text(encoding="utf-8")
    for name in [*STEP_EVENT_FILES, "malformed.json", *EVENTBRIDGE_EVENT_FILES]:
        assert f"| `{name}` |" in text, name


# ---------------------------------------------------------------------------------------
# The CDK example


def synthesize_cdk_apps(settings: dict[str, tuple[str, ...]], refused: frozenset[str] = frozenset()) -> dict[str, dict | str]:
    """`cdk synth` of examples/cdk for each set of `key=value` context settings, side by side
    (npm ci first if needed): the template, or for the settings named in `refused`, which the
    app must refuse, its output."""
    npm = shutil.which("npm")
    npx = shutil.which("npx")
    assert npm and npx, "Node.js (npm, npx) is needed to synthesize examples/cdk"
    env = _tool_env()
    if not (CDK_DIR / "node_modules" / ".bin" / "cdk").exists():
        installed = subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund"], cwd=CDK_DIR, env=env, capture_output=True, text=True, timeout=600
        )
        assert installed.returncode == 0, f"npm ci failed:\n{installed.stdout}{installed.stderr}"

    def synthesize(item: tuple[str, tuple[str, ...]]) -> tuple[str, dict]:
        name, context = item
        arguments = [argument for setting in context for argument in ("--context", setting)]
        with tempfile.TemporaryDirectory(prefix="cdk-out-") as out:
            synth = subprocess.run(
                [npx, "--no-install", "cdk", "synth", "--no-notices", "--quiet", "--output", out, *arguments],
                cwd=CDK_DIR, env=env, capture_output=True, text=True, timeout=900,
            )
            if name in refused:
                assert synth.returncode != 0, f"cdk synth ({name}) should have been refused"
                return name, synth.stdout + synth.stderr
            assert synth.returncode == 0, f"cdk synth ({name}) failed:\n{synth.stdout}{synth.stderr}"
            return name, json.loads((Path(out) / "iam-password-rotation.template.json").read_text(encoding="utf-8"))

    with concurrent.futures.ThreadPoolExecutor(max_workers=min(len(settings), 4)) as pool:
        return dict(pool.map(synthesize, settings.items()))


CDK_ALL_TRIGGERS_ON = (
    "onDemandResets=true", "securityHubResets=true", "breakGlassResets=true", "checkoutResets=true",
    "driftRepair=true", f"outcomeEventBusName={OUTCOME_BUS}", f"onDemandSenderArns={','.join(SENDERS)}",
    f"checkoutSecretNamePrefix={ALL_TRIGGERS_ON['CheckoutSecretNamePrefix']}",
)
# Without the audit too: its schedule group and role are not reset resources, but they are
# resources the test below must not find.
CDK_ALL_TRIGGERS_OFF = ("onDemandResets=false", "auditSchedule=")
# The strategies' context values, and the settings the app must refuse as the template's Rules do.
CDK_SELF_SERVICE_ONLY = ("selfServiceStrategy=true", "updateLoginProfileStrategy=false", "createExample=false")
# The example user (off by default, as CreateExample), which needs createLoginProfile=true as in the template.
CDK_EXAMPLE = ("createExample=true", "createLoginProfile=true")
CDK_ORGANIZATION = (
    f"organizationId={ORGANIZATION_ID}", "memberRoleName=rotator", "auditResetDrift=true", "breakGlassResets=true",
    "auditSchedule=cron(0 6 * * ? *)",
)
# The template's parameters that give what the CDK app synthesizes with CDK_ORGANIZATION.
ORGANIZATION_PARAMETERS = {
    "OrganizationId": ORGANIZATION_ID, "MemberRoleName": "rotator", "AuditResetDrift": "true", "BreakGlassResets": "true",
    "AuditSchedule": "cron(0 6 * * ? *)",
}
# On-demand resets must name their senders, as the template's OnDemandResetsNeedSenders rule says.
CDK_REFUSED_ON_DEMAND = {"on-demand resets without senders": ("onDemandResets=true",)}
CDK_REFUSED = {
    "example without the UpdateLoginProfile strategy": ("updateLoginProfileStrategy=false", *CDK_EXAMPLE),
    "createLoginProfile without the UpdateLoginProfile strategy": (
        "updateLoginProfileStrategy=false", "createLoginProfile=true",
    ),
}
# Refused as the template's rules refuse them, or as names of no setting.
CDK_REFUSED_SETTINGS = {
    "example without createLoginProfile": (("createExample=true",), "it needs -c createLoginProfile=true"),
    "an environment variable's name": (("PASSWORD_LENGTH=24",), "use -c passwordLength=..."),
    "the example's former name": (("example=true",), "use -c createExample=..."),
}


@pytest.fixture(scope="module")
def cdk_templates() -> dict[str, dict]:
    return synthesize_cdk_apps({
        # cdk.json's settings alone: the template's defaults.
        "cdk.json": (),
        # The example on (so CREATE_LOGIN_PROFILE=true); no trigger.
        "default": (f"kmsKeyArn={FAKE_KMS_KEY}", *CDK_EXAMPLE),
        "all triggers": (f"kmsKeyArn={FAKE_KMS_KEY}", *CDK_EXAMPLE, *CDK_ALL_TRIGGERS_ON),
        "no binding tag, no triggers": (
            f"kmsKeyArn={FAKE_KMS_KEY}", *CDK_EXAMPLE, "requireBindingTag=false", *CDK_ALL_TRIGGERS_OFF,
        ),
        "self-service only": (f"kmsKeyArn={FAKE_KMS_KEY}", *CDK_SELF_SERVICE_ONLY),
        "both strategies": (f"kmsKeyArn={FAKE_KMS_KEY}", *CDK_EXAMPLE, "selfServiceStrategy=true"),
        # Organisations and the audit (docs/organizations.md), with drift resets and sign-ins.
        "organisation": (f"kmsKeyArn={FAKE_KMS_KEY}", *CDK_EXAMPLE, *CDK_ORGANIZATION),
        **CDK_REFUSED,
        **{name: context for name, (context, _) in CDK_REFUSED_SETTINGS.items()},
        **CDK_REFUSED_ON_DEMAND,
    }, refused=frozenset(CDK_REFUSED) | frozenset(CDK_REFUSED_SETTINGS) | frozenset(CDK_REFUSED_ON_DEMAND))


@pytest.fixture(scope="module")
def cdk_template(cdk_templates) -> dict:
    return cdk_templates["default"]


@pytest.fixture(scope="module")
def cdk_template_with_all_triggers(cdk_templates) -> dict:
    return cdk_templates["all triggers"]


@pytest.fixture(scope="module")
def cdk_template_without_binding_tag_or_triggers(cdk_templates) -> dict:
    return cdk_templates["no binding tag, no triggers"]


@pytest.fixture(scope="module")
def cdk_template_with_self_service_only(cdk_templates) -> dict:
    return cdk_templates["self-service only"]


@pytest.fixture(scope="module")
def cdk_template_with_both_strategies(cdk_templates) -> dict:
    return cdk_templates["both strategies"]


# The template's parameters that give what the CDK app synthesizes with the same settings.
CDK_EQUIVALENT_PARAMETERS = {"CreateLoginProfile": "true", "KmsKeyArn": FAKE_KMS_KEY}


def assert_same_statements(cdk_template: dict, template: dict, role_name: str, **parameters: str) -> None:
    """The CDK role's statements are the template's with these parameters: same Sids, and per
    Sid the same actions, resources and conditions."""
    cdk_by_sid = statements_of_cdk(cdk_template)
    sam_by_sid = {
        sid: resolved(template, statement, parameters)
        for sid, statement in statements_for(template, role_name, **parameters).items()
    }
    assert cdk_by_sid.keys() == sam_by_sid.keys()
    for sid, statement in cdk_by_sid.items():
        expected = sam_by_sid[sid]
        assert statement["Effect"] == expected["Effect"] == "Allow", sid
        assert actions_of(statement) == actions_of(expected), sid
        assert normalized(as_list(statement["Resource"])) == normalized(as_list(expected["Resource"])), sid
        assert normalized(statement.get("Condition")) == normalized(expected.get("Condition")), sid


def test_the_cdk_app_synthesizes_a_role_with_the_same_actions_and_conditions(cdk_template, template, role_name):
    _, role = next((n, r) for n, r in resources_of_type(cdk_template, "AWS::IAM::Role").items()
                   if n == function_role_of_cdk(cdk_template))
    assert "ManagedPolicyArns" not in role["Properties"]
    assert not resources_of_type(cdk_template, "AWS::IAM::Policy"), "nothing may add statements beside the role's own"
    assert_same_statements(cdk_template, template, role_name, **CDK_EQUIVALENT_PARAMETERS)
    for statement in statements_of_cdk(cdk_template).values():
        if any(a.startswith("secretsmanager:") for a in actions_of(statement)) and statement["Sid"] != "ListSecrets":
            arn = flatten(statement["Condition"]["StringEquals"]["secretsmanager:resource/AllowRotationLambdaArn"])
            assert arn.endswith(":function:iam-password-rotation")
        if actions_of(statement) & IAM_USER_ACTIONS:
            assert flatten(statement["Resource"]).endswith(":user/*")
        if any(a.startswith("kms:") for a in actions_of(statement)):
            assert statement["Resource"] == FAKE_KMS_KEY
            assert "kms:ViaService" in statement["Condition"]["StringEquals"]
        if "*" in as_list(statement["Resource"]):
            assert actions_of(statement) == ACCOUNT_LEVEL_STATEMENTS[statement["Sid"]]


def test_with_every_trigger_on_the_cdk_role_has_the_templates_actions_and_conditions(
    cdk_template_with_all_triggers, template, role_name
):
    assert_same_statements(
        cdk_template_with_all_triggers, template, role_name, **CDK_EQUIVALENT_PARAMETERS, **ALL_TRIGGERS_ON
    )
    granted = set().union(*(actions_of(s) for s in statements_of_cdk(cdk_template_with_all_triggers).values()))
    assert granted == EXPECTED_ACTIONS - ORGANIZATION_ACTIONS, "no organisation in this synth"


def test_with_every_trigger_on_the_cdk_app_creates_the_templates_reset_resources(
    cdk_template_with_all_triggers, template
):
    cdk = cdk_template_with_all_triggers
    sam = {n: resolved(template, r, ALL_TRIGGERS_ON) for n, r in resources_for(template, **ALL_TRIGGERS_ON).items()}
    reset_types = (
        "AWS::Events::Rule", "AWS::Events::EventBus", "AWS::Events::EventBusPolicy",
        "AWS::SecurityHub::ActionTarget", "AWS::Scheduler::ScheduleGroup",
    )
    for type_name in reset_types:
        cdk_resources = resources_of_type(cdk, type_name)
        sam_resources = {n: r for n, r in sam.items() if r["Type"] == type_name}
        assert cdk_resources.keys() == sam_resources.keys(), type_name
        for name, resource in cdk_resources.items():
            assert normalized(resource["Properties"]) == normalized(sam_resources[name]["Properties"]), name
    assert "ResetEventBusSendersPolicy" in as_list(cdk["Resources"]["ResetEventBusOnlySendersPolicy"]["DependsOn"])
    cdk_permissions = {n: r for n, r in resources_of_type(cdk, "AWS::Lambda::Permission").items()
                       if r["Properties"]["Principal"] == "events.amazonaws.com"}
    sam_permissions = {n: r for n, r in sam.items()
                       if r["Type"] == "AWS::Lambda::Permission" and r["Properties"]["Principal"] == "events.amazonaws.com"}
    assert cdk_permissions.keys() == sam_permissions.keys()
    for name, permission in cdk_permissions.items():
        assert normalized(permission["Properties"]) == normalized(sam_permissions[name]["Properties"]), name
    # The scheduler roles (the resets', and the audit's): the same trust and the same single statement.
    cdk_roles = {re.sub(r"[0-9A-F]{8}$", "", n): r for n, r in resources_of_type(cdk, "AWS::IAM::Role").items()
                 if n != function_role_of_cdk(cdk)}
    assert set(cdk_roles) == {"SchedulerRole", "AuditSchedulerRole"}
    for name, cdk_role in cdk_roles.items():
        sam_role = sam[name]["Properties"]
        assert normalized(cdk_role["Properties"]["AssumeRolePolicyDocument"]["Statement"]) == normalized(
            sam_role["AssumeRolePolicyDocument"]["Statement"]
        ), name
        cdk_statements = [s for p in cdk_role["Properties"]["Policies"] for s in as_list(p["PolicyDocument"]["Statement"])]
        sam_statements = [s for p in sam_role["Policies"] for s in as_list(p["PolicyDocument"]["Statement"])]
        assert normalized(cdk_statements) == normalized(sam_statements), name


def test_with_every_trigger_on_the_cdk_function_gets_the_templates_environment(
    cdk_template_with_all_triggers, template, function
):
    _, fn = only_resource_of_type(cdk_template_with_all_triggers, "AWS::Lambda::Function")
    parameters = {**CDK_EQUIVALENT_PARAMETERS, **ALL_TRIGGERS_ON}
    expected = resolved(template, function["Properties"]["Environment"]["Variables"], parameters)
    assert normalized(fn["Properties"]["Environment"]["Variables"]) == normalized(expected)


def test_with_an_organisation_the_cdk_app_has_the_templates_statements_audit_schedule_bus_policy_and_environment(
    cdk_templates, template, role_name, function
):
    cdk = cdk_templates["organisation"]
    parameters = {**CDK_EQUIVALENT_PARAMETERS, **ORGANIZATION_PARAMETERS}
    assert_same_statements(cdk, template, role_name, **parameters)
    assert {"AssumeMemberRolesInOrganizationOnly", "ListOrganizationAccounts", "ReadCredentialReport", "ListSecrets",
            "StartRotationsOfSecretsThatNameThisFunction"} <= set(statements_of_cdk(cdk))
    _, fn = only_resource_of_type(cdk, "AWS::Lambda::Function")
    expected = resolved(template, function["Properties"]["Environment"]["Variables"], parameters)
    assert normalized(fn["Properties"]["Environment"]["Variables"]) == normalized(expected)
    assert fn["Properties"]["Environment"]["Variables"]["MEMBER_EXTERNAL_ID"] == ORGANIZATION_ID
    sam = {n: resolved(template, r, parameters) for n, r in resources_for(template, **parameters).items()}
    for type_name in ("AWS::Scheduler::Schedule", "AWS::Scheduler::ScheduleGroup", "AWS::Events::EventBusPolicy"):
        cdk_resources = resources_of_type(cdk, type_name)
        assert cdk_resources.keys() == {n for n, r in sam.items() if r["Type"] == type_name}, type_name
        for name, resource in cdk_resources.items():
            assert normalized(resource["Properties"]) == normalized(sam[name]["Properties"]), name
    schedule = cdk["Resources"]["AuditInvocationSchedule"]["Properties"]
    assert json.loads(schedule["Target"]["Input"]) == {
        "source": "iam-password-rotation", "detail-type": "IAM Password Audit Requested", "detail": {},
    }
    # The same outputs the member template's parameters come from.
    assert {"FunctionArn", "FunctionRoleArn", "MemberExternalId"} <= set(cdk["Outputs"])


def test_with_every_trigger_off_the_cdk_app_adds_no_reset_resource_or_action(cdk_template_without_binding_tag_or_triggers):
    cdk = cdk_template_without_binding_tag_or_triggers
    assert not resources_of_type(cdk, "AWS::Events::Rule")
    assert not resources_of_type(cdk, "AWS::Events::EventBus")
    assert not resources_of_type(cdk, "AWS::Scheduler::ScheduleGroup")
    assert list(resources_of_type(cdk, "AWS::IAM::Role")) == [function_role_of_cdk(cdk)]
    granted = set().union(*(actions_of(s) for s in statements_of_cdk(cdk).values()))
    assert not granted & (RESET_ACTIONS | OUTCOME_ACTIONS)
    _, fn = only_resource_of_type(cdk, "AWS::Lambda::Function")
    variables = fn["Properties"]["Environment"]["Variables"]
    assert variables["SCHEDULE_GROUP"] == "" and variables["SCHEDULER_ROLE_ARN"] == ""
    assert variables["FUNCTION_ROLE_ARN"] == {"Fn::GetAtt": [function_role_of_cdk(cdk), "Arn"]}


def test_the_cdk_app_deploys_the_function_like_the_template(cdk_template, function):
    _, fn = only_resource_of_type(cdk_template, "AWS::Lambda::Function")
    props = fn["Properties"]
    assert props["Runtime"] == "provided.al2023"
    assert props["Handler"] == "bootstrap"
    assert props["Architectures"] == ["arm64"]
    assert props["MemorySize"] == function["Properties"]["MemorySize"]
    assert props["Timeout"] == function["Properties"]["Timeout"]
    assert props["LoggingConfig"]["LogFormat"] == "JSON"
    assert set(props["Environment"]["Variables"]) == (
        set(DOCUMENTED_CONFIGURATION) | TEMPLATE_SET_ENVIRONMENT | ORGANIZATION_ENVIRONMENT
    )
    _, permission = secrets_manager_permission(cdk_template)
    assert permission["Properties"]["SourceAccount"] == {"Ref": "AWS::AccountId"}


def test_the_cdk_example_binds_its_user_and_rotates_every_30_days(cdk_template):
    secret_name, _ = only_resource_of_type(cdk_template, "AWS::SecretsManager::Secret")
    user_name, user = only_resource_of_type(cdk_template, "AWS::IAM::User")
    assert {"Key": "password-rotation:secret-arn", "Value": {"Ref": secret_name}} in user["Properties"]["Tags"]
    _, schedule = only_resource_of_type(cdk_template, "AWS::SecretsManager::RotationSchedule")
    assert schedule["Properties"]["RotationRules"] == {"ScheduleExpression": "rate(30 days)", "Duration": "2h"}
    permission_name, _ = secrets_manager_permission(cdk_template)
    assert {permission_name, user_name} <= set(schedule["DependsOn"])


def test_the_cdk_app_refuses_password_writes_to_untagged_users_like_the_template(cdk_template, template, role_name):
    by_sid = statements_of_cdk(cdk_template)
    sam_by_sid = statements_for(template, role_name, CreateLoginProfile="true", KmsKeyArn=FAKE_KMS_KEY)
    for sid, statement in by_sid.items():
        if actions_of(statement) & IAM_USER_ACTIONS:
            assert statement.get("Condition") == sam_by_sid[sid].get("Condition"), sid
    writes = [s for s in by_sid.values() if actions_of(s) & IAM_USER_WRITES]
    assert set().union(*(actions_of(s) for s in writes)) == IAM_USER_WRITES
    for statement in writes:
        assert not actions_of(statement) & IAM_USER_READS, statement["Sid"]
        assert statement["Condition"] == TAG_PRESENT, statement["Sid"]
    reads = [s for s in by_sid.values() if actions_of(s) & IAM_USER_READS]
    assert [actions_of(s) for s in reads] == [IAM_USER_READS]
    assert "Condition" not in reads[0]


def test_the_cdk_app_drops_the_tag_condition_when_require_binding_tag_is_false(cdk_template_without_binding_tag_or_triggers):
    by_sid = statements_of_cdk(cdk_template_without_binding_tag_or_triggers)
    writes = [s for s in by_sid.values() if actions_of(s) & IAM_USER_WRITES]
    assert set().union(*(actions_of(s) for s in writes)) == IAM_USER_WRITES
    for statement in writes:
        assert "Condition" not in statement, statement["Sid"]
    _, fn = only_resource_of_type(cdk_template_without_binding_tag_or_triggers, "AWS::Lambda::Function")
    assert fn["Properties"]["Environment"]["Variables"]["REQUIRE_BINDING_TAG"] == "false"


def test_with_only_the_self_service_strategy_the_cdk_role_has_the_templates_statements_and_no_iam_write(
    cdk_template_with_self_service_only, template, role_name
):
    cdk = cdk_template_with_self_service_only
    # createExample=false: no example, so CREATE_LOGIN_PROFILE stays false, as in the template.
    assert_same_statements(cdk, template, role_name, KmsKeyArn=FAKE_KMS_KEY, **SELF_SERVICE_ONLY)
    by_sid = statements_of_cdk(cdk)
    granted = {a for s in by_sid.values() for a in actions_of(s) if a.startswith("iam:")}
    assert not granted & IAM_USER_WRITES
    assert granted == IAM_READS | AUDIT_IAM_READS, "the audit is on by default, every reset trigger off"
    statement = by_sid[CREDENTIALS_READ]
    assert actions_of(statement) == {"secretsmanager:GetSecretValue"}
    assert statement["Condition"] == {
        "StringEquals": {f"secretsmanager:ResourceTag/{CREDENTIALS_TAG}": "iam-password-rotation"}
    }
    assert not resources_of_type(cdk, "AWS::IAM::User") and not resources_of_type(cdk, "AWS::SecretsManager::Secret")


def test_with_both_strategies_the_cdk_role_has_the_templates_statements(cdk_template_with_both_strategies, template, role_name):
    assert_same_statements(
        cdk_template_with_both_strategies, template, role_name, **CDK_EQUIVALENT_PARAMETERS, SelfServiceStrategy="true"
    )
    by_sid = statements_of_cdk(cdk_template_with_both_strategies)
    assert {"UpdateConsolePasswordsOfUsersUnderPath", "CreateConsolePasswordsOfUsersUnderPath", CREDENTIALS_READ} <= set(by_sid)


def test_by_default_the_cdk_app_has_no_credentials_read(cdk_template):
    assert CREDENTIALS_READ not in statements_of_cdk(cdk_template)
    assert "UpdateConsolePasswordsOfUsersUnderPath" in statements_of_cdk(cdk_template)


@pytest.mark.parametrize("case", sorted(CDK_REFUSED))
def test_the_cdk_app_refuses_create_login_profile_without_the_update_login_profile_strategy(cdk_templates, case):
    output = cdk_templates[case]
    assert "updateLoginProfileStrategy" in output, output
    if case.startswith("example"):
        assert "-c createExample=false" in output
    else:
        assert "createLoginProfile=true requires updateLoginProfileStrategy=true" in output


@pytest.mark.parametrize("case", sorted(CDK_REFUSED_SETTINGS))
def test_the_cdk_app_refuses_what_the_template_refuses_and_names_of_no_setting(cdk_templates, case):
    assert CDK_REFUSED_SETTINGS[case][1] in cdk_templates[case], cdk_templates[case]


# Parameters the CDK app takes under their own name in camelCase, with the same default.
CDK_CONTEXT_PARAMETERS = (
    "FunctionName", "Architecture", "ApplicationLogLevel", "SystemLogLevel", "LogRetentionInDays", "PasswordLength",
    "ExcludeCharacters", "ExcludeLowercase", "ExcludeUppercase", "ExcludeNumbers", "ExcludePunctuation",
    "RequireEachIncludedType", "UpdateLoginProfileStrategy", "SelfServiceStrategy", "PasswordResetRequired",
    "CreateLoginProfile", "RequireBindingTag", "UserPath", "KmsKeyArn", "CreateExample", "ExampleUserName",
    "OnDemandResets", "OnDemandSenderArns", "SecurityHubResets", "BreakGlassResets", "CheckoutResets",
    "CheckoutSecretNamePrefix", "DriftRepair", "ResetDelayMinutes", "ResetDryRun", "OutcomeEventBusName", "AuditSchedule", "AuditAccounts", "AuditResetDrift",
    "OrganizationId", "MemberRoleName", "MemberExternalId",
)


def test_the_cdk_context_names_are_the_templates_parameters_in_camel_case_with_their_defaults(template):
    context = json.loads((CDK_DIR / "cdk.json").read_text(encoding="utf-8"))["context"]
    settings = {key: value for key, value in context.items() if not key.startswith("@")}
    assert all(re.fullmatch(r"[a-z][A-Za-z0-9]*", key) for key in settings), sorted(settings)
    for parameter in CDK_CONTEXT_PARAMETERS:
        default = template["Parameters"][parameter].get("Default")
        assert settings[parameter[0].lower() + parameter[1:]] == str(default), parameter
    for key in settings.keys() - {p[0].lower() + p[1:] for p in CDK_CONTEXT_PARAMETERS}:
        assert key in ("assetDir", "stackName"), f"{key} is no parameter of the template"


def test_with_cdk_json_alone_the_cdk_app_deploys_what_the_template_deploys_by_default(cdk_templates, template, role_name):
    cdk = cdk_templates["cdk.json"]
    assert not resources_of_type(cdk, "AWS::IAM::User") and not resources_of_type(cdk, "AWS::SecretsManager::Secret")
    assert not resources_of_type(cdk, "AWS::SecretsManager::RotationSchedule")
    assert_same_statements(cdk, template, role_name)
    _, fn = only_resource_of_type(cdk, "AWS::Lambda::Function")
    assert fn["Properties"]["Environment"]["Variables"]["CREATE_LOGIN_PROFILE"] == "false"
    assert fn["Properties"]["LoggingConfig"]["ApplicationLogLevel"] == "INFO"
    _, log_group = only_resource_of_type(cdk, "AWS::Logs::LogGroup")
    assert log_group["Properties"]["RetentionInDays"] == 90
    # What scripts/enrolment.py --stack reads, as it reads the template's parameters.
    assert {"FunctionArn", "UserPath", "CreateLoginProfile"} <= set(cdk["Outputs"])


def test_the_cdk_app_refuses_on_demand_resets_without_senders_like_the_template(cdk_templates):
    output = cdk_templates["on-demand resets without senders"]
    assert "onDemandResets=true requires onDemandSenderArns" in output, output


def test_the_cdk_app_grants_no_kms_encrypt(cdk_template):
    granted = set().union(*(actions_of(s) for s in statements_of_cdk(cdk_template).values()))
    assert "kms:Encrypt" not in granted
    assert {"kms:Decrypt", "kms:GenerateDataKey"} <= granted


# ---------------------------------------------------------------------------------------
# Documentation and publishing

# Files whose relative links and file references must point into the repository.
DOCUMENTS = [
    README, *sorted((ROOT / "docs").glob("*.md")), CDK_DIR / "README.md", TEMPLATE,
    FORWARDING, MEMBER_TEMPLATE, CENTRAL_INVOKE_TEMPLATE, EVENTS / "README.md",
]
DOCUMENTS += [ROOT / "docs" / name for name in ("enrolment.md", "reading-the-password.md", "operations.md")]
FILE_REFERENCE = r"[\w.-]+(?:/[\w.-]+)*\.(?:md|yaml|yml|toml|json|ts|py|txt|rs|lock)"
SAR_FIELDS = (
    "Name", "Description", "Author", "SpdxLicenseId", "LicenseUrl", "ReadmeUrl", "Labels",
    "HomePageUrl", "SemanticVersion", "SourceCodeUrl",
)


def ignored_by_git(relative: str) -> bool:
    """Generated files (target/, tests/.logs/, packaged.yaml ...) may be named without existing."""
    for pattern in (ROOT / ".gitignore").read_text(encoding="utf-8").split("\n"):
        pattern = pattern.strip()
        if not pattern or pattern.startswith("#"):
            continue
        if pattern.startswith("/"):
            anchored = pattern.strip("/")
            if relative == anchored or relative.startswith(anchored + "/"):
                return True
        elif any(fnmatch.fnmatch(part, pattern.rstrip("/")) for part in relative.split("/")):
            return True
    return False


def without_fenced_code(markdown: str) -> str:
    return re.sub(r"^```.*?^```", "", markdown, flags=re.M | re.S)


def github_anchor(heading: str) -> str:
    text = heading.strip().lower().replace("`", "")
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors_of(path: Path) -> set[str]:
    prose = without_fenced_code(path.read_text(encoding="utf-8"))
    return {github_anchor(h) for h in re.findall(r"^#{1,6} (.+)$", prose, re.M)}


def references_in(path: Path) -> list[tuple[str, bool]]:
    """(reference, is_link) pairs: Markdown links and code spans naming files, or template comments."""
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".md":
        prose = without_fenced_code(text)
        links = [(target, True) for target in re.findall(r"\]\(([^)\s]+)\)", prose)]
        spans = [(span, False) for span in re.findall(r"`([^`\s]+)`", prose) if re.fullmatch(FILE_REFERENCE, span)]
        return links + spans
    comments = [line.split("#", 1)[1] for line in text.splitlines() if line.lstrip().startswith("#")]
    return [(ref, False) for comment in comments for ref in re.findall(rf"(?<![\w./-]){FILE_REFERENCE}\b", comment)]


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_and_file_reference_points_to_a_file_in_the_repository(document):
    broken = []
    for reference, is_link in references_in(document):
        if re.match(r"^[a-z]+:", reference):  # https:, mailto:
            continue
        target, _, anchor = reference.partition("#")
        if not target:
            candidates = [document]
        elif is_link:
            candidates = [(document.parent / target).resolve()]
        else:  # a bare reference: relative to the document, the repository root, or a release file
            candidates = [(document.parent / target).resolve(), (ROOT / target).resolve(),
                          (ROOT / "dist" / target).resolve()]
        found = [c for c in candidates if c.exists()]
        if not found:
            if not any(ignored_by_git(str(c.relative_to(ROOT))) for c in candidates if c.is_relative_to(ROOT)):
                broken.append(reference)
            continue
        assert all(c.is_relative_to(ROOT) for c in found), f"{reference} leaves the repository"
        if anchor and found[0].suffix == ".md" and anchor not in anchors_of(found[0]):
            broken.append(reference)
    assert not broken, f"{document.relative_to(ROOT)} names missing files or anchors: {broken}"


def test_the_template_has_every_field_the_serverless_application_repository_needs(template):
    application = template["Metadata"]["AWS::ServerlessRepo::Application"]
    for field in SAR_FIELDS:
        assert application.get(field), f"AWS::ServerlessRepo::Application has no {field}"
    assert application["Name"] == "iam-password-rotation"
    assert application["SpdxLicenseId"] == "Apache-2.0"
    assert len(application["Description"]) <= 256
    assert re.fullmatch(r"[a-z0-9](([a-z0-9]|-(?!-))*[a-z0-9])?", application["Author"])
    assert 1 <= len(application["Labels"]) <= 10
    assert all(re.fullmatch(r"[a-zA-Z0-9+\-_:/@]{1,127}", label) for label in application["Labels"])
    for url in ("HomePageUrl", "SourceCodeUrl"):
        assert application[url].startswith("https://github.com/"), url


def test_the_published_version_and_licence_are_the_crates(template):
    application = template["Metadata"]["AWS::ServerlessRepo::Application"]
    package = tomllib.loads(CARGO_TOML.read_text(encoding="utf-8"))["package"]
    assert str(application["SemanticVersion"]) == package["version"]
    assert application["SpdxLicenseId"] == package["license"]


def test_the_published_licence_and_readme_are_files_in_the_repository(template):
    application = template["Metadata"]["AWS::ServerlessRepo::Application"]
    licence = ROOT / application["LicenseUrl"]
    readme = ROOT / application["ReadmeUrl"]
    assert licence.is_file() and readme.is_file()
    assert readme == README
    text = licence.read_text(encoding="utf-8")
    assert "Apache License" in text and "Version 2.0, January 2004" in text
    assert "END OF TERMS AND CONDITIONS" in text


def test_the_deployment_guide_documents_packaging_and_publishing():
    guide = DEPLOY_GUIDE.read_text(encoding="utf-8")
    assert "sam package --output-template-file packaged.yaml --s3-bucket <bucket>" in guide
    assert "sam publish --template packaged.yaml --region <region>" in guide
    assert "serverlessrepo.amazonaws.com" in guide, "the bucket policy for the repository's service"
    assert "real repository" in guide, "the placeholder URLs must be replaced before publishing"
    assert "samconfig.toml" in guide and "sam deploy --guided" in guide


def test_the_readme_and_the_guide_recommend_a_dedicated_user_path():
    for text in (markdown_section(README, "Deploy"), DEPLOY_GUIDE.read_text(encoding="utf-8")):
        assert "`/rotated/`" in text and "dedicated path" in text
    assert "docs/deploy.md" in markdown_section(README, "Deploy")


def test_the_permissions_page_has_one_row_per_statement_with_its_actions(template, role_name):
    by_sid = statements_for(
        template, role_name, CreateLoginProfile="true", KmsKeyArn=FAKE_KMS_KEY, SelfServiceStrategy="true",
        OrganizationId=ORGANIZATION_ID, **ALL_TRIGGERS_ON,
    )
    rows = {}
    for line in markdown_section(PERMISSIONS_PAGE, "The function's role").splitlines():
        cells = line.split(" | ")
        if line.startswith("| `") and len(cells) > 2:
            sid = re.search(r"`(\w+)`", cells[0]).group(1)
            assert sid not in rows, f"two rows for {sid}"
            rows[sid] = {name.split(":")[-1] for name in re.findall(r"`([\w:]+)`", cells[1])}
    assert rows.keys() == by_sid.keys()
    for sid, statement in by_sid.items():
        assert rows[sid] == {a.split(":")[-1] for a in actions_of(statement)}, sid


def test_the_deployment_guide_explains_every_trigger_where_its_events_are_born_and_who_can_trigger_it():
    section = markdown_section(DEPLOY_GUIDE, "Event-triggered resets")
    headings = re.findall(r"^### (.+)$", section, re.M)
    for heading in (
        "Rolling out: dry run first", "On-demand resets", "Security Hub custom action",
        "Break-glass console sign-ins", "Secret reads (checkout)", "Password drift",
        "Where the events are born", "Who can trigger what", "The outcome bus",
    ):
        assert heading in headings, heading
    for parameter in [*RESET_TRIGGERS, "ResetDelayMinutes", "ResetDryRun", "OutcomeEventBusName", "OnDemandSenderArns"]:
        assert f"`{parameter}" in section, parameter
    for forward in ("ForwardSignIns=true", "ForwardSecretReads=true", "ForwardIamDrift=true"):
        assert forward in section, forward
    assert "us-east-1` only" in section and "ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS" in section
    assert "SourceArn" in section and "lambda:InvokeFunction" in section and "aws:PrincipalArn" in section
    assert "who-can-do-what.md" in section


# ---------------------------------------------------------------------------------------
# The self-service strategy's worked example (docs/self-service.md)


def json_blocks(path: Path) -> list[str]:
    """The text of every ```json fenced block of a Markdown file (indented ones included)."""
    return re.findall(r"^ *```json\n(.*?)^ *```", path.read_text(encoding="utf-8"), re.M | re.S)


def policies_in_self_service_guide() -> list[dict]:
    """The guide's JSON policy documents (those with a Statement)."""
    return [document for document in map(json.loads, json_blocks(SELF_SERVICE_GUIDE)) if "Statement" in document]


def test_every_json_block_of_the_self_service_guide_parses():
    blocks = json_blocks(SELF_SERVICE_GUIDE)
    assert len(blocks) >= 4, "the two secret values, the user's policy and the resource policy at least"
    for block in blocks:
        json.loads(block)


def test_the_self_service_guide_has_a_resource_policy_whose_deny_names_aws_principal_arn():
    text = SELF_SERVICE_GUIDE.read_text(encoding="utf-8")
    resource_policies = [
        p for p in policies_in_self_service_guide()
        if any(s["Effect"] == "Deny" and "aws:PrincipalArn" in json.dumps(s.get("Condition")) for s in as_list(p["Statement"]))
    ]
    (policy,) = resource_policies
    assert policy["Version"] == "2012-10-17"
    (deny,) = [s for s in as_list(policy["Statement"]) if s["Effect"] == "Deny"]
    assert deny["Principal"] == "*"
    assert actions_of(deny) == {"secretsmanager:GetSecretValue"}
    # Not an ...IfExists operator: a request without aws:PrincipalArn is denied too.
    (operator, keys), = deny["Condition"].items()
    assert operator in ("ArnNotEquals", "StringNotEquals")
    assert set(keys) == {"aws:PrincipalArn"}
    readers = as_list(keys["aws:PrincipalArn"])
    assert len(readers) == 2, "the function's role and a break-glass role"
    assert all(re.fullmatch(r"arn:aws:iam::\d{12}:role/[\w+=,.@/-]+", reader) for reader in readers), readers
    (allow,) = [s for s in as_list(policy["Statement"]) if s["Effect"] == "Allow"]
    assert actions_of(allow) == {"secretsmanager:GetSecretValue"}
    assert allow["Principal"] == {"AWS": readers[0]}, "the function's role, which the Deny spares"
    assert "FunctionRole" in readers[0]
    assert "aws secretsmanager put-resource-policy" in text and "--block-public-policy" in text


def test_the_self_service_user_policy_allows_change_password_and_get_user_on_the_users_own_name():
    """policies/self-service-user.json (what it denies: tests/deploy/test_self_service_policy.py)."""
    text = SELF_SERVICE_GUIDE.read_text(encoding="utf-8")
    policy = json.loads((ROOT / "policies" / "self-service-user.json").read_text(encoding="utf-8"))
    assert policy["Version"] == "2012-10-17"
    (statement,) = [s for s in as_list(policy["Statement"]) if s["Effect"] == "Allow"]
    assert actions_of(statement) == {"iam:ChangePassword", "iam:GetUser"}
    assert "Condition" not in statement
    for resource in as_list(statement["Resource"]):
        # The user's own ARN: any path (or none), then the policy variable, nothing else.
        assert re.fullmatch(r"arn:aws:iam::\*:user/(\*/)?\$\{aws:username\}", resource), resource
    assert "arn:aws:iam::*:user/${aws:username}" in as_list(statement["Resource"]), "users at the path /"
    assert "aws iam put-user-policy" in text and "policies/self-service-user.json" in text
    assert "Allow users to change their own password" in text


def test_the_self_service_guide_uses_the_templates_tag_and_deploys_with_both_strategy_parameters(template, role_name):
    text = SELF_SERVICE_GUIDE.read_text(encoding="utf-8")
    statement = statements_for(template, role_name, SelfServiceStrategy="true")[CREDENTIALS_READ]
    (condition_key,) = statement["Condition"]["StringEquals"]
    tag_key = condition_key.removeprefix("secretsmanager:ResourceTag/")
    assert tag_key == CREDENTIALS_TAG
    assert f"Key={tag_key},Value=$FUNCTION_NAME" in text, "the credentials secret is tagged with the function's name"
    assert "SelfServiceStrategy=true UpdateLoginProfileStrategy=false" in text
    assert f"`{CREDENTIALS_READ}`" in text
    documents = [json.loads(block) for block in json_blocks(SELF_SERVICE_GUIDE)]
    assert {"username", "password", "changePasswordCredentials"} in [set(d) for d in documents]
    assert {"accessKeyId", "secretAccessKey"} in [set(d) for d in documents]
    guards = markdown_section(SELF_SERVICE_GUIDE, "What each guard protects against")
    for guard in ("CredentialsUserMismatch", "aws:PrincipalArn", "UpdateLoginProfileStrategy=false", CREDENTIALS_TAG,
                  "password-rotation:secret-arn", "${aws:username}"):
        assert guard in guards, guard


def test_the_deployment_guide_names_both_strategy_parameters_and_links_the_self_service_guide():
    section = markdown_section(DEPLOY_GUIDE, "Strategies")
    for name in ("`UpdateLoginProfileStrategy`", "`SelfServiceStrategy`", f"`{CREDENTIALS_READ}`", f"`{CREDENTIALS_TAG}`"):
        assert name in section, name
    assert "](self-service.md)" in section
    assert "SelfServiceStrategy=true UpdateLoginProfileStrategy=false" in section
