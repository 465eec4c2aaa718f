"""Organisation scale, end to end: the release binary runs in the security account as the
central role's session and rotates, resets and audits users of member accounts through
the member role, on an emulated organisation (see ``harness.organizations``). Each guard
of the trust model is shown refusing: an account outside the organisation, a member role
that does not trust the central role (or a wrong external id), a user without the binding
tag, an event from one member account naming another."""

from __future__ import annotations

import json
import time

import pytest
from harness import SecretsManagerDriver
from harness.aws import INITIAL_PASSWORD
from harness.invariants import record_case
from harness.organizations import CENTRAL, MEMBER_ROLE, MEMBERS, OUTSIDE, Organization, make_client, role_arn
from harness.audit import run_queued
from harness.resets import GROUP, OUTCOME_BUS, RESET_CONFIG, console_login, finding, on_demand, security_hub
from harness.runtime_api import FUNCTION_ARN

CATEGORY = "organisations"
MEMBER, OTHER_MEMBER = MEMBERS
AUDIT = {"source": "iam-password-rotation", "detail-type": "IAM Password Audit Requested", "detail": {}}


LEDGER = None


@pytest.fixture
def org(aws, leak_ledger):
    global LEDGER
    LEDGER = leak_ledger
    org = Organization(aws)
    aws.client("events").create_event_bus(Name=OUTCOME_BUS)
    aws.client("scheduler").create_schedule_group(Name=GROUP)
    yield org
    org.collect_secrets(leak_ledger)


@pytest.fixture
def central(org, make_lambda):
    """The central function: the central role's session, the member role set, resets and outcome events on."""
    def make(**extra):
        return SecretsManagerDriver(org.aws, make_lambda(config=org.config(**{**RESET_CONFIG, **extra})))
    return make


def rotate(org, driver, user, account):
    record, rotation = org.rotate(driver, user, account)
    if rotation["RotationToken"]:
        LEDGER.rotation_tokens.add(rotation["RotationToken"])
    return record, rotation


def first_step_of_a_started_rotation(org, driver, user, account):
    """RotateSecret in ``account`` naming the central function, then its createSecret alone
    (the emulator's call log cleared in between)."""
    org.client("secretsmanager", account).rotate_secret(SecretId=user.secret_arn, RotationLambdaARN=FUNCTION_ARN)
    rotation = org.aws.control.rotations()[-1]
    LEDGER.rotation_tokens.add(rotation["RotationToken"])
    org.aws.control.clear_calls()
    return driver.invoke_step("createSecret", user.secret_arn, rotation["ClientRequestToken"],
                              rotation["RotationToken"])


def untouched(org, account, user):
    return (org.password(account, user.username), json.dumps(org.value(account, user.secret_arn), sort_keys=True))


def test_a_secret_in_a_member_account_rotates_end_to_end_through_the_member_role_with_the_rotation_token(
        org, central):
    with record_case(CATEGORY):
        driver = central()
        user = org.bound_user(MEMBER, "alice")
        org.aws.control.clear_calls()
        record, rotation = rotate(org, driver, user, MEMBER)
        assert rotation["RotationToken"], "Secrets Manager passes a RotationToken to a function in another account"
        assert record.succeeded, record.last_error
        calls = org.aws.control.calls()
        current = org.value(MEMBER, user.secret_arn)
        assert org.password(MEMBER, "alice") == current["password"] != INITIAL_PASSWORD
        # Every rotation call ran in the member account; the central account only assumed the role, once.
        rotation_calls = [c for c in calls if c["action"] not in ("AssumeRole", "RotateSecret", "PutEvents")]
        assert rotation_calls and {c["account"] for c in rotation_calls} == {MEMBER}
        assert org.aws.control.assume_role_counts() == {MEMBER: 1}
        assume = next(c for c in calls if c["action"] == "AssumeRole")
        assert assume["RoleArn"] == role_arn(MEMBER, MEMBER_ROLE)
        assert assume["RoleSessionName"] == "iam-password-rotation" and assume["HasExternalId"]
        assert len(rotation_calls) == 14


