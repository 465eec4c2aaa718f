"""Correction 4: the rotation placeholder (AWSPENDING version without a value)."""

from __future__ import annotations

import pytest
from emulator_testlib import raises_aws

from rotation_emulator import EmulatorError

TOKEN = "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"


@pytest.fixture
def secret(sm):
    created = sm.create_secret(Name="app", SecretString="v1")
    return {"name": "app", "current": created["VersionId"]}


def test_a_placeholder_enables_rotation_and_lists_the_pending_version(sm, control, secret):
    control.rotation_placeholder("app", TOKEN)
    described = sm.describe_secret(SecretId="app")
    assert described["RotationEnabled"] is True
    assert described["VersionIdsToStages"] == {secret["current"]: ["AWSCURRENT"], TOKEN: ["AWSPENDING"]}


def test_get_secret_value_of_the_placeholder_by_stage_is_resource_not_found_with_status_400(sm, control, secret):
    control.rotation_placeholder("app", TOKEN)
    with raises_aws("ResourceNotFoundException", 400):
        sm.get_secret_value(SecretId="app", VersionStage="AWSPENDING")


def test_get_secret_value_of_the_placeholder_by_version_id_is_resource_not_found_with_status_400(sm, control, secret):
    control.rotation_placeholder("app", TOKEN)
    with raises_aws("ResourceNotFoundException", 400) as info:
        sm.get_secret_value(SecretId="app", VersionId=TOKEN)
    assert TOKEN in info.value.response["Error"]["Message"]


def test_the_current_value_stays_readable_while_a_placeholder_exists(sm, control, secret):
    control.rotation_placeholder("app", TOKEN)
    got = sm.get_secret_value(SecretId="app")
    assert (got["SecretString"], got["VersionId"]) == ("v1", secret["current"])


def test_put_secret_value_with_the_placeholder_token_fills_the_pending_version(sm, control, secret):
    control.rotation_placeholder("app", TOKEN)
    put = sm.put_secret_value(SecretId="app", SecretString="v2", ClientRequestToken=TOKEN, VersionStages=["AWSPENDING"])
    assert (put["VersionId"], put["VersionStages"]) == (TOKEN, ["AWSPENDING"])
    assert sm.get_secret_value(SecretId="app", VersionStage="AWSPENDING")["SecretString"] == "v2"
    assert sm.get_secret_value(SecretId="app")["SecretString"] == "v1"


def test_moving_awscurrent_to_the_filled_version_makes_it_current_and_the_old_one_previous(sm, control, secret):
    control.rotation_placeholder("app", TOKEN)
    sm.put_secret_value(SecretId="app", SecretString="v2", ClientRequestToken=TOKEN, VersionStages=["AWSPENDING"])
    sm.update_secret_version_stage(
        SecretId="app", VersionStage="AWSCURRENT", MoveToVersionId=TOKEN, RemoveFromVersionId=secret["current"]
    )
    got = sm.get_secret_value(SecretId="app")
    assert (got["SecretString"], got["VersionId"]) == ("v2", TOKEN)
    assert sorted(got["VersionStages"]) == ["AWSCURRENT", "AWSPENDING"]
    stages = sm.describe_secret(SecretId="app")["VersionIdsToStages"]
    assert stages[secret["current"]] == ["AWSPREVIOUS"]


def test_moving_awscurrent_to_the_version_that_already_has_it_is_a_no_op(sm, control, secret):
    sm.update_secret_version_stage(SecretId="app", VersionStage="AWSCURRENT", MoveToVersionId=secret["current"])
    sm.update_secret_version_stage(
        SecretId="app",
        VersionStage="AWSCURRENT",
        MoveToVersionId=secret["current"],
        RemoveFromVersionId=secret["current"],
    )
    assert sm.describe_secret(SecretId="app")["VersionIdsToStages"] == {secret["current"]: ["AWSCURRENT"]}


def test_a_repeated_finish_step_naming_the_old_version_is_invalid_parameter_and_changes_nothing(sm, control, secret):
    control.rotation_placeholder("app", TOKEN)
    sm.put_secret_value(SecretId="app", SecretString="v2", ClientRequestToken=TOKEN, VersionStages=["AWSPENDING"])
    move = dict(SecretId="app", VersionStage="AWSCURRENT", MoveToVersionId=TOKEN, RemoveFromVersionId=secret["current"])
    sm.update_secret_version_stage(**move)
    with raises_aws("InvalidParameterException", 400):
        sm.update_secret_version_stage(**move)
    stages = sm.describe_secret(SecretId="app")["VersionIdsToStages"]
    assert sorted(stages[TOKEN]) == ["AWSCURRENT", "AWSPENDING"]
    assert stages[secret["current"]] == ["AWSPREVIOUS"]


def test_moving_a_label_without_naming_its_current_version_is_invalid_parameter(sm, control, secret):
    control.rotation_placeholder("app", TOKEN)
    with raises_aws("InvalidParameterException", 400):
        sm.update_secret_version_stage(SecretId="app", VersionStage="AWSCURRENT", MoveToVersionId=TOKEN)


def test_a_new_placeholder_takes_awspending_from_the_previous_one(sm, control, secret):
    control.rotation_placeholder("app", TOKEN)
    other = "ffffffff-bbbb-cccc-dddd-eeeeeeeeeeee"
    control.rotation_placeholder("app", other)
    stages = sm.describe_secret(SecretId="app")["VersionIdsToStages"]
    assert stages == {secret["current"]: ["AWSCURRENT"], other: ["AWSPENDING"]}


def test_rotation_can_be_disabled_for_bad_input_tests(sm, control, secret):
    control.set_rotation_enabled("app", False)
    assert sm.describe_secret(SecretId="app")["RotationEnabled"] is False
    control.set_rotation_enabled("app", True)
    assert sm.describe_secret(SecretId="app")["RotationEnabled"] is True


def test_a_placeholder_for_a_missing_secret_is_a_control_api_404(control):
    with pytest.raises(EmulatorError) as info:
        control.rotation_placeholder("missing", TOKEN)
    assert info.value.status == 404
