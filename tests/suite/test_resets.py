"""Event-triggered resets, end to end: the release binary receives the EventBridge events
AWS would deliver, decides, and starts rotations with RotateSecret (which the emulator
records and the driver then runs, as Secrets Manager would) or one-time schedules (which
the test fires, as Scheduler would). Every case ends with the rotation invariant.
"""

from __future__ import annotations

import json

import pytest
from harness import SecretsManagerDriver
from harness.aws import INITIAL_PASSWORD
from harness.invariants import assert_invariant, record_case
from harness.resets import (ADMIN_ROLE, OWN_ROLE, RESET_CONFIG, ResetWorld, ago, console_login, decisions, finding,
                            iam_call, on_demand, role_identity, secret_read, security_hub)

CATEGORY = "resets"
WRITES = ("secretsmanager:RotateSecret", "scheduler:CreateSchedule", "scheduler:DeleteSchedule",
          "secretsmanager:PutSecretValue", "secretsmanager:UpdateSecretVersionStage", "iam:UpdateLoginProfile")


@pytest.fixture
def world(aws, make_lambda):
    def make(**config):
        driver = SecretsManagerDriver(aws, make_lambda(config={**RESET_CONFIG, **config}))
        return ResetWorld(aws, driver)
    return make


def completed(aws, user, records, old_password):
    """Exactly one rotation ran and converged: IAM holds the new AWSCURRENT."""
    assert len(records) == 1, records
    assert records[0].succeeded, records[0].last_error
    current = aws.value(user.secret_arn)
    assert aws.iam_password(user.username) == current["password"] != old_password
    assert aws.version_with(user.secret_arn, "AWSCURRENT") == records[0].token


def aws_writes(aws) -> dict:
    counts = aws.control.counts()
    return {action: counts[action] for action in WRITES if counts.get(action)}


def metric_lines(result) -> list:
    lines = []
    for line in result.lines:
        try:
            parsed = json.loads(line)
        except ValueError:
            continue
        if isinstance(parsed, dict) and "_aws" in parsed:
            lines.append(parsed)
    return lines


# -- on demand -------------------------------------------------------------------------------------------

@pytest.mark.parametrize("by", ["userName", "secretArn", "secretName"])
def test_an_on_demand_reset_rotates_the_password_through_secrets_manager(aws, world, rotation_token, by):
    with record_case(CATEGORY):
        w = world()
        user = w.enrol(f"reset-od-{by.lower()}")
        old = aws.value(user.secret_arn)["password"]
        aws.control.clear_calls()
        detail = {"userName": {"userName": user.username}, "secretArn": {"secretId": user.secret_arn},
                  "secretName": {"secretId": f"console/{user.username}"}}[by]
        result = w.driver.function.invoke(on_demand(**detail, reason="left the on-call rota"))
        assert decisions(result) == ["rotation_started"]
        calls = [c["action"] for c in aws.control.calls()]
        assert calls.count("RotateSecret") == 1 and "CreateSchedule" not in calls
        assert len(calls) <= 7, calls  # the calls of one reset decision (+ its outcome event)
        completed(aws, user, w.run_started(rotation_token), old)


def test_a_security_hub_action_resets_every_enrolled_user_and_refuses_the_others(aws, world, rotation_token):
    with record_case(CATEGORY):
        w = world()
        enrolled = w.enrol("reset-sh-enrolled")
        aws.bound_user("reset-sh-unbound", bind=False)
        old = aws.value(enrolled.secret_arn)["password"]
        result = w.driver.function.invoke(security_hub(enrolled.username, "reset-sh-unbound"))
        assert decisions(result) == ["rotation_started", "refused"]
        assert result.body["Decisions"][1]["ErrorType"] == "BindingTagMissing"
        completed(aws, enrolled, w.run_started(rotation_token), old)