def test_a_wrong_or_missing_rotation_token_is_refused_by_secrets_manager_and_nothing_changes(org, central):
    with record_case(CATEGORY, bad_inputs=2):
        driver = central()
        user = org.bound_user(MEMBER, "alice")
        before = untouched(org, MEMBER, user)
        org.client("secretsmanager", MEMBER).rotate_secret(SecretId=user.secret_arn, RotationLambdaARN=FUNCTION_ARN)
        rotation = org.aws.control.rotations()[-1]
        LEDGER.rotation_tokens.add(rotation["RotationToken"])
        for token in (None, "rt-not-the-one-secrets-manager-issued"):
            result = driver.invoke_step("createSecret", user.secret_arn, rotation["ClientRequestToken"], token)
            assert not result.ok and result.error_type == "AwsApiError", result
            assert "AccessDenied" in result.error_message
        assert untouched(org, MEMBER, user) == before


def test_secrets_of_the_functions_own_account_rotate_as_before_with_cross_account_on(org, central):
    with record_case(CATEGORY):
        driver = central()
        user = org.aws.bound_user("home-user")
        org.aws.control.clear_calls()
        record = driver.rotate(user.secret_arn)
        assert record.succeeded, record.last_error
        assert org.aws.iam_password("home-user") == org.aws.value(user.secret_arn)["password"]
        assert org.aws.control.assume_role_counts() == {}


def test_the_role_is_assumed_once_per_account_for_every_rotation_there_in_one_process(org, central):
    with record_case(CATEGORY):
        driver = central()
        users = [(MEMBER, org.bound_user(MEMBER, f"m1-{i}")) for i in range(3)]
        users += [(OTHER_MEMBER, org.bound_user(OTHER_MEMBER, f"m2-{i}")) for i in range(2)]
        org.aws.control.clear_calls()
        for account, user in users:
            record, _ = rotate(org, driver, user, account)
            assert record.succeeded, record.last_error
        assert org.aws.control.assume_role_counts() == {MEMBER: 1, OTHER_MEMBER: 1}
        assert driver.function.processes_started == 1


@pytest.mark.parametrize("where", ["account-outside-the-organisation", "role-not-trusting-the-central-role",
                                   "wrong-external-id"])
def test_the_trust_model_refuses_before_anything_is_read_or_written(org, central, where):
    with record_case(CATEGORY, bad_inputs=1):
        account, extra = OUTSIDE, {}
        if where == "role-not-trusting-the-central-role":
            account = OTHER_MEMBER
            make_client(org._emulator, "iam", account=account).update_assume_role_policy(
                RoleName=MEMBER_ROLE, PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [
                    {"Effect": "Allow", "Principal": {"AWS": role_arn(CENTRAL, "someone-else")},
                     "Action": "sts:AssumeRole"}]}))
        if where == "wrong-external-id":
            account, extra = OTHER_MEMBER, {"MEMBER_EXTERNAL_ID": "not-the-external-id"}
        driver = central(**extra)
        user = org.bound_user(account, "mallory")
        before = untouched(org, account, user)
        result = first_step_of_a_started_rotation(org, driver, user, account)
        assert not result.ok and result.error_type == "MemberRoleRefused", result
        assert account in result.error_message and "AccessDenied" in result.error_message
        assert [c["action"] for c in org.aws.control.calls() if c["service"] != "events"] == ["AssumeRole"]
        assert untouched(org, account, user) == before


def test_a_member_user_without_the_binding_tag_is_refused_and_keeps_its_password(org, central):
    with record_case(CATEGORY, bad_inputs=1):
        driver = central()
        user = org.bound_user(MEMBER, "untagged", bind=False)
        record, _ = rotate(org, driver, user, MEMBER)
        assert not record.succeeded and record.last_error.error_type == "BindingTagMissing"
        assert org.password(MEMBER, "untagged") == INITIAL_PASSWORD


