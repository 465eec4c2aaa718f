"""Bad input: malformed events, tokens that are not staged, secrets that are missing or
not rotating, secret values of the wrong shape, unknown users, missing login profiles,
missing or wrong binding tags, invalid configuration values, and configurations that
cannot meet the account policy.

Each is refused with its error type and a message that names the problem (never the
RotationToken), and neither AWSCURRENT (version and value) nor IAM's password changed.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from typing import Any, Callable, Optional, Union

import pytest
from harness import BoundUser, SecretsManagerDriver
from harness.invariants import FUNCTION_ERROR_TYPES, check_invariant, raw_snapshot, record_case

CATEGORY = "bad input"
IAM_SYMBOLS = "!@#$%^&*()_+-=[]{}|'"


@dataclass
class Ctx:
    """What a case arranges: the user and secret, the token, the steps, the configuration."""

    aws: Any
    user: Any
    token: str
    rotation_token: str
    steps: list = field(default_factory=lambda: ["createSecret"])
    config: dict = field(default_factory=dict)
    payload: Optional[Callable[[dict], Any]] = None  # rewrites the last step's event
    secret_id: Optional[str] = None
    before_last: Optional[Callable[["Ctx"], None]] = None  # runs after the steps that must succeed


@dataclass
class Case:
    id: str
    error_type: str
    message: Union[str, Callable[[Ctx], str]]
    arrange: Callable[[Ctx], None]


def event_case(id, message, rewrite, step="createSecret"):
    def arrange(ctx):
        ctx.steps = [step]
        ctx.payload = rewrite
    return Case(id, "InvalidEvent", message, arrange)


def without(key):
    return lambda event: {k: v for k, v in event.items() if k != key}


def setting(key, value):
    return lambda event: {**event, key: value}


EVENT_CASES = [
    event_case("payload-is-a-string", "the payload is a string, not a JSON object", lambda e: "createSecret"),
    event_case("payload-is-an-array", "the payload is an array, not a JSON object", lambda e: [e]),
    event_case("payload-is-null", "the payload is null, not a JSON object", lambda e: None),
    event_case("payload-is-a-number", "the payload is a number, not a JSON object", lambda e: 42),
    event_case("payload-is-an-empty-object", "Step is missing", lambda e: {}),
    event_case("step-missing", "Step is missing", without("Step")),
    event_case("step-null", "Step is missing", setting("Step", None)),
    event_case("step-unknown", "Step is not one of createSecret, setSecret", setting("Step", "rotateSecret")),
    event_case("step-wrong-case", "Step is not one of", setting("Step", "CreateSecret")),
    event_case("step-a-number", "Step is a number, not a string", setting("Step", 1)),
    event_case("step-an-array", "Step is an array, not a string", setting("Step", ["createSecret"])),
    event_case("step-empty", "Step is empty", setting("Step", "")),
    event_case("step-blank", "Step is empty", setting("Step", "   ")),
    event_case("secret-id-missing", "SecretId is missing", without("SecretId"), step="setSecret"),
    event_case("secret-id-empty", "SecretId is empty", setting("SecretId", ""), step="setSecret"),
    event_case("secret-id-an-object", "SecretId is an object, not a string",
               lambda e: {**e, "SecretId": {"arn": e["SecretId"]}}, step="finishSecret"),
    event_case("secret-id-a-boolean", "SecretId is a boolean, not a string", setting("SecretId", True)),
    event_case("token-missing", "ClientRequestToken is missing", without("ClientRequestToken"), step="finishSecret"),
    event_case("token-empty", "ClientRequestToken is empty", setting("ClientRequestToken", "")),
    event_case("token-a-number", "ClientRequestToken is a number, not a string",
               setting("ClientRequestToken", 12345)),
    event_case("token-an-array", "ClientRequestToken is an array, not a string",
               lambda e: {**e, "ClientRequestToken": [e["ClientRequestToken"]]}, step="setSecret"),
    event_case("rotation-token-a-number", "RotationToken is a number, not a string", setting("RotationToken", 7)),
    event_case("rotation-token-an-object", "RotationToken is an object, not a string",
               lambda e: {**e, "RotationToken": {"value": e["RotationToken"]}}),
    event_case("rotation-token-an-array", "RotationToken is an array, not a string",
               lambda e: {**e, "RotationToken": [e["RotationToken"]]}, step="setSecret"),
    event_case("rotation-token-a-boolean", "RotationToken is a boolean, not a string",
               setting("RotationToken", False)),
]


# -- versions, rotation state, missing secrets -----------------------------------------------------

def unknown_token(step):
    def arrange(ctx):
        ctx.token = str(uuid.uuid4())
        ctx.steps = [step]
    return Case(f"unknown-version-on-{step}", "UnknownVersion", lambda c: f"has no version {c.token}", arrange)


def not_pending(step):
    def arrange(ctx):
        ctx.token = str(uuid.uuid4())
        ctx.aws.sm.put_secret_value(SecretId=ctx.user.secret_arn, ClientRequestToken=ctx.token,
                                    SecretString=json.dumps({"username": ctx.user.username}),
                                    VersionStages=["CUSTOM"])
        ctx.steps = [step]
    return Case(f"version-not-pending-on-{step}", "VersionNotPending",
                lambda c: f"version {c.token} of secret {c.user.secret_arn} is not staged AWSPENDING", arrange)


def rotation_disabled(ctx):
    ctx.aws.control.set_rotation_enabled(ctx.user.secret_arn, False)


def rotation_never_enabled(ctx):
    secret = ctx.aws.sm.create_secret(Name=f"plain/{ctx.user.username}",
                                      SecretString=json.dumps({"username": ctx.user.username}))
    ctx.secret_id = secret["ARN"]
    ctx.token = secret["VersionId"]


def missing_secret(name):
    def arrange(ctx):
        ctx.secret_id = name
        ctx.steps = ["setSecret"]
    return arrange


def deleted_secret(ctx):
    arn = ctx.aws.sm.create_secret(Name=f"deleted/{ctx.user.username}", SecretString="{}")["ARN"]
    ctx.aws.sm.delete_secret(SecretId=arn, ForceDeleteWithoutRecovery=True)
    ctx.secret_id = arn


def steps(*names):
    def arrange(ctx):
        ctx.steps = list(names)
    return arrange


VERSION_CASES = [
    unknown_token("createSecret"), unknown_token("setSecret"), unknown_token("finishSecret"),
    not_pending("createSecret"), not_pending("setSecret"), not_pending("finishSecret"),
    Case("rotation-disabled", "RotationNotEnabled",
         lambda c: f"rotation is not enabled on secret {c.user.secret_arn}", rotation_disabled),
    Case("rotation-never-enabled", "RotationNotEnabled", "rotation is not enabled on secret", rotation_never_enabled),
    Case("secret-name-missing", "SecretNotFound", "secret console/no-such-secret was not found",
         missing_secret("console/no-such-secret")),
    Case("secret-arn-missing", "SecretNotFound", "arn:aws:secretsmanager:us-east-1:123456789012:secret:gone-AbCdEf",
         missing_secret("arn:aws:secretsmanager:us-east-1:123456789012:secret:gone-AbCdEf")),
    Case("secret-deleted", "SecretNotFound", "was not found", deleted_secret),
    Case("set-secret-before-create-secret", "PendingValueMissing", "has no value yet", steps("setSecret")),
    Case("test-secret-before-create-secret", "PendingValueMissing", "has no value yet", steps("testSecret")),
]


# -- secret values ------------------------------------------------------------------------------------

def current_value(raw):
    """AWSCURRENT holds ``raw`` (a string, or an object turned to JSON) when the rotation starts."""
    def arrange(ctx):
        value = raw(ctx) if callable(raw) else raw
        ctx.aws.sm.put_secret_value(SecretId=ctx.user.secret_arn,
                                    SecretString=value if isinstance(value, str) else json.dumps(value))
    return arrange


def pending_value(raw):
    """createSecret is skipped: the token's version holds ``raw``; setSecret reads it."""
    def arrange(ctx):
        value = raw(ctx) if callable(raw) else raw
        ctx.aws.sm.put_secret_value(SecretId=ctx.user.secret_arn, ClientRequestToken=ctx.token,
                                    SecretString=value if isinstance(value, str) else json.dumps(value),
                                    VersionStages=["AWSPENDING"])
        ctx.steps = ["setSecret"]
    return arrange


