"""The audit at organisation scale, end to end: the binary as the central function, the
emulated organisation (``harness.organizations``). The scheduled request fans out to one
asynchronous invocation per account; each reads its account's users a page at a time;
an account that times out costs only its own findings; and whatever a request asks, the
accounts and the drift resets come from the function's settings, and the answer holds
counts, never a user or a secret."""

from __future__ import annotations

import json
import math
import time

import pytest
from harness.audit import audit_request, run_queued
from harness.invariants import record_case
from harness.organizations import CENTRAL, MEMBERS, OUTSIDE, Organization
from harness.resets import GROUP, OUTCOME_BUS, RESET_CONFIG
from harness.runtime_api import FUNCTION_ARN

CATEGORY = "audit"
MEMBER, OTHER_MEMBER = MEMBERS


@pytest.fixture
def org(aws, leak_ledger):
    org = Organization(aws)
    aws.client("events").create_event_bus(Name=OUTCOME_BUS)
    aws.client("scheduler").create_schedule_group(Name=GROUP)
    yield org
    org.collect_secrets(leak_ledger)


@pytest.fixture
def central(org, make_lambda):
    def make(**extra):
        return make_lambda(config=org.config(**{**RESET_CONFIG, **extra}))
    return make


def drifted(org, account: str, name: str) -> str:
    """A bound user whose password changed after its secret's last rotation; its secret's ARN."""
    now = time.time()
    org.aws.control.seed_users(1, prefix=name, AccountId=account, FunctionArn=FUNCTION_ARN,
                               LastRotatedDate=now - 600, PasswordLastChanged=now - 60)
    return org.client("iam", account).list_user_tags(UserName=f"{name}-00000")["Tags"][0]["Value"]


def finding_events(org) -> list:
    return [e["Detail"] for e in org.aws.control.put_events_log() if e["DetailType"] == "IAM Password Audit Finding"]


def test_a_request_naming_every_account_with_drift_resets_runs_only_in_the_settings_accounts_and_answers_counts(
        org, central):
    """A member account's administrator may invoke the function (the member role can, for
    RotateSecret): the request names every account and asks for resets. It runs in the one
    account the settings list, starts no reset, and its answer names no user and no secret."""
    with record_case(CATEGORY, bad_inputs=1):
        secrets = {account: drifted(org, account, f"drift{account[-1]}") for account in (CENTRAL, *MEMBERS)}
        function = central(AUDIT_ACCOUNTS=OTHER_MEMBER, AUDIT_RESET_DRIFT="false")
        org.aws.control.clear_calls()
        result = function.invoke(audit_request(accounts=[CENTRAL, *MEMBERS, OUTSIDE], resetDrift=True))
        assert result.ok, result
        calls = org.aws.control.calls()
        assert {c["account"] for c in calls if c["service"] in ("iam", "secretsmanager")} == {OTHER_MEMBER}
        assert not {c["action"] for c in calls} & {"RotateSecret", "CreateSchedule", "Invoke"}
        answer = json.dumps(result.body)
        for account, secret in secrets.items():
            assert secret not in answer and f"drift{account[-1]}-00000" not in answer
        audit = result.body["Audit"]
        assert (audit["Accounts"], audit["Audited"], audit["Refused"], audit["ResetDrift"]) == (1, 1, 3, False)
        assert audit["FindingsByKind"]["password_drift"] == 1 and audit["Resets"] == {}
        assert org.aws.control.lambda_invocations() == []
        refused = [json.loads(l) for l in result.lines if "outside the function's settings" in l]
        assert refused and refused[0]["fields"]["refused"] == f"{CENTRAL},{MEMBER},{OUTSIDE}"


def test_a_forged_per_account_request_for_an_account_outside_the_organisation_is_refused_before_any_role_is_assumed(
        org, central):
    with record_case(CATEGORY, bad_inputs=1):
        function = central()
        org.aws.control.clear_calls()
        result = function.invoke(audit_request(accounts=[OUTSIDE], resetDrift=True))
        assert result.ok, result
        assert (result.body["Audit"]["Accounts"], result.body["Audit"]["Refused"]) == (0, 1)
        assert [c["action"] for c in org.aws.control.calls() if c["service"] != "events"] == ["DescribeAccount"]


def test_the_scheduled_audit_starts_one_invocation_of_the_function_itself_per_account_and_each_audits_only_its_own(
        org, central):
    with record_case(CATEGORY):
        function = central()
        org.aws.control.clear_calls()
        started = function.invoke(audit_request())
        assert started.ok, started
        assert started.body["Audit"] == {"Accounts": 3, "Started": 3, "NotStarted": 0, "Refused": 0,
                                         "ResetDrift": False, "DryRun": False}
        invokes = [c for c in org.aws.control.calls() if c["action"] == "Invoke"]
        assert len(invokes) == 3 and {c["account"] for c in invokes} == {CENTRAL}
        queued = org.aws.control.lambda_invocations()
        assert [q["Payload"]["detail"] for q in queued] == [
            {"accounts": [account], "resetDrift": False, "dryRun": False} for account in (CENTRAL, *MEMBERS)]
        for payload, result in run_queued(org.aws, function):
            assert result.ok and result.body["Audit"]["Audited"] == 1, result
            assert org.aws.control.lambda_invocations() == []  # one account: audited here, never fanned out again


@pytest.mark.parametrize("users", [150, 1200])
def test_an_accounts_calls_grow_with_pages_of_users_not_with_users(org, central, users):
    with record_case(CATEGORY):
        org.aws.control.seed_users(users, prefix="bulk", AccountId=MEMBER, FunctionArn=FUNCTION_ARN)
        function = central(AUDIT_ACCOUNTS=MEMBER)
        org.aws.control.clear_calls()
        result = function.invoke(audit_request())
        assert result.ok, result
        assert (result.body["Audit"]["ConsoleUsers"], result.body["Audit"]["Findings"]) == (users, 0)
        counts = org.aws.control.counts(account=MEMBER)
        assert counts == {
            "iam:GenerateCredentialReport": 1, "iam:GetCredentialReport": 1,
            "iam:GetAccountAuthorizationDetails": math.ceil(users / 1000),
            "secretsmanager:ListSecrets": math.ceil(users / 100),
        }, counts


def test_an_account_whose_audit_times_out_loses_no_other_accounts_findings(org, make_lambda):
    with record_case(CATEGORY):
        for account in MEMBERS:
            org.aws.control.seed_users(2, prefix=f"unbound{account[-1]}", AccountId=account, Bound=False)
        # OTHER_MEMBER's credential report exists; MEMBER's takes longer than the invocation may run.
        org.client("iam", OTHER_MEMBER).generate_credential_report()
        org.aws.control.set_credential_report_delay(600)
        config = org.config(**{**RESET_CONFIG, "AUDIT_ACCOUNTS": f"{MEMBER},{OTHER_MEMBER}"})
        function = make_lambda(config=config)
        function.timeout = 4.0
        org.aws.control.clear_events()
        assert function.invoke(audit_request()).ok
        runs = run_queued(org.aws, function)
        assert [(p["detail"]["accounts"], r.error_type) for p, r in runs] == \
            [([MEMBER], "Sandbox.Timedout"), ([OTHER_MEMBER], None)]
        assert runs[1][1].body["Audit"]["Findings"] == 2
        assert sorted((f["account"], f["user"]) for f in finding_events(org)) == \
            [(OTHER_MEMBER, f"unbound3-0000{i}") for i in range(2)]