def test_with_cross_account_off_a_member_secret_is_refused_by_name_and_nothing_is_called(org, make_lambda):
    with record_case(CATEGORY, bad_inputs=1):
        config = {k: v for k, v in org.config().items() if not k.startswith("MEMBER_")}
        driver = SecretsManagerDriver(org.aws, make_lambda(config=config))
        user = org.bound_user(MEMBER, "alice")
        result = first_step_of_a_started_rotation(org, driver, user, MEMBER)
        assert not result.ok and result.error_type == "CrossAccountOff", result
        assert MEMBER in result.error_message and "MEMBER_ROLE_NAME" in result.error_message
        assert org.aws.control.calls() == []


def member_sign_in(account: str, user: str) -> dict:
    event = console_login(user)
    event["account"] = account
    event["detail"]["userIdentity"]["accountId"] = account
    event["detail"]["userIdentity"]["arn"] = f"arn:aws:iam::{account}:user/{user}"
    return event


def enrol(org, driver, account, username):
    user = org.bound_user(account, username)
    record, _ = rotate(org, driver, user, account)
    assert record.succeeded, record.last_error
    return user


def test_an_event_from_a_member_accounts_bus_resets_there_and_the_schedule_stays_central(org, central):
    with record_case(CATEGORY):
        driver = central()
        user = enrol(org, driver, MEMBER, "breakglass")
        org.aws.control.clear_calls()
        result = driver.function.invoke(member_sign_in(MEMBER, "breakglass"))
        assert result.ok, result
        assert [d["Decision"] for d in result.body["Decisions"]] == ["scheduled"]
        by_account = {c["action"]: c["account"] for c in org.aws.control.calls()}
        assert by_account["GetUser"] == MEMBER and by_account["CreateSchedule"] == CENTRAL
        schedule = org.aws.control.schedules()[-1]
        fired = driver.function.invoke(json.loads(
            org.aws.control.fire_schedule(schedule["Name"], schedule["GroupName"])["Input"]))
        assert fired.ok and fired.body["Decisions"][0]["Decision"] == "rotation_started", fired
        record, _ = rotate_started(org, driver)
        assert record.succeeded, record.last_error
        assert org.password(MEMBER, "breakglass") == org.value(MEMBER, user.secret_arn)["password"]


def rotate_started(org, driver):
    rotation = org.aws.control.rotations()[-1]
    LEDGER.rotation_tokens.add(rotation["RotationToken"])
    return driver.run_steps(rotation["SecretArn"], rotation["ClientRequestToken"], rotation["RotationToken"]), rotation


def test_an_event_from_one_member_account_cannot_reset_a_user_of_another(org, central):
    with record_case(CATEGORY, bad_inputs=2):
        driver = central()
        user = enrol(org, driver, MEMBER, "victim")
        before = untouched(org, MEMBER, user)
        forged = on_demand(secretId=user.secret_arn)
        forged["account"] = OTHER_MEMBER
        by_name = on_demand(userName="victim", account=MEMBER)
        by_name["account"] = OTHER_MEMBER
        org.aws.control.clear_calls()
        for event in (forged, by_name):
            result = driver.function.invoke(event)
            assert not result.ok and result.error_type == "AccountMismatch", result
        assert org.aws.control.calls() == []
        assert untouched(org, MEMBER, user) == before


def test_a_direct_invocation_names_any_account_the_function_serves_so_only_the_invoke_permission_limits_it(
        org, central):
    # What a principal allowed lambda:InvokeFunction can do (a member role with member resets
    # on, when its account's administrator can assume it): the payload, its `account`
    # included, is the caller's, and the function cannot tell who invoked it. A forged
    # sign-in "from" MEMBER, sent by anyone, schedules a reset of MEMBER's user.
    with record_case(CATEGORY):
        driver = central()
        enrol(org, driver, MEMBER, "victim")
        result = driver.function.invoke(member_sign_in(MEMBER, "victim"))
        assert result.ok and [d["Decision"] for d in result.body["Decisions"]] == ["scheduled"], result
        # No response carries a password: the worst is a rotation, a console taken away.
        assert "password" not in json.dumps(result.body).lower()


