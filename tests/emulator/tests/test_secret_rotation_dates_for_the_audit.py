"""Correction 14: the rotation and change dates DescribeSecret / ListSecrets show."""

from __future__ import annotations

import datetime
import time

import pytest
from emulator_testlib import raises_aws
from rotation_emulator import EmulatorError

LAMBDA = "arn:aws:lambda:us-east-1:123456789012:function:rotator"
TOKEN = "aaaaaaaa-bbbb-cccc-dddd-000000000001"


@pytest.fixture
def secret(sm):
    created = sm.create_secret(Name="app", SecretString="v1", Tags=[{"Key": "team", "Value": "sec"}])
    return {"arn": created["ARN"], "current": created["VersionId"]}


def _epoch(value) -> float:
    return value.timestamp() if isinstance(value, datetime.datetime) else float(value)


def _rotate(sm, finish=True):
    sm.rotate_secret(SecretId="app", RotationLambdaARN=LAMBDA, ClientRequestToken=TOKEN,
                     RotationRules={"AutomaticallyAfterDays": 7})
    sm.put_secret_value(SecretId="app", SecretString="v2", ClientRequestToken=TOKEN, VersionStages=["AWSPENDING"])
    if finish:
        current = next(v for v, s in sm.describe_secret(SecretId="app")["VersionIdsToStages"].items() if "AWSCURRENT" in s)
        sm.update_secret_version_stage(
            SecretId="app", VersionStage="AWSCURRENT", MoveToVersionId=TOKEN, RemoveFromVersionId=current
        )


def test_no_last_rotated_date_until_a_rotation_finishes(sm, secret):
    assert "LastRotatedDate" not in sm.describe_secret(SecretId="app")
    _rotate(sm, finish=False)
    assert "LastRotatedDate" not in sm.describe_secret(SecretId="app")
    before = time.time()
    sm.update_secret_version_stage(  # finishSecret
        SecretId="app", VersionStage="AWSCURRENT", MoveToVersionId=TOKEN, RemoveFromVersionId=secret["current"]
    )
    rotated = _epoch(sm.describe_secret(SecretId="app")["LastRotatedDate"])
    assert before - 0.01 <= rotated <= time.time() + 0.01


def test_moving_awscurrent_onto_a_version_without_awspending_is_not_a_rotation(sm, secret):
    sm.put_secret_value(SecretId="app", SecretString="v2", ClientRequestToken=TOKEN, VersionStages=["STAGED"])
    sm.rotate_secret(SecretId="app", RotationLambdaARN=LAMBDA, RotateImmediately=False,
                     ClientRequestToken="aaaaaaaa-bbbb-cccc-dddd-000000000009")
    sm.update_secret_version_stage(
        SecretId="app", VersionStage="AWSCURRENT", MoveToVersionId=TOKEN, RemoveFromVersionId=secret["current"]
    )
    assert "LastRotatedDate" not in sm.describe_secret(SecretId="app")


def test_list_secrets_shows_what_the_audit_reads(sm, secret):
    _rotate(sm)
    (entry,) = sm.list_secrets()["SecretList"]
    assert entry["RotationEnabled"] is True
    assert entry["RotationLambdaARN"] == LAMBDA
    assert entry["RotationRules"] == {"AutomaticallyAfterDays": 7}
    stages = {vid: sorted(labels) for vid, labels in entry["SecretVersionsToStages"].items()}
    assert stages == {secret["current"]: ["AWSPREVIOUS"], TOKEN: ["AWSCURRENT", "AWSPENDING"]}
    assert entry["Tags"] == [{"Key": "team", "Value": "sec"}]
    for key in ("CreatedDate", "LastChangedDate", "LastRotatedDate"):
        assert abs(_epoch(entry[key]) - time.time()) < 10, key
    assert "DeletedDate" not in entry


def test_last_rotated_date_is_hidden_while_rotation_is_disabled(sm, control, secret):
    _rotate(sm)
    control.set_rotation_enabled("app", False)
    assert "LastRotatedDate" not in sm.describe_secret(SecretId="app")
    control.set_rotation_enabled("app", True)
    assert "LastRotatedDate" in sm.describe_secret(SecretId="app")


def test_last_changed_date_moves_on_writes_but_not_on_reads_or_no_ops(sm, control, secret):
    def changed():
        return _epoch(sm.describe_secret(SecretId="app")["LastChangedDate"])

    control.set_secret_dates("app", LastChangedDate=1_000_000_000)
    sm.get_secret_value(SecretId="app")
    sm.list_secret_version_ids(SecretId="app")
    assert changed() == 1_000_000_000
    sm.put_secret_value(SecretId="app", SecretString="v2", ClientRequestToken=TOKEN)
    assert changed() > 1_000_000_000
    control.set_secret_dates("app", LastChangedDate=1_000_000_000)
    sm.put_secret_value(SecretId="app", SecretString="v2", ClientRequestToken=TOKEN)  # idempotent retry
    sm.update_secret_version_stage(SecretId="app", VersionStage="AWSCURRENT", MoveToVersionId=TOKEN)  # no-op
    assert changed() == 1_000_000_000
    sm.tag_resource(SecretId="app", Tags=[{"Key": "k", "Value": "v"}])
    assert changed() > 1_000_000_000


def test_deleted_date_is_shown_with_include_planned_deletion(sm, secret):
    sm.create_secret(Name="kept", SecretString="x")
    deletion = sm.delete_secret(SecretId="app", RecoveryWindowInDays=7)["DeletionDate"]
    assert [e["Name"] for e in sm.list_secrets()["SecretList"]] == ["kept"]
    listed = {e["Name"]: e for e in sm.list_secrets(IncludePlannedDeletion=True)["SecretList"]}
    assert abs(_epoch(listed["app"]["DeletedDate"]) - _epoch(deletion)) < 1
    assert "DeletedDate" not in listed["kept"]
    assert abs(_epoch(sm.describe_secret(SecretId="app")["DeletedDate"]) - _epoch(deletion)) < 1


def test_last_accessed_date_is_the_day_of_the_latest_read(sm, secret):
    assert "LastAccessedDate" not in sm.describe_secret(SecretId="app")
    sm.get_secret_value(SecretId="app")
    day = (int(time.time()) // 86400) * 86400
    assert _epoch(sm.describe_secret(SecretId="app")["LastAccessedDate"]) == day


def test_secret_dates_back_dates_an_overdue_rotation(sm, control, secret):
    _rotate(sm)
    answer = control.set_secret_dates("app", CreatedDate=1_600_000_000, LastRotatedDate=1_650_000_000)
    assert (answer["CreatedDate"], answer["LastRotatedDate"]) == (1_600_000_000, 1_650_000_000)
    described = sm.describe_secret(SecretId="app")
    assert (_epoch(described["CreatedDate"]), _epoch(described["LastRotatedDate"])) == (1_600_000_000, 1_650_000_000)
    control.set_secret_dates("app", LastRotatedDate=None)
    assert "LastRotatedDate" not in sm.describe_secret(SecretId="app")


def test_secret_dates_refuses_bad_input(control, secret):
    for body, status in (({}, 400), ({"CreatedDate": "yesterday"}, 400), ({"CreatedDate": None}, 400)):
        with pytest.raises(EmulatorError) as info:
            control.set_secret_dates("app", **body)
        assert info.value.status == status
    with pytest.raises(EmulatorError) as info:
        control.set_secret_dates("missing", CreatedDate=1)
    assert info.value.status == 404


def test_describe_of_a_missing_secret_is_still_resource_not_found(sm):
    with raises_aws("ResourceNotFoundException", 400):
        sm.describe_secret(SecretId="missing")
