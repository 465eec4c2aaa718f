#!/usr/bin/env python3
"""Enrol IAM users in console-password rotation, or offboard them, in one command.

    python3 scripts/enrolment.py enrol    --stack iam-password-rotation alice
    python3 scripts/enrolment.py enrol    --stack iam-password-rotation --path /rotated/ --dry-run
    python3 scripts/enrolment.py offboard --stack iam-password-rotation alice --delete-secret

Run it with your own credentials (profiles, AWS_REGION, AWS_ENDPOINT_URL and the rest of
the standard AWS environment are honoured); it needs only boto3. See docs/enrolment.md.

Everything is decided before anything is written: every user is checked first, and if one
is refused, nothing at all is written (unless --skip-refused). Running it again changes
nothing that is already as asked.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from dataclasses import dataclass, field
from typing import Optional

try:
    import boto3
    from botocore.config import Config
    from botocore.exceptions import BotoCoreError, ClientError
except ImportError:  # pragma: no cover - the message is the point
    sys.exit("enrolment.py needs boto3: python3 -m pip install boto3")

BINDING_TAG = "password-rotation:secret-arn"
# An IAM tag value holds at most 256 characters.
TAG_VALUE_LIMIT = 256
# Secrets Manager appends "-" and six random characters to a secret's name in its ARN.
ARN_SUFFIX_LENGTH = 7
DEFAULT_SECRET_NAME = "console/{user}"
DEFAULT_SCHEDULE = "rate(30 days)"
DEFAULT_WINDOW = "2h"
SECRET_NAME_RE = re.compile(r"^[A-Za-z0-9/_+=.@-]{1,512}$")
FUNCTION_ARN_RE = re.compile(r"^arn:(aws[a-z-]*):lambda:([a-z0-9-]+):(\d{12}):function:([A-Za-z0-9_-]{1,64})$")
USER_PATH_RE = re.compile(r"^/([\x21-\x7e]*/)?$")

EXIT_REFUSED = 2
EXIT_FAILED = 1


class Refusal(Exception):
    """A reason not to act on one user; nothing is written for it."""


class BadInput(Exception):
    """Settings that make the whole command impossible; nothing is written."""


@dataclass
class Settings:
    """What the deployed stack decides: the function to attach and the users it may rotate."""

    function_arn: str
    user_path: str
    create_login_profile: bool


@dataclass
class Plan:
    """One user's decided changes, in the order they are made."""

    user: str
    secret_name: Optional[str] = None
    secret_arn: Optional[str] = None
    # (description, callable) pairs; the callable returns the secret ARN when it creates it.
    steps: list = field(default_factory=list)
    refusal: Optional[str] = None
    notes: list = field(default_factory=list)

    def record(self, status: str) -> dict:
        out = {"user": self.user, "status": status, "secret_arn": self.secret_arn,
               "changes": [description for description, _ in self.steps]}
        if self.refusal:
            out["refusal"] = self.refusal
        if self.notes:
            out["notes"] = self.notes
        return out


# ---------------------------------------------------------------------------------------
# AWS access


class Aws:
    """The clients, built once from the standard AWS environment."""

    def __init__(self, profile: Optional[str], region: Optional[str]) -> None:
        # AWS_REGION first, as the AWS CLI v2 and the other SDKs read it (botocore reads only
        # AWS_DEFAULT_REGION and the profile).
        session = boto3.Session(profile_name=profile, region_name=region or os.environ.get("AWS_REGION") or None)
        if not session.region_name:
            raise BadInput("no AWS region: set AWS_REGION, a profile's region, or --region")
        self.region = session.region_name
        config = Config(retries={"mode": "standard", "max_attempts": 8})
        self.session = session
        self.iam = session.client("iam", config=config)
        self.sm = session.client("secretsmanager", config=config)
        self._config = config
        self._identity = None

    def client(self, service: str):
        return self.session.client(service, config=self._config)

    def identity(self) -> tuple[str, str]:
        """(partition, account) of the credentials in use: where new secrets are created."""
        if self._identity is None:
            arn = self.client("sts").get_caller_identity()["Arn"]
            parts = arn.split(":")
            self._identity = (parts[1], parts[4])
        return self._identity


