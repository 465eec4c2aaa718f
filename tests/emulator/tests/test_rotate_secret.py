"""Correction 6: RotateSecret starts a rotation as AWS does and invokes nothing."""

from __future__ import annotations

import json
import time
import urllib.request
import uuid

import pytest
from emulator_testlib import raises_aws

LAMBDA = "arn:aws:lambda:us-east-1:123456789012:function:rotator"
OTHER_LAMBDA = "arn:aws:lambda:us-east-1:123456789012:function:other"
TOKEN = "aaaaaaaa-bbbb-cccc-dddd-000000000001"
TOKEN2 = "aaaaaaaa-bbbb-cccc-dddd-000000000002"


@pytest.fixture
def secret(sm):
    created = sm.create_secret(Name="app", SecretString="v1")
    return {"arn": created["ARN"], "current": created["VersionId"]}


def _stages(sm):
    return sm.describe_secret(SecretId="app")["VersionIdsToStages"]


def _finish(sm, token, old):
    """What the rotation Lambda's createSecret + finishSecret steps do."""
    sm.put_secret_value(SecretId="app", SecretString="v2", ClientRequestToken=token, VersionStages=["AWSPENDING"])
    sm.update_secret_version_stage(
        SecretId="app", VersionStage="AWSCURRENT", MoveToVersionId=token, RemoveFromVersionId=old
    )


def test_rotate_secret_of_a_missing_secret_is_resource_not_found_with_status_400(sm):
    with raises_aws("ResourceNotFoundException", 400):
        sm.rotate_secret(SecretId="missing", RotationLambdaARN=LAMBDA)


def test_rotate_secret_without_any_rotation_lambda_is_invalid_request_and_changes_nothing(sm, control, secret):
    with raises_aws("InvalidRequestException", 400):
        sm.rotate_secret(SecretId="app")
    assert _stages(sm) == {secret["current"]: ["AWSCURRENT"]}
    assert not sm.describe_secret(SecretId="app").get("RotationEnabled")
    assert control.rotations() == []


def test_rotate_secret_answers_arn_name_and_the_new_version_id(sm, secret):
    answer = sm.rotate_secret(SecretId="app", RotationLambdaARN=LAMBDA, ClientRequestToken=TOKEN)
    answer.pop("ResponseMetadata")
    assert answer == {"ARN": secret["arn"], "Name": "app", "VersionId": TOKEN}


def test_rotate_secret_creates_a_pending_version_without_a_value_and_enables_rotation(sm, secret):
    sm.rotate_secret(SecretId="app", RotationLambdaARN=LAMBDA, ClientRequestToken=TOKEN)
    described = sm.describe_secret(SecretId="app")
    assert described["VersionIdsToStages"] == {secret["current"]: ["AWSCURRENT"], TOKEN: ["AWSPENDING"]}
    assert (described["RotationEnabled"], described["RotationLambdaARN"]) == (True, LAMBDA)
    with raises_aws("ResourceNotFoundException", 400):
        sm.get_secret_value(SecretId="app", VersionStage="AWSPENDING")
    assert sm.get_secret_value(SecretId="app")["SecretString"] == "v1"


def test_rotate_secret_by_arn_works_like_by_name(sm, secret):
    assert sm.rotate_secret(SecretId=secret["arn"], RotationLambdaARN=LAMBDA, ClientRequestToken=TOKEN)["VersionId"] == TOKEN


def test_rotate_secret_without_a_token_makes_a_new_uuid_version(emulator, sm, secret):
    # boto3 and the Rust SDK always send a ClientRequestToken; a raw request need not.
    request = urllib.request.Request(
        emulator.url + "/",
        data=json.dumps({"SecretId": "app", "RotationLambdaARN": LAMBDA}).encode(),
        method="POST",
        headers={
            "Content-Type": "application/x-amz-json-1.1",
            "X-Amz-Target": "secretsmanager.RotateSecret",
            "Authorization": "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20260101/us-east-1/secretsmanager/aws4_request, "
            "SignedHeaders=host, Signature=0",
        },
    )
    with urllib.request.urlopen(request, timeout=10) as resp:
        version_id = json.loads(resp.read())["VersionId"]
    assert str(uuid.UUID(version_id)) == version_id
    assert _stages(sm)[version_id] == ["AWSPENDING"]


