"""Control API: the call log and the counts."""

from __future__ import annotations

from emulator_testlib import raises_aws


def test_every_aws_call_is_logged_with_a_global_one_based_index(iam, sm, control):
    iam.create_user(UserName="alice")
    sm.create_secret(Name="app", SecretString="v1")
    with raises_aws("NoSuchEntity", 404):
        iam.get_user(UserName="ghost")
    assert control.calls() == [
        {"index": 1, "service": "iam", "action": "CreateUser", "status": 200, "fault": None},
        {"index": 2, "service": "secretsmanager", "action": "CreateSecret", "status": 200, "fault": None},
        {"index": 3, "service": "iam", "action": "GetUser", "status": 404, "fault": None},
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
