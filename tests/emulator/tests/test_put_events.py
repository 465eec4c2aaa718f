"""Correction 9: EventBridge PutEvents, per-entry failures and the event log."""

from __future__ import annotations

import datetime
import json
import time

from emulator_testlib import raises_aws

DETAIL = {"user": "alice", "secretArn": "arn:aws:secretsmanager:us-east-1:123456789012:secret:app", "decision": "rotation_started"}


def _entry(**overrides):
    entry = {
        "Source": "iam-password-rotation",
        "DetailType": "IAM Password Reset Decision",
        "Detail": json.dumps(DETAIL),
    }
    entry.update(overrides)
    return entry


def test_put_events_answers_an_event_id_per_entry_and_no_failures(events):
    answer = events.put_events(Entries=[_entry(), _entry()])
    assert answer["FailedEntryCount"] == 0
    assert [set(e) for e in answer["Entries"]] == [{"EventId"}, {"EventId"}]


def test_every_entry_put_is_logged_with_bus_source_detail_type_parsed_detail_and_time(events, control):
    before = time.time()
    event_id = events.put_events(Entries=[_entry()])["Entries"][0]["EventId"]
    (logged,) = control.put_events_log()
    assert before <= logged.pop("time") <= time.time()
    assert logged == {
        "AccountId": "123456789012",
        "EventBusName": "default",
        "EventBusNameGiven": None,
        "Source": "iam-password-rotation",
        "DetailType": "IAM Password Reset Decision",
        "Detail": DETAIL,
        "Resources": [],
        "Time": None,
        "EventId": event_id,
        "ErrorCode": None,
    }


def test_an_entrys_own_time_and_resources_are_logged_too(events, control):
    when = datetime.datetime(2026, 11, 24, 10, 0, tzinfo=datetime.timezone.utc)
    events.put_events(Entries=[_entry(Time=when, Resources=["arn:aws:iam::123456789012:user/alice"])])
    (logged,) = control.put_events_log()
    assert (logged["Time"], logged["Resources"]) == (when.timestamp(), ["arn:aws:iam::123456789012:user/alice"])


def test_an_entry_for_a_missing_bus_fails_with_resource_not_found_and_the_others_succeed(events, control):
    answer = events.put_events(Entries=[_entry(EventBusName="missing"), _entry()])
    assert answer["FailedEntryCount"] == 1
    failed, ok = answer["Entries"]
    assert failed["ErrorCode"] == "ResourceNotFoundException" and "EventId" not in failed
    assert set(ok) == {"EventId"}
    assert [(e["EventBusName"], e["ErrorCode"]) for e in control.put_events_log()] == [
        ("missing", "ResourceNotFoundException"),
        ("default", None),
    ]


def test_a_custom_bus_accepts_entries_by_name_and_by_arn_and_both_are_logged_by_name(events, control):
    arn = events.create_event_bus(Name="outcomes")["EventBusArn"]
    answer = events.put_events(Entries=[_entry(EventBusName="outcomes"), _entry(EventBusName=arn)])
    assert answer["FailedEntryCount"] == 0
    assert [(e["EventBusName"], e["EventBusNameGiven"]) for e in control.put_events_log()] == [
        ("outcomes", "outcomes"),
        ("outcomes", arn),
    ]


def test_a_malformed_detail_fails_the_entry_and_is_logged_as_the_raw_string(events, control):
    answer = events.put_events(Entries=[_entry(Detail="{not json")])
    assert (answer["FailedEntryCount"], answer["Entries"][0]["ErrorCode"]) == (1, "MalformedDetail")
    assert control.put_events_log()[0]["Detail"] == "{not json"


def test_put_events_calls_are_logged_under_events(events, control):
    events.put_events(Entries=[_entry()])
    assert control.calls() == [{"index": 1, "service": "events", "action": "PutEvents", "account": "123456789012", "status": 200, "fault": None, "throttled": False}]


def test_put_events_faults_use_eventbridge_codes_and_log_nothing(events, control):
    control.inject_fault("PutEvents", "throttle")
    with raises_aws("ThrottlingException", 400):
        events.put_events(Entries=[_entry()])
    control.inject_fault("PutEvents", "500")
    with raises_aws("InternalException", 500):
        events.put_events(Entries=[_entry()])
    assert control.put_events_log() == []


def test_an_applied_500_put_events_logs_the_entries_yet_answers_500(events, control):
    control.inject_fault("PutEvents", "applied-500")
    with raises_aws("InternalException", 500):
        events.put_events(Entries=[_entry()])
    assert len(control.put_events_log()) == 1


def test_the_event_log_is_emptied_by_clear_and_by_reset(events, control):
    events.put_events(Entries=[_entry()])
    control.clear_events()
    assert control.put_events_log() == []
    events.put_events(Entries=[_entry()])
    control.reset()
    assert control.put_events_log() == []
