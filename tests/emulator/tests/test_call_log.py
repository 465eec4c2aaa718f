"""Control API: the call log and the counts."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest
from emulator_testlib import raises_aws


def test_every_aws_call_is_logged_with_a_global_one_based_index(iam, sm, control):
    iam.create_user(UserName="alice")
    sm.create_secret(Name="app", SecretString="v1")
    with raises_aws("NoSuchEntity", 404):
        iam.get_user(UserName="ghost")
    assert control.calls() == [
        {"index": 1, "service": "iam", "action": "CreateUser", "account": "123456789012", "status": 200, "fault": None, "throttled": False},
        {"index": 2, "service": "secretsmanager", "action": "CreateSecret", "account": "123456789012", "status": 200, "fault": None, "throttled": False},
        {"index": 3, "service": "iam", "action": "GetUser", "account": "123456789012", "status": 404, "fault": None, "throttled": False},
    ]


def test_counts_are_keyed_by_service_and_action(iam, sm, control):
    iam.create_user(UserName="alice")
    iam.get_user(UserName="alice")
    iam.get_user(UserName="alice")
    sm.list_secrets()
    assert control.counts() == {"iam:CreateUser": 1, "iam:GetUser": 2, "secretsmanager:ListSecrets": 1}


def test_control_api_calls_are_not_logged(iam, control):
    control.hold_state()
    control.clear_faults()
    iam.create_user(UserName="alice")
    control.iam_password("alice")
    assert [c["action"] for c in control.calls()] == ["CreateUser"]


def test_clearing_the_log_keeps_the_global_index_running(iam, control):
    iam.create_user(UserName="alice")
    control.clear_calls()
    iam.get_user(UserName="alice")
    assert [(c["index"], c["action"]) for c in control.calls()] == [(2, "GetUser")]


def test_reset_empties_the_log_restarts_the_index_and_wipes_moto(iam, control):
    iam.create_user(UserName="alice")
    control.reset()
    assert control.calls() == []
    with raises_aws("NoSuchEntity", 404):
        iam.get_user(UserName="alice")
    assert control.calls()[0]["index"] == 1


def test_calls_of_every_served_service_are_logged_under_their_signing_name(sm, scheduler, events, control):
    sm.create_secret(Name="app", SecretString="v1")
    sm.rotate_secret(SecretId="app", RotationLambdaARN="arn:aws:lambda:us-east-1:123456789012:function:f")
    sm.list_secret_version_ids(SecretId="app")
    scheduler.create_schedule(
        Name="s",
        ScheduleExpression="at(2026-11-24T10:00:00)",
        FlexibleTimeWindow={"Mode": "OFF"},
        Target={"Arn": "arn:aws:lambda:us-east-1:123456789012:function:f", "RoleArn": "arn:aws:iam::123456789012:role/r"},
    )
    scheduler.delete_schedule(Name="s")
    events.put_events(Entries=[{"Source": "s", "DetailType": "d", "Detail": "{}"}])
    assert control.counts() == {
        "secretsmanager:CreateSecret": 1,
        "secretsmanager:RotateSecret": 1,
        "secretsmanager:ListSecretVersionIds": 1,
        "scheduler:CreateSchedule": 1,
        "scheduler:DeleteSchedule": 1,
        "events:PutEvents": 1,
    }


def test_a_request_moto_crashes_on_is_answered_with_the_services_500_and_logged(emulator, control):
    request = urllib.request.Request(
        emulator.url + "/",
        data=b'{"Entries": "not a list"}',
        method="POST",
        headers={
            "Content-Type": "application/x-amz-json-1.1",
            "X-Amz-Target": "AWSEvents.PutEvents",
            "Authorization": "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20260101/us-east-1/events/aws4_request, "
            "SignedHeaders=host, Signature=0",
        },
    )
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(request, timeout=10)
    assert (info.value.code, json.loads(info.value.read())["__type"]) == (500, "InternalException")
    assert control.calls() == [{"index": 1, "service": "events", "action": "PutEvents", "account": "123456789012", "status": 500, "fault": None, "throttled": False}]