@pytest.mark.parametrize("forged", ["details-name-another-user", "finding-names-another-account"])
def test_a_security_hub_finding_whose_fields_disagree_with_its_resource_arn_is_refused_and_changes_nothing(
        aws, world, rotation_token, forged):
    with record_case(CATEGORY, bad_inputs=1):
        w = world()
        harmless = w.enrol(f"reset-sh-harmless-{len(forged)}")
        breakglass = w.enrol(f"reset-sh-breakglass-{len(forged)}")
        before = {u.username: (aws.iam_password(u.username), aws.stages(u.secret_arn)) for u in (harmless, breakglass)}
        aws.control.clear_calls()
        # The analyst sees the resource Id (the harmless user); whoever imported the finding wrote the rest.
        forgery = {"details-name-another-user": finding(harmless.username, details_user=breakglass.username),
                   "finding-names-another-account": finding(harmless.username, finding_account="222222222222")}[forged]
        result = w.driver.function.invoke(security_hub(findings=[forgery]))
        assert not result.ok and result.error_type == "InvalidEvent", (result.error_type, result.error_message)
        field = {"details-name-another-user": "Details.AwsIamUser.UserName",
                 "finding-names-another-account": "detail.findings[0].AwsAccountId"}[forged]
        assert field in result.error_message and "Resources[0].Id" in result.error_message, result.error_message
        assert aws_writes(aws) == {}, aws_writes(aws)
        assert [c["action"] for c in aws.control.calls() if c["service"] != "logs"] == []
        assert {u.username: (aws.iam_password(u.username), aws.stages(u.secret_arn))
                for u in (harmless, breakglass)} == before
        assert w.started() == []


def untag(aws, user):
    aws.iam.untag_user(UserName=user.username, TagKeys=["password-rotation:secret-arn"])


def another_function(aws, user):
    other = "arn:aws:lambda:us-east-1:123456789012:function:someone-elses-rotation"
    token = "00000000-0000-4000-8000-" + "0" * 12
    aws.control.rotation_placeholder(user.secret_arn, token, RotationLambdaARN=other)
    aws.sm.update_secret_version_stage(SecretId=user.secret_arn, VersionStage="AWSPENDING", RemoveFromVersionId=token)


def disable(aws, user):
    aws.control.set_rotation_enabled(user.secret_arn, False)


def names_another_user(aws, user):
    aws.iam.create_user(UserName="reset-mallory")
    aws.sm.put_secret_value(SecretId=user.secret_arn, SecretString=json.dumps({"username": "reset-mallory"}))


REFUSALS = [
    ("BindingTagMissing", untag, "userName"),
    ("RotatedByAnotherFunction", another_function, "userName"),
    ("RotationNotEnabled", disable, "userName"),
    ("SecretNamesAnotherUser", names_another_user, "userName"),
    ("BindingTagMissing", untag, "secretId"),
    ("UserNotFound", None, "ghost"),
]


@pytest.mark.parametrize("error_type, arrange, by", REFUSALS, ids=[f"{e}-by-{b}" for e, _, b in REFUSALS])
def test_a_reset_that_may_not_happen_is_refused_with_its_error_and_changes_nothing(
        aws, world, rotation_token, error_type, arrange, by):
    with record_case(CATEGORY, bad_inputs=1):
        w = world()
        user = w.enrol(f"reset-refused-{len(error_type)}-{by}")
        if arrange:
            arrange(aws, user)
        before = (aws.iam_password(user.username), aws.stages(user.secret_arn))
        aws.control.clear_calls()
        detail = {"userName": {"userName": user.username}, "secretId": {"secretId": user.secret_arn},
                  "ghost": {"userName": "reset-ghost"}}[by]
        result = w.driver.function.invoke(on_demand(**detail))
        assert not result.ok and result.error_type == error_type, (result.error_type, result.error_message)
        assert aws_writes(aws) == {}, aws_writes(aws)
        assert (aws.iam_password(user.username), aws.stages(user.secret_arn)) == before
        assert w.started() == []


def test_a_rotation_in_progress_is_not_disturbed_and_the_reset_happens_after_it(aws, world, rotation_token):
    with record_case(CATEGORY):
        w = world()
        user = w.enrol("reset-in-progress")
        driver = w.driver
        token = driver.start(user.secret_arn)
        for step in ("createSecret", "setSecret"):
            assert driver.invoke_step(step, user.secret_arn, token, rotation_token).ok
        stages = aws.stages(user.secret_arn)
        aws.control.clear_calls()
        result = driver.function.invoke(on_demand(userName=user.username))
        assert decisions(result) == ["retry_scheduled"]
        assert aws.stages(user.secret_arn) == stages, "the rotation in progress was disturbed"
        assert "secretsmanager:RotateSecret" not in aws.control.counts()
        # The rotation in progress completes; then the schedule fires and the reset happens.
        for step in ("testSecret", "finishSecret"):
            assert driver.invoke_step(step, user.secret_arn, token, rotation_token).ok
        middle = aws.value(user.secret_arn)["password"]
        [schedule] = w.schedules()
        assert decisions(w.fire(schedule)) == ["rotation_started"]
        completed(aws, user, w.run_started(rotation_token), middle)
        assert w.schedules() == []