def error_code(error: ClientError) -> str:
    return error.response.get("Error", {}).get("Code", "")


def describe_secret(aws: Aws, secret_id: str) -> Optional[dict]:
    """The secret's metadata, or None if there is none of that name or ARN."""
    try:
        return aws.sm.describe_secret(SecretId=secret_id)
    except ClientError as error:
        if error_code(error) == "ResourceNotFoundException":
            return None
        raise


def get_user(aws: Aws, user: str) -> Optional[dict]:
    try:
        found = aws.iam.get_user(UserName=user)["User"]
    except ClientError as error:
        if error_code(error) == "NoSuchEntity":
            return None
        raise
    found["TagMap"] = {tag["Key"]: tag["Value"] for tag in found.get("Tags", [])}
    return found


def has_console_password(aws: Aws, user: str) -> bool:
    try:
        aws.iam.get_login_profile(UserName=user)
        return True
    except ClientError as error:
        if error_code(error) == "NoSuchEntity":
            return False
        raise


def pending_version(secret: dict) -> Optional[tuple[str, list]]:
    """(version id, labels) of a rotation in progress: AWSPENDING on a version that is not AWSCURRENT."""
    for version, stages in (secret.get("VersionIdsToStages") or {}).items():
        if "AWSPENDING" in stages and "AWSCURRENT" not in stages:
            return version, stages
    return None


# ---------------------------------------------------------------------------------------
# Settings: from the stack, or given


def stack_settings(aws: Aws, stack: str) -> dict:
    """Outputs and parameters of the deployed stack (CloudFormation DescribeStacks)."""
    try:
        found = aws.client("cloudformation").describe_stacks(StackName=stack)["Stacks"]
    except ClientError as error:
        raise BadInput(f"cannot read stack {stack}: {error_code(error)}: {error.response['Error'].get('Message', '')}")
    values = {p["ParameterKey"]: p.get("ParameterValue", "") for p in found[0].get("Parameters", [])}
    values.update({o["OutputKey"]: o.get("OutputValue", "") for o in found[0].get("Outputs", [])})
    return values


def resolve_settings(aws: Aws, args: argparse.Namespace, need_user_path: bool) -> Settings:
    from_stack = stack_settings(aws, args.stack) if args.stack else {}
    function_arn = args.function_arn or from_stack.get("FunctionArn")
    if not function_arn:
        where = f"stack {args.stack} has no FunctionArn output" if args.stack else "no function"
        raise BadInput(f"{where}: pass --stack NAME or --function-arn ARN")
    match = FUNCTION_ARN_RE.fullmatch(function_arn)
    if not match:
        raise BadInput(
            f"--function-arn {function_arn!r} is not an unqualified Lambda function ARN "
            "(arn:aws:lambda:REGION:ACCOUNT:function:NAME, no version or alias): the function's "
            "Secrets Manager permission names exactly that ARN"
        )
    if match.group(2) != aws.region:
        raise BadInput(
            f"the function is in {match.group(2)} but the secrets would be created in {aws.region}: "
            "a secret's rotation function must be in the secret's region (set AWS_REGION or --region)"
        )
    user_path = args.user_path or from_stack.get("UserPath")
    if not user_path:
        if need_user_path:
            where = f"stack {args.stack} has no UserPath parameter or output" if args.stack else "no user path"
            raise BadInput(f"{where}: pass --user-path (the stack's UserPath, / for every user)")
        user_path = "/"
    if not USER_PATH_RE.fullmatch(user_path):
        raise BadInput(f"--user-path {user_path!r} is not an IAM path such as / or /rotated/")
    create = args.create_login_profile or from_stack.get("CreateLoginProfile", "false").lower() == "true"
    return Settings(function_arn, user_path, create)


# ---------------------------------------------------------------------------------------
# Which users


def read_users_file(path: str) -> list[str]:
    try:
        with open(path, encoding="utf-8") as handle:
            lines = handle.read().splitlines()
    except OSError as error:
        raise BadInput(f"cannot read --users-file {path}: {error.strerror}")
    return [line.split("#", 1)[0].strip() for line in lines if line.split("#", 1)[0].strip()]


