"""Correction 2: PutSecretValue with a ClientRequestToken that already names a version."""

from __future__ import annotations

from emulator_testlib import raises_aws

TOKEN = "11111111-2222-3333-4444-555555555555"


def _stages(sm, secret_id="app"):
    return sm.describe_secret(SecretId=secret_id)["VersionIdsToStages"]


def test_put_secret_value_with_a_reused_token_and_a_different_value_is_resource_exists(sm):
    sm.create_secret(Name="app", SecretString="v1")
    sm.put_secret_value(SecretId="app", SecretString="v2", ClientRequestToken=TOKEN)
    before = _stages(sm)
    with raises_aws("ResourceExistsException", 400):
        sm.put_secret_value(SecretId="app", SecretString="v3", ClientRequestToken=TOKEN)
    assert sm.get_secret_value(SecretId="app", VersionId=TOKEN)["SecretString"] == "v2"
    assert _stages(sm) == before


def test_put_secret_value_with_a_reused_token_and_the_same_value_returns_the_existing_version(sm):
    sm.create_secret(Name="app", SecretString="v1")
    first = sm.put_secret_value(SecretId="app", SecretString="v2", ClientRequestToken=TOKEN)
    again = sm.put_secret_value(SecretId="app", SecretString="v2", ClientRequestToken=TOKEN)
    assert (again["VersionId"], again["VersionStages"]) == (first["VersionId"], first["VersionStages"]) == (
        TOKEN,
        ["AWSCURRENT"],
    )
    assert len(_stages(sm)) == 2


def test_a_retried_pending_put_with_a_different_value_is_refused_instead_of_overwriting(sm):
    sm.create_secret(Name="app", SecretString="v1")
    sm.put_secret_value(SecretId="app", SecretString="pending-1", ClientRequestToken=TOKEN, VersionStages=["AWSPENDING"])
    with raises_aws("ResourceExistsException", 400):
        sm.put_secret_value(
            SecretId="app", SecretString="pending-2", ClientRequestToken=TOKEN, VersionStages=["AWSPENDING"]
        )
    assert sm.get_secret_value(SecretId="app", VersionStage="AWSPENDING")["SecretString"] == "pending-1"


def test_a_retried_pending_put_with_the_same_value_succeeds_without_changes(sm):
    sm.create_secret(Name="app", SecretString="v1")
    sm.put_secret_value(SecretId="app", SecretString="p", ClientRequestToken=TOKEN, VersionStages=["AWSPENDING"])
    again = sm.put_secret_value(SecretId="app", SecretString="p", ClientRequestToken=TOKEN, VersionStages=["AWSPENDING"])
    assert again["VersionStages"] == ["AWSPENDING"]
    assert sm.get_secret_value(SecretId="app")["SecretString"] == "v1"


def test_a_reused_token_with_binary_instead_of_string_is_resource_exists(sm):
    sm.create_secret(Name="app", SecretString="v1")
    sm.put_secret_value(SecretId="app", SecretString="v2", ClientRequestToken=TOKEN)
    with raises_aws("ResourceExistsException", 400):
        sm.put_secret_value(SecretId="app", SecretBinary=b"v2", ClientRequestToken=TOKEN)


def test_a_reused_token_with_the_same_binary_value_is_idempotent(sm):
    sm.create_secret(Name="app", SecretString="v1")
    sm.put_secret_value(SecretId="app", SecretBinary=b"\x00\x01", ClientRequestToken=TOKEN)
    again = sm.put_secret_value(SecretId="app", SecretBinary=b"\x00\x01", ClientRequestToken=TOKEN)
    assert again["VersionId"] == TOKEN
    assert sm.get_secret_value(SecretId="app")["SecretBinary"] == b"\x00\x01"


def test_put_secret_value_on_a_missing_secret_is_resource_not_found_with_status_400(sm):
    with raises_aws("ResourceNotFoundException", 400):
        sm.put_secret_value(SecretId="missing", SecretString="x", ClientRequestToken=TOKEN)
