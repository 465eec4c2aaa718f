"""AWS STS (signing name ``sts``, query protocol).

``StsCorrections`` is a mixin of ``EmulatorApp``: ``AssumeRole`` is checked as
AWS checks it before moto answers (moto assumes any ARN, even of a role that
does not exist, and evaluates no policy). The caller is identified from the
request's access key: a role session moto issued (``AssumeRole``), or an IAM
user's access key. Any other key (``testing``, ``AKIDEXAMPLE``, ...) has no
identity: such a caller is not policy-checked. See tests/emulator/README.md
(correction 10).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Optional

from moto.iam.models import iam_backends
from moto.sts.models import sts_backends

from . import iam_policy
from .organizations import organization_id_of
from .responses import STS_XMLNS, Response, iam_error

ROLE_ARN_RE = re.compile(r"arn:aws[\w-]*:iam::(\d{12}):role/.+")
SESSION_NAME_RE = re.compile(r"[\w+=,.@-]*")
EXTERNAL_ID_RE = re.compile(r"[\w+=,.@:/-]*")
MIN_DURATION = 900
MAX_DURATION = 43200
DEFAULT_DURATION = 3600
# A role session assuming another role ("role chaining") gets at most one hour.
ROLE_CHAINING_LIMIT = 3600


@dataclass
class Caller:
    """Who signs an STS request."""

    type: str  # "AssumedRole" or "User"
    account: str
    arn: str  # as AWS names it in errors (a session: arn:aws:sts::A:assumed-role/R/S)
    principal_arn: str  # aws:PrincipalArn (a session: the role's ARN)
    arns: frozenset  # every ARN a trust policy may name it by
    role: object = None  # moto Role of a session (None if deleted since)
    user: object = None  # moto User


def sts_error(status: int, code: str, message: str) -> Response:
    return iam_error(status, code, message, xmlns=STS_XMLNS)


def role_arn_account(arn) -> Optional[str]:
    match = ROLE_ARN_RE.fullmatch(str(arn or ""))
    return match.group(1) if match else None


def find_role(arn: str):
    """moto's Role with exactly this ARN (path included), or None."""
    account = role_arn_account(arn)
    if account is None:
        return None
    return next((r for r in iam_backends[account]["global"].get_roles() if r.arn == arn), None)


def find_session(access_key: str):
    """moto's AssumedRole issued with this access key, in any account, or None."""
    for per_account in list(sts_backends.values()):
        for backend in list(per_account.values()):
            session = backend.get_assumed_role_from_access_key(access_key)
            if session is not None:
                return session
    return None


def identify_caller(access_key: Optional[str], account_hint: str) -> Optional[Caller]:
    """The role session or IAM user owning ``access_key``; None for a key with no identity."""
    if not access_key:
        return None
    session = find_session(access_key)
    if session is not None:
        role = find_role(session.role_arn)
        return Caller(
            type="AssumedRole",
            account=session.account_id,
            arn=session.arn,
            principal_arn=session.role_arn,
            arns=frozenset({session.role_arn, session.arn}),
            role=role,
        )
    user = iam_backends[account_hint]["global"].get_user_from_access_key_id(access_key)
    if user is not None:
        return Caller(
            type="User", account=account_hint, arn=user.arn, principal_arn=user.arn, arns=frozenset({user.arn}), user=user
        )
    return None


def _managed_documents(policies: dict) -> list:
    docs = []
    for policy in policies.values():
        version = next((v for v in policy.versions if v.version_id == policy.default_version_id), None)
        if version is not None:
            docs.append(version.document)
    return docs


def identity_statements(caller: Caller) -> list:
    """Statements of the caller's identity policies: inline and attached managed
    policies of its role, or of the user and the user's groups."""
    docs: list = []
    if caller.role is not None:
        docs += list(caller.role.policies.values()) + _managed_documents(caller.role.managed_policies)
    if caller.user is not None:
        user = caller.user
        docs += list(user.policies.values()) + _managed_documents(user.managed_policies)
        for group in iam_backends[caller.account]["global"].groups.values():
            if user in group.users:
                docs += list(group.policies.values()) + _managed_documents(group.managed_policies)
    return [statement for doc in docs for statement in iam_policy.parse_document(doc)]