def test_an_on_demand_reset_from_the_security_account_names_the_member_account(org, central):
    with record_case(CATEGORY):
        driver = central()
        user = enrol(org, driver, MEMBER, "carol")
        result = driver.function.invoke(on_demand(userName="carol", account=MEMBER))
        assert result.ok and result.body["Decisions"][0]["Decision"] == "rotation_started", result
        record, _ = rotate_started(org, driver)
        assert record.succeeded, record.last_error
        assert org.password(MEMBER, "carol") == org.value(MEMBER, user.secret_arn)["password"]


# -- Security Hub custom actions: the finding's resource ARN names account and user ----------------------

def started_rotations_since(org, before: int) -> list:
    return org.aws.control.rotations()[before:]


def test_a_security_hub_finding_on_a_member_user_resets_that_user_and_leaves_the_same_named_home_user_alone(
        org, central):
    with record_case(CATEGORY):
        driver = central()
        member_user = enrol(org, driver, MEMBER, "breakglass")
        home_user = enrol(org, driver, CENTRAL, "breakglass")
        home_before = untouched(org, CENTRAL, home_user)
        before = len(org.aws.control.rotations())
        # The custom action's event comes from the Security Hub administrator: the central account.
        result = driver.function.invoke(security_hub(findings=[finding("breakglass", account=MEMBER)]))
        assert result.ok, result
        assert [(d["User"], d["Decision"]) for d in result.body["Decisions"]] == [("breakglass", "rotation_started")]
        started = started_rotations_since(org, before)
        assert [r["SecretArn"] for r in started] == [member_user.secret_arn]
        record, _ = rotate_started(org, driver)
        assert record.succeeded, record.last_error
        assert org.password(MEMBER, "breakglass") == org.value(MEMBER, member_user.secret_arn)["password"]
        assert org.password(MEMBER, "breakglass") != INITIAL_PASSWORD
        assert untouched(org, CENTRAL, home_user) == home_before


def test_one_security_hub_action_decides_each_finding_in_its_own_account(org, central):
    with record_case(CATEGORY):
        driver = central()
        users = {account: enrol(org, driver, account, "oncall") for account in (MEMBER, OTHER_MEMBER, CENTRAL)}
        before = len(org.aws.control.rotations())
        org.aws.control.clear_calls()
        result = driver.function.invoke(security_hub(findings=[
            finding("oncall", account=MEMBER), finding("oncall", account=OTHER_MEMBER),
            finding("oncall", account=CENTRAL)]))
        assert result.ok, result
        assert [d["Decision"] for d in result.body["Decisions"]] == ["rotation_started"] * 3
        assert sorted(r["SecretArn"] for r in started_rotations_since(org, before)) == sorted(
            u.secret_arn for u in users.values())
        rotate_calls = {c["account"] for c in org.aws.control.calls() if c["action"] == "RotateSecret"}
        assert rotate_calls == {MEMBER, OTHER_MEMBER, CENTRAL}


def test_with_cross_account_off_a_security_hub_finding_on_a_member_user_is_refused_and_nothing_is_called(
        org, make_lambda):
    with record_case(CATEGORY, bad_inputs=1):
        config = {k: v for k, v in org.config(**RESET_CONFIG).items() if not k.startswith("MEMBER_")}
        driver = SecretsManagerDriver(org.aws, make_lambda(config=config))
        member_user = org.bound_user(MEMBER, "breakglass")
        home_user = org.bound_user(CENTRAL, "breakglass")
        before = (untouched(org, MEMBER, member_user), untouched(org, CENTRAL, home_user))
        org.aws.control.clear_calls()
        result = driver.function.invoke(security_hub(findings=[finding("breakglass", account=MEMBER)]))
        assert not result.ok and result.error_type == "CrossAccountOff", result
        assert MEMBER in result.error_message and "MEMBER_ROLE_NAME" in result.error_message
        assert [c["action"] for c in org.aws.control.calls() if c["service"] != "events"] == []
        assert (untouched(org, MEMBER, member_user), untouched(org, CENTRAL, home_user)) == before


# -- the audit ------------------------------------------------------------------------