def bad_current(id, raw, message):
    return Case(f"current-{id}", "InvalidSecretValue", message, current_value(raw))


VALUE_CASES = [
    bad_current("not-json", "hunter2-not-json", "it is not JSON (syntax error at line 1"),
    bad_current("truncated-json", '{"username": "x", "password": "hunter2', "it is not JSON"),
    bad_current("an-array", ["hunter2"], "it is an array, not a JSON object"),
    bad_current("a-string", '"hunter2"', "it is a string, not a JSON object"),
    bad_current("a-number", "12345", "it is a number, not a JSON object"),
    bad_current("no-username", {"password": "hunter2-pass"}, 'it has no "username" key'),
    bad_current("username-a-number", {"username": 42}, '"username" is a number, not a string'),
    bad_current("username-null", {"username": None}, '"username" is null, not a string'),
    bad_current("username-an-array", {"username": ["bad-user"]}, '"username" is an array, not a string'),
    bad_current("username-with-a-space", {"username": "bad user"}, '"username" is not a valid IAM user name'),
    bad_current("username-empty", {"username": ""}, '"username" is not a valid IAM user name'),
    bad_current("username-too-long", {"username": "u" * 65}, '"username" is not a valid IAM user name'),
    bad_current("username-with-a-slash", {"username": "a/b"}, '"username" is not a valid IAM user name'),
    bad_current("password-a-number", lambda c: {"username": c.user.username, "password": 12345},
                '"password" is a number, not a string'),
    bad_current("password-an-object", lambda c: {"username": c.user.username, "password": {"v": "x"}},
                '"password" is an object, not a string'),
    bad_current("password-a-boolean", lambda c: {"username": c.user.username, "password": True},
                '"password" is a boolean, not a string'),
    Case("pending-not-json", "InvalidSecretValue", lambda c: f"version {c.token} of secret", pending_value("{nope")),
    Case("pending-without-password", "InvalidSecretValue", 'it has no "password"',
         pending_value(lambda c: {"username": c.user.username})),
    Case("pending-password-a-number", "InvalidSecretValue", '"password" is a number, not a string',
         pending_value(lambda c: {"username": c.user.username, "password": 7})),
    Case("pending-password-with-a-character-iam-rejects", "AwsApiError",
         "iam UpdateLoginProfile failed: ValidationError",
         pending_value(lambda c: {"username": c.user.username, "password": "Euro-\u20ac-Passw0rd!"})),
    Case("pending-password-too-long", "AwsApiError", "iam UpdateLoginProfile failed: ValidationError",
         pending_value(lambda c: {"username": c.user.username, "password": "Aa1!" * 40})),
    Case("pending-password-breaks-the-policy", "PasswordPolicyViolation",
         "under the account password policy (PasswordPolicyViolation)",
         pending_value(lambda c: {"username": c.user.username, "password": "short"})),
]


