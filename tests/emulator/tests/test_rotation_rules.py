"""RotationRules given to the rotation-placeholder / rotation-enabled control endpoints."""

from __future__ import annotations

import pytest

from rotation_emulator import EmulatorError

TOKEN = "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"


@pytest.fixture
def secret(sm):
    sm.create_secret(Name="app", SecretString="v1")
    return "app"


def _rules(sm, secret_id="app"):
    return sm.describe_secret(SecretId=secret_id)["RotationRules"]


def test_a_placeholder_without_rotation_rules_rotates_every_30_days(sm, control, secret):
    control.rotation_placeholder("app", TOKEN)
    assert _rules(sm) == {"AutomaticallyAfterDays": 30}


def test_a_placeholder_with_automatically_after_days_shows_them(sm, control, secret):
    shown = control.rotation_placeholder("app", TOKEN, RotationRules={"AutomaticallyAfterDays": 7})
    assert shown["RotationRules"] == _rules(sm) == {"AutomaticallyAfterDays": 7}


def test_a_rate_schedule_in_days_is_shown_with_the_derived_days_and_the_duration(sm, control, secret):
    control.rotation_placeholder(
        "app", TOKEN, RotationRules={"ScheduleExpression": "rate(10 days)", "Duration": "2h"}
    )
    assert _rules(sm) == {"AutomaticallyAfterDays": 10, "ScheduleExpression": "rate(10 days)", "Duration": "2h"}


@pytest.mark.parametrize("expression", ["cron(0 8 1 * ? *)", "rate(4 hours)"])
def test_a_schedule_that_is_not_whole_days_is_shown_without_automatically_after_days(sm, control, secret, expression):
    control.rotation_placeholder("app", TOKEN, RotationRules={"ScheduleExpression": expression})
    assert _rules(sm) == {"ScheduleExpression": expression}


def test_set_rotation_enabled_passes_rotation_rules_through(sm, control, secret):
    control.set_rotation_enabled("app", True, RotationRules={"ScheduleExpression": "rate(1 day)", "Duration": "3h"})
    described = sm.describe_secret(SecretId="app")
    assert described["RotationEnabled"] is True
    assert described["RotationRules"] == {
        "AutomaticallyAfterDays": 1,
        "ScheduleExpression": "rate(1 day)",
        "Duration": "3h",
    }


def test_enabling_rotation_without_rules_defaults_to_30_days(sm, control, secret):
    control.set_rotation_enabled("app", True)
    assert _rules(sm) == {"AutomaticallyAfterDays": 30}


def test_disabling_rotation_keeps_the_rules(sm, control, secret):
    control.rotation_placeholder("app", TOKEN, RotationRules={"ScheduleExpression": "rate(4 hours)"})
    control.set_rotation_enabled("app", False)
    described = sm.describe_secret(SecretId="app")
    assert described["RotationEnabled"] is False
    assert described["RotationRules"] == {"ScheduleExpression": "rate(4 hours)"}


def test_a_later_placeholder_without_rules_keeps_the_earlier_rules(sm, control, secret):
    control.rotation_placeholder("app", TOKEN, RotationRules={"ScheduleExpression": "cron(0 8 1 * ? *)"})
    control.rotation_placeholder("app", "ffffffff-bbbb-cccc-dddd-eeeeeeeeeeee")
    assert _rules(sm) == {"ScheduleExpression": "cron(0 8 1 * ? *)"}


def test_new_rules_replace_the_earlier_ones(sm, control, secret):
    control.rotation_placeholder("app", TOKEN, RotationRules={"ScheduleExpression": "rate(10 days)", "Duration": "2h"})
    control.set_rotation_enabled("app", True, RotationRules={"AutomaticallyAfterDays": 5})
    assert _rules(sm) == {"AutomaticallyAfterDays": 5}


def test_list_secrets_shows_the_same_rotation_rules_as_describe_secret(sm, control, secret):
    control.rotation_placeholder("app", TOKEN, RotationRules={"ScheduleExpression": "rate(10 days)", "Duration": "2h"})
    listed = sm.list_secrets()["SecretList"]
    assert [entry["RotationRules"] for entry in listed] == [_rules(sm)]


@pytest.mark.parametrize(
    "rules",
    [
        {"AutomaticallyAfterDays": 7, "ScheduleExpression": "rate(7 days)"},
        {"AutomaticallyAfterDays": 0},
        {"AutomaticallyAfterDays": 1001},
        {"AutomaticallyAfterDays": "7"},
        {"ScheduleExpression": "every 7 days"},
        {"ScheduleExpression": "rate(7 days)", "Duration": "2 hours"},
        {"Duration": "2h"},
        {"AutomaticallyAfterDays": 7, "Unknown": 1},
        "rate(7 days)",
    ],
)
def test_invalid_rotation_rules_are_a_control_api_400_and_change_nothing(sm, control, secret, rules):
    control.rotation_placeholder("app", TOKEN, RotationRules={"AutomaticallyAfterDays": 3})
    with pytest.raises(EmulatorError) as info:
        control.rotation_placeholder("app", TOKEN, RotationRules=rules)
    assert info.value.status == 400
    with pytest.raises(EmulatorError):
        control.set_rotation_enabled("app", True, RotationRules=rules)
    assert _rules(sm) == {"AutomaticallyAfterDays": 3}


def test_reset_drops_the_rotation_rules_with_the_secrets(sm, control, secret):
    control.rotation_placeholder("app", TOKEN, RotationRules={"ScheduleExpression": "rate(10 days)"})
    control.reset()
    sm.create_secret(Name="app", SecretString="v1")
    control.rotation_placeholder("app", TOKEN)
    assert _rules(sm) == {"AutomaticallyAfterDays": 30}
