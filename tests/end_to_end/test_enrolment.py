"""The enrolment command (scripts/enrolment.py) against the emulator, run as an operator
runs it: a separate process, configured by the standard AWS environment alone. What it set
up is then rotated by the release binary, driven as Secrets Manager drives it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from harness.runtime_api import FUNCTION_ARN

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "enrolment.py"
BINDING_TAG = "password-rotation:secret-arn"
PASSWORD = "Initial-Passw0rd!"
# The rotation function the emulator gives a secret whose rotation it turns on.
OTHER_FUNCTION = "arn:aws:lambda:us-east-1:123456789012:function:rotation-emulator"
STACK = ("--function-arn", FUNCTION_ARN, "--user-path", "/rotated/")


def run(aws, *args: str) -> subprocess.CompletedProcess:
    """The command in its own process, with only the standard AWS environment pointing at the emulator."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("AWS_")}
    env.update(
        AWS_ENDPOINT_URL=aws.url, AWS_REGION="us-east-1", AWS_ACCESS_KEY_ID="AKIDOPERATOR",
        AWS_SECRET_ACCESS_KEY="operator-secret", AWS_CONFIG_FILE=os.devnull, AWS_SHARED_CREDENTIALS_FILE=os.devnull,
    )
    return subprocess.run([sys.executable, str(SCRIPT), *args], env=env, capture_output=True, text=True, timeout=120)


def results(process: subprocess.CompletedProcess) -> dict:
    """The --json outcome, by user."""
    start = process.stdout.index("[\n")
    return {entry["user"]: entry for entry in json.loads(process.stdout[start:])}


def writes(aws) -> list:
    """Every AWS call since the last clear that is not a read."""
    reads = ("Get", "Describe", "List")
    return [f"{c['service']}:{c['action']}" for c in aws.control.calls() if not c["action"].startswith(reads)]


def console_user(aws, name: str, path: str = "/rotated/", password: bool = True) -> None:
    aws.iam.create_user(UserName=name, Path=path)
    if password:
        aws.iam.create_login_profile(UserName=name, Password=PASSWORD)


def tag_of(aws, user: str):
    tags = aws.iam.list_user_tags(UserName=user)["Tags"]
    return next((t["Value"] for t in tags if t["Key"] == BINDING_TAG), None)


def state(aws) -> tuple:
    """Users with their tags, and secrets with their rotation settings and versions."""
    users = {u["UserName"]: tag_of(aws, u["UserName"]) for u in aws.iam.list_users()["Users"]}
    secrets = {}
    for listed in aws.sm.list_secrets(IncludePlannedDeletion=True)["SecretList"]:
        secret = aws.sm.describe_secret(SecretId=listed["ARN"])
        secrets[secret["Name"]] = {k: secret.get(k) for k in (
            "ARN", "RotationEnabled", "RotationLambdaARN", "RotationRules", "VersionIdsToStages", "DeletedDate")}
    return users, secrets, {u: aws.iam_password(u) for u in users}


def finish_test_run(aws, function, secret_arn: str) -> None:
    """What Secrets Manager does after `rotate-secret --no-rotate-immediately`: testSecret on the
    pending copy of the current value, then the pending label removed."""
    rotation = [r for r in aws.control.rotations() if r["SecretArn"] == secret_arn][-1]
    assert rotation["RotateImmediately"] is False
    token = rotation["ClientRequestToken"]
    result = function.invoke({"Step": "testSecret", "SecretId": secret_arn, "ClientRequestToken": token})
    assert result.ok, result
    assert result.body["Outcome"] == "setup_verified"
    aws.sm.update_secret_version_stage(SecretId=secret_arn, VersionStage="AWSPENDING", RemoveFromVersionId=token)


# ---------------------------------------------------------------------------------------
# enrol