def console_users_under(aws: Aws, path: str) -> list[str]:
    """Every user under the IAM path that has a console password."""
    users = []
    for page in aws.iam.get_paginator("list_users").paginate(PathPrefix=path):
        users.extend(u["UserName"] for u in page["Users"])
    return [user for user in users if has_console_password(aws, user)]


def bound_users_under(aws: Aws, path: str) -> list[str]:
    """Every user under the IAM path that carries the binding tag."""
    users = []
    for page in aws.iam.get_paginator("list_users").paginate(PathPrefix=path):
        users.extend(u["UserName"] for u in page["Users"])
    return [user for user in users if BINDING_TAG in (get_user(aws, user) or {}).get("TagMap", {})]


def selected_users(aws: Aws, args: argparse.Namespace) -> list[str]:
    users = list(args.users)
    if args.users_file:
        users.extend(read_users_file(args.users_file))
    if args.path:
        if not USER_PATH_RE.fullmatch(args.path):
            raise BadInput(f"--path {args.path!r} is not an IAM path such as /rotated/")
        if args.command == "enrol":
            users.extend(console_users_under(aws, args.path))
        else:
            users.extend(bound_users_under(aws, args.path))
    if not users:
        raise BadInput("no users: name them, or use --users-file FILE or --path /PATH/")
    return list(dict.fromkeys(users))  # once each, in the order given


def secret_name_for(pattern: str, user: str) -> str:
    name = pattern.replace("{user}", user)
    if not SECRET_NAME_RE.fullmatch(name):
        raise Refusal(
            f"the secret name {name!r} from --secret-name {pattern!r} is not a valid secret name "
            "(letters, digits and /_+=.@-, at most 512)"
        )
    return name


# ---------------------------------------------------------------------------------------
# enrol


def decide_enrolment(aws: Aws, settings: Settings, args: argparse.Namespace, plan: Plan) -> None:
    user = plan.user
    found = get_user(aws, user)
    if found is None:
        raise Refusal("no such IAM user")
    if not found["Path"].startswith(settings.user_path):
        raise Refusal(
            f"its path {found['Path']} is outside the stack's UserPath {settings.user_path}: "
            "the function may not read or change its password"
        )
    if not has_console_password(aws, user) and not settings.create_login_profile:
        raise Refusal(
            "it has no console password: give it one (aws iam create-login-profile), or deploy the "
            "stack with CreateLoginProfile=true (then pass --create-login-profile if the stack is not read with --stack)"
        )
    bound_to = found["TagMap"].get(BINDING_TAG)

    name = secret_name_for(args.secret_name, user)
    secret = describe_secret(aws, name)
    if bound_to is not None and (secret is None or secret["ARN"] != bound_to):
        raise Refusal(
            f"it is already bound to another secret, {bound_to} ({BINDING_TAG}), not to {name}: "
            "offboard it first, or pass the --secret-name of that secret"
        )
    enabled = bool(secret and secret.get("RotationEnabled"))
    current_function = (secret or {}).get("RotationLambdaARN")
    if enabled and current_function and current_function != settings.function_arn:
        raise Refusal(f"secret {name} is already rotated by {current_function}; offboard it from that function first")
    if bound_to is None and secret is not None:
        check_reused_secret(aws, secret, user)
    if secret is not None and secret.get("DeletedDate"):
        raise Refusal(f"secret {name} is scheduled for deletion; restore it (aws secretsmanager restore-secret) or choose another --secret-name")

    if secret is None:
        partition, account = aws.identity()
        length = len(f"arn:{partition}:secretsmanager:{aws.region}:{account}:secret:{name}") + ARN_SUFFIX_LENGTH
        if length > TAG_VALUE_LIMIT:
            raise Refusal(
                f"the ARN of secret {name} would be {length} characters, over the {TAG_VALUE_LIMIT} an IAM tag "
                "value holds, so no binding tag could name it: choose a shorter --secret-name"
            )
        plan.secret_name = name
        plan.steps.append((f"create secret {name} holding {{\"username\": \"{user}\"}}",
                           lambda: create_secret(aws, name, user, args.kms_key_id)))
    else:
        plan.secret_name = secret["Name"]
        plan.secret_arn = secret["ARN"]
        if len(secret["ARN"]) > TAG_VALUE_LIMIT:
            raise Refusal(
                f"the ARN of secret {secret['Name']} is {len(secret['ARN'])} characters, over the "
                f"{TAG_VALUE_LIMIT} an IAM tag value holds: use a secret with a shorter name"
            )

    if bound_to is None:
        value = plan.secret_arn or "<the new secret's ARN>"
        plan.steps.append((f"tag user {user} {BINDING_TAG}={value}", lambda: tag_user(aws, user, plan)))

    rules = {"ScheduleExpression": args.schedule}
    if args.window:
        rules["Duration"] = args.window
    shown = (secret or {}).get("RotationRules") or {}
    same_rules = shown.get("ScheduleExpression") == args.schedule and shown.get("Duration") == (args.window or None)
    if not (enabled and current_function == settings.function_arn and same_rules):
        if secret is not None and pending_version(secret):
            raise Refusal(
                f"secret {plan.secret_name} has a rotation in progress (AWSPENDING on version "
                f"{pending_version(secret)[0]}): finish or cancel it first (docs/operations.md)"
            )
        how = "start the first rotation now" if args.rotate_immediately else "test run only, first rotation in the next window"
        window = f" in a {args.window} window" if args.window else ""
        plan.steps.append((
            f"turn on rotation by {settings.function_arn}, {args.schedule}{window} ({how})",
            lambda: aws.sm.rotate_secret(SecretId=plan.secret_arn, RotationLambdaARN=settings.function_arn,
                                         RotationRules=rules, RotateImmediately=args.rotate_immediately),
        ))


