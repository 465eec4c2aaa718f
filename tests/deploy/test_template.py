"""Deployment checks: template.yaml, the sample events and the CDK example.

Run from the repository root:  .venv/bin/python -m pytest tests/deploy -q

Everything runs offline. The tools come from the pinned requirements:
- cfn-lint (tests/deploy/requirements.txt) from the same virtualenv as pytest;
- the AWS SAM CLI (tests/deploy/sam-cli-requirements.txt) from its own virtualenv,
  .venv/sam-cli, created on first use (it pins boto3 against moto's, see that file);
- the CDK app's node_modules, installed with `npm ci` when missing.
"""

from __future__ import annotations

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
EVENTS = ROOT / "events"
CDK_DIR = ROOT / "examples" / "cdk"
SAM_REQUIREMENTS = Path(__file__).resolve().parent / "sam-cli-requirements.txt"
SAM_VENV = ROOT / ".venv" / "sam-cli"
SAMCONFIG = ROOT / "samconfig.toml"
README = ROOT / "README.md"
DEPLOY_GUIDE = ROOT / "docs" / "deploy.md"
CARGO_TOML = ROOT / "Cargo.toml"

# The AWS calls the function makes, and nothing else (README.md, "Permissions").
# No kms:Encrypt: Secrets Manager reads with Decrypt and writes with GenerateDataKey.
EXPECTED_ACTIONS = {
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
}
IAM_USER_READS = {"iam:GetUser", "iam:GetLoginProfile"}
IAM_USER_WRITES = {"iam:UpdateLoginProfile", "iam:CreateLoginProfile"}
IAM_USER_ACTIONS = IAM_USER_READS | IAM_USER_WRITES

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
}

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


def condition_is_true(template: dict, name: str, parameters: dict[str, str]) -> bool:
    """Evaluate template Condition `name` for the given parameter values (defaults otherwise)."""

    def value(expression):
        if isinstance(expression, dict) and "Ref" in expression:
            ref = expression["Ref"]
            return str(parameters.get(ref, template["Parameters"][ref].get("Default", "")))
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

    return evaluate(template["Conditions"][name])


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


def statements_for(template: dict, role_name: str, **parameters: str) -> dict[str, dict]:
    """The role's statements, by Sid, as CloudFormation would create them with these parameters."""
    policies = template["Resources"][role_name]["Properties"]["Policies"]
    found = {}
    for policy in resolve_ifs(template, policies, parameters):
        for statement in as_list(policy["PolicyDocument"]["Statement"]):
            found[statement["Sid"]] = statement
    return found


def statements_of_cdk(cdk_template: dict) -> dict[str, dict]:
    role_name, _ = only_resource_of_type(cdk_template, "AWS::IAM::Role")
    return {s["Sid"]: s for _, s in role_statements(cdk_template, role_name)}


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
    return only_resource_of_type(template, "AWS::IAM::Role")[0]


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


def test_the_readme_states_a_minimum_sam_cli_version_no_newer_than_the_pinned_one():
    pinned = pinned_sam_cli_version()
    for path, text in ((README, markdown_section(README, "Install and deploy")), (DEPLOY_GUIDE, None)):
        text = text if text is not None else path.read_text(encoding="utf-8")
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
    assert set(function["Properties"]["Environment"]["Variables"]) == set(DOCUMENTED_CONFIGURATION)


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


def test_every_secrets_manager_statement_requires_this_function_as_the_rotation_function(statements, function):
    secrets_statements = [s for _, s in statements if any(a.startswith("secretsmanager:") for a in actions_of(s))]
    assert secrets_statements
    function_name = function["Properties"]["FunctionName"]
    assert function_name == {"Ref": "FunctionName"}
    for statement in secrets_statements:
        assert all(a.startswith("secretsmanager:") for a in actions_of(statement))
        assert flatten(statement["Resource"]) == "arn:${AWS::Partition}:secretsmanager:${AWS::Region}:${AWS::AccountId}:secret:*"
        condition = statement["Condition"]["StringEquals"]["secretsmanager:resource/AllowRotationLambdaArn"]
        assert flatten(condition) == "arn:${AWS::Partition}:lambda:${AWS::Region}:${AWS::AccountId}:function:${FunctionName}"