def test_enrolling_one_user_creates_its_secret_binds_the_user_and_turns_on_rotation_by_the_function(aws, function):
    console_user(aws, "alice")
    process = run(aws, "enrol", *STACK, "alice", "--json")
    assert process.returncode == 0, process.stderr
    arn = results(process)["alice"]["secret_arn"]
    assert results(process)["alice"]["status"] == "enrolled"
    assert f"alice: enrolled: {arn}" in process.stdout
    secret = aws.sm.describe_secret(SecretId=arn)
    assert secret["Name"] == "console/alice"
    assert aws.value(arn) == {"username": "alice"}
    assert tag_of(aws, "alice") == arn
    assert secret["RotationEnabled"] is True
    assert secret["RotationLambdaARN"] == FUNCTION_ARN
    assert secret["RotationRules"]["ScheduleExpression"] == "rate(30 days)"
    assert secret["RotationRules"]["Duration"] == "2h"
    # By default only Secrets Manager's test run: the password the user knows still works.
    assert [r["RotateImmediately"] for r in aws.control.rotations()] == [False]
    assert aws.iam_password("alice") == PASSWORD
    # The function itself finds the setup complete.
    finish_test_run(aws, function, arn)
    assert aws.iam_password("alice") == PASSWORD


def test_with_rotate_immediately_the_function_rotates_the_enrolled_users_password_at_once(aws, driver, rotation_token):
    console_user(aws, "alice")
    process = run(aws, "enrol", *STACK, "alice", "--rotate-immediately", "--schedule", "rate(7 days)", "--window", "4h")
    assert process.returncode == 0, process.stderr
    (rotation,) = aws.control.rotations()
    assert rotation["RotateImmediately"] is True
    arn = rotation["SecretArn"]
    assert aws.sm.describe_secret(SecretId=arn)["RotationRules"] == {
        "AutomaticallyAfterDays": 7, "ScheduleExpression": "rate(7 days)", "Duration": "4h"}
    record = driver.run_steps(arn, rotation["ClientRequestToken"], rotation_token)
    assert record.succeeded, record.last_error
    assert aws.iam_password("alice") == aws.value(arn)["password"] != PASSWORD


def test_enrolling_many_users_takes_them_from_the_arguments_and_a_file(aws, tmp_path):
    for name in ("alice", "bob", "carol", "dave"):
        console_user(aws, name)
    users = tmp_path / "users.txt"
    users.write_text("# console users of team A\ncarol\n\ndave  # on call\nalice\n", encoding="utf-8")
    process = run(aws, "enrol", *STACK, "alice", "bob", "--users-file", str(users), "--json")
    assert process.returncode == 0, process.stderr
    assert list(results(process)) == ["alice", "bob", "carol", "dave"]
    for name in ("alice", "bob", "carol", "dave"):
        arn = aws.sm.describe_secret(SecretId=f"console/{name}")["ARN"]
        assert tag_of(aws, name) == arn
        assert aws.value(arn) == {"username": name}
    assert len(aws.control.rotations()) == 4


def test_enrolling_by_path_takes_every_console_user_under_it_and_no_other(aws):
    console_user(aws, "alice", "/rotated/")
    console_user(aws, "bob", "/rotated/team-b/")
    console_user(aws, "carol", "/rotated/", password=False)  # no console password: not a console user
    console_user(aws, "dave", "/other/")
    process = run(aws, "enrol", *STACK, "--path", "/rotated/", "--json")
    assert process.returncode == 0, process.stderr
    assert sorted(results(process)) == ["alice", "bob"]
    assert tag_of(aws, "alice") and tag_of(aws, "bob")
    assert tag_of(aws, "carol") is None and tag_of(aws, "dave") is None
    assert sorted(s["Name"] for s in aws.sm.list_secrets()["SecretList"]) == ["console/alice", "console/bob"]


def test_a_second_run_changes_nothing(aws):
    for name in ("alice", "bob"):
        console_user(aws, name)
    first = run(aws, "enrol", *STACK, "alice", "bob", "--secret-name", "people/{user}/console")
    assert first.returncode == 0, first.stderr
    before = state(aws)
    aws.control.clear_calls()
    aws.control.clear_rotations()
    second = run(aws, "enrol", *STACK, "alice", "bob", "--secret-name", "people/{user}/console", "--json")
    assert second.returncode == 0, second.stderr
    assert writes(aws) == []
    assert aws.control.rotations() == []
    assert state(aws) == before
    assert {u: r["status"] for u, r in results(second).items()} == {"alice": "unchanged", "bob": "unchanged"}
    assert results(second)["alice"]["secret_arn"] == before[0]["alice"]


def test_an_existing_secret_naming_the_user_is_reused(aws):
    console_user(aws, "alice")
    arn = aws.sm.create_secret(Name="console/alice", SecretString=json.dumps({"username": "alice", "note": "kept"}))["ARN"]
    process = run(aws, "enrol", *STACK, "alice")
    assert process.returncode == 0, process.stderr
    assert tag_of(aws, "alice") == arn
    assert aws.value(arn) == {"username": "alice", "note": "kept"}
    assert len(aws.sm.list_secrets()["SecretList"]) == 1