# -- users, login profiles, binding tags ------------------------------------------------------------

def unknown_user(ctx):
    ctx.aws.sm.put_secret_value(SecretId=ctx.user.secret_arn,
                                SecretString=json.dumps({"username": "ghost-user", "password": "x"}))
    ctx.steps = ["createSecret", "setSecret"]


def no_login_profile(ctx):
    ctx.aws.iam.delete_login_profile(UserName=ctx.user.username)
    ctx.steps = ["createSecret", "setSecret"]


def untagged(ctx):
    ctx.aws.iam.untag_user(UserName=ctx.user.username, TagKeys=["password-rotation:secret-arn"])
    ctx.steps = ["createSecret", "setSecret"]


def tagged(value):
    def arrange(ctx):
        ctx.aws.iam.tag_user(UserName=ctx.user.username,
                             Tags=[{"Key": "password-rotation:secret-arn", "Value": value}])
        ctx.steps = ["createSecret", "setSecret"]
    return arrange


def never_applied(step):
    """A pending value IAM never accepted (no setSecret): testSecret and finishSecret refuse it."""
    def arrange(ctx):
        ctx.aws.sm.put_secret_value(SecretId=ctx.user.secret_arn, ClientRequestToken=ctx.token,
                                    SecretString=json.dumps({"username": ctx.user.username,
                                                             "password": "Never-Applied-Passw0rd!"}),
                                    VersionStages=["AWSPENDING"])
        ctx.steps = [step]
    return Case(f"{step}-on-a-version-never-applied", "PendingNotApplied",
                lambda c: f"version {c.token} of secret {c.user.secret_arn} is not applied to IAM", arrange)