def check_reused_secret(aws: Aws, secret: dict, user: str) -> None:
    """An existing secret of the pattern's name, not yet bound: it must hold this user's name."""
    try:
        raw = aws.sm.get_secret_value(SecretId=secret["ARN"])["SecretString"]
    except ClientError as error:
        raise Refusal(
            f"secret {secret['Name']} exists and its value cannot be read to check its username "
            f"({error_code(error)}): choose another --secret-name, or bind it by hand"
        )
    try:
        value = json.loads(raw)
    except ValueError:
        value = None  # the error would echo the value
    if not isinstance(value, dict):
        raise Refusal(f"secret {secret['Name']} exists and its value is not a JSON object; choose another --secret-name")
    if value.get("username") != user:
        raise Refusal(f"secret {secret['Name']} exists and names another user; choose another --secret-name")


def create_secret(aws: Aws, name: str, user: str, kms_key_id: Optional[str]) -> str:
    options = {"KmsKeyId": kms_key_id} if kms_key_id else {}
    return aws.sm.create_secret(
        Name=name, SecretString=json.dumps({"username": user}),
        Description=f"Console password of the IAM user {user}, rotated by iam-password-rotation", **options,
    )["ARN"]


def tag_user(aws: Aws, user: str, plan: Plan) -> None:
    aws.iam.tag_user(UserName=user, Tags=[{"Key": BINDING_TAG, "Value": plan.secret_arn}])


# ---------------------------------------------------------------------------------------
# offboard


