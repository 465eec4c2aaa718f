"""Secrets Manager's side of a rotation, played against a local function.

A rotation starts with the placeholder version Secrets Manager creates (the token
staged ``AWSPENDING``, no value yet); then the four steps are invoked in order with
the same event fields. When a step fails, Secrets Manager retries the rotation from
``createSecret`` with the same token, as here.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Callable, Optional

from .aws import Aws
from .local_lambda import InvocationResult, LocalLambda

STEPS = ("createSecret", "setSecret", "testSecret", "finishSecret")


@dataclass
class RotationRecord:
    """Every invocation of a rotation, attempt by attempt."""

    token: str
    attempts: list = field(default_factory=list)  # list of lists of (step, InvocationResult)
    steps: tuple = STEPS

    @property
    def succeeded(self) -> bool:
        return bool(self.attempts) and len(self.attempts[-1]) == len(self.steps) and all(
            result.ok for _, result in self.attempts[-1]
        )

    @property
    def results(self) -> list:
        """Every (step, result) of every attempt, in order."""
        return [pair for attempt in self.attempts for pair in attempt]

    @property
    def last_error(self) -> Optional[InvocationResult]:
        for attempt in reversed(self.attempts):
            for _, result in reversed(attempt):
                if not result.ok:
                    return result
        return None


class SecretsManagerDriver:
    """Start rotations and invoke the steps the way Secrets Manager does."""

    def __init__(self, aws: Aws, function: LocalLambda, on_step: Optional[Callable] = None) -> None:
        self.aws = aws
        self.function = function
        self.on_step = on_step

    def event(self, step: str, secret_arn: str, token: str, rotation_token: Optional[str]) -> dict:
        event = {"Step": step, "SecretId": secret_arn, "ClientRequestToken": token}
        if rotation_token is not None:
            event["RotationToken"] = rotation_token
        return event

    def start(self, secret_arn: str, token: Optional[str] = None) -> str:
        """The state ``RotateSecret`` creates: rotation on, the token's placeholder staged AWSPENDING."""
        token = token or str(uuid.uuid4())
        self.aws.control.rotation_placeholder(secret_arn, token)
        return token

    def invoke_step(self, step: str, secret_arn: str, token: str, rotation_token: Optional[str] = None) -> InvocationResult:
        result = self.function.invoke(self.event(step, secret_arn, token, rotation_token))
        if self.on_step:
            self.on_step(step, result)
        return result

    def run_steps(self, secret_arn: str, token: str, rotation_token: Optional[str] = None,
                  max_attempts: int = 3) -> RotationRecord:
        """The four steps, retried from the start with the same token on failure."""
        record = RotationRecord(token)
        for _ in range(max_attempts):
            attempt = []
            record.attempts.append(attempt)
            for step in STEPS:
                result = self.invoke_step(step, secret_arn, token, rotation_token)
                attempt.append((step, result))
                if not result.ok:
                    break
            if record.succeeded:
                break
        return record

    def rotate(self, secret_arn: str, token: Optional[str] = None, rotation_token: Optional[str] = None,
               max_attempts: int = 3) -> RotationRecord:
        """A whole rotation: placeholder, then the steps with retries."""
        token = self.start(secret_arn, token)
        return self.run_steps(secret_arn, token, rotation_token, max_attempts)

    def test_run(self, secret_arn: str, rotation_token: Optional[str] = None) -> RotationRecord:
        """Secrets Manager's test run (``rotate-secret --no-rotate-immediately``): the current
        value is put under a fresh token staged ``AWSPENDING``, ``testSecret`` alone is invoked
        on it, and the pending label is removed again."""
        token = str(uuid.uuid4())
        current = self.aws.sm.get_secret_value(SecretId=secret_arn, VersionStage="AWSCURRENT")["SecretString"]
        self.aws.control.set_rotation_enabled(secret_arn, True)
        self.aws.sm.put_secret_value(SecretId=secret_arn, ClientRequestToken=token, SecretString=current,
                                     VersionStages=["AWSPENDING"])
        record = RotationRecord(token, steps=("testSecret",))
        result = self.invoke_step("testSecret", secret_arn, token, rotation_token)
        record.attempts.append([("testSecret", result)])
        self.aws.sm.update_secret_version_stage(SecretId=secret_arn, VersionStage="AWSPENDING",
                                                RemoveFromVersionId=token)
        return record