def test_rotate_secret_uses_the_configured_rotation_lambda_when_none_is_given(sm, control, secret):
    control.set_rotation_enabled("app", True)  # configures the emulator's default Lambda
    configured = sm.describe_secret(SecretId="app")["RotationLambdaARN"]
    sm.rotate_secret(SecretId="app", ClientRequestToken=TOKEN)
    assert control.rotations()[0]["RotationLambdaARN"] == configured
    assert _stages(sm)[TOKEN] == ["AWSPENDING"]


def test_rotate_secret_while_a_rotation_is_in_progress_is_invalid_request_with_aws_message(sm, control, secret):
    sm.rotate_secret(SecretId="app", RotationLambdaARN=LAMBDA, ClientRequestToken=TOKEN)
    with raises_aws("InvalidRequestException", 400) as info:
        sm.rotate_secret(SecretId="app", ClientRequestToken=TOKEN2)
    assert info.value.response["Error"]["Message"] == "A previous rotation isn't complete. That rotation will be reattempted."
    assert _stages(sm) == {secret["current"]: ["AWSCURRENT"], TOKEN: ["AWSPENDING"]}
    assert len(control.rotations()) == 1


def test_a_placeholder_from_the_control_api_also_counts_as_a_rotation_in_progress(sm, control, secret):
    control.rotation_placeholder("app", TOKEN)
    with raises_aws("InvalidRequestException", 400):
        sm.rotate_secret(SecretId="app", ClientRequestToken=TOKEN2)


def test_rotate_secret_proceeds_when_awspending_is_on_the_current_version(sm, control, secret):
    sm.rotate_secret(SecretId="app", RotationLambdaARN=LAMBDA, ClientRequestToken=TOKEN)
    _finish(sm, TOKEN, secret["current"])
    assert sorted(_stages(sm)[TOKEN]) == ["AWSCURRENT", "AWSPENDING"]  # moto refused here
    sm.rotate_secret(SecretId="app", ClientRequestToken=TOKEN2)
    assert _stages(sm) == {secret["current"]: ["AWSPREVIOUS"], TOKEN: ["AWSCURRENT"], TOKEN2: ["AWSPENDING"]}


def test_rotate_secret_invokes_nothing_and_logs_the_started_rotation(sm, control, secret):
    before = time.time()
    sm.rotate_secret(SecretId="app", RotationLambdaARN=LAMBDA, ClientRequestToken=TOKEN)
    (rotation,) = control.rotations()
    assert before <= rotation.pop("time") <= time.time()
    assert rotation == {
        "SecretArn": secret["arn"],
        "ClientRequestToken": TOKEN,
        "RotationLambdaARN": LAMBDA,
        "RotateImmediately": True,
        "RotationToken": None,  # the function is in the secret's account (correction 13)
    }
    assert [c["action"] for c in control.calls()] == ["CreateSecret", "RotateSecret"]


def test_a_retried_rotate_secret_with_the_same_token_answers_the_same_version_and_starts_nothing_new(
    sm, control, secret
):
    control.inject_fault("RotateSecret", "applied-500")
    with raises_aws("InternalServiceError", 500):
        sm.rotate_secret(SecretId="app", RotationLambdaARN=LAMBDA, ClientRequestToken=TOKEN)
    assert sm.rotate_secret(SecretId="app", ClientRequestToken=TOKEN)["VersionId"] == TOKEN
    assert _stages(sm) == {secret["current"]: ["AWSCURRENT"], TOKEN: ["AWSPENDING"]}
    assert len(control.rotations()) == 1


def test_rotate_secret_with_the_token_of_an_existing_version_is_resource_exists(sm, secret):
    with raises_aws("ResourceExistsException", 400):
        sm.rotate_secret(SecretId="app", RotationLambdaARN=LAMBDA, ClientRequestToken=secret["current"])