def decide_offboarding(aws: Aws, settings: Settings, args: argparse.Namespace, plan: Plan) -> None:
    user = plan.user
    found = get_user(aws, user)
    bound_to = found["TagMap"].get(BINDING_TAG) if found else None
    if found is None:
        plan.notes.append("no such IAM user (deleted?): only its secret is offboarded")
    secret = describe_secret(aws, bound_to) if bound_to else describe_secret(aws, secret_name_for(args.secret_name, user))
    if secret is not None and not bound_to:
        # Found by name only: offboard it only if it is this user's and this function's.
        if secret.get("RotationLambdaARN") not in (None, settings.function_arn):
            secret = None
    if secret is not None:
        plan.secret_name, plan.secret_arn = secret["Name"], secret["ARN"]
        current_function = secret.get("RotationLambdaARN")
        if secret.get("RotationEnabled") and current_function and current_function != settings.function_arn:
            raise Refusal(f"secret {secret['Name']} is rotated by {current_function}, not by this function; offboard it there")
        pending = pending_version(secret)
        if pending and "IAM_APPLIED" in pending[1]:
            raise Refusal(
                f"secret {secret['Name']} has a rotation in progress whose password IAM already holds "
                f"(version {pending[0]} carries AWSPENDING and IAM_APPLIED): finish it first (docs/operations.md), "
                "or that password would be lost"
            )
        if secret.get("RotationEnabled"):
            plan.steps.append(("turn off rotation (CancelRotateSecret)",
                               lambda: aws.sm.cancel_rotate_secret(SecretId=secret["ARN"])))
        if pending:
            # IAM never accepted it (no IAM_APPLIED): the pending password is nobody's.
            plan.steps.append((
                f"remove AWSPENDING from version {pending[0]}, which IAM never accepted",
                lambda: aws.sm.update_secret_version_stage(SecretId=secret["ARN"], VersionStage="AWSPENDING",
                                                           RemoveFromVersionId=pending[0]),
            ))
    if bound_to:
        plan.steps.append((f"remove tag {BINDING_TAG} from user {user}",
                           lambda: aws.iam.untag_user(UserName=user, TagKeys=[BINDING_TAG])))
    if args.delete_secret and secret is not None and not secret.get("DeletedDate"):
        days = args.recovery_window_days
        plan.steps.append((
            f"schedule deletion of secret {secret['Name']} in {days} days (aws secretsmanager restore-secret undoes it until then)",
            lambda: aws.sm.delete_secret(SecretId=secret["ARN"], RecoveryWindowInDays=days),
        ))
    if secret is None and not bound_to:
        plan.notes.append("not enrolled: no binding tag and no secret of this function")


# ---------------------------------------------------------------------------------------
# running a plan


def plan_for(decide, aws: Aws, settings: Settings, args: argparse.Namespace, user: str) -> Plan:
    """The plan ``decide`` makes for ``user``; a refusal leaves it with no step."""
    plan = Plan(user)
    try:
        decide(aws, settings, args, plan)
    except Refusal as refusal:
        plan.refusal = str(refusal)
        plan.steps = []
    return plan


def run(aws: Aws, args: argparse.Namespace, decide) -> int:
    settings = resolve_settings(aws, args, need_user_path=decide is decide_enrolment)
    plans = [plan_for(decide, aws, settings, args, user) for user in selected_users(aws, args)]
    refused = [plan for plan in plans if plan.refusal]
    results = []
    for plan in refused:
        print(f"refused: {plan.user}: {plan.refusal}", file=sys.stderr)
        results.append(plan.record("refused"))
    if refused and not args.skip_refused:
        print(f"nothing written: {len(refused)} of {len(plans)} users refused (fix them, or --skip-refused to go on "
              "with the others)", file=sys.stderr)
        for plan in plans:
            if not plan.refusal:
                results.append(plan.record("not done"))
        emit(args, results)
        return EXIT_REFUSED
    status = 0
    for plan in (p for p in plans if not p.refusal):
        for note in plan.notes:
            print(f"{plan.user}: {note}")
        if not plan.steps:
            print(f"{plan.user}: unchanged ({plan.secret_arn or 'no secret'})")
            results.append(plan.record("unchanged"))
            continue
        if args.dry_run:
            for description, _ in plan.steps:
                print(f"{plan.user}: would {description}")
            results.append(plan.record("planned"))
            continue
        try:
            for description, step in plan.steps:
                created = step()
                if isinstance(created, str):
                    plan.secret_arn = created
                print(f"{plan.user}: {description}: done")
        except (ClientError, BotoCoreError) as error:
            print(f"failed: {plan.user}: {description}: {error} (run the command again to go on)", file=sys.stderr)
            plan.notes.append(f"failed at: {description}")
            results.append(plan.record("failed"))
            status = EXIT_FAILED
            continue
        results.append(plan.record(args.done_status))
        print(f"{plan.user}: {args.done_status}: {plan.secret_arn}")
    emit(args, results)
    # --skip-refused went on with the others; the status still says that some were refused.
    return status or (EXIT_REFUSED if refused else 0)


