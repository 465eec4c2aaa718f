"""Correction 8: EventBridge Scheduler (REST-JSON) through the emulator, and firing schedules."""

from __future__ import annotations

import json
import threading

import pytest
from emulator_testlib import raises_aws

from rotation_emulator import EmulatorError

FUNCTION = "arn:aws:lambda:us-east-1:123456789012:function:rotator"
ROLE = "arn:aws:iam::123456789012:role/scheduler"
INPUT = json.dumps(
    {
        "source": "iam-password-rotation",
        "detail-type": "IAM Password Reset Scheduled",
        "detail": {"secretId": "arn:aws:secretsmanager:us-east-1:123456789012:secret:app", "attempt": 1},
    }
)


def _create(scheduler, name="reset-1", group="resets", **overrides):
    params = dict(
        Name=name,
        GroupName=group,
        ScheduleExpression="at(2026-11-24T10:00:00)",
        FlexibleTimeWindow={"Mode": "OFF"},
        ActionAfterCompletion="DELETE",
        Target={"Arn": FUNCTION, "RoleArn": ROLE, "Input": INPUT},
    )
    params.update(overrides)
    return scheduler.create_schedule(**params)


@pytest.fixture
def group(scheduler):
    scheduler.create_schedule_group(Name="resets")
    return "resets"


# -- the API -----------------------------------------------------------------------


def test_a_one_time_schedule_is_created_in_its_group_and_read_back(scheduler, group):
    arn = _create(scheduler)["ScheduleArn"]
    assert arn == "arn:aws:scheduler:us-east-1:123456789012:schedule/resets/reset-1"
    got = scheduler.get_schedule(Name="reset-1", GroupName="resets")
    assert (got["Arn"], got["GroupName"], got["Name"]) == (arn, "resets", "reset-1")
    assert got["ScheduleExpression"] == "at(2026-11-24T10:00:00)"
    assert got["FlexibleTimeWindow"] == {"Mode": "OFF"}
    assert got["ActionAfterCompletion"] == "DELETE"
    assert got["State"] == "ENABLED"
    assert (got["Target"]["Arn"], got["Target"]["RoleArn"], got["Target"]["Input"]) == (FUNCTION, ROLE, INPUT)


def test_action_after_completion_defaults_to_none(scheduler, group):
    params = dict(
        Name="plain",
        GroupName="resets",
        ScheduleExpression="rate(5 minutes)",
        FlexibleTimeWindow={"Mode": "OFF"},
        Target={"Arn": FUNCTION, "RoleArn": ROLE},
    )
    scheduler.create_schedule(**params)
    assert scheduler.get_schedule(Name="plain", GroupName="resets")["ActionAfterCompletion"] == "NONE"


def test_creating_a_schedule_with_an_existing_name_is_conflict_409_and_keeps_the_first(scheduler, group):
    _create(scheduler)
    with raises_aws("ConflictException", 409):
        _create(scheduler, Target={"Arn": FUNCTION, "RoleArn": ROLE, "Input": "{}"})
    assert scheduler.get_schedule(Name="reset-1", GroupName="resets")["Target"]["Input"] == INPUT


def test_a_retried_create_schedule_with_the_same_client_token_succeeds_without_a_copy(scheduler, control, group):
    control.inject_fault("CreateSchedule", "applied-500")
    with raises_aws("InternalServerException", 500):
        _create(scheduler, ClientToken="token-1")
    assert _create(scheduler, ClientToken="token-1")["ScheduleArn"].endswith("/resets/reset-1")
    with raises_aws("ConflictException", 409):
        _create(scheduler, ClientToken="token-2")
    assert len(control.schedules()) == 1


def test_creating_a_schedule_in_a_missing_group_is_resource_not_found_404(scheduler):
    with raises_aws("ResourceNotFoundException", 404):
        _create(scheduler, group="missing")


