"""The rotation invariant and the checks every suite test ends with.

The invariant: IAM's password for the user is the password of ``AWSCURRENT`` or of
``AWSPENDING`` (whoever reads the secret can sign in), at every point of a rotation;
a completed rotation leaves IAM's password equal to ``AWSCURRENT``'s.

Assertion messages never quote a password: they say which values matched.
"""

from __future__ import annotations

from .aws import Aws, BoundUser
from .driver import RotationRecord

WRITE_ACTIONS = (
    "secretsmanager:PutSecretValue",
    "secretsmanager:UpdateSecretVersionStage",
    "iam:UpdateLoginProfile",
    "iam:CreateLoginProfile",
    "iam:ChangePassword",
)
# The AWS calls of one rotation in one warm process, in order (measured by
# tests/suite/test_crash_points.py).
ROTATION_CALLS = [
    ("secretsmanager", "DescribeSecret"),  # createSecret
    ("secretsmanager", "GetSecretValue"),  # the token's value: not there yet
    ("secretsmanager", "GetSecretValue"),  # AWSCURRENT
    ("iam", "GetAccountPasswordPolicy"),
    ("secretsmanager", "PutSecretValue"),
    ("secretsmanager", "DescribeSecret"),  # setSecret
    ("iam", "GetUser"),
    ("iam", "UpdateLoginProfile"),
    ("secretsmanager", "UpdateSecretVersionStage"),  # IAM_APPLIED -> token: IAM accepted it
    ("secretsmanager", "DescribeSecret"),  # testSecret
    ("iam", "GetLoginProfile"),
    ("secretsmanager", "DescribeSecret"),  # finishSecret
    ("secretsmanager", "UpdateSecretVersionStage"),  # AWSCURRENT -> token
    ("secretsmanager", "UpdateSecretVersionStage"),  # remove AWSPENDING
]

# The error types the function reports (src/error.rs); anything else (Runtime.ExitError,
# Sandbox.Timedout, a panic) is not a clean failure.
FUNCTION_ERROR_TYPES = frozenset({
    "InvalidEvent", "InvalidConfig", "SecretNotFound", "RotationNotEnabled", "UnknownVersion", "VersionNotPending",
    "CurrentValueMissing", "PendingValueMissing", "InvalidSecretValue", "UserMismatch", "UserNotFound",
    "BindingTagMissing", "BindingTagMismatch", "LoginProfileMissing", "PolicyUnsatisfiable",
    "PasswordPolicyViolation", "SecretArnTooLong", "PendingNotApplied", "EntityTemporarilyUnmodifiable",
    "LimitExceeded", "Randomness", "AwsApiError",
})
IAM_PASSWORD_WRITES = ("iam:UpdateLoginProfile", "iam:CreateLoginProfile", "iam:ChangePassword")


def describe_state(aws: Aws, user: BoundUser) -> str:
    """Which stage (if any) holds IAM's password, and the staging labels; no values."""
    iam = aws.iam_password(user.username)
    current = (aws.value(user.secret_arn, "AWSCURRENT") or {}).get("password")
    pending = (aws.value(user.secret_arn, "AWSPENDING") or {}).get("password")
    matches = [name for name, value in (("AWSCURRENT", current), ("AWSPENDING", pending)) if value and value == iam]
    return (f"IAM password of {user.username} is {'set' if iam else 'unset'} and equals "
            f"{matches or 'no held value'}; stages: {aws.stages(user.secret_arn)}")


def check_invariant(aws: Aws, user: BoundUser, no_password_yet: bool = False) -> bool:
    """IAM's password is AWSCURRENT's or AWSPENDING's. With ``no_password_yet`` (a user whose
    first console password the rotation creates) "no password at all" also holds."""
    iam = aws.iam_password(user.username)
    if iam is None:
        return no_password_yet
    return iam in aws.held_values(user.secret_arn)


def assert_invariant(aws: Aws, user: BoundUser, where: str = "", no_password_yet: bool = False) -> None:
    """IAM's password is AWSCURRENT's or AWSPENDING's."""
    assert check_invariant(aws, user, no_password_yet), f"invariant broken {where}: {describe_state(aws, user)}"


def assert_converged(aws: Aws, user: BoundUser, record: RotationRecord, old_password: str | None = None) -> None:
    """The rotation succeeded: IAM == AWSCURRENT == the token's version, no AWSPENDING left."""
    assert record.succeeded, _last_error(record)
    current = aws.value(user.secret_arn, "AWSCURRENT")
    assert current and aws.iam_password(user.username) == current.get("password"), describe_state(aws, user)
    assert aws.version_with(user.secret_arn, "AWSCURRENT") == record.token, aws.stages(user.secret_arn)
    assert aws.version_with(user.secret_arn, "AWSPENDING") is None, aws.stages(user.secret_arn)
    if old_password is not None:
        assert current["password"] != old_password, "the rotation kept the old password"


def assert_untouched(aws: Aws, user: BoundUser, before: tuple) -> None:
    """Neither AWSCURRENT (version and value) nor IAM's password changed (``aws.snapshot``)."""
    after = aws.snapshot(user)
    assert after[0] == before[0], "IAM's password changed"
    assert after[1:] == before[1:], f"AWSCURRENT changed: version {before[1]} -> {after[1]}"


def password_writes(aws: Aws) -> dict:
    """The IAM password writes the emulator saw since the last clear."""
    counts = aws.control.counts()
    return {action: counts.get(action, 0) for action in IAM_PASSWORD_WRITES}


def write_counts(aws: Aws) -> dict:
    counts = aws.control.counts()
    return {action: counts[action] for action in WRITE_ACTIONS if counts.get(action)}


def _last_error(record: RotationRecord) -> str:
    error = record.last_error
    if error is None:
        return f"rotation did not complete ({len(record.attempts)} attempts)"
    return f"rotation failed after {len(record.attempts)} attempts: {error.error_type}: {error.error_message}"


class record_case:
    """``with record_case("faults", faults=1): ...``: one REPORT case, passed if the block did not raise."""

    def __init__(self, category: str, **counts) -> None:
        self.category = category
        self.counts = counts  # may be updated inside the block (e.g. the faults that fired)

    def __enter__(self) -> "record_case":
        return self

    def __exit__(self, exc_type, exc, tb) -> bool:
        from .report import REPORT

        REPORT.case(self.category, passed=exc_type is None, **self.counts)
        return False


def _digest(value) -> str:
    import hashlib
    import json

    return hashlib.sha256(json.dumps(value, sort_keys=True).encode()).hexdigest()[:16]


def raw_snapshot(aws: Aws, user: BoundUser) -> dict:
    """Like ``aws.snapshot`` for any secret value (not JSON too), and digests instead of secrets:
    IAM's password (None if the user does not exist), AWSCURRENT's version id and raw value."""
    try:
        iam = aws.iam_password(user.username)
    except Exception:  # the control API answers 404 for a user that does not exist
        iam = None
    current = aws.version_with(user.secret_arn, "AWSCURRENT")
    raw = aws.sm.get_secret_value(SecretId=user.secret_arn, VersionStage="AWSCURRENT").get("SecretString")
    return {"iam password": _digest(iam), "AWSCURRENT version": current, "AWSCURRENT value": _digest(raw)}