def emit(args: argparse.Namespace, results: list) -> None:
    if args.json:
        print(json.dumps(results, indent=2))


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(
        prog="enrolment.py",
        description="Enrol IAM users in console-password rotation by the iam-password-rotation function, "
                    "or offboard them. Decides everything before writing anything; running it twice "
                    "changes nothing.",
    )
    commands = top.add_subparsers(dest="command", required=True)

    def common(sub: argparse.ArgumentParser) -> None:
        sub.add_argument("users", nargs="*", metavar="USER", help="IAM user names")
        sub.add_argument("--users-file", metavar="FILE", help="more user names, one a line (# starts a comment)")
        where = sub.add_argument_group("the deployed function (from --stack, or given)")
        where.add_argument("--stack", metavar="NAME", help="read FunctionArn, UserPath and CreateLoginProfile from this CloudFormation stack")
        where.add_argument("--function-arn", metavar="ARN", help="the function's unqualified ARN (the stack's FunctionArn output)")
        where.add_argument("--user-path", metavar="PATH", help="the stack's UserPath (/ for every user)")
        where.add_argument("--create-login-profile", action="store_true",
                           help="the function is deployed with CreateLoginProfile=true: users without a console password are accepted")
        sub.add_argument("--secret-name", default=DEFAULT_SECRET_NAME, metavar="PATTERN",
                         help="name of each user's secret; {user} is the user name (default: %(default)s)")
        sub.add_argument("--dry-run", action="store_true", help="print the plan, write nothing")
        sub.add_argument("--skip-refused", action="store_true", help="go on with the users that are not refused")
        sub.add_argument("--json", action="store_true", help="also print the outcome per user as JSON (the secret ARNs)")
        sub.add_argument("--profile", help="AWS profile (default: the standard AWS environment)")
        sub.add_argument("--region", help="AWS region (default: the standard AWS environment)")

    enrol = commands.add_parser("enrol", help="create or reuse each user's secret, bind the user, turn on rotation")
    common(enrol)
    enrol.add_argument("--path", metavar="PATH", help="also every user with a console password under this IAM path")
    enrol.add_argument("--schedule", default=DEFAULT_SCHEDULE, help="rotation schedule, rate(...) or cron(...) (default: %(default)s)")
    enrol.add_argument("--window", default=DEFAULT_WINDOW, help="rotation window, 1h-24h, empty for none (default: %(default)s)")
    enrol.add_argument("--rotate-immediately", action="store_true",
                       help="rotate at once (the user's current password stops working); default: only a test run now")
    enrol.add_argument("--kms-key-id", metavar="KEY", help="customer managed KMS key for the secrets created (the stack's KmsKeyArn)")
    enrol.set_defaults(planner=decide_enrolment, done_status="enrolled")

    offboard = commands.add_parser("offboard", help="turn rotation off, remove the binding tag, optionally delete the secret")
    common(offboard)
    offboard.add_argument("--path", metavar="PATH", help="also every user under this IAM path that carries the binding tag")
    offboard.add_argument("--delete-secret", action="store_true", help="also schedule the secret's deletion")
    offboard.add_argument("--recovery-window-days", type=int, default=30, metavar="DAYS",
                          help="days before the deleted secret is gone for good, 7-30 (default: %(default)s)")
    offboard.set_defaults(planner=decide_offboarding, done_status="offboarded")
    return top


def main(argv: Optional[list] = None) -> int:
    args = parser().parse_args(argv)
    try:
        if "{user}" not in args.secret_name:
            raise BadInput(f"--secret-name {args.secret_name!r} must contain {{user}}: each user needs its own secret")
        if args.command == "offboard" and not 7 <= args.recovery_window_days <= 30:
            raise BadInput("--recovery-window-days must be 7-30")
        aws = Aws(args.profile, args.region)
        return run(aws, args, args.planner)
    except BadInput as error:
        print(f"error: {error} (nothing written)", file=sys.stderr)
        return EXIT_REFUSED
    except (ClientError, BotoCoreError) as error:
        print(f"error: {error} (nothing written)", file=sys.stderr)
        return EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