EXPECTED_FINDINGS = {
    ("password_drift", "bob"), ("secret_missing", "carol"), ("rotation_disabled", "dave"),
    ("rotated_by_another_function", "erin"), ("rotation_failing", "frank"), ("rotation_overdue", "grace"),
    ("console_user_not_enrolled", "heidi"),
}


def seed_audit(org, driver) -> dict:
    """One member account with one user per kind of finding, and a healthy one in each member."""
    now = time.time()
    users = {"alice": enrol(org, driver, MEMBER, "alice"), "judy": enrol(org, driver, OTHER_MEMBER, "judy")}
    iam, sm = org.client("iam", MEMBER), org.client("secretsmanager", MEMBER)
    # bob: his password changed after the last rotation, and no event said so.
    users["bob"] = enrol(org, driver, MEMBER, "bob")
    org.aws.control.set_secret_dates(users["bob"].secret_arn, LastRotatedDate=now - 600, AccountId=MEMBER)
    iam.update_login_profile(UserName="bob", Password="Changed-by-hand-1!")
    # carol: her tag names a secret that does not exist.
    users["carol"] = org.bound_user(MEMBER, "carol", bind=False)
    iam.tag_user(UserName="carol", Tags=[{"Key": "password-rotation:secret-arn",
                                         "Value": users["carol"].secret_arn.replace("console/carol", "gone/carol")}])
    # dave: his secret never rotates.
    users["dave"] = org.bound_user(MEMBER, "dave")
    # erin: her secret is rotated by another function.
    users["erin"] = org.bound_user(MEMBER, "erin")
    other = f"arn:aws:lambda:us-east-1:{MEMBER}:function:someone-elses-rotation"
    sm.rotate_secret(SecretId=users["erin"].secret_arn, RotationLambdaARN=other)
    pending = org.aws.control.rotations()[-1]["ClientRequestToken"]
    sm.update_secret_version_stage(SecretId=users["erin"].secret_arn, VersionStage="AWSPENDING",
                                   RemoveFromVersionId=pending)
    # frank: a rotation started two hours ago and never finished.
    users["frank"] = org.bound_user(MEMBER, "frank")
    sm.rotate_secret(SecretId=users["frank"].secret_arn, RotationLambdaARN=FUNCTION_ARN)
    stuck = org.aws.control.rotations()[-1]
    LEDGER.rotation_tokens.add(stuck["RotationToken"])
    org.aws.control.set_version_created(users["frank"].secret_arn, stuck["ClientRequestToken"], now - 7200,
                                        AccountId=MEMBER)
    # grace: last rotated 40 days ago on a 30-day schedule.
    users["grace"] = enrol(org, driver, MEMBER, "grace")
    org.aws.control.set_secret_dates(users["grace"].secret_arn, LastRotatedDate=now - 40 * 86400, AccountId=MEMBER)
    org.aws.control.set_password_last_changed("grace", now - 40 * 86400 - 60, AccountId=MEMBER)
    # heidi: a console user nobody enrolled; ivan: no console password at all.
    iam.create_user(UserName="heidi")
    iam.create_login_profile(UserName="heidi", Password=INITIAL_PASSWORD)
    iam.create_user(UserName="ivan")
    return users


def audit_all(org, driver, detail=None):
    """The scheduled audit request, then each account's invocation it queued, run as Lambda's
    asynchronous queue runs them. Returns (the request's result, [(payload, result)])."""
    started = driver.function.invoke({**AUDIT, "detail": detail or {}})
    assert started.ok, started
    return started, run_queued(org.aws, driver.function)


def findings_logged(results) -> set:
    lines = [json.loads(line) for result in results for line in result.lines
             if line.startswith("{") and "_aws" not in line]
    return {(l["fields"]["finding"], l["fields"]["user"]) for l in lines
            if l.get("fields", {}).get("message") == "audit finding"}