def test_iam_user_actions_are_scoped_to_the_user_path(statements):
    user_statements = [s for _, s in statements if actions_of(s) & IAM_USER_ACTIONS]
    assert user_statements
    for statement in user_statements:
        assert actions_of(statement) <= IAM_USER_ACTIONS
        for resource in as_list(statement["Resource"]):
            assert flatten(resource) == "arn:${AWS::Partition}:iam::${AWS::AccountId}:user${UserPath}*"


def test_create_login_profile_is_granted_only_when_create_login_profile_is_true(template, statements):
    for condition, statement in statements:
        if "iam:CreateLoginProfile" in actions_of(statement):
            assert actions_of(statement) == {"iam:CreateLoginProfile"}
            assert condition is not None
            assert template["Conditions"][condition] == {"Fn::Equals": [{"Ref": "CreateLoginProfile"}, "true"]}


def test_only_the_account_password_policy_is_granted_on_every_resource(statements):
    for _, statement in statements:
        if "*" in as_list(statement["Resource"]):
            assert actions_of(statement) == {"iam:GetAccountPasswordPolicy"}


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
# Invocation and the example


def test_the_invoke_permission_is_for_secrets_manager_of_this_account_only(template):
    permissions = resources_of_type(template, "AWS::Lambda::Permission")
    assert len(permissions) == 1
    props = next(iter(permissions.values()))["Properties"]
    assert props["Principal"] == "secretsmanager.amazonaws.com"
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
    permission_name, _ = only_resource_of_type(template, "AWS::Lambda::Permission")
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


# ---------------------------------------------------------------------------------------
# The CDK example