def test_getting_or_deleting_a_missing_schedule_is_resource_not_found_404(scheduler, group):
    with raises_aws("ResourceNotFoundException", 404):
        scheduler.get_schedule(Name="missing", GroupName="resets")
    with raises_aws("ResourceNotFoundException", 404):
        scheduler.delete_schedule(Name="missing", GroupName="resets")
    with raises_aws("ResourceNotFoundException", 404):
        scheduler.delete_schedule(Name="missing", GroupName="no-such-group")


def test_delete_schedule_removes_it(scheduler, group):
    _create(scheduler)
    scheduler.delete_schedule(Name="reset-1", GroupName="resets")
    with raises_aws("ResourceNotFoundException", 404):
        scheduler.get_schedule(Name="reset-1", GroupName="resets")


def test_error_codes_are_also_in_the_x_amzn_error_type_header(scheduler, group):
    _create(scheduler)
    with raises_aws("ConflictException", 409) as info:
        _create(scheduler)
    assert info.value.response["ResponseMetadata"]["HTTPHeaders"]["x-amzn-errortype"] == "ConflictException"


def test_creating_an_existing_schedule_group_is_conflict_409_and_keeps_its_schedules(scheduler, group):
    _create(scheduler)
    with raises_aws("ConflictException", 409):
        scheduler.create_schedule_group(Name="resets")
    assert scheduler.get_schedule(Name="reset-1", GroupName="resets")["Name"] == "reset-1"


def test_deleting_a_missing_schedule_group_is_resource_not_found_404(scheduler):
    with raises_aws("ResourceNotFoundException", 404):
        scheduler.delete_schedule_group(Name="missing")


def test_list_schedules_returns_summaries_filtered_by_group(scheduler, group):
    scheduler.create_schedule_group(Name="other")
    _create(scheduler, name="a")
    _create(scheduler, name="b", group="other")
    listed = scheduler.list_schedules(GroupName="resets")["Schedules"]
    assert [(s["GroupName"], s["Name"]) for s in listed] == [("resets", "a")]
    assert set(listed[0]) == {"Arn", "CreationDate", "GroupName", "LastModificationDate", "Name", "State", "Target"}
    assert listed[0]["Target"] == {"Arn": FUNCTION}
    assert {s["Name"] for s in scheduler.list_schedules()["Schedules"]} == {"a", "b"}


@pytest.mark.parametrize(
    "expression", ["at(2026-11-24 10:00:00)", "at(2026-13-24T10:00:00)", "in(5 minutes)", "rate(0 minutes)"]
)
def test_an_invalid_schedule_expression_is_validation_exception_400(scheduler, group, expression):
    with raises_aws("ValidationException", 400):
        _create(scheduler, ScheduleExpression=expression)
    assert scheduler.list_schedules()["Schedules"] == []


# -- call log, faults, holds ---------------------------------------------------------------


def test_scheduler_calls_are_logged_with_actions_derived_from_method_and_path(scheduler, control):
    scheduler.create_schedule_group(Name="resets")
    _create(scheduler)
    scheduler.get_schedule(Name="reset-1", GroupName="resets")
    scheduler.list_schedules()
    scheduler.update_schedule(
        Name="reset-1",
        GroupName="resets",
        ScheduleExpression="at(2026-11-24T11:00:00)",
        FlexibleTimeWindow={"Mode": "OFF"},
        Target={"Arn": FUNCTION, "RoleArn": ROLE, "Input": INPUT},
    )
    scheduler.delete_schedule(Name="reset-1", GroupName="resets")
    assert [(c["service"], c["action"], c["status"]) for c in control.calls()] == [
        ("scheduler", "CreateScheduleGroup", 200),
        ("scheduler", "CreateSchedule", 200),
        ("scheduler", "GetSchedule", 200),
        ("scheduler", "ListSchedules", 200),
        ("scheduler", "UpdateSchedule", 200),
        ("scheduler", "DeleteSchedule", 200),
    ]


def test_a_throttle_fault_on_create_schedule_is_throttling_exception_429_and_creates_nothing(scheduler, control, group):
    control.inject_fault("CreateSchedule", "throttle")
    with raises_aws("ThrottlingException", 429):
        _create(scheduler)
    assert control.schedules() == []
    assert control.calls()[-1]["fault"] == "throttle"


