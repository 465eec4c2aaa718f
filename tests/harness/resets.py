"""Event-triggered resets, played end to end: the events AWS would deliver, the function's
settings for them, enrolment of a secret with this function as its rotation function, and
Secrets Manager's and Scheduler's side (running the rotations RotateSecret started, firing
the schedules the function created)."""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta, timezone
from typing import Optional

from .aws import Aws, BoundUser
from .driver import RotationRecord, SecretsManagerDriver
from .runtime_api import FUNCTION_ARN

OWN_ROLE = "arn:aws:iam::123456789012:role/iam-password-rotation-role"
SCHEDULER_ROLE = "arn:aws:iam::123456789012:role/iam-password-rotation-scheduler"
GROUP = "iam-password-rotation-resets"
OUTCOME_BUS = "password-rotation-outcomes"
ADMIN_ROLE = "arn:aws:iam::123456789012:role/admin"

# What the template gives the function (docs/resets.md, "Settings").
RESET_CONFIG = {
    "FUNCTION_ROLE_ARN": OWN_ROLE,
    "SCHEDULE_GROUP": GROUP,
    "SCHEDULER_ROLE_ARN": SCHEDULER_ROLE,
    "OUTCOME_EVENT_BUS": OUTCOME_BUS,
    "RESET_DELAY_MINUTES": "30",
    # Most cases rotate right after enrolment; the interval has its own cases.
    "RESET_MIN_INTERVAL_MINUTES": "0",
}


