"""Correction 13: a rotation function in another account must give back the RotationToken."""

from __future__ import annotations

import pytest
from emulator_testlib import CENTRAL, MEMBERS, make_client, raises_aws
from rotation_emulator import EmulatorError

MEMBER = MEMBERS[0]
CENTRAL_LAMBDA = f"arn:aws:lambda:us-east-1:{CENTRAL}:function:central-rotation"
MEMBER_LAMBDA = f"arn:aws:lambda:us-east-1:{MEMBER}:function:local-rotation"
TOKEN = "aaaaaaaa-bbbb-cccc-dddd-000000000001"
OTHER = "aaaaaaaa-bbbb-cccc-dddd-000000000002"


@pytest.fixture
def member_sm(emulator):
    sm = make_client(emulator, "secretsmanager", account=MEMBER)
    sm.create_secret(Name="console/alice", SecretString='{"password": "v1"}')
    return sm


def _put(sm, **extra):
    return sm.put_secret_value(
        SecretId="console/alice", SecretString='{"password": "v2"}', ClientRequestToken=TOKEN,
        VersionStages=["AWSPENDING"], **extra
    )


def _rotate(sm, lambda_arn=CENTRAL_LAMBDA):
    sm.rotate_secret(SecretId="console/alice", RotationLambdaARN=lambda_arn, ClientRequestToken=TOKEN)


def test_a_cross_account_rotation_records_a_rotation_token(member_sm, control):
    _rotate(member_sm)
    (rotation,) = control.rotations()
    assert rotation["SecretArn"].startswith(f"arn:aws:secretsmanager:us-east-1:{MEMBER}:secret:console/alice-")
    assert rotation["RotationLambdaARN"] == CENTRAL_LAMBDA
    assert isinstance(rotation["RotationToken"], str) and 36 <= len(rotation["RotationToken"]) <= 256


def test_put_secret_value_without_the_token_is_access_denied_and_changes_nothing(member_sm, control):
    _rotate(member_sm)
    token = control.rotations()[0]["RotationToken"]
    with raises_aws("AccessDeniedException", 400) as info:
        _put(member_sm)
    assert "RotationToken" in info.value.response["Error"]["Message"]
    assert token not in info.value.response["Error"]["Message"]
    with raises_aws("ResourceNotFoundException", 400):
        member_sm.get_secret_value(SecretId="console/alice", VersionStage="AWSPENDING")


def test_put_secret_value_with_a_wrong_token_is_access_denied(member_sm, control):
    _rotate(member_sm)
    token = control.rotations()[0]["RotationToken"]
    with raises_aws("AccessDeniedException", 400) as info:
        _put(member_sm, RotationToken="f" * 36)
    assert token not in info.value.response["Error"]["Message"]


def test_put_secret_value_with_the_token_fills_the_pending_version(member_sm, control):
    _rotate(member_sm)
    _put(member_sm, RotationToken=control.rotations()[0]["RotationToken"])
    pending = member_sm.get_secret_value(SecretId="console/alice", VersionStage="AWSPENDING")
    assert (pending["VersionId"], pending["SecretString"]) == (TOKEN, '{"password": "v2"}')


def test_the_token_is_required_only_for_the_rotations_version_while_it_is_in_progress(member_sm, control):
    _rotate(member_sm)
    rotation_token = control.rotations()[0]["RotationToken"]
    member_sm.put_secret_value(SecretId="console/alice", SecretString="other", ClientRequestToken=OTHER,
                               VersionStages=["STAGED"])
    _put(member_sm, RotationToken=rotation_token)
    current = next(
        v for v, s in member_sm.describe_secret(SecretId="console/alice")["VersionIdsToStages"].items() if "AWSCURRENT" in s
    )
    member_sm.update_secret_version_stage(
        SecretId="console/alice", VersionStage="AWSCURRENT", MoveToVersionId=TOKEN, RemoveFromVersionId=current
    )
    _put(member_sm)  # finished: an idempotent retry needs no token


def test_a_rotation_function_in_the_secrets_account_needs_no_token(member_sm, control):
    _rotate(member_sm, lambda_arn=MEMBER_LAMBDA)
    assert control.rotations()[0]["RotationToken"] is None
    _put(member_sm)


def test_a_new_rotation_brings_a_new_token(member_sm, control):
    _rotate(member_sm)
    _put(member_sm, RotationToken=control.rotations()[0]["RotationToken"])
    member_sm.update_secret_version_stage(
        SecretId="console/alice", VersionStage="AWSPENDING", RemoveFromVersionId=TOKEN
    )
    member_sm.rotate_secret(SecretId="console/alice", ClientRequestToken=OTHER)
    first, second = (r["RotationToken"] for r in control.rotations())
    assert first != second
    with raises_aws("AccessDeniedException", 400):
        member_sm.put_secret_value(SecretId="console/alice", SecretString="v3", ClientRequestToken=OTHER,
                                   VersionStages=["AWSPENDING"], RotationToken=first)


def test_the_placeholder_endpoint_starts_a_cross_account_rotation_too(member_sm, control):
    answer = control.rotation_placeholder("console/alice", TOKEN, RotationLambdaARN=CENTRAL_LAMBDA, AccountId=MEMBER)
    with raises_aws("AccessDeniedException", 400):
        _put(member_sm)
    _put(member_sm, RotationToken=answer["RotationToken"])
    assert control.rotations() == []  # the placeholder is not a RotateSecret call


def test_the_placeholder_endpoint_takes_a_given_token_and_defaults_to_the_secrets_own_account(member_sm, control):
    given = "0123456789abcdef0123456789abcdef0123"
    answer = control.rotation_placeholder("console/alice", TOKEN, AccountId=MEMBER, RotationToken=given)
    assert answer["RotationToken"] == given
    described = member_sm.describe_secret(SecretId="console/alice")
    assert described["RotationLambdaARN"] == f"arn:aws:lambda:us-east-1:{MEMBER}:function:rotation-emulator"
    with raises_aws("AccessDeniedException", 400):
        _put(member_sm, RotationToken="x" * 36)
    _put(member_sm, RotationToken=given)
    with pytest.raises(EmulatorError) as info:
        control.rotation_placeholder("console/alice", OTHER, AccountId=MEMBER, RotationToken="short")
    assert info.value.status == 400
