"""boto3 clients for the emulator, and the fixture every test starts from: an IAM
user with a console password, a secret naming it, and the binding tag."""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import boto3
from botocore.config import Config as BotoConfig

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "emulator"))

from rotation_emulator import EmulatorClient  # noqa: E402

BINDING_TAG = "password-rotation:secret-arn"
INITIAL_PASSWORD = "Initial-Passw0rd!"


@dataclass
class BoundUser:
    """A user and the secret that holds (and may rotate) its console password."""

    username: str
    secret_arn: str


class Aws:
    """The emulator, seen through boto3 and its control API."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.control = EmulatorClient(url)
        options = dict(
            endpoint_url=url,
            region_name="us-east-1",
            aws_access_key_id="AKIDTESTDRIVER",
            aws_secret_access_key="test-driver-secret",
            config=BotoConfig(retries={"max_attempts": 1}),
        )
        self._options = options
        self.iam = boto3.client("iam", **options)
        self.sm = boto3.client("secretsmanager", **options)

    def client(self, service: str):
        """Another boto3 client on the emulator (``scheduler``, ``events``, ...)."""
        return boto3.client(service, **self._options)

    # -- fixtures --------------------------------------------------------------

    def bound_user(
        self,
        username: str,
        extra: Optional[dict] = None,
        password: Optional[str] = INITIAL_PASSWORD,
        login_profile: bool = True,
        bind: bool = True,
        secret_name: Optional[str] = None,
        self_service: bool = False,
    ) -> BoundUser:
        """Create the user (with a login profile), its secret, and the binding tag. With
        ``self_service``, also an access key of the user in a credentials secret that the
        user's secret names (``changePasswordCredentials``): the self-service strategy."""
        self.iam.create_user(UserName=username)
        if login_profile:
            self.iam.create_login_profile(UserName=username, Password=password or INITIAL_PASSWORD)
        value = {"username": username, **(extra or {})}
        if self_service:
            value["changePasswordCredentials"] = self.credentials_secret(username)
        if password is not None:
            value["password"] = password
        arn = self.sm.create_secret(Name=secret_name or f"console/{username}", SecretString=json.dumps(value))["ARN"]
        if bind:
            self.bind(username, arn)
        return BoundUser(username, arn)

    def credentials_secret(self, username: str, name: Optional[str] = None) -> str:
        """A new access key of ``username`` in a secret ``{"accessKeyId", "secretAccessKey"}``; its ARN."""
        key = self.iam.create_access_key(UserName=username)["AccessKey"]
        value = {"accessKeyId": key["AccessKeyId"], "secretAccessKey": key["SecretAccessKey"]}
        return self.sm.create_secret(Name=name or f"keys/{username}-{key['AccessKeyId'][-6:]}",
                                     SecretString=json.dumps(value))["ARN"]

    def bind(self, username: str, secret_arn: str) -> None:
        self.iam.tag_user(UserName=username, Tags=[{"Key": BINDING_TAG, "Value": secret_arn}])

    def set_policy(self, **policy) -> None:
        """``UpdateAccountPasswordPolicy``, e.g. ``MinimumPasswordLength=20, PasswordReusePrevention=5``."""
        self.iam.update_account_password_policy(**policy)

    # -- state -----------------------------------------------------------------

    def iam_password(self, username: str) -> Optional[str]:
        return self.control.iam_password(username)["password"]

    def value(self, secret_arn: str, stage: str = "AWSCURRENT") -> Optional[dict]:
        try:
            raw = self.sm.get_secret_value(SecretId=secret_arn, VersionStage=stage)["SecretString"]
        except self.sm.exceptions.ResourceNotFoundException:
            return None
        return json.loads(raw)

    def stages(self, secret_arn: str) -> dict:
        return self.sm.describe_secret(SecretId=secret_arn).get("VersionIdsToStages", {})

    def version_with(self, secret_arn: str, stage: str) -> Optional[str]:
        return next((v for v, s in self.stages(secret_arn).items() if stage in s), None)

    def held_values(self, secret_arn: str) -> list:
        """The passwords of AWSCURRENT and AWSPENDING (what a user may be signed in with)."""
        values = [self.value(secret_arn, stage) for stage in ("AWSCURRENT", "AWSPENDING")]
        return [v.get("password") for v in values if v and v.get("password")]

    def snapshot(self, user: BoundUser) -> tuple:
        """What must not change when a bad input is refused."""
        return (self.iam_password(user.username), self.version_with(user.secret_arn, "AWSCURRENT"),
                json.dumps(self.value(user.secret_arn), sort_keys=True))

    def writes(self) -> int:
        """How many write calls the emulator has seen since the last clear."""
        write_actions = {
            "secretsmanager:PutSecretValue", "secretsmanager:UpdateSecretVersionStage",
            "iam:UpdateLoginProfile", "iam:CreateLoginProfile", "iam:ChangePassword",
        }
        return sum(n for action, n in self.control.counts().items() if action in write_actions)
