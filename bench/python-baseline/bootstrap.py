"""The baseline scripts/bench_coldstart.py compares the function with: what a user would
otherwise deploy, a Python rotation function on boto3.

Like a Python Lambda it imports boto3 and builds its clients (``iam``, ``secretsmanager``)
at init, then polls the Runtime API (2018-06-01) itself, so it runs as a custom-runtime
``bootstrap`` under the local Runtime API with the venv's python. Only ``createSecret`` is
implemented, with the calls and checks the Rust function makes for it: DescribeSecret
(rotation enabled, the token staged AWSPENDING), GetSecretValue of the token's version (a
value there means a retry: keep it), GetSecretValue of AWSCURRENT, GetAccountPasswordPolicy
(IAM's default when there is none), a password of at least 32 characters with every
class drawn from the OS CSPRNG (``secrets``), and PutSecretValue staged AWSPENDING.
"""

import http.client
import json
import os
import secrets
import string

import boto3

RUNTIME = "/2018-06-01/runtime"
SYMBOLS = "!@#$%^&*()_+-=[]{}|'"  # the symbols IAM counts in a password policy
CLASSES = (string.ascii_lowercase, string.ascii_uppercase, string.digits, SYMBOLS)
ALPHABET = "".join(CLASSES)
DEFAULT_LENGTH = 32

iam = boto3.client("iam")
secretsmanager = boto3.client("secretsmanager")


class RotationError(Exception):
    """A step that must fail (Secrets Manager retries the rotation)."""


def password_length() -> int:
    """Our length, raised to the account policy's minimum (IAM's default policy: 8)."""
    try:
        policy = iam.get_account_password_policy()["PasswordPolicy"]
    except iam.exceptions.NoSuchEntityException:
        return DEFAULT_LENGTH
    return max(DEFAULT_LENGTH, policy.get("MinimumPasswordLength", 8))


def generate_password(length: int) -> str:
    """Uniform over the passwords holding every class, which meets any IAM policy's
    required classes and the default policy's three of four (rejection sampling)."""
    while True:
        candidate = "".join(secrets.choice(ALPHABET) for _ in range(length))
        if all(any(c in cls for c in candidate) for cls in CLASSES):
            return candidate


def create_secret(arn: str, token: str, rotation_token: str = None) -> str:
    metadata = secretsmanager.describe_secret(SecretId=arn)
    if not metadata.get("RotationEnabled"):
        raise RotationError(f"rotation is not enabled for {arn}")
    stages = metadata.get("VersionIdsToStages", {})
    if token not in stages:
        raise RotationError(f"{token} is not a version of {arn}")
    if "AWSCURRENT" in stages[token]:
        return "already_current"
    if "AWSPENDING" not in stages[token]:
        raise RotationError(f"{token} is not staged AWSPENDING in {arn}")
    try:
        secretsmanager.get_secret_value(SecretId=arn, VersionId=token)
        return "already_created"  # a retry: setSecret may already have applied that value
    except secretsmanager.exceptions.ResourceNotFoundException:
        pass  # the rotation's placeholder: no value yet
    current = json.loads(secretsmanager.get_secret_value(SecretId=arn, VersionStage="AWSCURRENT")["SecretString"])
    if not isinstance(current, dict) or not current.get("username"):
        raise RotationError(f"the current value of {arn} names no username")
    current["password"] = generate_password(password_length())
    request = dict(SecretId=arn, ClientRequestToken=token, SecretString=json.dumps(current),
                   VersionStages=["AWSPENDING"])
    if rotation_token:
        request["RotationToken"] = rotation_token
    try:
        secretsmanager.put_secret_value(**request)
    except secretsmanager.exceptions.ResourceExistsException:
        return "already_created"  # another attempt stored a value for the token first
    return "created"


def handle(event: dict) -> dict:
    if event.get("Step") != "createSecret":
        raise RotationError(f"the baseline implements createSecret only, not {event.get('Step')}")
    outcome = create_secret(event["SecretId"], event["ClientRequestToken"], event.get("RotationToken"))
    return {"SecretId": event["SecretId"], "Step": "createSecret", "Outcome": outcome}


def main() -> None:
    runtime = http.client.HTTPConnection(os.environ["AWS_LAMBDA_RUNTIME_API"])
    while True:
        runtime.request("GET", f"{RUNTIME}/invocation/next")
        answer = runtime.getresponse()
        event = json.loads(answer.read())
        request_id = answer.headers["Lambda-Runtime-Aws-Request-Id"]
        try:
            path, body = f"{RUNTIME}/invocation/{request_id}/response", handle(event)
        except Exception as error:  # reported to Lambda, as the managed runtime does
            path = f"{RUNTIME}/invocation/{request_id}/error"
            body = {"errorType": type(error).__name__, "errorMessage": str(error)}
        runtime.request("POST", path, json.dumps(body), {"Content-Type": "application/json"})
        runtime.getresponse().read()


if __name__ == "__main__":
    main()