def test_a_drift_during_a_rotation_converges_once_that_rotation_ends(aws, world, rotation_token):
    with record_case(CATEGORY):
        w = world()
        user = w.enrol("reset-drift-during")
        driver = w.driver
        token = driver.start(user.secret_arn)
        for step in ("createSecret", "setSecret"):
            assert driver.invoke_step(step, user.secret_arn, token, rotation_token).ok
        aws.iam.update_login_profile(UserName=user.username, Password="Admin-Chosen-Passw0rd!")  # the drift
        result = driver.function.invoke(iam_call("UpdateLoginProfile", user.username, role_identity(ADMIN_ROLE),
                                                 when=ago(0)))
        assert decisions(result) == ["retry_scheduled"]
        for step in ("testSecret", "finishSecret"):
            assert driver.invoke_step(step, user.secret_arn, token, rotation_token).ok
        [schedule] = w.schedules()
        assert decisions(w.fire(schedule)) == ["rotation_started"]
        records = w.run_started(rotation_token)
        assert records and records[-1].succeeded
        assert aws.iam_password(user.username) == aws.value(user.secret_arn)["password"]


# -- after use: console sign-in and secret read ------------------------------------------------------------

def test_a_successful_console_sign_in_schedules_one_delayed_reset_that_rotates_when_it_fires(
        aws, world, rotation_token):
    with record_case(CATEGORY):
        w = world()
        user = w.enrol("reset-break-glass")
        old = aws.value(user.secret_arn)["password"]
        first = w.driver.function.invoke(console_login(user.username))
        second = w.driver.function.invoke(console_login(user.username))
        assert decisions(first) == ["scheduled"] and decisions(second) == ["coalesced"]
        [schedule] = w.schedules()
        assert schedule["ScheduleExpression"].startswith("at(") and schedule["ActionAfterCompletion"] == "NONE"
        assert schedule["RoleArn"] == RESET_CONFIG["SCHEDULER_ROLE_ARN"]
        assert w.started() == [], "nothing rotates before the delay"
        assert aws.iam_password(user.username) == old
        assert decisions(w.fire(schedule)) == ["rotation_started"]
        completed(aws, user, w.run_started(rotation_token), old)


def test_a_failed_console_sign_in_never_resets(aws, world):
    with record_case(CATEGORY):
        w = world()
        user = w.enrol("reset-failed-login")
        aws.control.clear_calls()
        result = w.driver.function.invoke(console_login(user.username, success=False))
        assert decisions(result) == ["skipped"]
        assert w.schedules() == [] and aws_writes(aws) == {}


def test_a_sign_in_reset_that_a_later_rotation_already_covers_is_coalesced_when_it_fires(aws, world, rotation_token):
    with record_case(CATEGORY):
        w = world()
        user = w.enrol("reset-covered")
        assert decisions(w.driver.function.invoke(console_login(user.username, when=ago(120)))) == ["scheduled"]
        assert decisions(w.driver.function.invoke(on_demand(userName=user.username))) == ["rotation_started"]
        w.run_started(rotation_token)
        [schedule] = w.schedules()
        aws.control.clear_calls()
        assert decisions(w.fire(schedule)) == ["coalesced"]
        assert "secretsmanager:RotateSecret" not in aws.control.counts()


@pytest.mark.parametrize("reader", ["someone-else", "the-function"])
def test_a_secret_read_by_anyone_but_the_function_schedules_a_reset(aws, world, reader):
    with record_case(CATEGORY):
        w = world()
        user = w.enrol(f"reset-checkout-{reader}")
        actor = role_identity(OWN_ROLE if reader == "the-function" else ADMIN_ROLE)
        result = w.driver.function.invoke(secret_read(user.secret_arn, actor))
        expected = "skipped" if reader == "the-function" else "scheduled"
        assert decisions(result) == [expected]
        assert len(w.schedules()) == (0 if reader == "the-function" else 1)


# -- drift -----------------------------------------------------------------------------------------------------