def test_rotate_immediately_false_puts_the_current_value_in_the_pending_version(sm, control, secret):
    sm.rotate_secret(SecretId="app", RotationLambdaARN=LAMBDA, ClientRequestToken=TOKEN, RotateImmediately=False)
    pending = sm.get_secret_value(SecretId="app", VersionStage="AWSPENDING")
    assert (pending["VersionId"], pending["SecretString"]) == (TOKEN, "v1")
    assert sm.get_secret_value(SecretId="app")["VersionId"] == secret["current"]
    assert control.rotations()[0]["RotateImmediately"] is False


def test_rotate_secret_updates_the_lambda_and_the_rules_when_given(sm, secret):
    sm.rotate_secret(
        SecretId="app",
        RotationLambdaARN=LAMBDA,
        RotationRules={"ScheduleExpression": "rate(10 days)", "Duration": "2h"},
        ClientRequestToken=TOKEN,
    )
    _finish(sm, TOKEN, secret["current"])
    sm.rotate_secret(
        SecretId="app", RotationLambdaARN=OTHER_LAMBDA, RotationRules={"AutomaticallyAfterDays": 7}, ClientRequestToken=TOKEN2
    )
    described = sm.describe_secret(SecretId="app")
    assert (described["RotationLambdaARN"], described["RotationRules"]) == (OTHER_LAMBDA, {"AutomaticallyAfterDays": 7})


def test_rotate_secret_without_rules_keeps_the_secrets_rules(sm, secret):
    sm.rotate_secret(
        SecretId="app", RotationLambdaARN=LAMBDA, RotationRules={"AutomaticallyAfterDays": 7}, ClientRequestToken=TOKEN
    )
    _finish(sm, TOKEN, secret["current"])
    sm.rotate_secret(SecretId="app", ClientRequestToken=TOKEN2)
    described = sm.describe_secret(SecretId="app")
    assert (described["RotationLambdaARN"], described["RotationRules"]) == (LAMBDA, {"AutomaticallyAfterDays": 7})


def test_rotate_secret_with_both_days_and_a_schedule_expression_is_invalid_parameter_and_changes_nothing(
    sm, control, secret
):
    rules = {"AutomaticallyAfterDays": 7, "ScheduleExpression": "rate(7 days)"}
    with raises_aws("InvalidParameterException", 400):
        sm.rotate_secret(SecretId="app", RotationLambdaARN=LAMBDA, RotationRules=rules)
    assert _stages(sm) == {secret["current"]: ["AWSCURRENT"]}
    assert control.rotations() == []


def test_rotate_secret_of_a_secret_marked_for_deletion_is_invalid_request(sm, secret):
    sm.delete_secret(SecretId="app", RecoveryWindowInDays=7)
    with raises_aws("InvalidRequestException", 400):
        sm.rotate_secret(SecretId="app", RotationLambdaARN=LAMBDA)


def test_the_rotation_log_is_emptied_by_clear_and_by_reset(sm, control, secret):
    sm.rotate_secret(SecretId="app", RotationLambdaARN=LAMBDA, ClientRequestToken=TOKEN)
    control.clear_rotations()
    assert control.rotations() == []
    _finish(sm, TOKEN, secret["current"])
    sm.rotate_secret(SecretId="app", ClientRequestToken=TOKEN2)
    assert [r["ClientRequestToken"] for r in control.rotations()] == [TOKEN2]
    control.reset()
    assert control.rotations() == []


def test_rotate_secret_faults_use_secrets_manager_codes_and_change_nothing(sm, control, secret):
    control.inject_fault("RotateSecret", "throttle")
    with raises_aws("ThrottlingException", 400):
        sm.rotate_secret(SecretId="app", RotationLambdaARN=LAMBDA, ClientRequestToken=TOKEN)
    assert _stages(sm) == {secret["current"]: ["AWSCURRENT"]}
    assert control.rotations() == []