def test_a_changed_schedule_is_applied_and_nothing_else(aws):
    console_user(aws, "alice")
    assert run(aws, "enrol", *STACK, "alice").returncode == 0
    arn = tag_of(aws, "alice")
    aws.sm.update_secret_version_stage(SecretId=arn, VersionStage="AWSPENDING",
                                       RemoveFromVersionId=aws.control.rotations()[-1]["ClientRequestToken"])
    aws.control.clear_calls()
    process = run(aws, "enrol", *STACK, "alice", "--schedule", "rate(14 days)")
    assert process.returncode == 0, process.stderr
    assert writes(aws) == ["secretsmanager:RotateSecret"]
    assert aws.sm.describe_secret(SecretId=arn)["RotationRules"]["ScheduleExpression"] == "rate(14 days)"


def test_a_dry_run_prints_the_plan_and_writes_nothing(aws):
    console_user(aws, "alice")
    before = state(aws)
    aws.control.clear_calls()
    process = run(aws, "enrol", *STACK, "alice", "--dry-run", "--json")
    assert process.returncode == 0, process.stderr
    assert writes(aws) == []
    assert state(aws) == before
    assert "alice: would create secret console/alice" in process.stdout
    assert f"alice: would tag user alice {BINDING_TAG}=" in process.stdout
    assert f"alice: would turn on rotation by {FUNCTION_ARN}, rate(30 days) in a 2h window" in process.stdout
    assert results(process)["alice"]["status"] == "planned"
    assert len(results(process)["alice"]["changes"]) == 3


def test_users_without_a_console_password_are_enrolled_when_the_function_creates_login_profiles(aws, driver, rotation_token):
    console_user(aws, "alice", password=False)
    refused = run(aws, "enrol", *STACK, "alice")
    assert refused.returncode == 2
    assert "no console password" in refused.stderr
    process = run(aws, "enrol", *STACK, "alice", "--create-login-profile", "--rotate-immediately")
    assert process.returncode == 0, process.stderr
    (rotation,) = aws.control.rotations()
    function = driver.function
    function.stop()
    driver.function = function.__class__(aws.url, config={"CREATE_LOGIN_PROFILE": "true"}, sink=function.sink,
                                         binary=function.binary)
    try:
        record = driver.run_steps(rotation["SecretArn"], rotation["ClientRequestToken"], rotation_token)
    finally:
        driver.function.stop()
    assert record.succeeded, record.last_error
    assert aws.iam_password("alice") == aws.value(rotation["SecretArn"])["password"]


# ---------------------------------------------------------------------------------------
# refusals: a clear message, and nothing written for anyone


def _outside_path(aws):
    console_user(aws, "victim", "/admins/")
    return ("victim",), "its path /admins/ is outside the stack's UserPath /rotated/"


def _arn_too_long(aws):
    # 53 characters of ARN before the name, 7 after it: 196 for the name in us-east-1.
    victim = "v" * 60
    console_user(aws, victim)
    pattern = "console/" + "x" * 130 + "/{user}"  # 148 characters for "bystander", 199 for the victim
    return (victim, "--secret-name", pattern), "over the 256 an IAM tag value holds"


def _bound_to_another_secret(aws):
    console_user(aws, "victim")
    other = aws.sm.create_secret(Name="elsewhere/victim", SecretString=json.dumps({"username": "victim"}))["ARN"]
    aws.bind("victim", other)
    return ("victim",), f"already bound to another secret, {other}"


def _rotated_by_another_function(aws):
    console_user(aws, "victim")
    aws.sm.create_secret(Name="console/victim", SecretString=json.dumps({"username": "victim"}))
    aws.control.set_rotation_enabled("console/victim", True)
    return ("victim",), f"already rotated by {OTHER_FUNCTION}"


def _no_console_password(aws):
    console_user(aws, "victim", password=False)
    return ("victim",), "it has no console password"


def _secret_names_another_user(aws):
    console_user(aws, "victim")
    aws.sm.create_secret(Name="console/victim", SecretString=json.dumps({"username": "someone-else"}))
    return ("victim",), "exists and names another user"


def _no_such_user(aws):
    return ("ghost",), "no such IAM user"