def test_drift_by_another_principal_resets_now_and_the_functions_own_calls_never_do(aws, world, rotation_token):
    with record_case(CATEGORY):
        w = world()
        user = w.enrol("reset-drift")
        aws.iam.update_login_profile(UserName=user.username, Password="Admin-Chosen-Passw0rd!")
        result = w.driver.function.invoke(iam_call("UpdateLoginProfile", user.username, role_identity(ADMIN_ROLE)))
        assert decisions(result) == ["rotation_started"]
        records = w.run_started(rotation_token)
        assert records[-1].succeeded
        assert aws.iam_password(user.username) == aws.value(user.secret_arn)["password"]
        # The CloudTrail record of the function's own UpdateLoginProfile: never a loop.
        aws.control.clear_calls()
        own = w.driver.function.invoke(iam_call("UpdateLoginProfile", user.username, role_identity(OWN_ROLE)))
        assert decisions(own) == ["skipped"]
        assert [c["action"] for c in aws.control.calls()] == []  # not even an outcome event


def test_delete_login_profile_is_reported_and_never_undone(aws, world):
    with record_case(CATEGORY):
        w = world()
        user = w.enrol("reset-deleted")
        aws.iam.delete_login_profile(UserName=user.username)
        aws.control.clear_calls()
        result = w.driver.function.invoke(iam_call("DeleteLoginProfile", user.username, role_identity(ADMIN_ROLE)))
        assert decisions(result) == ["reported"]
        assert [c["action"] for c in aws.control.calls()] == ["GetUser", "GetLoginProfile", "DeleteSchedule", "PutEvents"]
        assert aws.iam_password(user.username) is None


@pytest.mark.parametrize("reset_required", [True, False], ids=["reset-required", "no-reset"])
def test_a_users_own_change_password_is_the_first_sign_in_only_when_a_reset_is_required(
        aws, world, reset_required):
    with record_case(CATEGORY):
        w = world(PASSWORD_RESET_REQUIRED=str(reset_required).lower())
        user = w.enrol(f"reset-own-change-{int(reset_required)}")
        identity = {"type": "IAMUser", "userName": user.username,
                    "arn": f"arn:aws:iam::123456789012:user/{user.username}"}
        result = w.driver.function.invoke(iam_call("ChangePassword", user.username, identity))
        assert decisions(result) == (["skipped"] if reset_required else ["rotation_started"])


def test_a_failed_iam_call_and_a_user_not_enrolled_change_nothing(aws, world):
    with record_case(CATEGORY):
        w = world()
        user = w.enrol("reset-noise")
        aws.bound_user("reset-not-enrolled", bind=False)
        aws.control.clear_calls()
        failed = w.driver.function.invoke(iam_call("UpdateLoginProfile", user.username, role_identity(ADMIN_ROLE),
                                                   errorCode="AccessDenied"))
        stranger = w.driver.function.invoke(iam_call("UpdateLoginProfile", "reset-not-enrolled",
                                                     role_identity(ADMIN_ROLE)))
        assert decisions(failed) == ["skipped"] and decisions(stranger) == ["skipped"]
        assert aws_writes(aws) == {}


# -- who may trigger, dry run, outcome events, metrics ---------------------------------------------------------

@pytest.mark.parametrize("source, detail_type", [
    ("evil.app", "IAM Password Reset Requested"),
    ("iam-password-rotation.fake", "IAM Password Reset Requested"),
    ("aws.iam", "IAM Password Reset Requested"),
    ("aws.signin", "AWS API Call via CloudTrail"),
])
def test_a_well_formed_event_from_an_unexpected_source_does_nothing(aws, world, source, detail_type):
    with record_case(CATEGORY, bad_inputs=1):
        w = world()
        user = w.enrol(f"reset-forged-{abs(hash(source + detail_type)) % 10000}")
        before = (aws.iam_password(user.username), aws.stages(user.secret_arn))
        aws.control.clear_calls()
        event = on_demand(userName=user.username)
        event["source"], event["detail-type"] = source, detail_type
        result = w.driver.function.invoke(event)
        assert not result.ok and result.error_type == "InvalidEvent", result.body
        assert source in result.error_message
        assert aws.control.calls() == []
        assert (aws.iam_password(user.username), aws.stages(user.secret_arn)) == before


