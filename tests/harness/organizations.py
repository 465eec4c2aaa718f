"""An AWS Organization on the emulator, as the central function meets it: the security
account (123456789012, the organisation's management account) runs the function as the
central role; member accounts hold users, secrets and the member role that trusts the
central role with the external id; one account outside the organisation has the same
member role but the central role's policy may not assume it (``aws:ResourceOrgID``)."""

from __future__ import annotations

import json
from types import SimpleNamespace
from typing import Optional

from emulator_testlib import (CENTRAL, EXTERNAL_ID, MEMBER_ROLE, MEMBERS, ORG_ID, OUTSIDE,  # noqa: F401
                              make_client, role_arn, seed_central_and_members)

from .aws import BINDING_TAG, INITIAL_PASSWORD, Aws, BoundUser
from .driver import RotationRecord, SecretsManagerDriver
from .runtime_api import FUNCTION_ARN


class Organization:
    """The organisation, seeded; clients per account; rotations as Secrets Manager runs them."""

    def __init__(self, aws: Aws) -> None:
        self.aws = aws
        self._emulator = SimpleNamespace(url=aws.url)
        self.central = seed_central_and_members(self._emulator, aws.control)

    def config(self, **extra) -> dict:
        """The function's environment: signed as the central role's session, with the member role set."""
        return {
            "AWS_ACCESS_KEY_ID": self.central["AccessKeyId"],
            "AWS_SECRET_ACCESS_KEY": self.central["SecretAccessKey"],
            "AWS_SESSION_TOKEN": self.central["SessionToken"],
            "MEMBER_ROLE_NAME": MEMBER_ROLE,
            "MEMBER_EXTERNAL_ID": EXTERNAL_ID,
            **extra,
        }

    def client(self, service: str, account: str):
        """An administrator's client in ``account``."""
        return make_client(self._emulator, service, account=account)

    def bound_user(self, account: str, username: str, bind: bool = True, login_profile: bool = True) -> BoundUser:
        """A console user of ``account``, its secret there, and the binding tag."""
        iam, sm = self.client("iam", account), self.client("secretsmanager", account)
        iam.create_user(UserName=username)
        if login_profile:
            iam.create_login_profile(UserName=username, Password=INITIAL_PASSWORD)
        value = {"username": username, "password": INITIAL_PASSWORD}
        arn = sm.create_secret(Name=f"console/{username}", SecretString=json.dumps(value))["ARN"]
        if bind:
            iam.tag_user(UserName=username, Tags=[{"Key": BINDING_TAG, "Value": arn}])
        return BoundUser(username, arn)

    def rotate(self, driver: SecretsManagerDriver, user: BoundUser, account: str) -> tuple[RotationRecord, dict]:
        """``RotateSecret`` in ``account`` naming the central function, then the steps Secrets
        Manager would invoke, with the ``RotationToken`` it passes a function in another account."""
        self.client("secretsmanager", account).rotate_secret(
            SecretId=user.secret_arn, RotationLambdaARN=FUNCTION_ARN, RotationRules={"AutomaticallyAfterDays": 30})
        rotation = self.aws.control.rotations()[-1]
        record = driver.run_steps(user.secret_arn, rotation["ClientRequestToken"], rotation["RotationToken"])
        return record, rotation

    def password(self, account: str, username: str) -> Optional[str]:
        return self.aws.control.iam_password(username, account=account)["password"]

    def value(self, account: str, secret_arn: str, stage: str = "AWSCURRENT") -> dict:
        sm = self.client("secretsmanager", account)
        return json.loads(sm.get_secret_value(SecretId=secret_arn, VersionStage=stage)["SecretString"])

    def collect_secrets(self, ledger) -> None:
        """Every password of every account and every session key the emulator issued join the leak ledger."""
        from moto.sts.models import sts_backends

        for account in (CENTRAL, *MEMBERS, OUTSIDE):
            iam = self.client("iam", account)
            for user in iam.list_users().get("Users", []):
                state = self.aws.control.iam_password(user["UserName"], account=account)
                ledger.passwords.update(p for p in [state.get("password"), *state.get("history", [])] if p)
        for per_account in list(sts_backends.values()):
            for backend in list(per_account.values()):
                for session in backend.assumed_roles:
                    ledger.passwords.update([session.access_key_id, session.secret_access_key, session.session_token])