REFUSALS = {
    "user outside the stack's UserPath": _outside_path,
    "secret ARN too long for the tag": _arn_too_long,
    "user bound to another secret": _bound_to_another_secret,
    "secret rotated by another function": _rotated_by_another_function,
    "user without a console password": _no_console_password,
    "secret of that name names another user": _secret_names_another_user,
    "no such user": _no_such_user,
}


@pytest.mark.parametrize("case", REFUSALS)
def test_each_refusal_is_a_clear_message_and_writes_nothing_for_any_user(aws, case):
    console_user(aws, "bystander")
    arguments, message = REFUSALS[case](aws)
    users = [a for a in arguments if not a.startswith("--")][:1]
    before = state(aws)
    aws.control.clear_calls()
    process = run(aws, "enrol", *STACK, "bystander", *arguments)
    assert process.returncode == 2
    assert f"refused: {users[0]}: " in process.stderr and message in process.stderr, process.stderr
    assert "nothing written: 1 of 2 users refused" in process.stderr
    assert writes(aws) == []
    assert state(aws) == before


def test_with_skip_refused_the_others_are_enrolled_and_the_exit_status_still_tells(aws):
    console_user(aws, "alice")
    console_user(aws, "victim", "/admins/")
    process = run(aws, "enrol", *STACK, "alice", "victim", "--skip-refused", "--json")
    assert process.returncode == 2
    assert {u: r["status"] for u, r in results(process).items()} == {"victim": "refused", "alice": "enrolled"}
    assert tag_of(aws, "alice") and tag_of(aws, "victim") is None


@pytest.mark.parametrize("arguments, message", [
    (("--function-arn", FUNCTION_ARN + ":live", "--user-path", "/"), "not an unqualified Lambda function ARN"),
    (("--function-arn", FUNCTION_ARN.replace("us-east-1", "eu-west-1"), "--user-path", "/"),
     "a secret's rotation function must be in the secret's region"),
    (("--function-arn", FUNCTION_ARN, "--user-path", "rotated"), "is not an IAM path"),
    (("--function-arn", FUNCTION_ARN, "--user-path", "/", "--secret-name", "console"), "must contain {user}"),
    (("--user-path", "/"), "pass --stack NAME or --function-arn ARN"),
])
def test_bad_settings_are_refused_before_any_aws_call(aws, arguments, message):
    console_user(aws, "alice")
    aws.control.clear_calls()
    process = run(aws, "enrol", *arguments, "alice")
    assert process.returncode == 2
    assert message in process.stderr and "(nothing written)" in process.stderr, process.stderr
    assert aws.control.calls() == []


# ---------------------------------------------------------------------------------------
# offboard


def test_offboarding_turns_rotation_off_removes_the_tag_and_schedules_the_secrets_deletion(aws, function):
    for name in ("alice", "bob"):
        console_user(aws, name)
    assert run(aws, "enrol", *STACK, "alice", "bob").returncode == 0
    arns = {name: tag_of(aws, name) for name in ("alice", "bob")}
    for arn in arns.values():
        finish_test_run(aws, function, arn)
    process = run(aws, "offboard", "--function-arn", FUNCTION_ARN, "alice", "--delete-secret",
                  "--recovery-window-days", "7", "--json")
    assert process.returncode == 0, process.stderr
    assert results(process)["alice"]["status"] == "offboarded"
    assert tag_of(aws, "alice") is None
    alice = aws.sm.describe_secret(SecretId=arns["alice"])
    assert alice["RotationEnabled"] is False
    assert alice.get("DeletedDate")
    # bob is untouched, and the password alice knows stays as it was.
    assert tag_of(aws, "bob") == arns["bob"]
    assert aws.sm.describe_secret(SecretId=arns["bob"])["RotationEnabled"] is True
    assert aws.iam_password("alice") == PASSWORD

    before = state(aws)
    aws.control.clear_calls()
    again = run(aws, "offboard", "--function-arn", FUNCTION_ARN, "alice", "--delete-secret", "--json")
    assert again.returncode == 0, again.stderr
    assert writes(aws) == [] and state(aws) == before
    assert results(again)["alice"]["status"] == "unchanged"