def test_a_dry_run_decides_every_trigger_and_writes_nothing(aws, world):
    with record_case(CATEGORY):
        w = world(RESET_DRY_RUN="true")
        user = w.enrol("reset-dry-run")
        before = (aws.iam_password(user.username), aws.stages(user.secret_arn))
        aws.control.clear_calls()
        aws.control.clear_events()
        for event, would in [
            (on_demand(userName=user.username), "rotation_started"),
            (console_login(user.username), "scheduled"),
            (iam_call("UpdateLoginProfile", user.username, role_identity(ADMIN_ROLE)), "rotation_started"),
        ]:
            result = w.driver.function.invoke(event)
            assert result.body["DryRun"] is True
            assert [(d["Decision"], d["WouldDo"]) for d in result.body["Decisions"]] == [("dry_run", would)]
        assert aws_writes(aws) == {}
        assert w.schedules() == [] and w.started() == []
        assert (aws.iam_password(user.username), aws.stages(user.secret_arn)) == before
        published = [e["Detail"]["decision"] for e in w.outcome_events()]
        assert published == ["dry_run:rotation_started", "dry_run:scheduled", "dry_run:rotation_started"]


def test_each_decision_and_each_finished_rotation_is_one_outcome_event_and_one_metric_line(
        aws, world, rotation_token):
    with record_case(CATEGORY):
        w = world()
        user = w.enrol("reset-outcomes")
        aws.control.clear_events()
        event = iam_call("UpdateLoginProfile", user.username, role_identity(ADMIN_ROLE))
        result = w.driver.function.invoke(event)
        [metric] = metric_lines(result)
        assert metric["Trigger"] == "drift" and metric["ResetsStarted"] == 1
        assert metric["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "IamPasswordRotation"
        [record] = w.run_started(rotation_token)
        step_metrics = [line for _, r in record.results for line in metric_lines(r)]
        assert [m["Step"] for m in step_metrics] == ["createSecret", "setSecret", "testSecret", "finishSecret"]
        assert step_metrics[-1]["RotationsSucceeded"] == 1
        events = w.outcome_events()
        assert [e["DetailType"] for e in events] == ["IAM Password Reset Decision", "IAM Password Rotation Finished"]
        decision = events[0]["Detail"]
        assert decision["user"] == user.username and decision["secretArn"] == user.secret_arn
        assert decision["trigger"] == "drift" and decision["decision"] == "rotation_started"
        assert decision["eventId"] == event["detail"]["eventID"]
        assert decision["principal"] == event["detail"]["userIdentity"]["arn"]
        assert decision["version"] == record.token
        finished = events[1]["Detail"]
        assert finished["version"] == record.token and finished["secretArn"] == user.secret_arn
        text = json.dumps(events)
        for secret in (aws.value(user.secret_arn)["password"], INITIAL_PASSWORD, rotation_token):
            assert secret not in text
        assert_invariant(aws, user, "after the outcome events")


def test_a_failed_step_is_one_failed_outcome_event(aws, world, rotation_token):
    with record_case(CATEGORY):
        w = world()
        user = w.enrol("reset-failed-step")
        untag(aws, user)
        aws.control.clear_events()
        record = w.driver.rotate(user.secret_arn, rotation_token=rotation_token, max_attempts=1)
        assert not record.succeeded
        [failed] = w.outcome_events()
        assert failed["DetailType"] == "IAM Password Rotation Failed"
        assert failed["Detail"]["errorType"] == "BindingTagMissing"
        assert failed["Detail"]["version"] == record.token


# -- the rule: every trigger counts, only an IAM-accepted rotation after it covers it ------------------------

def later_than(moment_iso: str, minutes: int) -> str:
    from datetime import datetime, timedelta, timezone
    moment = datetime.strptime(moment_iso, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)
    return (moment + timedelta(minutes=minutes)).strftime("%Y-%m-%dT%H:%M:%S")


def test_a_sign_in_after_a_rotation_is_reset_when_the_earlier_sign_ins_schedule_fires(aws, world, rotation_token):
    with record_case(CATEGORY):
        w = world()
        user = w.enrol("rule-sign-in-after-rotation")
        assert decisions(w.driver.function.invoke(console_login(user.username, when=ago(120)))) == ["scheduled"]
        assert decisions(w.driver.function.invoke(on_demand(userName=user.username))) == ["rotation_started"]
        w.run_started(rotation_token)
        read_by_the_user = aws.value(user.secret_arn)["password"]
        # The user signs in again with the password the on-demand reset gave them.
        assert decisions(w.driver.function.invoke(console_login(user.username))) == ["coalesced"]
        [schedule] = w.schedules()
        assert decisions(w.fire(schedule)) == ["rotation_started"]
        completed(aws, user, w.run_started(rotation_token), read_by_the_user)
        assert w.schedules() == []


def test_a_drift_while_a_sign_in_reset_is_pending_and_a_rotation_is_midway_is_repaired(aws, world, rotation_token):
    with record_case(CATEGORY):
        w = world()
        user = w.enrol("rule-drift-pending")
        driver = w.driver
        assert decisions(driver.function.invoke(console_login(user.username, when=ago(60)))) == ["scheduled"]
        token = driver.start(user.secret_arn)
        for step in ("createSecret", "setSecret"):
            assert driver.invoke_step(step, user.secret_arn, token, rotation_token).ok
        aws.iam.update_login_profile(UserName=user.username, Password="Admin-Chosen-Passw0rd!")
        drift = driver.function.invoke(iam_call("UpdateLoginProfile", user.username, role_identity(ADMIN_ROLE)))
        assert decisions(drift) == ["retry_scheduled"]
        for step in ("testSecret", "finishSecret"):
            assert driver.invoke_step(step, user.secret_arn, token, rotation_token).ok
        [schedule] = w.schedules()
        assert decisions(w.fire(schedule)) == ["rotation_started"]
        records = w.run_started(rotation_token)
        assert records and records[-1].succeeded
        assert aws.iam_password(user.username) == aws.value(user.secret_arn)["password"] != "Admin-Chosen-Passw0rd!"


def test_a_new_secret_version_that_iam_never_accepted_does_not_cover_a_sign_in(aws, world, rotation_token):
    with record_case(CATEGORY):
        w = world()
        user = w.enrol("rule-put-value")
        old = aws.value(user.secret_arn)
        assert decisions(w.driver.function.invoke(console_login(user.username, when=ago(60)))) == ["scheduled"]
        # Whoever may write the secret adds a key: a new AWSCURRENT version, same password.
        aws.sm.put_secret_value(SecretId=user.secret_arn, SecretString=json.dumps({**old, "note": "x"}))
        [schedule] = w.schedules()
        assert decisions(w.fire(schedule)) == ["rotation_started"]
        completed(aws, user, w.run_started(rotation_token), old["password"])


def test_delete_login_profile_cancels_the_pending_reset_and_no_trigger_gives_the_console_back(aws, world):
    with record_case(CATEGORY):
        w = world(CREATE_LOGIN_PROFILE="true")
        user = w.enrol("rule-contained")
        assert decisions(w.driver.function.invoke(console_login(user.username))) == ["scheduled"]
        aws.iam.delete_login_profile(UserName=user.username)
        result = w.driver.function.invoke(iam_call("DeleteLoginProfile", user.username, role_identity(ADMIN_ROLE)))
        assert decisions(result) == ["reported"]
        assert w.schedules() == [], "the pending reset is cancelled"
        for trigger in (on_demand(userName=user.username), console_login(user.username),
                        iam_call("UpdateLoginProfile", user.username, role_identity(ADMIN_ROLE))):
            assert decisions(w.driver.function.invoke(trigger)) == ["skipped"]
        assert w.started() == [] and w.schedules() == []
        assert aws.iam_password(user.username) is None


def test_an_on_demand_request_delivered_twice_rotates_once(aws, world, rotation_token):
    with record_case(CATEGORY):
        w = world()
        user = w.enrol("rule-twice")
        event = on_demand(userName=user.username)
        assert decisions(w.driver.function.invoke(event)) == ["rotation_started"]
        records = w.run_started(rotation_token)
        assert records and records[-1].succeeded
        assert decisions(w.driver.function.invoke(event)) == ["coalesced"]
        assert w.started() == [] and w.schedules() == []


def test_a_root_password_change_costs_no_call_and_is_no_error(aws, world):
    with record_case(CATEGORY):
        w = world()
        aws.control.clear_calls()
        root = {"type": "Root", "arn": "arn:aws:iam::123456789012:root", "accountId": "123456789012"}
        result = w.driver.function.invoke(iam_call("ChangePassword", "", root))
        assert decisions(result) == ["skipped"]
        assert aws.control.calls() == []


def test_the_delay_counts_from_the_sign_in_not_from_its_delivery(aws, world):
    with record_case(CATEGORY):
        w = world()
        user = w.enrol("rule-event-time")
        signed_in = ago(600)
        assert decisions(w.driver.function.invoke(console_login(user.username, when=signed_in))) == ["scheduled"]
        [schedule] = w.schedules()
        assert schedule["ScheduleExpression"] == f"at({later_than(signed_in, 30)})"


def test_a_schedule_that_fires_for_a_user_no_longer_bound_is_deleted(aws, world):
    with record_case(CATEGORY):
        w = world()
        user = w.enrol("rule-unbound")
        assert decisions(w.driver.function.invoke(console_login(user.username))) == ["scheduled"]
        untag(aws, user)
        [schedule] = w.schedules()
        aws.control.clear_calls()
        w.fire(schedule)
        assert "scheduler:DeleteSchedule" in aws.control.counts()
        assert w.schedules() == [] and w.started() == []


def test_a_read_of_a_replica_in_another_region_resets_the_primary_secret(aws, world):
    with record_case(CATEGORY):
        w = world()
        user = w.enrol("rule-replica")
        replica_arn = user.secret_arn.replace(":us-east-1:", ":eu-west-1:")
        result = w.driver.function.invoke(secret_read(replica_arn, role_identity(ADMIN_ROLE)))
        assert decisions(result) == ["scheduled"]
        assert result.body["Decisions"][0]["SecretId"] == user.secret_arn


def test_triggers_inside_the_minimum_interval_wait_for_its_end_and_coalesce(aws, world, rotation_token):
    with record_case(CATEGORY):
        w = world(RESET_MIN_INTERVAL_MINUTES="15")
        user = w.enrol("rule-interval")
        old = aws.value(user.secret_arn)["password"]
        for _ in range(3):
            assert decisions(w.driver.function.invoke(on_demand(userName=user.username))) == ["scheduled"]
        assert w.started() == []
        [schedule] = w.schedules()
        # Scheduler fires it at the interval's end; the harness's clock cannot wait 15
        # minutes, so it fires it now: still inside the interval, it waits again.
        assert decisions(w.fire(schedule)) == ["scheduled"]
        assert len(w.schedules()) == 1 and w.started() == []
        assert aws.iam_password(user.username) == old


def test_a_drift_of_a_self_service_secret_asks_for_re_enrolment_instead_of_a_rotation(aws, world):
    with record_case(CATEGORY):
        w = world()
        user = w.enrol("rule-self-service", self_service=True)
        aws.iam.update_login_profile(UserName=user.username, Password="Admin-Chosen-Passw0rd!")
        aws.control.clear_calls()
        result = w.driver.function.invoke(iam_call("UpdateLoginProfile", user.username, role_identity(ADMIN_ROLE)))
        assert not result.ok and result.error_type == "ReenrolmentRequired", result.body
        assert w.started() == [] and aws_writes(aws) == {}


def test_with_a_required_reset_only_the_first_own_password_change_after_a_rotation_is_exempt(aws, world):
    with record_case(CATEGORY):
        w = world(PASSWORD_RESET_REQUIRED="true")
        user = w.enrol("rule-first-change")
        identity = {"type": "IAMUser", "userName": user.username,
                    "arn": f"arn:aws:iam::123456789012:user/{user.username}"}
        first = iam_call("ChangePassword", user.username, identity)
        assert decisions(w.driver.function.invoke(first)) == ["skipped"]
        assert decisions(w.driver.function.invoke(first)) == ["skipped"], "the same record delivered again"
        second = iam_call("ChangePassword", user.username, identity)
        assert decisions(w.driver.function.invoke(second)) == ["rotation_started"]


def test_a_request_naming_several_users_records_each_decision_and_its_retry_rotates_none_twice(
        aws, world, rotation_token):
    with record_case(CATEGORY, faults=1):
        w = world()
        alice, bob = w.enrol("rule-several-a"), w.enrol("rule-several-b")
        event = security_hub(alice.username, bob.username)
        aws.control.clear_events()
        aws.control.inject_fault("RotateSecret", "500", nth=2, count=10)
        failed = w.driver.function.invoke(event)
        assert not failed.ok
        published = {e["Detail"]["user"]: e["Detail"]["decision"] for e in w.outcome_events()}
        assert published == {alice.username: "rotation_started", bob.username: "failed"}
        aws.control.clear_faults()
        retried = w.driver.function.invoke(event)  # Lambda's retry of the same event
        assert decisions(retried) == ["coalesced", "rotation_started"]
        started = {r["SecretArn"] for r in w.started()}
        assert started == {alice.secret_arn, bob.secret_arn} and len(w.started()) == 2
