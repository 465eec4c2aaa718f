"""Nothing vanishes and failures reach a person: the dead-letter queue and retry policy of
every asynchronous path (EventBridge rule targets, Scheduler schedules, the function's own
asynchronous invocations), and the alarms of AlarmEmail / AlarmTopicArn, each naming its
section of docs/runbook.md."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
import test_template as base  # noqa: E402  (its helpers; no test is collected through this name)

ROOT = base.ROOT
RUNBOOK = ROOT / "docs" / "runbook.md"
EMAIL = "oncall@example.com"
TOPIC = "arn:aws:sns:us-east-1:123456789012:pager"
DLQ_ARN = {"Fn::GetAtt": ["DeadLetterQueue", "Arn"]}
RETRY = {"MaximumRetryAttempts": 20, "MaximumEventAgeInSeconds": 3600}
# Every alarm: what fires it, and when it exists beyond a topic being given.
ALARMS = {
    "RotationsFailedAlarm": "rotations-failed",
    "ResetRetriesExhaustedAlarm": "reset-retries-exhausted",
    "DeadLetterQueueAlarm": "dead-letter-queue",
    "AuditFindingsAlarm": "audit-findings",
}
EVERYTHING_ON = {**base.ALL_TRIGGERS_ON, "AuditResetDrift": "true"}


@pytest.fixture(scope="module")
def template() -> dict:
    return base.load_template()


@pytest.fixture(scope="module")
def forwarding() -> dict:
    return base.load_template(base.FORWARDING)


def runbook_anchors() -> set[str]:
    headings = re.findall(r"^## (.+)$", RUNBOOK.read_text(encoding="utf-8"), re.M)
    return {re.sub(r"[^a-z0-9 -]", "", h.lower()).replace(" ", "-") for h in headings}


def alarms_of(resources: dict) -> dict:
    return {n: r for n, r in resources.items() if r["Type"] == "AWS::CloudWatch::Alarm"}


# ---------------------------------------------------------------------------------------
# Dead-letter queues and retries


@pytest.mark.parametrize("name", ["template", "forwarding"])
def test_every_rule_target_has_a_retry_policy_and_the_dead_letter_queue(name, request):
    document = request.getfixturevalue(name)
    rules = base.resources_of_type(document, "AWS::Events::Rule")
    assert rules
    for rule_name, rule in rules.items():
        for target in rule["Properties"]["Targets"]:
            assert target["DeadLetterConfig"] == {"Arn": DLQ_ARN}, rule_name
            assert target["RetryPolicy"] == RETRY, rule_name


def test_every_schedule_target_has_a_retry_policy_and_the_dead_letter_queue(template):
    schedules = base.resources_of_type(template, "AWS::Scheduler::Schedule")
    assert schedules
    for name, schedule in schedules.items():
        assert schedule["Properties"]["Target"]["DeadLetterConfig"] == {"Arn": DLQ_ARN}, name
        assert schedule["Properties"]["Target"]["RetryPolicy"] == RETRY, name


def test_the_reset_schedules_the_function_creates_get_the_dead_letter_queue(template):
    variables = template["Resources"]["RotationFunction"]["Properties"]["Environment"]["Variables"]
    assert variables["SCHEDULE_DEAD_LETTER_ARN"] == {"Fn::If": ["AnyResetTrigger", DLQ_ARN, ""]}
    # The adapter sets the same retry policy as the rules (tests/sdk_adapters.rs).
    source = (ROOT / "src" / "adapters" / "scheduler.rs").read_text(encoding="utf-8")
    assert "RETRY_ATTEMPTS: i32 = 20" in source and "RETRY_MAX_AGE_SECONDS: i32 = 3600" in source


def test_failed_asynchronous_invocations_of_the_function_go_to_the_dead_letter_queue(template):
    function = template["Resources"]["RotationFunction"]["Properties"]
    assert function["DeadLetterQueue"] == {"Type": "SQS", "TargetArn": DLQ_ARN}
    assert function["EventInvokeConfig"] == {"MaximumRetryAttempts": 2, "MaximumEventAgeInSeconds": 21600}


@pytest.mark.parametrize("name", ["template", "forwarding"])
def test_the_dead_letter_queue_is_encrypted_and_always_there(name, request):
    document = request.getfixturevalue(name)
    queue = document["Resources"]["DeadLetterQueue"]
    assert queue["Type"] == "AWS::SQS::Queue" and "Condition" not in queue
    assert queue["Properties"]["SqsManagedSseEnabled"] is True


def test_eventbridge_may_send_to_the_queue_for_exactly_the_stacks_rules(template):
    for parameters in (EVERYTHING_ON, {**EVERYTHING_ON, "AlarmEmail": EMAIL}, {"AlarmTopicArn": TOPIC}):
        resources = base.resources_for(template, **parameters)
        rules = {n for n, r in resources.items() if r["Type"] == "AWS::Events::Rule"}
        [statement] = resources["DeadLetterQueuePolicy"]["Properties"]["PolicyDocument"]["Statement"]
        assert statement["Principal"] == {"Service": "events.amazonaws.com"}
        assert statement["Action"] == "sqs:SendMessage" and statement["Resource"] == DLQ_ARN
        sources = statement["Condition"]["ArnEquals"]["aws:SourceArn"]
        assert {s["Fn::GetAtt"][0] for s in sources} == rules
    without_rules = base.resources_for(template, **base.ALL_TRIGGERS_OFF)
    assert "DeadLetterQueuePolicy" not in without_rules


@pytest.mark.parametrize("role", ["FunctionRole", "SchedulerRole", "AuditSchedulerRole"])
def test_the_roles_that_deliver_to_the_queue_may_send_to_it_alone(template, role):
    statements = base.statements_for(template, role, **EVERYTHING_ON)
    senders = [s for s in statements.values() if "sqs:SendMessage" in base.actions_of(s)]
    assert len(senders) == 1
    assert base.actions_of(senders[0]) == {"sqs:SendMessage"} and senders[0]["Resource"] == DLQ_ARN


# ---------------------------------------------------------------------------------------
# Alarms


def test_no_topic_and_no_alarm_exist_without_alarm_email_or_topic(template):
    created = base.resources_for(template, **EVERYTHING_ON)
    assert not alarms_of(created)
    assert not {n for n, r in created.items() if r["Type"] in {"AWS::SNS::Topic", "AWS::KMS::Key", "AWS::Logs::MetricFilter"}}
    assert "SecretsManagerRotationFailedRule" not in created


def test_alarm_email_creates_an_encrypted_topic_subscribed_to_it(template):
    created = base.resources_for(template, AlarmEmail=EMAIL)
    topic = created["AlarmTopic"]["Properties"]
    assert topic["KmsMasterKeyId"] == {"Ref": "AlarmTopicKey"}
    assert topic["Subscription"] == [{"Protocol": "email", "Endpoint": {"Ref": "AlarmEmail"}}]
    key = created["AlarmTopicKey"]["Properties"]
    assert key["EnableKeyRotation"] is True
    publishers = [s for s in key["KeyPolicy"]["Statement"] if s["Sid"] == "AlarmsAndRulesOfThisAccountPublish"]
    assert publishers[0]["Principal"] == {"Service": ["cloudwatch.amazonaws.com", "events.amazonaws.com"]}
    assert publishers[0]["Condition"] == {"StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}}


@pytest.mark.parametrize(
    "parameters, destination",
    [({"AlarmEmail": EMAIL}, {"Ref": "AlarmTopic"}), ({"AlarmTopicArn": TOPIC}, {"Ref": "AlarmTopicArn"})],
)
def test_every_alarm_exists_with_a_topic_and_goes_to_it(template, parameters, destination):
    created = base.resources_for(template, **EVERYTHING_ON, **parameters)
    assert set(alarms_of(created)) == set(ALARMS)
    for name, alarm in alarms_of(created).items():
        assert alarm["Properties"]["AlarmActions"] == [destination], name
        assert alarm["Properties"]["TreatMissingData"] == "notBreaching", name
    [target] = created["SecretsManagerRotationFailedRule"]["Properties"]["Targets"]
    assert target["Arn"] == destination
    assert ("AlarmTopic" in created) == ("AlarmEmail" in parameters)


def test_alarm_email_and_alarm_topic_arn_together_are_refused(template):
    assert base.rules_refusing(template, {"AlarmEmail": EMAIL, "AlarmTopicArn": TOPIC}) == {"AlarmEmailOrAlarmTopicArn"}
    assert not base.rules_refusing(template, {"AlarmEmail": EMAIL})


def test_the_reset_and_audit_alarms_exist_only_with_resets_and_an_audit(template):
    quiet = base.resources_for(template, **base.ALL_TRIGGERS_OFF, AuditSchedule="", AlarmEmail=EMAIL)
    assert set(alarms_of(quiet)) == {"RotationsFailedAlarm", "DeadLetterQueueAlarm"}


@pytest.mark.parametrize("alarm, anchor", sorted(ALARMS.items()))
def test_each_alarm_names_its_runbook_section(template, alarm, anchor):
    description = base.flatten(template["Resources"][alarm]["Properties"]["AlarmDescription"])
    assert f"docs/runbook.md#{anchor}" in description
    assert anchor in runbook_anchors()


def test_secrets_managers_rotation_failures_reach_the_topic_naming_the_runbook(template):
    rule = template["Resources"]["SecretsManagerRotationFailedRule"]["Properties"]
    assert rule["EventPattern"] == {
        "source": ["aws.secretsmanager"],
        "detail-type": ["AWS Service Event via CloudTrail"],
        "detail": {"eventSource": ["secretsmanager.amazonaws.com"], "eventName": ["RotationFailed"]},
    }
    [target] = rule["Targets"]
    transformer = target["InputTransformer"]
    assert transformer["InputPathsMap"]["secret"] == "$.detail.additionalEventData.SecretId"
    assert "docs/runbook.md#secrets-manager-rotation-failed" in base.flatten(transformer["InputTemplate"])
    assert "secrets-manager-rotation-failed" in runbook_anchors()


def test_the_rotation_alarm_sums_the_functions_own_metric_over_every_step(template):
    metrics = template["Resources"]["RotationsFailedAlarm"]["Properties"]["Metrics"]
    namespace = re.search(r'NAMESPACE: &str = "([^"]+)"', (ROOT / "src" / "outcome" / "metrics.rs").read_text()).group(1)
    stats = [m["MetricStat"] for m in metrics if "MetricStat" in m]
    assert {s["Metric"]["Namespace"] for s in stats} == {namespace}
    assert {s["Metric"]["MetricName"] for s in stats} == {"RotationsFailed"}
    steps = {s["Metric"]["Dimensions"][0]["Value"] for s in stats}
    assert steps == {"createSecret", "setSecret", "testSecret", "finishSecret"}
    [expression] = [m for m in metrics if "Expression" in m]
    assert expression["Expression"] == f"SUM([{', '.join(sorted(steps, key=[m['Id'] for m in metrics].index))}])"


def metric_filter_field(pattern: str) -> tuple[list[str], str]:
    """`{ $.a.b = "value" }` as (["a", "b"], "value")."""
    match = re.fullmatch(r'\{ \$\.([A-Za-z_.]+) = "([^"]+)" \}', pattern)
    assert match, pattern
    return match.group(1).split("."), match.group(2)


@pytest.mark.parametrize("name, field, value", [
    ("ResetRetriesExhaustedMetricFilter", ["fields", "error_type"], "ResetRetriesExhausted"),
    ("AuditFindingsMetricFilter", ["fields", "message"], "audit finding"),
])
def test_the_metric_filters_match_the_functions_json_log_lines(template, name, field, value):
    metric_filter = template["Resources"][name]["Properties"]
    assert metric_filter["LogGroupName"] == {"Ref": "FunctionLogGroup"}
    assert metric_filter_field(metric_filter["FilterPattern"]) == (field, value)
    # tracing's JSON lines put an event's fields under "fields" (tests/suite reads them so);
    # the function logs these names and values.
    source = "\n".join(p.read_text(encoding="utf-8") for p in (ROOT / "src").rglob("*.rs"))
    if field[-1] == "message":
        assert re.search(rf'tracing::\w+!\([^;]*"{value}"\)', source), value
    else:
        assert f'=> "{value}"' in source and "error_type = error.error_type()" in source