def arn_too_long(ctx):
    arn = ctx.aws.sm.create_secret(Name="console/" + "z" * 220,
                                   SecretString=json.dumps({"username": ctx.user.username}))["ARN"]
    ctx.token = SecretsManagerDriver(ctx.aws, None).start(arn)
    ctx.secret_id = arn
    ctx.steps = ["createSecret"]


USER_CASES = [
    Case("unknown-user", "UserNotFound", "IAM user ghost-user does not exist", unknown_user),
    Case("no-login-profile", "LoginProfileMissing", lambda c: f"IAM user {c.user.username} has no login profile",
         no_login_profile),
    Case("binding-tag-missing", "BindingTagMissing",
         lambda c: f"IAM user {c.user.username} is not bound to secret {c.user.secret_arn}", untagged),
    Case("binding-tag-another-secret", "BindingTagMismatch",
         "is bound to secret arn:aws:secretsmanager:us-east-1:123456789012:secret:other-Zz9Zz9",
         tagged("arn:aws:secretsmanager:us-east-1:123456789012:secret:other-Zz9Zz9")),
    Case("binding-tag-empty", "BindingTagMismatch", "is bound to secret , not to", tagged("")),
    never_applied("testSecret"),
    never_applied("finishSecret"),
    Case("secret-arn-longer-than-a-tag-value", "SecretArnTooLong",
         "characters, but an IAM tag value holds at most 256", arn_too_long),
]


# -- configuration ----------------------------------------------------------------------------------

def configured(config, step="createSecret", policy=None):
    def arrange(ctx):
        ctx.config = config
        ctx.steps = [step]
        if policy:
            ctx.aws.set_policy(**policy)
    return arrange


def invalid_config(id, name, value, message, step="createSecret"):
    return Case(f"config-{id}", "InvalidConfig", message, configured({name: value}, step))


CONFIG_CASES = [
    invalid_config("length-0", "PASSWORD_LENGTH", "0", "PASSWORD_LENGTH=0 is outside 1..=128"),
    invalid_config("length-129", "PASSWORD_LENGTH", "129", "PASSWORD_LENGTH=129 is outside 1..=128"),
    invalid_config("length-abc", "PASSWORD_LENGTH", "abc", 'PASSWORD_LENGTH="abc" is not a whole number'),
    invalid_config("length-negative", "PASSWORD_LENGTH", "-5", 'PASSWORD_LENGTH="-5" is not a whole number',
                   step="setSecret"),
    invalid_config("length-fraction", "PASSWORD_LENGTH", "12.5", 'PASSWORD_LENGTH="12.5" is not a whole number'),
    invalid_config("exclude-numbers-yes", "EXCLUDE_NUMBERS", "yes", 'EXCLUDE_NUMBERS="yes" is not true or false'),
    invalid_config("exclude-punctuation-on", "EXCLUDE_PUNCTUATION", "on",
                   'EXCLUDE_PUNCTUATION="on" is not true or false'),
    invalid_config("require-binding-tag-0", "REQUIRE_BINDING_TAG", "0", 'REQUIRE_BINDING_TAG="0" is not true or false',
                   step="setSecret"),
    invalid_config("require-binding-tag-no", "REQUIRE_BINDING_TAG", "no",
                   'REQUIRE_BINDING_TAG="no" is not true or false', step="finishSecret"),
    invalid_config("create-login-profile-maybe", "CREATE_LOGIN_PROFILE", "maybe",
                   'CREATE_LOGIN_PROFILE="maybe" is not true or false', step="setSecret"),
    invalid_config("password-reset-required-1", "PASSWORD_RESET_REQUIRED", "1",
                   'PASSWORD_RESET_REQUIRED="1" is not true or false', step="testSecret"),
    invalid_config("require-each-type-yes", "REQUIRE_EACH_INCLUDED_TYPE", "yes",
                   'REQUIRE_EACH_INCLUDED_TYPE="yes" is not true or false'),
    Case("policy-symbols-but-punctuation-excluded", "PolicyUnsatisfiable",
         "the policy requires symbols, but the EXCLUDE_* settings leave none",
         configured({"EXCLUDE_PUNCTUATION": "true"}, policy=dict(RequireSymbols=True))),
    Case("policy-symbols-but-every-symbol-excluded", "PolicyUnsatisfiable",
         "the policy requires symbols, but the EXCLUDE_* settings leave none",
         configured({"EXCLUDE_CHARACTERS": IAM_SYMBOLS}, policy=dict(RequireSymbols=True))),
    Case("policy-numbers-but-numbers-excluded", "PolicyUnsatisfiable",
         "the policy requires numbers, but the EXCLUDE_* settings leave none",
         configured({"EXCLUDE_NUMBERS": "true"}, policy=dict(RequireNumbers=True, MinimumPasswordLength=10))),
    Case("policy-lowercase-but-every-lowercase-excluded", "PolicyUnsatisfiable",
         "the policy requires lowercase letters",
         configured({"EXCLUDE_CHARACTERS": "abcdefghijklmnopqrstuvwxyz"},
                    policy=dict(RequireLowercaseCharacters=True))),
    Case("every-class-excluded", "PolicyUnsatisfiable", "every character is excluded",
         configured({"EXCLUDE_LOWERCASE": "true", "EXCLUDE_UPPERCASE": "true", "EXCLUDE_NUMBERS": "true",
                     "EXCLUDE_PUNCTUATION": "true"})),
    Case("one-class-left-under-the-default-policy", "PolicyUnsatisfiable",
         "the policy requires 3 character classes, but the EXCLUDE_* settings leave 1",
         configured({"EXCLUDE_LOWERCASE": "true", "EXCLUDE_UPPERCASE": "true", "EXCLUDE_NUMBERS": "true"})),
]