def test_a_500_fault_on_delete_schedule_is_internal_server_exception_500_and_deletes_nothing(scheduler, control, group):
    _create(scheduler)
    control.inject_fault("DeleteSchedule", "500")
    with raises_aws("InternalServerException", 500):
        scheduler.delete_schedule(Name="reset-1", GroupName="resets")
    assert [s["Name"] for s in control.schedules()] == ["reset-1"]


def test_an_iam_only_fault_for_a_scheduler_action_is_refused(control):
    with pytest.raises(EmulatorError) as info:
        control.inject_fault("CreateSchedule", "409")
    assert info.value.status == 400


def test_a_create_schedule_held_before_is_dropped_and_never_applied(scheduler, control, group):
    control.hold(1, "before")
    result = {}
    thread = threading.Thread(target=lambda: result.setdefault("error", _try(lambda: _create(scheduler))), daemon=True)
    thread.start()
    assert control.wait_held()["call"]["action"] == "CreateSchedule"
    control.release()
    thread.join(5)
    assert result["error"].response["Error"]["Code"] == "InternalServerException"
    assert control.schedules() == []


def _try(fn):
    try:
        fn()
    except Exception as err:  # noqa: BLE001 - handed to the test
        return err
    return None


# -- control API: listing and firing ---------------------------------------------------------


def test_the_control_api_lists_every_schedule_with_group_expression_target_and_input(scheduler, control, group):
    _create(scheduler)
    assert control.schedules() == [
        {
            "AccountId": "123456789012",
            "Region": "us-east-1",
            "GroupName": "resets",
            "Name": "reset-1",
            "Arn": "arn:aws:scheduler:us-east-1:123456789012:schedule/resets/reset-1",
            "ScheduleExpression": "at(2026-11-24T10:00:00)",
            "ScheduleExpressionTimezone": "UTC",
            "State": "ENABLED",
            "ActionAfterCompletion": "DELETE",
            "TargetArn": FUNCTION,
            "RoleArn": ROLE,
            "Input": INPUT,
        }
    ]


def test_firing_a_schedule_returns_its_target_and_input_and_deletes_it_when_action_after_completion_is_delete(
    scheduler, control, group
):
    _create(scheduler)
    fired = control.fire_schedule("reset-1", "resets")
    assert fired["Input"] == INPUT
    assert (fired["Target"]["Arn"], fired["Target"]["RoleArn"], fired["Target"]["Input"]) == (FUNCTION, ROLE, INPUT)
    assert fired["Deleted"] is True
    with raises_aws("ResourceNotFoundException", 404):
        scheduler.get_schedule(Name="reset-1", GroupName="resets")
    assert control.calls()[-1]["action"] == "GetSchedule"  # firing is not an AWS call


def test_firing_a_schedule_without_delete_keeps_it(scheduler, control, group):
    _create(scheduler, ActionAfterCompletion="NONE")
    assert control.fire_schedule("reset-1", "resets")["Deleted"] is False
    assert [s["Name"] for s in control.schedules()] == ["reset-1"]


def test_firing_a_schedule_in_the_default_group_needs_no_group_name(scheduler, control):
    _create(scheduler, group="default")
    assert control.fire_schedule("reset-1")["GroupName"] == "default"


def test_firing_a_missing_schedule_is_a_control_api_404(control, scheduler, group):
    for name, grp in (("missing", "resets"), ("reset-1", "missing")):
        with pytest.raises(EmulatorError) as info:
            control.fire_schedule(name, grp)
        assert info.value.status == 404


def test_firing_a_disabled_schedule_is_a_control_api_409(scheduler, control, group):
    _create(scheduler, State="DISABLED")
    with pytest.raises(EmulatorError) as info:
        control.fire_schedule("reset-1", "resets")
    assert info.value.status == 409


def test_reset_removes_schedules_and_groups(scheduler, control, group):
    _create(scheduler)
    control.reset()
    assert control.schedules() == []
    with raises_aws("ResourceNotFoundException", 404):
        _create(scheduler)