def iso(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def ago(seconds: float = 0) -> str:
    return iso(datetime.now(timezone.utc) - timedelta(seconds=seconds))


def envelope(source: str, detail_type: str, detail: dict) -> dict:
    return {"version": "0", "id": str(uuid.uuid4()), "detail-type": detail_type, "source": source,
            "account": "123456789012", "time": ago(0), "region": "us-east-1", "resources": [], "detail": detail}


def on_demand(**detail) -> dict:
    return envelope("iam-password-rotation", "IAM Password Reset Requested", detail)


def finding(user: str, account: str = "123456789012", details_user: Optional[str] = None,
            finding_account: Optional[str] = None) -> dict:
    """An ASFF finding on one IAM user: ``Id`` is the user's ARN; ``AwsAccountId`` and
    ``Details.AwsIamUser.UserName`` say the same unless told otherwise."""
    return {"Id": f"finding-{account}-{user}", "AwsAccountId": finding_account or account,
            "Resources": [{"Type": "AwsIamUser", "Id": f"arn:aws:iam::{account}:user/{user}", "Partition": "aws",
                           "Details": {"AwsIamUser": {"UserName": details_user or user, "Path": "/"}}}]}


def security_hub(*users: str, findings: Optional[list] = None) -> dict:
    """A custom action on findings, sent by the Security Hub administrator account (the
    function's own here), on ``users`` of that account or on the given ``findings``."""
    return envelope("aws.securityhub", "Security Hub Findings - Custom Action",
                    {"actionName": "Reset console pwd",
                     "findings": (findings or []) + [finding(user) for user in users]})


def console_login(user: str, success: bool = True, when: Optional[str] = None) -> dict:
    return envelope("aws.signin", "AWS Console Sign In via CloudTrail", {
        "eventVersion": "1.08", "eventTime": when or ago(), "eventSource": "signin.amazonaws.com",
        "eventName": "ConsoleLogin", "eventType": "AwsConsoleSignIn", "eventID": str(uuid.uuid4()),
        "userIdentity": {"type": "IAMUser", "userName": user, "accountId": "123456789012",
                         "arn": f"arn:aws:iam::123456789012:user/{user}"},
        "requestParameters": None, "responseElements": {"ConsoleLogin": "Success" if success else "Failure"},
        "additionalEventData": {"MFAUsed": "No"}})


def role_identity(role_arn: str, session: str = "session") -> dict:
    name = role_arn.rsplit("/", 1)[-1]
    return {"type": "AssumedRole", "arn": f"arn:aws:sts::123456789012:assumed-role/{name}/{session}",
            "sessionContext": {"sessionIssuer": {"type": "Role", "arn": role_arn}}}


def iam_call(event_name: str, user: str, actor: dict, when: Optional[str] = None, **extra) -> dict:
    detail = {"eventVersion": "1.08", "eventTime": when or ago(), "eventSource": "iam.amazonaws.com",
              "eventName": event_name, "eventID": str(uuid.uuid4()), "userIdentity": actor,
              "requestParameters": None if event_name == "ChangePassword" else {"userName": user},
              "responseElements": None, **extra}
    return envelope("aws.iam", "AWS API Call via CloudTrail", detail)


def secret_read(secret_id: str, actor: dict, when: Optional[str] = None) -> dict:
    return envelope("aws.secretsmanager", "AWS API Call via CloudTrail", {
        "eventVersion": "1.08", "eventTime": when or ago(), "eventSource": "secretsmanager.amazonaws.com",
        "eventName": "GetSecretValue", "eventID": str(uuid.uuid4()), "userIdentity": actor,
        "requestParameters": {"secretId": secret_id}, "responseElements": None})


class ResetWorld:
    """The AWS side of resets: a schedule group and an outcome bus, secrets enrolled with
    this function, and the rotations and schedules to run."""

    def __init__(self, aws: Aws, driver: SecretsManagerDriver) -> None:
        self.aws = aws
        self.driver = driver
        self._ran: set = set()
        scheduler = aws.client("scheduler")
        try:
            scheduler.create_schedule_group(Name=GROUP)
        except scheduler.exceptions.ConflictException:
            pass
        events = aws.client("events")
        try:
            events.create_event_bus(Name=OUTCOME_BUS)
        except events.exceptions.ResourceAlreadyExistsException:
            pass

    def enrol(self, username: str, **kwargs) -> BoundUser:
        """A bound user whose secret rotates with this function, after its first rotation."""
        user = self.aws.bound_user(username, **kwargs)
        self.aws.sm.rotate_secret(SecretId=user.secret_arn, RotationLambdaARN=FUNCTION_ARN,
                                  RotationRules={"AutomaticallyAfterDays": 30})
        records = self.run_started()
        assert records and records[-1].succeeded, records and records[-1].last_error
        return user

    def run_started(self, rotation_token: Optional[str] = None) -> list:
        """Run, as Secrets Manager would, every rotation RotateSecret started and not yet run."""
        records = []
        for rotation in self.aws.control.rotations():
            key = (rotation["SecretArn"], rotation["ClientRequestToken"])
            if key in self._ran:
                continue
            self._ran.add(key)
            records.append(self.driver.run_steps(rotation["SecretArn"], rotation["ClientRequestToken"], rotation_token))
        return records

    def started(self) -> list:
        return [r for r in self.aws.control.rotations() if (r["SecretArn"], r["ClientRequestToken"]) not in self._ran]

    def schedules(self) -> list:
        return [s for s in self.aws.control.schedules() if s["GroupName"] == GROUP]

    def fire(self, schedule: dict):
        """Fire a schedule as Scheduler would: its Input, to the function."""
        fired = self.aws.control.fire_schedule(schedule["Name"], GROUP)
        assert fired["Target"]["Arn"] == FUNCTION_ARN, fired["Target"]
        return self.driver.function.invoke(json.loads(fired["Input"]))

    def outcome_events(self) -> list:
        return [e for e in self.aws.control.put_events_log() if e["EventBusName"] == OUTCOME_BUS]


def decisions(result) -> list:
    assert result.ok, (result.error_type, result.error_message)
    return [d["Decision"] for d in result.body["Decisions"]]


__all__ = ["RESET_CONFIG", "ResetWorld", "RotationRecord", "on_demand", "security_hub", "finding", "console_login",
           "iam_call", "secret_read", "role_identity", "decisions", "ago", "iso", "OWN_ROLE", "ADMIN_ROLE"]
