"""Correction 7: ListSecretVersionIds with real creation dates, and the version-created control endpoint."""

from __future__ import annotations

import datetime
import time

import pytest
from emulator_testlib import raises_aws

from rotation_emulator import EmulatorError

LAMBDA = "arn:aws:lambda:us-east-1:123456789012:function:rotator"
TOKEN = "aaaaaaaa-bbbb-cccc-dddd-000000000001"
TOKEN2 = "aaaaaaaa-bbbb-cccc-dddd-000000000002"


@pytest.fixture
def secret(sm):
    created = sm.create_secret(Name="app", SecretString="v1")
    return {"arn": created["ARN"], "current": created["VersionId"]}


def _versions(sm, **kwargs) -> dict:
    answer = sm.list_secret_version_ids(SecretId="app", **kwargs)
    return {v["VersionId"]: v for v in answer["Versions"]}


def _epoch(value: datetime.datetime) -> float:
    return value.timestamp()


def test_each_version_is_listed_with_its_id_stages_and_creation_date(sm, secret):
    sm.put_secret_value(SecretId="app", SecretString="v2", ClientRequestToken=TOKEN)
    versions = _versions(sm)
    assert {vid: v["VersionStages"] for vid, v in versions.items()} == {
        secret["current"]: ["AWSPREVIOUS"],
        TOKEN: ["AWSCURRENT"],
    }
    assert all(isinstance(v["CreatedDate"], datetime.datetime) for v in versions.values())


def test_the_answer_names_the_secret_by_arn_and_name(sm, secret):
    answer = sm.list_secret_version_ids(SecretId="app")
    assert (answer["ARN"], answer["Name"]) == (secret["arn"], "app")
    assert "NextToken" not in answer


def test_created_date_is_when_the_version_was_created_not_when_it_is_listed(sm, control, secret):
    control.set_version_created("app", secret["current"], 1_700_000_000)
    time.sleep(0.01)
    assert _epoch(_versions(sm)[secret["current"]]["CreatedDate"]) == 1_700_000_000


def test_created_dates_follow_the_order_in_which_versions_were_created(sm, secret):
    sm.put_secret_value(SecretId="app", SecretString="v2", ClientRequestToken=TOKEN)
    versions = _versions(sm)
    first, second = _epoch(versions[secret["current"]]["CreatedDate"]), _epoch(versions[TOKEN]["CreatedDate"])
    assert first <= second <= time.time() + 0.001


def test_versions_without_a_label_are_listed_only_with_include_deprecated(sm, secret):
    sm.put_secret_value(SecretId="app", SecretString="v2", ClientRequestToken=TOKEN)
    sm.put_secret_value(SecretId="app", SecretString="v3", ClientRequestToken=TOKEN2)  # the first loses AWSPREVIOUS
    assert set(_versions(sm)) == {TOKEN, TOKEN2}
    with_deprecated = _versions(sm, IncludeDeprecated=True)
    assert set(with_deprecated) == {secret["current"], TOKEN, TOKEN2}
    assert with_deprecated[secret["current"]]["VersionStages"] == []


def test_a_control_api_placeholder_has_a_created_date_of_when_it_was_made(sm, control, secret):
    before = time.time()
    control.rotation_placeholder("app", TOKEN)
    placeholder = _versions(sm)[TOKEN]
    assert placeholder["VersionStages"] == ["AWSPENDING"]
    assert before - 0.001 <= _epoch(placeholder["CreatedDate"]) <= time.time() + 0.001


def test_a_rotate_secret_placeholder_has_a_created_date_of_when_rotate_secret_ran(sm, secret):
    before = time.time()
    sm.rotate_secret(SecretId="app", RotationLambdaARN=LAMBDA, ClientRequestToken=TOKEN)
    after = time.time()
    assert before - 0.001 <= _epoch(_versions(sm)[TOKEN]["CreatedDate"]) <= after + 0.001


def test_filling_a_placeholder_keeps_its_created_date(sm, control, secret):
    sm.rotate_secret(SecretId="app", RotationLambdaARN=LAMBDA, ClientRequestToken=TOKEN)
    control.set_version_created("app", TOKEN, 1_700_000_000.25)
    sm.put_secret_value(SecretId="app", SecretString="v2", ClientRequestToken=TOKEN, VersionStages=["AWSPENDING"])
    assert _epoch(_versions(sm)[TOKEN]["CreatedDate"]) == 1_700_000_000.25


def test_get_secret_value_reports_the_same_created_date(sm, control, secret):
    control.set_version_created("app", secret["current"], 1_700_000_123)
    assert _epoch(sm.get_secret_value(SecretId="app")["CreatedDate"]) == 1_700_000_123


def test_version_created_for_a_missing_secret_or_version_is_a_control_api_404(control, secret):
    for secret_id, version_id in (("missing", TOKEN), ("app", TOKEN)):
        with pytest.raises(EmulatorError) as info:
            control.set_version_created(secret_id, version_id, 1_700_000_000)
        assert info.value.status == 404


def test_version_created_needs_epoch_seconds(control, secret):
    with pytest.raises(EmulatorError) as info:
        control.set_version_created("app", secret["current"], "2026-01-01T00:00:00Z")
    assert info.value.status == 400


def test_last_accessed_date_appears_once_the_version_is_read_and_is_a_whole_day(sm, secret):
    assert "LastAccessedDate" not in _versions(sm)[secret["current"]]
    sm.get_secret_value(SecretId="app")
    accessed = _epoch(_versions(sm)[secret["current"]]["LastAccessedDate"])
    assert accessed % 86400 == 0
    assert accessed <= time.time() < accessed + 86400


def test_max_results_pages_through_the_versions_with_next_token(sm, secret):
    sm.put_secret_value(SecretId="app", SecretString="v2", ClientRequestToken=TOKEN)
    first = sm.list_secret_version_ids(SecretId="app", MaxResults=1)
    second = sm.list_secret_version_ids(SecretId="app", MaxResults=1, NextToken=first["NextToken"])
    assert [v["VersionId"] for v in first["Versions"] + second["Versions"]] == [secret["current"], TOKEN]
    assert "NextToken" not in second


def test_an_invalid_next_token_is_invalid_next_token_exception(sm, secret):
    with raises_aws("InvalidNextTokenException", 400):
        sm.list_secret_version_ids(SecretId="app", NextToken="garbage")


def test_listing_the_versions_of_a_missing_secret_is_resource_not_found_with_status_400(sm):
    with raises_aws("ResourceNotFoundException", 400):
        sm.list_secret_version_ids(SecretId="missing")


def test_list_secret_version_ids_is_logged_under_secretsmanager(sm, control, secret):
    sm.list_secret_version_ids(SecretId="app")
    assert control.calls()[-1] == {
        "index": 2,
        "service": "secretsmanager",
        "action": "ListSecretVersionIds",
        "account": "123456789012",
        "status": 200,
        "fault": None,
        "throttled": False,
    }
