"""Day-two procedures of docs/operations.md, run as written against the emulator, with the
release function rotating before and after."""

from __future__ import annotations

import json

import pytest


def version_with(aws, arn: str, stage: str) -> str:
    versions = aws.sm.list_secret_version_ids(SecretId=arn)["Versions"]
    return next(v["VersionId"] for v in versions if stage in v["VersionStages"])


def roll_back(aws, arn: str) -> None:
    """docs/operations.md, "Going back to the previous version": IAM first, then the labels."""
    previous, current = version_with(aws, arn, "AWSPREVIOUS"), version_with(aws, arn, "AWSCURRENT")
    value = json.loads(aws.sm.get_secret_value(SecretId=arn, VersionId=previous)["SecretString"])
    aws.iam.update_login_profile(UserName=value["username"], Password=value["password"], PasswordResetRequired=False)
    for label in ("AWSCURRENT", "IAM_APPLIED"):
        aws.sm.update_secret_version_stage(SecretId=arn, VersionStage=label, MoveToVersionId=previous,
                                           RemoveFromVersionId=current)


def test_rolling_back_to_the_previous_version_keeps_iam_and_awscurrent_equal_and_the_next_rotation_completes(
        aws, driver, rotation_token):
    user = aws.bound_user("alice")
    assert driver.rotate(user.secret_arn, rotation_token=rotation_token).succeeded
    first = aws.value(user.secret_arn)["password"]
    assert driver.rotate(user.secret_arn, rotation_token=rotation_token).succeeded
    roll_back(aws, user.secret_arn)
    assert aws.value(user.secret_arn)["password"] == first == aws.iam_password("alice")
    assert version_with(aws, user.secret_arn, "IAM_APPLIED") == version_with(aws, user.secret_arn, "AWSCURRENT")
    record = driver.rotate(user.secret_arn, rotation_token=rotation_token)
    assert record.succeeded, record.last_error
    assert aws.iam_password("alice") == aws.value(user.secret_arn)["password"] != first


def test_under_reuse_prevention_iam_refuses_the_rollback_and_nothing_changes(aws, driver, rotation_token):
    user = aws.bound_user("alice")
    aws.set_policy(MinimumPasswordLength=8, PasswordReusePrevention=5)
    assert driver.rotate(user.secret_arn, rotation_token=rotation_token).succeeded
    assert driver.rotate(user.secret_arn, rotation_token=rotation_token).succeeded
    before = (aws.iam_password("alice"), aws.stages(user.secret_arn))
    with pytest.raises(aws.iam.exceptions.PasswordPolicyViolationException):
        roll_back(aws, user.secret_arn)
    assert (aws.iam_password("alice"), aws.stages(user.secret_arn)) == before