def synthesize_cdk_app(*context: str) -> dict:
    """`cdk synth` of examples/cdk with these `key=value` context settings (npm ci first if needed)."""
    npm = shutil.which("npm")
    npx = shutil.which("npx")
    assert npm and npx, "Node.js (npm, npx) is needed to synthesize examples/cdk"
    env = _tool_env()
    if not (CDK_DIR / "node_modules" / ".bin" / "cdk").exists():
        installed = subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund"], cwd=CDK_DIR, env=env, capture_output=True, text=True, timeout=600
        )
        assert installed.returncode == 0, f"npm ci failed:\n{installed.stdout}{installed.stderr}"
    arguments = [argument for setting in context for argument in ("--context", setting)]
    with tempfile.TemporaryDirectory(prefix="cdk-out-") as out:
        synth = subprocess.run(
            [npx, "--no-install", "cdk", "synth", "--no-notices", "--quiet", "--output", out, *arguments],
            cwd=CDK_DIR, env=env, capture_output=True, text=True, timeout=600,
        )
        assert synth.returncode == 0, f"cdk synth failed:\n{synth.stdout}{synth.stderr}"
        return json.loads((Path(out) / "IamPasswordRotation.template.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def cdk_template() -> dict:
    return synthesize_cdk_app(f"kmsKeyArn={FAKE_KMS_KEY}")


@pytest.fixture(scope="module")
def cdk_template_without_binding_tag() -> dict:
    return synthesize_cdk_app(f"kmsKeyArn={FAKE_KMS_KEY}", "REQUIRE_BINDING_TAG=false")


def test_the_cdk_app_synthesizes_a_role_with_the_same_actions_and_conditions(cdk_template, statements):
    role_name, role = only_resource_of_type(cdk_template, "AWS::IAM::Role")
    assert "ManagedPolicyArns" not in role["Properties"]
    cdk_statements = [s for _, s in role_statements(cdk_template, role_name)]
    assert not resources_of_type(cdk_template, "AWS::IAM::Policy"), "nothing may add statements beside the role's own"
    cdk_actions = set().union(*(actions_of(s) for s in cdk_statements))
    sam_actions = set().union(*(actions_of(s) for _, s in statements))
    assert cdk_actions == sam_actions == EXPECTED_ACTIONS
    by_sid = {s["Sid"]: s for s in cdk_statements}
    assert by_sid.keys() == {s["Sid"] for _, s in statements}
    for statement in cdk_statements:
        if any(a.startswith("secretsmanager:") for a in actions_of(statement)):
            arn = flatten(statement["Condition"]["StringEquals"]["secretsmanager:resource/AllowRotationLambdaArn"])
            assert arn.endswith(":function:iam-password-rotation")
        if actions_of(statement) & IAM_USER_ACTIONS:
            assert flatten(statement["Resource"]).endswith(":user/*")
        if any(a.startswith("kms:") for a in actions_of(statement)):
            assert statement["Resource"] == FAKE_KMS_KEY
            assert "kms:ViaService" in statement["Condition"]["StringEquals"]
        if "*" in as_list(statement["Resource"]):
            assert actions_of(statement) == {"iam:GetAccountPasswordPolicy"}


def test_the_cdk_app_deploys_the_function_like_the_template(cdk_template, function):
    _, fn = only_resource_of_type(cdk_template, "AWS::Lambda::Function")
    props = fn["Properties"]
    assert props["Runtime"] == "provided.al2023"
    assert props["Handler"] == "bootstrap"
    assert props["Architectures"] == ["arm64"]
    assert props["MemorySize"] == function["Properties"]["MemorySize"]
    assert props["Timeout"] == function["Properties"]["Timeout"]
    assert props["LoggingConfig"]["LogFormat"] == "JSON"
    assert set(props["Environment"]["Variables"]) == set(DOCUMENTED_CONFIGURATION)
    (_, permission), = resources_of_type(cdk_template, "AWS::Lambda::Permission").items()
    assert permission["Properties"]["Principal"] == "secretsmanager.amazonaws.com"
    assert permission["Properties"]["SourceAccount"] == {"Ref": "AWS::AccountId"}


def test_the_cdk_example_binds_its_user_and_rotates_every_30_days(cdk_template):
    secret_name, _ = only_resource_of_type(cdk_template, "AWS::SecretsManager::Secret")
    user_name, user = only_resource_of_type(cdk_template, "AWS::IAM::User")
    assert {"Key": "password-rotation:secret-arn", "Value": {"Ref": secret_name}} in user["Properties"]["Tags"]
    _, schedule = only_resource_of_type(cdk_template, "AWS::SecretsManager::RotationSchedule")
    assert schedule["Properties"]["RotationRules"] == {"ScheduleExpression": "rate(30 days)", "Duration": "2h"}
    permission_name, _ = only_resource_of_type(cdk_template, "AWS::Lambda::Permission")
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


def test_the_cdk_app_drops_the_tag_condition_when_require_binding_tag_is_false(cdk_template_without_binding_tag):
    by_sid = statements_of_cdk(cdk_template_without_binding_tag)
    writes = [s for s in by_sid.values() if actions_of(s) & IAM_USER_WRITES]
    assert set().union(*(actions_of(s) for s in writes)) == IAM_USER_WRITES
    for statement in writes:
        assert "Condition" not in statement, statement["Sid"]
    _, fn = only_resource_of_type(cdk_template_without_binding_tag, "AWS::Lambda::Function")
    assert fn["Properties"]["Environment"]["Variables"]["REQUIRE_BINDING_TAG"] == "false"


def test_the_cdk_app_grants_no_kms_encrypt(cdk_template):
    granted = set().union(*(actions_of(s) for s in statements_of_cdk(cdk_template).values()))
    assert "kms:Encrypt" not in granted
    assert {"kms:Decrypt", "kms:GenerateDataKey"} <= granted


# ---------------------------------------------------------------------------------------
# Documentation and publishing

# Files whose relative links and file references must point into the repository.
DOCUMENTS = [README, DEPLOY_GUIDE, CDK_DIR / "README.md", TEMPLATE]
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
        else:  # a bare reference: relative to the document, or to the repository root
            candidates = [(document.parent / target).resolve(), (ROOT / target).resolve()]
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
    for text in (markdown_section(README, "Install and deploy"), DEPLOY_GUIDE.read_text(encoding="utf-8")):
        assert "`/rotated/`" in text and "dedicated path" in text
    assert "docs/deploy.md" in markdown_section(README, "Install and deploy")


def test_the_readme_permissions_table_has_one_row_per_statement_with_its_actions(template, role_name):
    by_sid = statements_for(template, role_name, CreateLoginProfile="true", KmsKeyArn=FAKE_KMS_KEY)
    rows = {}
    for line in markdown_section(README, "Permissions").splitlines():
        cells = line.split(" | ")
        if line.startswith("| `") and len(cells) > 2:
            sid = re.search(r"`(\w+)`", cells[0]).group(1)
            assert sid not in rows, f"two rows for {sid}"
            rows[sid] = {name.split(":")[-1] for name in re.findall(r"`([\w:]+)`", cells[1])}
    assert rows.keys() == by_sid.keys()
    for sid, statement in by_sid.items():
        assert rows[sid] == {a.split(":")[-1] for a in actions_of(statement)}, sid