def test_the_audit_finds_every_kind_of_drift_in_every_account_of_the_organisation(org, central):
    with record_case(CATEGORY):
        driver = central()
        seed_audit(org, driver)
        org.aws.control.clear_calls()
        org.aws.control.clear_events()
        started, runs = audit_all(org, driver)
        assert started.body["Audit"]["Accounts"] == started.body["Audit"]["Started"] == 3
        # One asynchronous invocation of the function itself per account, each naming that account alone.
        assert [p["detail"]["accounts"] for p, _ in runs] == [[CENTRAL], [MEMBER], [OTHER_MEMBER]]
        assert all(result.ok for _, result in runs), runs
        per_account = {p["detail"]["accounts"][0]: (r.body["Audit"]["ConsoleUsers"], r.body["Audit"]["Enrolled"],
                                                    r.body["Audit"]["Findings"]) for p, r in runs}
        assert per_account == {CENTRAL: (0, 0, 0), MEMBER: (8, 7, 7), OTHER_MEMBER: (1, 1, 0)}
        # A log line and an outcome event per finding, a summary per account.
        assert findings_logged([r for _, r in runs]) == EXPECTED_FINDINGS
        events = org.aws.control.put_events_log()
        assert {(e["Detail"]["decision"], e["Detail"].get("user")) for e in events
                if e["DetailType"] == "IAM Password Audit Finding"} == EXPECTED_FINDINGS
        assert all(e["Detail"]["account"] == MEMBER for e in events if e["DetailType"] == "IAM Password Audit Finding")
        summaries = [e["Detail"] for e in events if e["DetailType"] == "IAM Password Audit Summary"]
        assert sorted(s["account"] for s in summaries) == sorted([CENTRAL, MEMBER, OTHER_MEMBER])
        # The audit reads no secret value, no user one by one, and writes nothing.
        actions = [c["action"] for c in org.aws.control.calls()]
        assert "GetSecretValue" not in actions and "GetUser" not in actions
        assert actions.count("GetAccountAuthorizationDetails") == 3
        assert not set(actions) & {"PutSecretValue", "UpdateLoginProfile", "RotateSecret", "UpdateSecretVersionStage"}


def test_the_audit_starts_a_reset_for_each_drifted_user_or_only_reports_it_in_a_dry_run(org, central):
    with record_case(CATEGORY):
        driver = central(AUDIT_RESET_DRIFT="true")
        users = seed_audit(org, driver)
        org.aws.control.clear_calls()
        _, dry = audit_all(org, driver, {"dryRun": True})
        resets = {p["detail"]["accounts"][0]: r.body["Audit"]["Resets"] for p, r in dry}
        assert resets == {CENTRAL: {}, MEMBER: {"dry_run:rotation_started": 1}, OTHER_MEMBER: {}}
        assert "RotateSecret" not in {c["action"] for c in org.aws.control.calls()}
        _, real = audit_all(org, driver)
        assert {p["detail"]["accounts"][0]: r.body["Audit"]["Resets"] for p, r in real}[MEMBER] == \
            {"rotation_started": 1}
        record, rotation = rotate_started(org, driver)
        assert rotation["SecretArn"] == users["bob"].secret_arn
        assert record.succeeded, record.last_error
        assert org.password(MEMBER, "bob") == org.value(MEMBER, users["bob"].secret_arn)["password"]


def test_an_account_the_audit_cannot_reach_is_a_finding_and_the_others_are_still_audited(org, central):
    with record_case(CATEGORY):
        driver = central(AUDIT_ACCOUNTS=f"{OUTSIDE},{OTHER_MEMBER}")
        enrol(org, driver, OTHER_MEMBER, "judy")
        org.aws.control.clear_events()
        _, runs = audit_all(org, driver)
        assert [(p["detail"]["accounts"], r.body["Audit"]["Audited"]) for p, r in runs] == \
            [([OUTSIDE], 0), ([OTHER_MEMBER], 1)]
        found = [e["Detail"] for e in org.aws.control.put_events_log() if e["DetailType"] == "IAM Password Audit Finding"]
        assert [(f["decision"], f["account"]) for f in found] == [("account_unreachable", OUTSIDE)]
        assert "MemberRoleRefused" in found[0]["detail"]