def test_an_offboarded_user_can_be_enrolled_again_with_the_same_secret(aws, function):
    console_user(aws, "alice")
    assert run(aws, "enrol", *STACK, "alice").returncode == 0
    arn = tag_of(aws, "alice")
    finish_test_run(aws, function, arn)
    dry = run(aws, "offboard", "--function-arn", FUNCTION_ARN, "alice", "--dry-run")
    assert "alice: would turn off rotation (CancelRotateSecret)" in dry.stdout
    assert f"alice: would remove tag {BINDING_TAG} from user alice" in dry.stdout
    assert run(aws, "offboard", "--function-arn", FUNCTION_ARN, "alice").returncode == 0
    assert tag_of(aws, "alice") is None
    process = run(aws, "enrol", *STACK, "alice")
    assert process.returncode == 0, process.stderr
    assert tag_of(aws, "alice") == arn
    assert aws.sm.describe_secret(SecretId=arn)["RotationEnabled"] is True


def test_offboarding_refuses_a_rotation_whose_password_iam_already_holds(aws, driver, rotation_token):
    console_user(aws, "alice")
    assert run(aws, "enrol", *STACK, "alice", "--rotate-immediately").returncode == 0
    (rotation,) = aws.control.rotations()
    arn, token = rotation["SecretArn"], rotation["ClientRequestToken"]
    for step in ("createSecret", "setSecret"):
        assert driver.invoke_step(step, arn, token, rotation_token).ok
    before = state(aws)
    aws.control.clear_calls()
    process = run(aws, "offboard", "--function-arn", FUNCTION_ARN, "alice")
    assert process.returncode == 2
    assert "whose password IAM already holds" in process.stderr and "finish it first" in process.stderr
    assert writes(aws) == [] and state(aws) == before
    # Finished, it can be offboarded; the pending label is gone with the rotation.
    for step in ("testSecret", "finishSecret"):
        assert driver.invoke_step(step, arn, token, rotation_token).ok
    assert run(aws, "offboard", "--function-arn", FUNCTION_ARN, "alice").returncode == 0
    assert aws.iam_password("alice") == aws.value(arn)["password"]


def test_offboarding_removes_a_pending_version_iam_never_accepted(aws):
    console_user(aws, "alice")
    assert run(aws, "enrol", *STACK, "alice", "--rotate-immediately").returncode == 0
    (rotation,) = aws.control.rotations()
    process = run(aws, "offboard", "--function-arn", FUNCTION_ARN, "alice")
    assert process.returncode == 0, process.stderr
    stages = aws.stages(rotation["SecretArn"])
    assert not any("AWSPENDING" in labels for labels in stages.values())
    assert aws.iam_password("alice") == PASSWORD


def test_offboarding_refuses_a_secret_rotated_by_another_function(aws):
    console_user(aws, "alice")
    arn = aws.sm.create_secret(Name="console/alice", SecretString=json.dumps({"username": "alice"}))["ARN"]
    aws.bind("alice", arn)
    aws.control.set_rotation_enabled(arn, True)
    aws.control.clear_calls()
    process = run(aws, "offboard", "--function-arn", FUNCTION_ARN, "alice")
    assert process.returncode == 2
    assert f"rotated by {OTHER_FUNCTION}, not by this function" in process.stderr
    assert writes(aws) == []


# ---------------------------------------------------------------------------------------
# --stack: the emulator has no CloudFormation, so DescribeStacks alone is stubbed (botocore's
# Stubber checks the request's shape); IAM and Secrets Manager are the emulator's.