def validate_assume_role(params: dict) -> list:
    """AWS's parameter constraints (ValidationError) for AssumeRole, as messages."""
    errors = []

    def value_error(name: str, value, constraint: str, echo: bool = True) -> None:
        shown = f"'{value}' " if echo else ""
        errors.append(f"Value {shown}at '{name}' failed to satisfy constraint: {constraint}")

    def check_string(param: str, name: str, low: int, high: int, pattern=None, shown: str = "",
                     required: bool = True, echo: bool = True) -> None:
        value = params.get(param)
        if value is None:
            if required:
                errors.append(f"Value null at '{name}' failed to satisfy constraint: Member must not be null")
        elif len(value) < low:
            value_error(name, value, f"Member must have length greater than or equal to {low}", echo)
        elif len(value) > high:
            value_error(name, value, f"Member must have length less than or equal to {high}", echo)
        elif pattern is not None and not pattern.fullmatch(value):
            value_error(name, value, f"Member must satisfy regular expression pattern: {shown}", echo)

    check_string("RoleArn", "roleArn", 20, 2048)
    check_string("RoleSessionName", "roleSessionName", 2, 64, SESSION_NAME_RE, r"[\w+=,.@-]*")
    # The external id is optional and not echoed (it is a shared secret of sorts).
    check_string("ExternalId", "externalId", 2, 1224, EXTERNAL_ID_RE, r"[\w+=,.@:\/-]*", required=False, echo=False)
    duration = params.get("DurationSeconds")
    if duration is not None:
        if not re.fullmatch(r"-?\d+", str(duration)):
            value_error("durationSeconds", duration, "Member must be an integer")
        elif int(duration) < MIN_DURATION:
            value_error("durationSeconds", duration, f"Member must have value greater than or equal to {MIN_DURATION}")
        elif int(duration) > MAX_DURATION:
            value_error("durationSeconds", duration, f"Member must have value less than or equal to {MAX_DURATION}")
    return errors


class StsCorrections:
    """STS handlers, mixed into ``EmulatorApp`` (uses ``forward``, ``account_id``)."""

    def handle_sts(self, req) -> Response:
        if req.action == "AssumeRole":
            return self._sts_assume_role(req)
        return self.forward(req.environ)

    def _sts_assume_role(self, req) -> Response:
        params = req.params
        errors = validate_assume_role(params)
        if errors:
            count = f"{len(errors)} validation error{'s' if len(errors) > 1 else ''} detected: "
            return sts_error(400, "ValidationError", count + "; ".join(errors))
        role_arn = params["RoleArn"]
        target_account = role_arn_account(role_arn)
        if target_account is None:
            return sts_error(400, "ValidationError", f"{role_arn} is not a valid IAM role ARN")
        caller = identify_caller(req.access_key, self.account_id(req))
        caller_arn = caller.arn if caller is not None else f"arn:aws:iam::{self.account_id(req)}:root"
        denied = sts_error(
            403,
            "AccessDenied",
            f"User: {caller_arn} is not authorized to perform: sts:AssumeRole on resource: {role_arn}",
        )
        role = find_role(role_arn)
        if role is None:
            return denied
        duration = int(params.get("DurationSeconds") or DEFAULT_DURATION)
        if caller is not None:
            ctx = iam_policy.RequestContext(
                action="sts:AssumeRole",
                resource=role_arn,
                principal_account=caller.account,
                principal_arns=caller.arns,
                keys=self._sts_condition_keys(caller, params, target_account),
            )
            trust = iam_policy.evaluate(iam_policy.parse_document(role.assume_role_policy_document), ctx, trust=True)
            identity = iam_policy.evaluate(identity_statements(caller), ctx, trust=False)
            if trust.denied or identity.denied or not trust.allowed:
                return denied
            # Within one account a trust policy naming the caller itself is
            # enough; naming only the account (or any cross-account request)
            # also needs the caller's own identity policy to allow it.
            trust_suffices = caller.account == target_account and trust.allowed_by == "principal"
            if not trust_suffices and not identity.allowed:
                return denied
            if caller.type == "AssumedRole" and duration > ROLE_CHAINING_LIMIT:
                return sts_error(
                    400,
                    "ValidationError",
                    "The requested DurationSeconds exceeds the 1 hour session limit for roles assumed by role chaining.",
                )
        if duration > int(role.max_session_duration or DEFAULT_DURATION):
            return sts_error(
                400, "ValidationError", "The requested DurationSeconds exceeds the MaxSessionDuration set for this role."
            )
        return self.forward(req.environ)

    @staticmethod
    def _sts_condition_keys(caller: Caller, params: dict, target_account: str) -> dict:
        keys = {
            "aws:PrincipalAccount": caller.account,
            "aws:PrincipalArn": caller.principal_arn,
            "aws:PrincipalType": caller.type,
            "aws:ResourceAccount": target_account,
            "sts:RoleSessionName": params.get("RoleSessionName"),
        }
        if params.get("ExternalId") is not None:
            keys["sts:ExternalId"] = params["ExternalId"]
        principal_org = organization_id_of(caller.account)
        if principal_org:
            keys["aws:PrincipalOrgID"] = principal_org
        resource_org = organization_id_of(target_account)
        if resource_org:
            keys["aws:ResourceOrgID"] = resource_org
        return keys