# Cases whose arrangement itself breaks the invariant (a crafted AWSCURRENT or pending value,
# a deleted login profile): only "nothing changed" is checked for them.
CRAFTED_STATE = ("current-", "pending-", "unknown-user", "no-login-profile")

CASES = EVENT_CASES + VERSION_CASES + VALUE_CASES + USER_CASES + CONFIG_CASES


def snapshots(aws, user, other_secret):
    """The bound user's state, and that of the other secret the event names, if it exists."""
    states = [raw_snapshot(aws, user)]
    if other_secret:
        try:
            states.append(raw_snapshot(aws, BoundUser(user.username, aws.sm.describe_secret(SecretId=other_secret)["ARN"])))
        except aws.sm.exceptions.ResourceNotFoundException:
            pass
    return states


@pytest.mark.parametrize("case", [pytest.param(c, id=c.id) for c in CASES])
def test_a_bad_input_is_refused_with_its_cause_named_and_nothing_changed(aws, make_lambda, rotation_token, case):
    with record_case(CATEGORY, bad_inputs=1):
        user = aws.bound_user(f"bad-{len(case.id)}-{uuid.uuid4().hex[:8]}")
        ctx = Ctx(aws, user, token="", rotation_token=rotation_token)
        ctx.token = SecretsManagerDriver(aws, None).start(user.secret_arn)
        case.arrange(ctx)
        driver = SecretsManagerDriver(aws, make_lambda(config=ctx.config))
        secret_id = ctx.secret_id or user.secret_arn
        *first, last = ctx.steps
        for step in first:
            result = driver.invoke_step(step, secret_id, ctx.token, rotation_token)
            assert result.ok, (step, result.error_type, result.error_message)
        if ctx.before_last:
            ctx.before_last(ctx)
        before = snapshots(aws, user, ctx.secret_id)
        event = driver.event(last, secret_id, ctx.token, rotation_token)
        payload = ctx.payload(event) if ctx.payload else event
        result = driver.function.invoke(payload)

        assert not result.ok, result.body
        assert result.error_type == case.error_type, (result.error_type, result.error_message)
        assert case.error_type in FUNCTION_ERROR_TYPES
        expected = case.message(ctx) if callable(case.message) else case.message
        assert expected in (result.error_message or ""), result.error_message
        assert rotation_token not in (result.error_message or ""), "the error message quotes the RotationToken"
        assert snapshots(aws, user, ctx.secret_id) == before
        if ctx.secret_id is None and not case.id.startswith(CRAFTED_STATE):
            assert check_invariant(aws, user), "IAM's password is neither AWSCURRENT's nor AWSPENDING's"


def test_there_are_at_least_fifty_bad_inputs():
    assert len(CASES) >= 50
    assert len({c.id for c in CASES}) == len(CASES)