def load_command():
    import importlib.util

    spec = importlib.util.spec_from_file_location("enrolment_command", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def stubbed_stack(monkeypatch, command, stack: dict):
    import boto3
    from botocore.stub import Stubber

    cloudformation = boto3.client("cloudformation", region_name="us-east-1", aws_access_key_id="x",
                                  aws_secret_access_key="x")
    stubber = Stubber(cloudformation)
    stubber.add_response("describe_stacks", {"Stacks": [stack]}, {"StackName": "iam-password-rotation"})
    stubber.activate()
    real = command.Aws.client
    monkeypatch.setattr(command.Aws, "client",
                        lambda self, service: cloudformation if service == "cloudformation" else real(self, service))
    return stubber


def operator_environment(monkeypatch, aws):
    for key in [k for k in os.environ if k.startswith("AWS_")]:
        monkeypatch.delenv(key)
    for key, value in dict(AWS_ENDPOINT_URL=aws.url, AWS_REGION="us-east-1", AWS_ACCESS_KEY_ID="AKIDOPERATOR",
                           AWS_SECRET_ACCESS_KEY="operator-secret", AWS_CONFIG_FILE=os.devnull,
                           AWS_SHARED_CREDENTIALS_FILE=os.devnull).items():
        monkeypatch.setenv(key, value)


def sam_stack(**parameters: str) -> dict:
    return {
        "StackName": "iam-password-rotation", "StackStatus": "CREATE_COMPLETE", "CreationTime": "2026-01-01T00:00:00Z",
        "Parameters": [{"ParameterKey": k, "ParameterValue": v} for k, v in parameters.items()],
        "Outputs": [{"OutputKey": "FunctionArn", "OutputValue": FUNCTION_ARN}],
    }


def test_with_stack_the_function_arn_user_path_and_login_profile_setting_come_from_the_stack(aws, monkeypatch, capsys):
    command = load_command()
    operator_environment(monkeypatch, aws)
    console_user(aws, "alice", "/rotated/", password=False)
    console_user(aws, "bob", "/other/")
    stubber = stubbed_stack(monkeypatch, command, sam_stack(UserPath="/rotated/", CreateLoginProfile="true"))
    status = command.main(["enrol", "--stack", "iam-password-rotation", "alice", "bob", "--skip-refused"])
    stubber.assert_no_pending_responses()
    assert status == 2
    assert "refused: bob: its path /other/ is outside the stack's UserPath /rotated/" in capsys.readouterr().err
    # alice has no console password, which the stack's CreateLoginProfile=true allows.
    arn = tag_of(aws, "alice")
    assert aws.sm.describe_secret(SecretId=arn)["RotationLambdaARN"] == FUNCTION_ARN


def test_a_stack_without_the_function_output_is_refused_before_anything_is_written(aws, monkeypatch, capsys):
    command = load_command()
    operator_environment(monkeypatch, aws)
    console_user(aws, "alice")
    stack = sam_stack(UserPath="/rotated/")
    stack["Outputs"] = []
    stubbed_stack(monkeypatch, command, stack)
    aws.control.clear_calls()
    assert command.main(["enrol", "--stack", "iam-password-rotation", "alice"]) == 2
    assert "stack iam-password-rotation has no FunctionArn output" in capsys.readouterr().err
    assert aws.control.calls() == []


# ---------------------------------------------------------------------------------------
# the audit names the command, and the command clears the finding

AUDIT = {"source": "iam-password-rotation", "detail-type": "IAM Password Audit Requested", "detail": {}}


def not_enrolled(function) -> dict:
    """The audit's not-enrolled findings, by user, from its log lines (its answer carries counts only)."""
    result = function.invoke(AUDIT)
    assert result.ok, result
    lines = [json.loads(line) for line in result.lines if line.startswith("{") and "_aws" not in line]
    fields = [line.get("fields", {}) for line in lines]
    return {f["user"]: f["detail"] for f in fields
            if f.get("message") == "audit finding" and f.get("finding") == "console_user_not_enrolled"}


def test_the_audits_not_enrolled_finding_names_the_command_that_clears_it(aws, function):
    console_user(aws, "alice")
    detail = not_enrolled(function)["alice"]
    assert "`python3 scripts/enrolment.py enrol --stack <stack> alice`" in detail
    process = run(aws, "enrol", *STACK, "alice")
    assert process.returncode == 0, process.stderr
    aws.control.expire_credential_report()
    assert not_enrolled(function) == {}


def test_offboarding_by_path_takes_every_bound_user_under_it_before_the_stack_is_deleted(aws, function):
    for name in ("alice", "bob"):
        console_user(aws, name)
    console_user(aws, "carol")  # not enrolled
    assert run(aws, "enrol", *STACK, "alice", "bob").returncode == 0
    for name in ("alice", "bob"):
        finish_test_run(aws, function, tag_of(aws, name))
    process = run(aws, "offboard", "--function-arn", FUNCTION_ARN, "--path", "/", "--delete-secret", "--json")
    assert process.returncode == 0, process.stderr
    assert sorted(results(process)) == ["alice", "bob"]
    assert all(tag_of(aws, name) is None for name in ("alice", "bob", "carol"))
    secrets = aws.sm.list_secrets(IncludePlannedDeletion=True)["SecretList"]
    assert all(s.get("DeletedDate") and not s.get("RotationEnabled") for s in secrets) and len(secrets) == 2
