"""A custom staging label (IAM_APPLIED) moved between versions like AWSCURRENT is."""

from __future__ import annotations

import pytest
from emulator_testlib import raises_aws

TOKEN = "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"
LABEL = "IAM_APPLIED"


@pytest.fixture
def secret(sm, control):
    """Secret "app": version "current" (v1, AWSCURRENT) and TOKEN (v2, AWSPENDING)."""
    current = sm.create_secret(Name="app", SecretString="v1")["VersionId"]
    control.rotation_placeholder("app", TOKEN)
    sm.put_secret_value(SecretId="app", SecretString="v2", ClientRequestToken=TOKEN, VersionStages=["AWSPENDING"])
    return {"current": current, "pending": TOKEN}


def _stages(sm):
    return {vid: sorted(stages) for vid, stages in sm.describe_secret(SecretId="app")["VersionIdsToStages"].items()}


def test_a_custom_label_attached_to_the_pending_version_is_added_to_its_labels(sm, secret):
    sm.update_secret_version_stage(SecretId="app", VersionStage=LABEL, MoveToVersionId=TOKEN)
    assert _stages(sm) == {secret["current"]: ["AWSCURRENT"], TOKEN: ["AWSPENDING", LABEL]}


def test_moving_a_custom_label_held_by_another_version_without_remove_from_version_id_is_invalid_parameter(sm, secret):
    sm.update_secret_version_stage(SecretId="app", VersionStage=LABEL, MoveToVersionId=secret["current"])
    before = _stages(sm)
    with raises_aws("InvalidParameterException", 400) as info:
        sm.update_secret_version_stage(SecretId="app", VersionStage=LABEL, MoveToVersionId=TOKEN)
    assert secret["current"] in info.value.response["Error"]["Message"]
    assert _stages(sm) == before


def test_moving_a_custom_label_with_remove_from_version_id_moves_it(sm, secret):
    sm.update_secret_version_stage(SecretId="app", VersionStage=LABEL, MoveToVersionId=secret["current"])
    sm.update_secret_version_stage(
        SecretId="app", VersionStage=LABEL, MoveToVersionId=TOKEN, RemoveFromVersionId=secret["current"]
    )
    assert _stages(sm) == {secret["current"]: ["AWSCURRENT"], TOKEN: ["AWSPENDING", LABEL]}


@pytest.mark.parametrize("remove_from", [None, TOKEN])
def test_moving_a_custom_label_to_the_version_that_has_it_is_a_no_op(sm, secret, remove_from):
    sm.update_secret_version_stage(SecretId="app", VersionStage=LABEL, MoveToVersionId=TOKEN)
    before = _stages(sm)
    extra = {"RemoveFromVersionId": remove_from} if remove_from else {}
    sm.update_secret_version_stage(SecretId="app", VersionStage=LABEL, MoveToVersionId=TOKEN, **extra)
    sm.update_secret_version_stage(SecretId="app", VersionStage=LABEL, MoveToVersionId=TOKEN, **extra)
    assert _stages(sm) == before


def test_repeating_a_move_that_names_the_former_holder_is_invalid_parameter_and_changes_nothing(sm, secret):
    move = dict(SecretId="app", VersionStage=LABEL, MoveToVersionId=TOKEN, RemoveFromVersionId=secret["current"])
    sm.update_secret_version_stage(SecretId="app", VersionStage=LABEL, MoveToVersionId=secret["current"])
    sm.update_secret_version_stage(**move)
    before = _stages(sm)
    with raises_aws("InvalidParameterException", 400):
        sm.update_secret_version_stage(**move)
    assert _stages(sm) == before


def test_get_secret_value_by_a_custom_label_returns_that_versions_value(sm, secret):
    sm.update_secret_version_stage(SecretId="app", VersionStage=LABEL, MoveToVersionId=TOKEN)
    got = sm.get_secret_value(SecretId="app", VersionStage=LABEL)
    assert (got["VersionId"], got["SecretString"], sorted(got["VersionStages"])) == (TOKEN, "v2", ["AWSPENDING", LABEL])


def test_get_secret_value_by_a_custom_label_nobody_holds_is_resource_not_found(sm, secret):
    with raises_aws("ResourceNotFoundException", 400):
        sm.get_secret_value(SecretId="app", VersionStage=LABEL)


def test_a_version_whose_only_label_is_custom_is_still_listed(sm, secret):
    sm.update_secret_version_stage(SecretId="app", VersionStage=LABEL, MoveToVersionId=TOKEN)
    sm.update_secret_version_stage(SecretId="app", VersionStage="AWSPENDING", RemoveFromVersionId=TOKEN)
    assert _stages(sm) == {secret["current"]: ["AWSCURRENT"], TOKEN: [LABEL]}
    assert sm.get_secret_value(SecretId="app", VersionStage=LABEL)["SecretString"] == "v2"


def test_finishing_a_rotation_leaves_the_custom_label_where_it_was(sm, secret):
    sm.update_secret_version_stage(SecretId="app", VersionStage=LABEL, MoveToVersionId=TOKEN)
    sm.update_secret_version_stage(
        SecretId="app", VersionStage="AWSCURRENT", MoveToVersionId=TOKEN, RemoveFromVersionId=secret["current"]
    )
    assert _stages(sm) == {secret["current"]: ["AWSPREVIOUS"], TOKEN: ["AWSCURRENT", "AWSPENDING", LABEL]}


def test_put_secret_value_making_a_new_current_version_keeps_the_custom_label_on_the_old_one(sm, secret):
    sm.update_secret_version_stage(SecretId="app", VersionStage=LABEL, MoveToVersionId=secret["current"])
    newer = sm.put_secret_value(SecretId="app", SecretString="v3")["VersionId"]
    assert _stages(sm) == {
        secret["current"]: ["AWSPREVIOUS", LABEL],
        TOKEN: ["AWSPENDING"],
        newer: ["AWSCURRENT"],
    }
    newest = sm.put_secret_value(SecretId="app", SecretString="v4")["VersionId"]
    assert _stages(sm) == {
        secret["current"]: [LABEL],
        TOKEN: ["AWSPENDING"],
        newer: ["AWSPREVIOUS"],
        newest: ["AWSCURRENT"],
    }


def test_put_secret_value_keeps_awspending_on_the_version_that_loses_awscurrent(sm, secret):
    sm.update_secret_version_stage(
        SecretId="app", VersionStage="AWSCURRENT", MoveToVersionId=TOKEN, RemoveFromVersionId=secret["current"]
    )
    newer = sm.put_secret_value(SecretId="app", SecretString="v3")["VersionId"]
    # The former AWSPREVIOUS version lost its last label and is no longer listed.
    assert _stages(sm) == {TOKEN: ["AWSPENDING", "AWSPREVIOUS"], newer: ["AWSCURRENT"]}


def test_put_secret_value_with_a_custom_label_takes_it_from_the_version_that_had_it(sm, secret):
    sm.update_secret_version_stage(SecretId="app", VersionStage=LABEL, MoveToVersionId=TOKEN)
    newer = sm.put_secret_value(SecretId="app", SecretString="v3", VersionStages=["AWSCURRENT", LABEL])["VersionId"]
    assert _stages(sm) == {secret["current"]: ["AWSPREVIOUS"], TOKEN: ["AWSPENDING"], newer: ["AWSCURRENT", LABEL]}
