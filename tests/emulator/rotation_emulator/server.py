"""WSGI middleware around moto's server app, plus the HTTP server that runs it.

Request flow for an AWS call (anything that is not ``/_emulator/...`` or
``/moto-api/...``):

1. identify service, action, region and access key (SigV4 credential scope,
   ``X-Amz-Target``, the query ``Action`` parameter, or for REST-JSON services
   (Scheduler) the method and path);
2. log the call; a call beyond its service's rate limit (token bucket) is
   answered with the service's throttling error now, never applied; otherwise
   evaluate injected faults and holds (``control.py``);
3. a "before" hold blocks here; the call is then dropped, never applied;
4. a fault that replaces the call (throttle, 500, 409, ...) answers now; the
   call never reaches moto;
5. otherwise run a correction handler (or forward to moto unchanged), under one
   lock so that check-then-forward sequences are atomic with respect to moto;
   a fault that acts after the call (``applied-500``, ``stale-read``) then
   alters the response; a moto crash becomes the service's 500;
6. an "after" hold blocks here, after moto applied the call, before replying.

Correction handlers (AWS behaviour moto lacks) are the ``_iam_*`` and ``_sm_*``
methods of ``EmulatorApp``, and the ``_sch_*`` / ``_events_*`` / ``_sts_*`` /
``_org_*`` / credential-report methods of its mixins in ``scheduler.py`` /
``events.py`` / ``sts.py`` / ``organizations.py`` / ``credential_report.py``;
see tests/emulator/README.md for the reasoning.
"""

from __future__ import annotations

import io
import json
import math
import os
import re
import sys
import threading
import time
import traceback
import uuid
from dataclasses import dataclass
from typing import Callable, Optional
from urllib.parse import parse_qs, parse_qsl

from moto.core import DEFAULT_ACCOUNT_ID
from moto.iam.models import get_account_id_from, iam_backends
from moto.moto_api._internal.models import moto_api_backend
from moto.organizations.models import organizations_backends
from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from moto.secretsmanager.models import FakeSecret, secretsmanager_backends
from moto.utilities.utils import get_partition
from werkzeug.serving import make_server

from . import policy as pw
from .control import AFTER_CALL_KINDS, FAULT_KINDS, IAM_ONLY_KINDS, SINGLE_ACTION_KINDS, ControlState
from .bulk import BulkCorrections, parse_lambda_request
from .credential_report import MAX_DELAY_SECONDS, CredentialReportCorrections
from .events import EventsCorrections
from .organizations import ACCOUNT_ID_RE, ORG_ID_RE, OrganizationsCorrections
from .responses import (
    FAULT_CODES,
    JSON,
    QUERY,
    REST_JSON,
    Response,
    iam_empty_result,
    iam_error,
    json_response,
    server_error,
    sm_error,
    status_line,
    throttle_error,
)
from .scheduler import RestJsonRoutes, SchedulerCorrections
from .sts import StsCorrections, role_arn_account

DEFAULT_REGION = "us-east-1"
# Used as RotationLambdaARN when a placeholder is created on a secret that has
# none (in the secret's own account and region; this is the one of 123456789012).
DEFAULT_ROTATION_LAMBDA = "arn:aws:lambda:us-east-1:123456789012:function:rotation-emulator"
_LAMBDA_ARN_RE = re.compile(r"arn:aws[\w-]*:lambda:[^:]*:(\d{12}):function:.+")
# Attribute of moto's FakeSecret: the cross-account rotation in progress,
# {"VersionId", "RotationToken"} (correction 13). Dies with the secret.
ROTATION_TOKEN_ATTR = "emulator_rotation_token"
# Secrets Manager calls after which a secret counts as changed (LastChangedDate).
SM_WRITE_ACTIONS = frozenset(
    {
        "PutSecretValue", "UpdateSecretVersionStage", "RotateSecret", "CancelRotateSecret", "UpdateSecret",
        "TagResource", "UntagResource", "PutResourcePolicy", "DeleteResourcePolicy", "DeleteSecret",
        "RestoreSecret", "ReplicateSecretToRegions", "RemoveRegionsFromReplication", "StopReplicationToReplica",
    }
)
# Services a request-rate limit can be set for: those with a throttling error
# of their own (responses.FAULT_CODES). The bounds also refuse NaN and infinity.
RATE_LIMITED_SERVICES = tuple(FAULT_CODES)
MAX_RATE = 100_000
MAX_BURST = 100_000
# X-Amz-Target prefixes of the awsJson services, for unsigned requests.
_TARGET_SERVICES = {"secretsmanager": "secretsmanager", "awsevents": "events", "awsorganizationsv20161128": "organizations"}

_CREDENTIAL_RE = re.compile(r"Credential=([^/,\s]+)/[^/]+/([^/]+)/([^/]+)/aws4_request")

# IAM actions whose NoSuchEntity is about the user's login profile, not the user.
_LOGIN_PROFILE_ACTIONS = frozenset({"GetLoginProfile", "UpdateLoginProfile", "DeleteLoginProfile", "ChangePassword"})
_RESET_FLAG_RE = re.compile(rb"<PasswordResetRequired>[^<]*</PasswordResetRequired>")

# Secrets Manager RotationRules (RotationRulesType) members.
ROTATION_RULE_KEYS = ("AutomaticallyAfterDays", "ScheduleExpression", "Duration")
# Attribute of moto's FakeSecret holding the rules the emulator was given
# (moto itself keeps only auto_rotate_after_days). Dies with the secret, so
# moto's reset clears it.
ROTATION_RULES_ATTR = "emulator_rotation_rules"
_RATE_DAYS_RE = re.compile(r"rate\(\s*(\d+)\s+days?\s*\)")
_SCHEDULE_RE = re.compile(r"(rate|cron)\(.+\)")
_DURATION_RE = re.compile(r"([1-9]|1[0-9]|2[0-4])h")
# Key in a moto version dict: the day (epoch seconds of 00:00 UTC) the version
# was last read by GetSecretValue (ListSecretVersionIds' LastAccessedDate).
LAST_ACCESSED_KEY = "emulator_last_accessed"


def _now() -> float:
    """Now in epoch seconds with millisecond precision, as AWS reports dates."""
    return round(time.time(), 3)


def _operations(service: str) -> frozenset:
    """A service's operation names, from botocore's service model."""
    import botocore.session

    return frozenset(botocore.session.get_session().get_service_model(service).operation_names)


SM_OPERATIONS = _operations("secretsmanager")
# Operations of the non-IAM services the emulator serves: IAM-only fault kinds
# are refused for them.
NON_IAM_OPERATIONS = (
    SM_OPERATIONS | _operations("scheduler") | _operations("events") | _operations("sts") | _operations("organizations")
) - _operations("iam")
# Services spoken in REST-JSON (no X-Amz-Target, no Action): signing name -> routes.
REST_JSON_ROUTES = {"scheduler": RestJsonRoutes("scheduler")}


# ---------------------------------------------------------------------------
# Small request/response value types
# ---------------------------------------------------------------------------


@dataclass
class AwsRequest:
    environ: dict
    body: bytes
    service: str  # the signing name: "iam", "secretsmanager", "scheduler", "events", ...
    action: str
    region: str
    access_key: Optional[str]
    params: dict  # query params (first value), the JSON body, or (REST-JSON) body + path + query members
    protocol: str = QUERY  # QUERY, JSON (awsJson1.1) or REST_JSON
    # Set by a handler that answered success without changing anything (an
    # idempotent retry, a no-op): LastChangedDate then stays.
    unchanged: bool = False

    @property
    def is_json(self) -> bool:
        """Any JSON protocol (awsJson1.1 or REST-JSON), i.e. not IAM's query protocol."""
        return self.protocol != QUERY


def _read_body(environ: dict) -> bytes:
    """Read the whole request body and put a rewindable copy back in ``environ``."""
    stream = environ.get("wsgi.input")
    if stream is None:
        return b""
    length = environ.get("CONTENT_LENGTH")
    if length:
        body = stream.read(int(length))
    elif environ.get("wsgi.input_terminated"):  # chunked: werkzeug de-chunks for us
        body = stream.read()
    else:
        body = b""
    environ["wsgi.input"] = io.BytesIO(body)
    environ["CONTENT_LENGTH"] = str(len(body))
    return body


def parse_aws_request(environ: dict, body: bytes) -> Optional[AwsRequest]:
    """Identify an AWS API call; ``None`` for anything else (e.g. /moto-api)."""
    auth = environ.get("HTTP_AUTHORIZATION", "")
    target = environ.get("HTTP_X_AMZ_TARGET", "")
    match = _CREDENTIAL_RE.search(auth)
    access_key, region, service = (match.groups() if match else (None, DEFAULT_REGION, None))

    if target:
        prefix, _, action = target.partition(".")
        service = service or _TARGET_SERVICES.get(prefix.lower(), prefix.lower())
        try:
            params = json.loads(body or b"{}")
        except ValueError:
            params = {}
        if not isinstance(params, dict):
            params = {}
        return AwsRequest(environ, body, service, action, region, access_key, params, JSON)
    if service == "lambda":
        action, params = parse_lambda_request(environ, body)
        return AwsRequest(environ, body, service, action, region, access_key, params, REST_JSON)
    if service in REST_JSON_ROUTES:
        # REST-JSON: the operation is the method + path.
        method = environ.get("REQUEST_METHOD", "GET")
        # The raw path keeps %2F inside labels (e.g. an ARN in /tags/{ResourceArn}).
        raw_path = (environ.get("RAW_URI") or environ.get("REQUEST_URI") or "").partition("?")[0]
        path = raw_path or environ.get("PATH_INFO", "")
        resolved = REST_JSON_ROUTES[service].resolve(method, path, environ.get("QUERY_STRING", ""), body)
        action, params = resolved if resolved else (f"Unknown({method} {path})", {})
        return AwsRequest(environ, body, service, action, region, access_key, params, REST_JSON)
    params = dict(parse_qsl(environ.get("QUERY_STRING", ""), keep_blank_values=True))
    if environ.get("CONTENT_TYPE", "").startswith("application/x-www-form-urlencoded"):
        params.update(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
    action = params.get("Action", "")
    if not action:
        return None
    service = service or "iam"  # unsigned query call: IAM is the only one we serve
    return AwsRequest(environ, body, service, action, region, access_key, params, QUERY)


def no_such_entity_message(action: str, user_name: Optional[str]) -> str:
    """IAM's NoSuchEntity wording for ``action`` on ``user_name``."""
    if not user_name:
        return "The request was rejected because it referenced a resource entity that does not exist."
    if action in _LOGIN_PROFILE_ACTIONS:
        return f"Login Profile for User {user_name} cannot be found."
    return f"The user with name {user_name} cannot be found."


def fault_response(req: AwsRequest, kind: str, user_name: Optional[str] = None) -> Response:
    """The error an injected fault produces, in the service's protocol and codes.

    ``user_name`` is the user a ``no-such-entity`` fault names when the request
    has no ``UserName`` parameter (e.g. ``ChangePassword`` acts on the caller).
    """
    if kind == "throttle":
        return throttle_error(req.service, req.protocol)
    if kind == "applied-500":
        if req.protocol == QUERY:
            message = "The request processing has failed because of an unknown error (injected fault: the request was applied)."
        else:
            message = "An error occurred on the server side (injected fault: the request was applied)."
        return server_error(req.service, req.protocol, message)
    if req.protocol == QUERY and req.service not in ("iam", None):
        return server_error(req.service, req.protocol, "An error occurred on the server side (injected fault).")
    if req.protocol == QUERY:
        if kind == "no-such-entity":
            message = no_such_entity_message(req.action, req.params.get("UserName") or user_name)
            return iam_error(404, "NoSuchEntity", message)
        if kind == "409":
            return iam_error(
                409,
                "EntityTemporarilyUnmodifiable",
                "The request was rejected because it referenced an entity that is temporarily unmodifiable (injected fault).",
            )
        if kind == "limit-exceeded":
            return iam_error(409, "LimitExceeded", "Request limit exceeded (injected fault).")
        return iam_error(500, "ServiceFailure", "The request processing has failed because of an unknown error (injected fault).")
    return server_error(req.service, req.protocol, "An error occurred on the server side (injected fault).")


class _ControlError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def _control_ok(payload: dict) -> Response:
    return Response(200, [("Content-Type", "application/json")], json.dumps(payload).encode())


def _control_error(status: int, message: str) -> Response:
    return Response(status, [("Content-Type", "application/json")], json.dumps({"error": message}).encode())


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _has_value(version: dict) -> bool:
    return "secret_string" in version or "secret_binary" in version


def _bool_param(value: Optional[str]) -> Optional[bool]:
    if value is None:
        return None
    return str(value).lower() == "true"


def parse_rotation_rules(rules) -> dict:
    """Validate a RotationRules object given to the control API; returns a clean copy."""
    if not isinstance(rules, dict):
        raise _ControlError(400, "'RotationRules' must be an object")
    unknown = sorted(set(rules) - set(ROTATION_RULE_KEYS))
    if unknown:
        raise _ControlError(400, f"unknown RotationRules members {unknown}; allowed: {list(ROTATION_RULE_KEYS)}")
    days = rules.get("AutomaticallyAfterDays")
    expr = rules.get("ScheduleExpression")
    duration = rules.get("Duration")
    if days is not None and (isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= 1000):
        raise _ControlError(400, "RotationRules.AutomaticallyAfterDays must be an integer within 1-1000")
    if expr is not None and (not isinstance(expr, str) or len(expr) > 256 or not _SCHEDULE_RE.fullmatch(expr)):
        raise _ControlError(400, "RotationRules.ScheduleExpression must be 'rate(...)' or 'cron(...)'")
    if duration is not None and (not isinstance(duration, str) or not _DURATION_RE.fullmatch(duration)):
        raise _ControlError(400, "RotationRules.Duration must be '<hours>h' with 1-24 hours, e.g. '2h'")
    if days is not None and expr is not None:
        # AWS refuses this combination (InvalidParameterException).
        raise _ControlError(400, "You cannot specify both rotation frequency and schedule expression together.")
    if days is None and expr is None:
        raise _ControlError(400, "RotationRules needs AutomaticallyAfterDays or ScheduleExpression")
    given = (("AutomaticallyAfterDays", days), ("ScheduleExpression", expr), ("Duration", duration))
    return {key: value for key, value in given if value is not None}


def render_rotation_rules(rules: dict) -> dict:
    """RotationRules as DescribeSecret/ListSecrets show them.

    With a ScheduleExpression AWS also reports the interval in days it derives
    from it; the emulator derives it only from ``rate(N day(s))``.
    """
    out: dict = {}
    expr = rules.get("ScheduleExpression")
    if expr:
        match = _RATE_DAYS_RE.fullmatch(expr)
        if match:
            out["AutomaticallyAfterDays"] = int(match.group(1))
        out["ScheduleExpression"] = expr
    elif rules.get("AutomaticallyAfterDays") is not None:
        out["AutomaticallyAfterDays"] = rules["AutomaticallyAfterDays"]
    if rules.get("Duration"):
        out["Duration"] = rules["Duration"]
    return out


# ---------------------------------------------------------------------------
# The middleware
# ---------------------------------------------------------------------------


class EmulatorApp(
    SchedulerCorrections, EventsCorrections, StsCorrections, OrganizationsCorrections, CredentialReportCorrections,
    BulkCorrections,
):
    """WSGI app: control API under /_emulator/, corrected moto for everything else."""

    def __init__(self) -> None:
        self.moto_app = DomainDispatcherApplication(create_backend_app)
        self.control = ControlState()
        # Serialises every access to moto's (not thread-safe) backends. Holds
        # are waited on outside of it.
        self.aws_lock = threading.RLock()
        # (account id, user name) -> console passwords, oldest first, current last.
        self.password_history: dict = {}
        # (account id, user name, action) an IAM user is denied.
        self.denied: set = set()
        # ChangePassword judges NewPassword before OldPassword (POST /_emulator/iam-behaviour).
        self.change_password_new_first = False
        # Access key ids deleted with DeleteAccessKey: IAM refuses what they sign.
        self.deleted_keys: set = set()
        # (account id, user name) -> the login profile's PasswordResetRequired
        # before its latest change (what a "stale-read" fault answers).
        self.previous_reset_flag: dict = {}
        # (account id, user name) -> epoch seconds of the latest password change
        # (the credential report's password_last_changed).
        self.password_changed: dict = {}
        # The accounts' "creation": the credential report's root user_creation_time.
        self.started_at = time.time()
        self._init_credential_reports()
        self._init_bulk()

        self._iam_handlers: dict[str, Callable[[AwsRequest], Response]] = {
            "CreateLoginProfile": self._iam_create_login_profile,
            "UpdateLoginProfile": self._iam_update_login_profile,
            "ChangePassword": self._iam_change_password,
            "DeleteUser": self._iam_delete_user,
            "GenerateCredentialReport": self._iam_generate_credential_report,
            "GetCredentialReport": self._iam_get_credential_report,
            "GetAccountAuthorizationDetails": self._iam_get_account_authorization_details,
        }
        self._sm_handlers: dict[str, Callable[[AwsRequest], Response]] = {
            "PutSecretValue": self._sm_put_secret_value,
            "GetSecretValue": self._sm_get_secret_value,
            "UpdateSecretVersionStage": self._sm_update_secret_version_stage,
            "DescribeSecret": self._sm_describe_secret,
            "ListSecrets": self._sm_list_secrets,
            "RotateSecret": self._sm_rotate_secret,
            "ListSecretVersionIds": self._sm_list_secret_version_ids,
            "CreateSecret": self._sm_create_secret,
        }

    # -- WSGI entry point --------------------------------------------------

    def __call__(self, environ: dict, start_response):
        path = environ.get("PATH_INFO", "")
        if path.startswith("/_emulator/") or path == "/_emulator":
            resp = self.handle_control(environ)
            return self._send(resp, start_response)

        body = _read_body(environ)
        req = None if path.startswith("/moto-api") else parse_aws_request(environ, body)
        if req is None:
            with self.aws_lock:
                resp = self.forward(environ)
            return self._send(resp, start_response)

        with self.aws_lock:
            account = self.account_id(req)
            details = {**self._call_details(req), **self._signing_user_key(req)}
        record, fault, hold = self.control.begin_call(
            req.service, req.action, json_protocol=req.is_json, account=account, details=details
        )
        if record.throttled:
            # Beyond the service's request rate: refused before any work, as AWS does.
            resp = throttle_error(req.service, req.protocol)
            self.control.finish_call(record, resp.status)
            return self._send(resp, start_response)

        if hold is not None and hold.when == "before":
            # Block before moto sees the call; on release the call is dropped.
            self.control.mark_held(hold)
            hold.wait()
            self.control.finish_hold(hold)
            resp = server_error(req.service, req.protocol, "Request dropped by the emulator (held before).")
            self.control.finish_call(record, resp.status, fault="dropped")
            return self._send(resp, start_response)

        if fault is not None and fault not in AFTER_CALL_KINDS:
            # A fault instead of the call: moto never sees it.
            resp = self._fault_response(req, fault)
        else:
            with self.aws_lock:
                try:
                    resp = self.handle(req)
                except Exception:  # noqa: BLE001 - a moto crash must still answer (and be logged)
                    traceback.print_exc(file=sys.stderr)
                    resp = server_error(req.service, req.protocol, "Unexpected error in the emulated service.")
                if fault == "stale-read":
                    resp = self._stale_login_profile(req, resp)
            if fault == "applied-500":
                # The call was applied; its answer is lost on the way back.
                resp = fault_response(req, fault)
        self.control.finish_call(record, resp.status)

        if hold is not None and hold.when == "after":
            # moto applied the call; block before the client gets the answer.
            self.control.mark_held(hold)
            hold.wait()
            self.control.finish_hold(hold)
        return self._send(resp, start_response)

    @staticmethod
    def _call_details(req: AwsRequest) -> dict:
        """Extra call-log members: for sts:AssumeRole the role asked for (never the ExternalId)."""
        if req.service == "sts" and req.action == "AssumeRole":
            return {
                "RoleArn": req.params.get("RoleArn"),
                "RoleAccount": role_arn_account(req.params.get("RoleArn")),
                "RoleSessionName": req.params.get("RoleSessionName"),
                "HasExternalId": req.params.get("ExternalId") is not None,
            }
        return {}

    def _signing_user_key(self, req: AwsRequest) -> dict:
        """``{"AccessKeyId"}`` for an IAM call signed with an IAM user's own access key
        (one made by ``CreateAccessKey``), so tests can tell whose key signed it."""
        if req.service != "iam" or not req.access_key:
            return {}
        if self.iam_backend(req).get_user_from_access_key_id(req.access_key) is None:
            return {}
        return {"AccessKeyId": req.access_key}

    def _fault_response(self, req: AwsRequest, kind: str) -> Response:
        user_name = None
        if kind == "no-such-entity" and not req.params.get("UserName") and req.access_key:
            # The action acts on the caller (e.g. ChangePassword): name that user.
            with self.aws_lock:
                user = self.iam_backend(req).get_user_from_access_key_id(req.access_key)
            user_name = user.name if user is not None else None
        return fault_response(req, kind, user_name)

    def _stale_login_profile(self, req: AwsRequest, resp: Response) -> Response:
        """Answer GetLoginProfile with the PasswordResetRequired of before the latest change.

        IAM is eventually consistent: a read right after UpdateLoginProfile may
        still see the old flag. Without a known earlier value (a new profile),
        the opposite of the current flag is reported.
        """
        if resp.status != 200:
            return resp
        name = req.params.get("UserName")
        backend = self.iam_backend(req)
        user = backend.users.get(name) if name else (
            backend.get_user_from_access_key_id(req.access_key) if req.access_key else None
        )
        if user is None:
            return resp
        current = bool(user.password_reset_required)
        stale = self.previous_reset_flag.get((self.account_id(req), user.name), not current)
        element = f"<PasswordResetRequired>{'true' if stale else 'false'}</PasswordResetRequired>".encode()
        body, replaced = _RESET_FLAG_RE.subn(element, resp.body, count=1)
        if not replaced:
            body = resp.body.replace(b"</LoginProfile>", element + b"</LoginProfile>", 1)
        resp.body = body
        return resp

    @staticmethod
    def _send(resp: Response, start_response):
        headers = [(k, v) for k, v in resp.headers if k.lower() not in ("content-length", "transfer-encoding")]
        headers.append(("Content-Length", str(len(resp.body))))
        start_response(status_line(resp.status), headers)
        return [resp.body]

    def forward(self, environ: dict) -> Response:
        """Run the request through moto unchanged and buffer its response."""
        captured: dict = {}
        chunks: list = []

        def start_response(status, headers, exc_info=None):
            captured["status"] = int(status.split(" ", 1)[0])
            captured["headers"] = list(headers)
            return chunks.append

        environ["wsgi.input"].seek(0)
        result = self.moto_app(environ, start_response)
        try:
            for chunk in result:
                chunks.append(chunk)
        finally:
            if hasattr(result, "close"):
                result.close()
        return Response(captured.get("status", 500), captured.get("headers", []), b"".join(chunks))

    def handle(self, req: AwsRequest) -> Response:
        """Dispatch one AWS call to a correction handler or straight to moto."""
        if req.service == "iam":
            if req.access_key in self.deleted_keys:
                # A deleted key signs nothing (correction 3).
                return iam_error(403, "InvalidClientTokenId", "The security token included in the request is invalid.")
            handler = self._iam_handlers.get(req.action)
            resp = handler(req) if handler else self.forward(req.environ)
            if req.action == "DeleteAccessKey" and resp.status == 200:
                self.deleted_keys.add(req.params.get("AccessKeyId"))
            return resp
        if req.service == "secretsmanager":
            handler = self._sm_handlers.get(req.action)
            resp = handler(req) if handler else self.forward(req.environ)
            # moto labels some JSON answers text/html; AWS always sends this type.
            resp.headers = [(k, v) for k, v in resp.headers if k.lower() != "content-type"]
            resp.headers.append(("Content-Type", "application/x-amz-json-1.1"))
            if resp.status == 200:
                self._sm_sync_after_success(req)
                if req.action in SM_WRITE_ACTIONS and not req.unchanged:
                    secret = self._sm_secret(req)
                    if secret is not None:
                        secret.last_changed_date = _now()
            elif resp.status == 404:
                # moto answers some Secrets Manager errors with 404; AWS uses
                # 400 for every Secrets Manager client error.
                resp.status = 400
            return resp
        if req.service == "scheduler":
            return self.handle_scheduler(req)
        if req.service == "events":
            return self.handle_events(req)
        if req.service == "sts":
            return self.handle_sts(req)
        if req.service == "organizations":
            return self.handle_organizations(req)
        if req.service == "lambda":
            return self.handle_lambda(req)
        return self.forward(req.environ)

    # -- account / backend lookup -------------------------------------------

    def account_id(self, req: AwsRequest) -> str:
        """The account moto would use for this request (same precedence as moto)."""
        if os.environ.get("MOTO_ACCOUNT_ID"):
            return os.environ["MOTO_ACCOUNT_ID"]
        header = req.environ.get("HTTP_X_MOTO_ACCOUNT_ID")
        if header:
            return header
        return get_account_id_from(req.access_key) if req.access_key else DEFAULT_ACCOUNT_ID

    def iam_backend(self, req: AwsRequest):
        return iam_backends[self.account_id(req)][get_partition(req.region)]

    def sm_backend(self, req: AwsRequest):
        return secretsmanager_backends[self.account_id(req)][req.region]

    # -- password history ---------------------------------------------------

    def history(self, account_id: str, user) -> list:
        """The user's password history; seeded from moto if we never saw it set."""
        key = (account_id, user.name)
        hist = self.password_history.get(key)
        if not hist and user.password:
            hist = [user.password]
            self.password_history[key] = hist
        return list(hist or [])

    def remember_password(self, account_id: str, user_name: str, password: str) -> None:
        key = (account_id, user_name)
        self.password_history[key] = pw.append_history(self.password_history.get(key, []), password)

    def note_reset_flag(self, account_id: str, user_name: str, before: bool, after: bool) -> None:
        """Remember the login profile's flag before a write that changes it (for stale-read)."""
        if bool(before) != bool(after):
            self.previous_reset_flag[(account_id, user_name)] = bool(before)

    @staticmethod
    def account_policy(backend) -> Optional[pw.PasswordPolicy]:
        moto_policy = getattr(backend, "account_password_policy", None)
        return pw.PasswordPolicy.from_moto(moto_policy) if moto_policy else None

    # -- IAM corrections -------------------------------------------------------

    def _iam_create_login_profile(self, req: AwsRequest) -> Response:
        backend = self.iam_backend(req)
        account = self.account_id(req)
        user = backend.users.get(req.params.get("UserName") or "")
        if user is None or user.password:
            # Let moto produce NoSuchEntity (404) / EntityAlreadyExists (409):
            # existence is checked before the password, as in AWS.
            return self.forward(req.environ)
        password = req.params.get("Password")
        violation = pw.check_password(password, self.account_policy(backend), self.history(account, user))
        if violation:
            return iam_error(400, violation.code, violation.message)

        previous_flag = user.password_reset_required
        # moto ignores PasswordResetRequired on create and keeps the flag of a
        # deleted profile; a new profile has the parameter's value (default
        # false). Set it so that the response and GetLoginProfile report it.
        user.password_reset_required = bool(_bool_param(req.params.get("PasswordResetRequired")))
        resp = self.forward(req.environ)
        if resp.status == 200:
            self.remember_password(account, user.name, password)
            self.password_changed[(account, user.name)] = _now()
            # A new profile has no earlier PasswordResetRequired value.
            self.previous_reset_flag.pop((account, user.name), None)
        else:
            user.password_reset_required = previous_flag
        return resp

    def _iam_update_login_profile(self, req: AwsRequest) -> Response:
        # Implemented here rather than forwarded: moto sets the password to None
        # when the Password parameter is absent and stores PasswordResetRequired
        # as a raw string.
        backend = self.iam_backend(req)
        account = self.account_id(req)
        user = backend.users.get(req.params.get("UserName") or "")
        if user is None or not user.password:
            return self.forward(req.environ)  # moto's NoSuchEntity (404)

        password = req.params.get("Password")
        if "Password" in req.params:
            violation = pw.check_password(password, self.account_policy(backend), self.history(account, user))
            if violation:
                return iam_error(400, violation.code, violation.message)
            user.password = password
            self.remember_password(account, user.name, password)
            self.password_changed[(account, user.name)] = _now()
        reset_required = _bool_param(req.params.get("PasswordResetRequired"))
        if reset_required is not None:
            self.note_reset_flag(account, user.name, user.password_reset_required, reset_required)
            user.password_reset_required = reset_required
        return iam_empty_result("UpdateLoginProfile")

    def _iam_change_password(self, req: AwsRequest) -> Response:
        # moto 5.2.5 has no ChangePassword at all.
        backend = self.iam_backend(req)
        account = self.account_id(req)
        user = backend.get_user_from_access_key_id(req.access_key) if req.access_key else None
        if user is None:
            return iam_error(
                400,
                "InvalidUserType",
                "The request was rejected because the type of user for the transaction was incorrect: "
                "only IAM users can change their own password.",
            )
        if (account, user.name, "ChangePassword") in self.denied:
            # IAM permissions are not evaluated; this stands in for a user without
            # iam:ChangePassword (see README, correction 3).
            return iam_error(
                403,
                "AccessDenied",
                f"User: arn:aws:iam::{account}:user/{user.name} is not authorized to perform: "
                f"iam:ChangePassword on resource: user {user.name}",
            )
        if not user.password:
            return iam_error(404, "NoSuchEntity", f"Login Profile for User {user.name} cannot be found.")

        old = req.params.get("OldPassword")
        new = req.params.get("NewPassword")
        violation = pw.check_api_constraints(old, "oldPassword") or pw.check_api_constraints(new, "newPassword")
        if violation:
            return iam_error(400, violation.code, violation.message)
        # Which IAM judges first is not documented by AWS; see README ("wrong OldPassword"
        # and "ChangePassword's order").
        violation = pw.check_policy(new, self.account_policy(backend), self.history(account, user))
        if violation and self.change_password_new_first:
            return iam_error(400, violation.code, violation.message)
        if old != user.password:
            return iam_error(403, "AccessDenied", "The old password is incorrect.")
        if violation:
            return iam_error(400, violation.code, violation.message)

        user.password = new
        self.note_reset_flag(account, user.name, user.password_reset_required, False)
        user.password_reset_required = False  # a user-chosen password satisfies a reset
        self.remember_password(account, user.name, new)
        self.password_changed[(account, user.name)] = _now()
        return iam_empty_result("ChangePassword")

    def _iam_delete_user(self, req: AwsRequest) -> Response:
        resp = self.forward(req.environ)
        if resp.status == 200:
            # A new user with the same name is a new entity: forget its passwords.
            key = (self.account_id(req), req.params.get("UserName"))
            self.password_history.pop(key, None)
            self.previous_reset_flag.pop(key, None)
            self.password_changed.pop(key, None)
        return resp

    # -- Secrets Manager corrections -----------------------------------------

    def _sm_secret(self, req: AwsRequest) -> Optional[FakeSecret]:
        secret_id = req.params.get("SecretId")
        if not secret_id:
            return None
        secret = self.sm_backend(req).secrets.get(secret_id)
        return secret if isinstance(secret, FakeSecret) else None

    def _sm_put_secret_value(self, req: AwsRequest) -> Response:
        secret = self._sm_secret(req)
        token = req.params.get("ClientRequestToken")
        refused = self._sm_check_rotation_token(req, secret, token)
        if refused is not None:
            return refused
        if secret is None or not token or token not in secret.versions:
            return self._sm_put_new_version(req, secret)
        version = secret.versions[token]
        if not _has_value(version):
            # A rotation placeholder (AWSPENDING, no value): filling it is what
            # the rotation Lambda's createSecret step does. moto handles it.
            return self._sm_put_new_version(req, secret)
        same = version.get("secret_string") == req.params.get("SecretString") and version.get(
            "secret_binary"
        ) == req.params.get("SecretBinary")
        if not same:
            return sm_error(
                "ResourceExistsException",
                f"You can't use ClientRequestToken {token} because that value is already in use "
                f"for a version of secret {secret.arn}.",
            )
        # Idempotent retry: nothing changes, answer with the existing version.
        req.unchanged = True
        return json_response(
            200,
            {
                "ARN": secret.arn,
                "Name": secret.name,
                "VersionId": token,
                "VersionStages": list(version["version_stages"]),
            },
        )

    @staticmethod
    def _sm_check_rotation_token(req: AwsRequest, secret: Optional[FakeSecret], token) -> Optional[Response]:
        """A cross-account rotation's PutSecretValue must carry its RotationToken (correction 13)."""
        rotation = getattr(secret, ROTATION_TOKEN_ATTR, None) if secret is not None else None
        if not rotation or not token or rotation["VersionId"] != token:
            return None
        version = secret.versions.get(token)
        if version is None or "AWSPENDING" not in version["version_stages"] or "AWSCURRENT" in version["version_stages"]:
            return None  # that rotation is no longer in progress
        given = req.params.get("RotationToken")
        if given is None:
            return sm_error(
                "AccessDeniedException",
                f"The RotationToken is missing: a rotation of secret {secret.arn} by a rotation function in another "
                "account must pass the RotationToken of its rotation event to PutSecretValue.",
            )
        if given != rotation["RotationToken"]:
            return sm_error(
                "AccessDeniedException",
                f"The RotationToken does not match the rotation in progress for secret {secret.arn}.",
            )
        return None

    def _sm_put_new_version(self, req: AwsRequest, secret: Optional[FakeSecret]) -> Response:
        """Forward a PutSecretValue that stores a value; then fix the other versions' labels.

        AWS moves only the labels the new version takes (and AWSPREVIOUS to the
        version that lost AWSCURRENT). moto replaces all labels of the old
        AWSCURRENT version by AWSPREVIOUS (dropping e.g. AWSPENDING or a custom
        label) and, when AWSCURRENT moves, leaves the other requested labels on
        their old versions too.
        """
        if secret is None:
            return self.forward(req.environ)
        before = {vid: list(v["version_stages"]) for vid, v in secret.versions.items()}
        created_before = {vid: v.get("createdate") for vid, v in secret.versions.items()}
        started = _now()
        resp = self.forward(req.environ)
        if resp.status != 200:
            return resp
        new_id = resp.json().get("VersionId")
        new_version = secret.versions.get(new_id)
        if new_version is None:
            return resp
        # moto stamps whole seconds (and re-stamps a filled placeholder); AWS
        # has milliseconds, and the version was created with the placeholder.
        new_version["createdate"] = created_before.get(new_id) or started
        taken = list(new_version["version_stages"])
        current_moved = "AWSCURRENT" in taken
        for vid, stages in before.items():
            if vid == new_id or vid not in secret.versions:
                continue
            kept = [s for s in stages if s not in taken]
            if current_moved:
                kept = [s for s in kept if s != "AWSPREVIOUS"]
                if "AWSCURRENT" in stages and "AWSPREVIOUS" not in taken:
                    kept.append("AWSPREVIOUS")
            secret.versions[vid]["version_stages"] = kept
        return resp

    def _sm_get_secret_value(self, req: AwsRequest) -> Response:
        resp = self._sm_get_secret_value_checked(req)
        if resp.status == 200:
            # ListSecretVersionIds' LastAccessedDate: the day (UTC) of the latest read.
            secret = self._sm_secret(req)
            version = secret.versions.get(resp.json().get("VersionId")) if secret is not None else None
            if version is not None:
                version[LAST_ACCESSED_KEY] = (int(time.time()) // 86400) * 86400
        return resp

    def _sm_get_secret_value_checked(self, req: AwsRequest) -> Response:
        secret = self._sm_secret(req)
        if secret is None or secret.is_deleted():
            return self.forward(req.environ)
        version_id = req.params.get("VersionId")
        stage = req.params.get("VersionStage")
        if version_id:
            version = secret.versions.get(version_id)
            if version is not None and stage and stage not in version["version_stages"]:
                return self.forward(req.environ)  # moto's stage/version mismatch error
        else:
            wanted = stage or "AWSCURRENT"
            version = next((v for v in secret.versions.values() if wanted in v["version_stages"]), None)
        if version is not None and not _has_value(version):
            label = f"VersionId: {version_id}" if version_id else f"staging label: {stage or 'AWSCURRENT'}"
            return sm_error(
                "ResourceNotFoundException",
                f"Secrets Manager can't find the specified secret value for {label}",
            )
        if version is not None and not version_id:
            # Ask moto for the resolved version explicitly: moto resolves "no
            # VersionId" through a cached default that may be stale.
            req.params["VersionId"] = version["version_id"]
            return self._forward_json(req, req.params)
        return self.forward(req.environ)

    def _sm_update_secret_version_stage(self, req: AwsRequest) -> Response:
        secret = self._sm_secret(req)
        stage = req.params.get("VersionStage")
        if secret is None or not stage:
            return self.forward(req.environ)
        remove_from = req.params.get("RemoveFromVersionId")
        move_to = req.params.get("MoveToVersionId")
        holder = next((vid for vid, v in secret.versions.items() if stage in v["version_stages"]), None)
        if move_to and move_to in secret.versions and holder == move_to and remove_from in (None, move_to):
            # Label already where it should be (e.g. a retried finishSecret):
            # AWS treats this as a no-op; moto would attach it twice.
            req.unchanged = True
            return json_response(200, {"ARN": secret.arn, "Name": secret.name})
        if move_to and holder and holder != move_to and remove_from != holder:
            return sm_error(
                "InvalidParameterException",
                f"The parameter RemoveFromVersionId can't be empty. Staging label {stage} is currently "
                f"attached to version {holder}, so you must explicitly reference that version in "
                "RemoveFromVersionId.",
            )
        finishes_rotation = (
            stage == "AWSCURRENT"
            and move_to in secret.versions
            and "AWSPENDING" in secret.versions[move_to]["version_stages"]
        )
        resp = self.forward(req.environ)
        if resp.status == 200 and finishes_rotation:
            # AWSCURRENT moved onto the rotation's AWSPENDING version: the
            # rotation finished (moto sets LastRotatedDate only in its own RotateSecret).
            secret.last_rotation_date = _now()
        return resp

    def _sm_describe_secret(self, req: AwsRequest) -> Response:
        resp = self.forward(req.environ)
        if resp.status == 200:
            doc = resp.json()
            self._correct_secret_entry(doc, self._sm_secret(req))
            resp.body = json.dumps(doc).encode()
        return resp

    def _sm_list_secrets(self, req: AwsRequest) -> Response:
        resp = self.forward(req.environ)
        if resp.status == 200:
            doc = resp.json()
            secrets = self.sm_backend(req).secrets
            for entry in doc.get("SecretList") or []:
                if isinstance(entry, dict) and entry.get("ARN"):
                    self._correct_secret_entry(entry, secrets.get(entry["ARN"]))
            resp.body = json.dumps(doc).encode()
        return resp

    @staticmethod
    def _correct_secret_entry(doc: dict, secret) -> None:
        """Fix one DescribeSecret / ListSecrets entry in place."""
        # AWS omits LastRotatedDate/NextRotationDate while rotation is not
        # enabled, and absent dates; moto sends nulls.
        for key in ("LastRotatedDate", "NextRotationDate"):
            if not doc.get("RotationEnabled") or doc.get(key) is None:
                doc.pop(key, None)
        # LastAccessedDate: the day of the latest GetSecretValue (moto: null).
        accessed = [v.get(LAST_ACCESSED_KEY) for v in getattr(secret, "versions", {}).values()]
        accessed = [a for a in accessed if a is not None]
        if accessed:
            doc["LastAccessedDate"] = max(accessed)
        for key in ("DeletedDate", "LastAccessedDate"):
            if doc.get(key) is None:
                doc.pop(key, None)
        # AWS lists only versions that still carry a staging label.
        for key in ("VersionIdsToStages", "SecretVersionsToStages"):
            if isinstance(doc.get(key), dict):
                doc[key] = {vid: stages for vid, stages in doc[key].items() if stages}
        # moto renders only AutomaticallyAfterDays; show the rules as given.
        rules = getattr(secret, ROTATION_RULES_ATTR, None)
        if rules and "RotationRules" in doc:
            doc["RotationRules"] = render_rotation_rules(rules)

    def _sm_missing(self, req: AwsRequest) -> Optional[Response]:
        """The answer for a SecretId that names no (primary) secret, or None if it does."""
        secret_id = req.params.get("SecretId")
        if secret_id and self.sm_backend(req).secrets.get(secret_id) is not None:
            return self.forward(req.environ)  # a replica: moto's OperationNotPermittedOnReplica etc.
        return sm_error("ResourceNotFoundException", "Secrets Manager can't find the specified secret.")

    def _sm_rotate_secret(self, req: AwsRequest) -> Response:
        """Start a rotation as AWS does, without invoking anything (see README, correction 6).

        moto 5.2.5 refuses when AWSPENDING is on the AWSCURRENT version (AWS
        proceeds), does not refuse when it is on another version (AWS does),
        and invokes a moto Lambda function.
        """
        secret = self._sm_secret(req)
        if secret is None:
            return self._sm_missing(req)
        if secret.is_deleted():
            return sm_error(
                "InvalidRequestException",
                "You can't perform this operation on the secret because it was marked for deletion.",
            )
        token = req.params.get("ClientRequestToken")
        if token is not None and (not isinstance(token, str) or not 32 <= len(token) <= 64):
            return sm_error("InvalidParameterException", "ClientRequestToken must be 32-64 characters long.")
        lambda_arn = req.params.get("RotationLambdaARN")
        if lambda_arn is not None and (not isinstance(lambda_arn, str) or len(lambda_arn) > 2048):
            return sm_error("InvalidParameterException", "RotationLambdaARN must <= 2048 characters long.")
        lambda_arn = lambda_arn or secret.rotation_lambda_arn
        if not lambda_arn:
            return sm_error(
                "InvalidRequestException", "No Lambda rotation function ARN is associated with this secret."
            )
        rules = None
        if req.params.get("RotationRules") is not None:
            try:
                rules = parse_rotation_rules(req.params["RotationRules"])
            except _ControlError as err:
                return sm_error("InvalidParameterException", str(err))
        immediately = req.params.get("RotateImmediately")
        immediately = True if immediately is None else bool(immediately)

        pending = next((vid for vid, v in secret.versions.items() if "AWSPENDING" in v["version_stages"]), None)
        if pending is not None and "AWSCURRENT" not in secret.versions[pending]["version_stages"]:
            if token == pending:
                # The SDK's retry of the RotateSecret that started this rotation
                # (same ClientRequestToken): nothing new is created.
                req.unchanged = True
                return json_response(200, {"ARN": secret.arn, "Name": secret.name, "VersionId": pending})
            return sm_error(
                "InvalidRequestException", "A previous rotation isn't complete. That rotation will be reattempted."
            )
        if token is not None and token in secret.versions:
            return sm_error(
                "ResourceExistsException",
                f"You can't use ClientRequestToken {token} because that value is already in use "
                f"for a version of secret {secret.arn}.",
            )
        token = token or str(uuid.uuid4())
        current = next((v for v in secret.versions.values() if "AWSCURRENT" in v["version_stages"]), None)
        # RotateImmediately=false: AWS only runs testSecret, on an AWSPENDING
        # version holding the current value.
        self._add_pending_version(secret, token, value_of=None if immediately else current)
        self._enable_rotation(secret, lambda_arn, rules)
        rotation_token = self._start_rotation_token(secret, token, lambda_arn)
        self.control.record_rotation(
            {
                "SecretArn": secret.arn,
                "ClientRequestToken": token,
                "RotationLambdaARN": lambda_arn,
                "RotateImmediately": immediately,
                "RotationToken": rotation_token,
                "time": time.time(),
            }
        )
        return json_response(200, {"ARN": secret.arn, "Name": secret.name, "VersionId": token})

    @staticmethod
    def _start_rotation_token(secret: FakeSecret, version_id: str, lambda_arn: str, given: Optional[str] = None):
        """The RotationToken of a rotation whose function is in another account
        than the secret (or ``given``), remembered on the secret; None otherwise."""
        match = _LAMBDA_ARN_RE.fullmatch(lambda_arn or "")
        cross_account = match is not None and match.group(1) != secret.account_id
        rotation_token = given or (str(uuid.uuid4()) if cross_account else None)
        setattr(
            secret, ROTATION_TOKEN_ATTR, {"VersionId": version_id, "RotationToken": rotation_token} if rotation_token else None
        )
        return rotation_token

    @staticmethod
    def default_rotation_lambda(secret: FakeSecret) -> str:
        """The placeholder rotation function: in the secret's own account and region."""
        return f"arn:aws:lambda:{secret.region}:{secret.account_id}:function:rotation-emulator"

    @staticmethod
    def _add_pending_version(secret: FakeSecret, token: str, value_of: Optional[dict] = None) -> None:
        """Version ``token`` staged AWSPENDING (taken off any other version), created now.

        Without ``value_of`` it has no value (a rotation placeholder); otherwise
        it holds that version's value.
        """
        secret.remove_version_stages_from_old_versions(["AWSPENDING"])
        version = {"createdate": _now(), "version_id": token, "version_stages": ["AWSPENDING"]}
        for key in ("secret_string", "secret_binary"):
            if value_of is not None and value_of.get(key) is not None:
                version[key] = value_of[key]
        secret.versions[token] = version

    def _enable_rotation(self, secret: FakeSecret, lambda_arn: str, rules: Optional[dict]) -> dict:
        """Rotation enabled with ``lambda_arn`` and ``rules`` (kept if None); returns the rules shown."""
        secret.rotation_requested = True  # makes moto report the Rotation* fields
        secret.rotation_enabled = True
        secret.rotation_lambda_arn = lambda_arn
        return self._set_rotation_rules(secret, rules)

    def _sm_list_secret_version_ids(self, req: AwsRequest) -> Response:
        """Implemented here: moto reports every CreatedDate/LastAccessedDate as "now", the name as
        ARN, lists unlabelled versions, ignores IncludeDeprecated/MaxResults and crashes (500)
        on a missing secret."""
        secret = self._sm_secret(req)
        if secret is None:
            return self._sm_missing(req)
        include_deprecated = req.params.get("IncludeDeprecated") is True
        max_results = req.params.get("MaxResults")
        if max_results is not None and (
            isinstance(max_results, bool) or not isinstance(max_results, int) or not 1 <= max_results <= 100
        ):
            return sm_error("InvalidParameterException", "MaxResults must be an integer within 1-100.")
        offset = 0
        next_token = req.params.get("NextToken")
        if next_token is not None:
            match = re.fullmatch(r"v1:(\d+)", str(next_token))
            if not match:
                return sm_error("InvalidNextTokenException", "The NextToken value is invalid.")
            offset = int(match.group(1))
        listed = [v for v in secret.versions.values() if include_deprecated or v["version_stages"]]
        end = len(listed) if max_results is None else offset + max_results
        versions = []
        for version in listed[offset:end]:
            entry = {
                "VersionId": version["version_id"],
                "VersionStages": list(version["version_stages"]),
                "CreatedDate": version.get("createdate"),
            }
            if version.get(LAST_ACCESSED_KEY) is not None:
                entry["LastAccessedDate"] = version[LAST_ACCESSED_KEY]
            versions.append(entry)
        doc = {"Versions": versions, "ARN": secret.arn, "Name": secret.name}
        if end < len(listed):
            doc["NextToken"] = f"v1:{end}"
        return json_response(200, doc)

    def _sm_create_secret(self, req: AwsRequest) -> Response:
        started = _now()
        resp = self.forward(req.environ)
        if resp.status == 200:
            # moto stamps the first version with whole seconds; AWS has milliseconds.
            secret = self.sm_backend(req).secrets.get(resp.json().get("ARN") or "")
            version = secret.versions.get(resp.json().get("VersionId")) if isinstance(secret, FakeSecret) else None
            if version is not None:
                version["createdate"] = started
        return resp

    def _sm_sync_after_success(self, req: AwsRequest) -> None:
        """Keep moto's cached current version in line with the AWSCURRENT label."""
        secret = self._sm_secret(req)
        if secret is None:
            return
        for vid, version in secret.versions.items():
            # De-duplicate labels (moto appends without checking).
            version["version_stages"] = list(dict.fromkeys(version["version_stages"]))
            if "AWSCURRENT" in version["version_stages"]:
                secret.default_version_id = vid

    def _forward_json(self, req: AwsRequest, params: dict) -> Response:
        """Forward a JSON-protocol request to moto with a rewritten body.

        The signature no longer matches the body, which moto does not check.
        """
        body = json.dumps(params).encode()
        environ = dict(req.environ)
        environ["wsgi.input"] = io.BytesIO(body)
        environ["CONTENT_LENGTH"] = str(len(body))
        return self.forward(environ)

    # -- control API ------------------------------------------------------------

    def handle_control(self, environ: dict) -> Response:
        """Serve ``/_emulator/...``; these requests are not AWS calls."""
        method = environ.get("REQUEST_METHOD", "GET").upper()
        path = environ.get("PATH_INFO", "").rstrip("/")
        body = _read_body(environ)
        try:
            payload = json.loads(body) if body.strip() else {}
        except ValueError:
            return _control_error(400, "body is not JSON")
        if not isinstance(payload, dict):
            return _control_error(400, "body must be a JSON object")
        query = {k: v[0] for k, v in parse_qs(environ.get("QUERY_STRING", "")).items()}

        route = self._control_routes().get((method, path))
        if route is None:
            return _control_error(404, f"no control endpoint {method} {path}")
        try:
            return route(payload, query)
        except _ControlError as err:
            return _control_error(err.status, str(err))

    def _control_routes(self) -> dict:
        return {
            ("POST", "/_emulator/reset"): self._ctl_reset,
            ("GET", "/_emulator/calls"): lambda p, q: _control_ok(self.control.calls()),
            ("POST", "/_emulator/calls/clear"): self._ctl_clear_calls,
            ("GET", "/_emulator/faults"): lambda p, q: _control_ok({"faults": self.control.faults()}),
            ("POST", "/_emulator/faults"): self._ctl_add_fault,
            ("DELETE", "/_emulator/faults"): self._ctl_clear_faults,
            ("GET", "/_emulator/hold"): lambda p, q: _control_ok(self.control.hold_state()),
            ("POST", "/_emulator/hold"): self._ctl_hold,
            ("POST", "/_emulator/release"): self._ctl_release,
            ("POST", "/_emulator/rotation-placeholder"): self._ctl_rotation_placeholder,
            ("POST", "/_emulator/rotation-enabled"): self._ctl_rotation_enabled,
            ("POST", "/_emulator/deny"): self._ctl_deny,
            ("POST", "/_emulator/iam-behaviour"): self._ctl_iam_behaviour,
            ("POST", "/_emulator/version-created"): self._ctl_version_created,
            ("GET", "/_emulator/iam-password"): self._ctl_iam_password,
            ("GET", "/_emulator/rotations"): lambda p, q: _control_ok({"rotations": self.control.rotations()}),
            ("POST", "/_emulator/rotations/clear"): self._ctl_clear_rotations,
            ("GET", "/_emulator/events"): lambda p, q: _control_ok({"events": self.control.events()}),
            ("POST", "/_emulator/events/clear"): self._ctl_clear_events,
            ("GET", "/_emulator/schedules"): lambda p, q: _control_ok({"schedules": self.all_schedules()}),
            ("POST", "/_emulator/schedules/fire"): self._ctl_fire_schedule,
            ("POST", "/_emulator/organization"): self._ctl_organization,
            ("POST", "/_emulator/credential-report/expire"): self._ctl_expire_credential_report,
            ("POST", "/_emulator/credential-report/delay"): self._ctl_credential_report_delay,
            ("POST", "/_emulator/password-last-changed"): self._ctl_password_last_changed,
            ("POST", "/_emulator/secret-dates"): self._ctl_secret_dates,
            ("POST", "/_emulator/rate-limit"): self._ctl_set_rate_limit,
            ("GET", "/_emulator/rate-limit"): lambda p, q: _control_ok({"rate_limits": self.control.rate_limits()}),
            ("DELETE", "/_emulator/rate-limit"): self._ctl_clear_rate_limits,
            ("POST", "/_emulator/seed-users"): self._ctl_seed_users,
            ("GET", "/_emulator/lambda-invocations"): lambda p, q: _control_ok(
                {"invocations": list(self.lambda_invocations)}),
            ("POST", "/_emulator/lambda-invocations/take"): lambda p, q: _control_ok(
                {"invocations": self.take_lambda_invocations()}),
        }

    def reset(self) -> None:
        """Reset every moto backend and all emulator state."""
        with self.aws_lock:
            # Also drops what the emulator keeps on moto's objects: rotation
            # rules, version dates, schedules' client tokens.
            moto_api_backend.reset()
            # moto's reset keeps this map (member account -> management
            # account): a member of a former organisation could neither join
            # nor create one.
            organizations_backends.master_accounts.clear()
            self.password_history.clear()
            self.denied.clear()
            self.change_password_new_first = False
            self.deleted_keys.clear()
            self.previous_reset_flag.clear()
            self.password_changed.clear()
            self._reset_credential_reports()
            self._reset_bulk()
        self.control.reset()

    def _ctl_reset(self, payload: dict, query: dict) -> Response:
        self.reset()
        return _control_ok({"status": "ok"})

    def _ctl_clear_calls(self, payload: dict, query: dict) -> Response:
        self.control.clear_calls()
        return _control_ok({"status": "ok"})

    def _ctl_clear_rotations(self, payload: dict, query: dict) -> Response:
        self.control.clear_rotations()
        return _control_ok({"status": "ok"})

    def _ctl_clear_events(self, payload: dict, query: dict) -> Response:
        self.control.clear_events()
        return _control_ok({"status": "ok"})

    def _ctl_fire_schedule(self, payload: dict, query: dict) -> Response:
        name = payload.get("Name")
        group = payload.get("GroupName") or "default"
        if not isinstance(name, str) or not name or not isinstance(group, str):
            raise _ControlError(400, "'Name' (and optionally 'GroupName') must be strings")
        account = payload.get("AccountId", DEFAULT_ACCOUNT_ID)
        region = payload.get("Region", DEFAULT_REGION)
        try:
            fired = self.fire_schedule(name, group, account, region)
        except LookupError as err:
            raise _ControlError(404, str(err.args[0])) from None
        except PermissionError as err:
            raise _ControlError(409, str(err)) from None
        return _control_ok({"status": "ok", **fired})

    def _ctl_add_fault(self, payload: dict, query: dict) -> Response:
        action = payload.get("action")
        kind = str(payload.get("kind", ""))
        nth = payload.get("nth", 1)
        count = payload.get("count", 1)
        account = payload.get("account")
        if not isinstance(action, str) or not action:
            raise _ControlError(400, "'action' must be an API action name or '*'")
        if account is not None and (not isinstance(account, str) or not ACCOUNT_ID_RE.fullmatch(account)):
            raise _ControlError(400, "'account' must be a 12-digit account id")
        if kind not in FAULT_KINDS:
            raise _ControlError(400, f"'kind' must be one of {list(FAULT_KINDS)}")
        if not isinstance(nth, int) or not isinstance(count, int) or nth < 1 or count < 1:
            raise _ControlError(400, "'nth' and 'count' must be integers >= 1")
        only_for = SINGLE_ACTION_KINDS.get(kind)
        if only_for is not None and action != only_for:
            raise _ControlError(
                400,
                f"fault kind {kind!r} exists only for {only_for}: it answers with the PasswordResetRequired "
                "flag the login profile had before its latest change (IAM's eventual consistency)",
            )
        if kind in IAM_ONLY_KINDS and (action == "*" or action in NON_IAM_OPERATIONS):
            raise _ControlError(
                400, f"fault kind {kind!r} exists only for IAM actions; name an IAM action explicitly"
            )
        self.control.add_fault(action, kind, nth, count, account)
        return _control_ok({"status": "ok", "faults": self.control.faults()})

    def _ctl_set_rate_limit(self, payload: dict, query: dict) -> Response:
        """Limit a service's request rate (a token bucket); calls beyond it are throttled."""
        service = payload.get("service")
        rate = payload.get("rate")
        if service not in RATE_LIMITED_SERVICES:
            raise _ControlError(400, f"'service' must be one of {list(RATE_LIMITED_SERVICES)}")
        if not _is_number(rate) or not 0 < rate <= MAX_RATE:
            raise _ControlError(400, f"'rate' must be a number of requests per second within (0, {MAX_RATE}]")
        burst = payload.get("burst", math.ceil(rate))  # default: one second's worth
        if isinstance(burst, bool) or not isinstance(burst, int) or not 1 <= burst <= MAX_BURST:
            raise _ControlError(400, f"'burst' must be an integer within 1-{MAX_BURST}")
        state = self.control.set_rate_limit(service, rate, burst)
        return _control_ok({"status": "ok", "service": service, **state})

    def _ctl_clear_rate_limits(self, payload: dict, query: dict) -> Response:
        self.control.clear_rate_limits()
        return _control_ok({"status": "ok"})

    def _ctl_clear_faults(self, payload: dict, query: dict) -> Response:
        self.control.clear_faults()
        return _control_ok({"status": "ok"})

    def _ctl_hold(self, payload: dict, query: dict) -> Response:
        index = payload.get("index")
        when = payload.get("when")
        if not isinstance(index, int) or index < 1:
            raise _ControlError(400, "'index' must be an integer >= 1 (1 = the next AWS call)")
        if when not in ("before", "after"):
            raise _ControlError(400, "'when' must be 'before' or 'after'")
        hold = self.control.arm_hold(index, when)
        return _control_ok({"status": "ok", "target_index": hold.target_index, "when": when})

    def _ctl_release(self, payload: dict, query: dict) -> Response:
        was_held = self.control.release()
        return _control_ok({"status": "ok", "released": was_held})

    def _ctl_secret(self, payload: dict) -> FakeSecret:
        secret_id = payload.get("SecretId")
        if not secret_id:
            raise _ControlError(400, "'SecretId' is required")
        account = payload.get("AccountId", DEFAULT_ACCOUNT_ID)
        region = payload.get("Region", DEFAULT_REGION)
        secret = secretsmanager_backends[account][region].secrets.get(secret_id)
        if not isinstance(secret, FakeSecret):
            raise _ControlError(404, f"no secret {secret_id!r} in {account}/{region}")
        return secret

    def _ctl_rotation_placeholder(self, payload: dict, query: dict) -> Response:
        """Put a secret in the state RotateSecret leaves it in before createSecret."""
        token = payload.get("ClientRequestToken")
        if not isinstance(token, str) or not 32 <= len(token) <= 64:
            raise _ControlError(400, "'ClientRequestToken' must be a 32-64 character string")
        given_rotation_token = payload.get("RotationToken")
        if given_rotation_token is not None and (
            not isinstance(given_rotation_token, str) or not 36 <= len(given_rotation_token) <= 256
        ):
            raise _ControlError(400, "'RotationToken' must be a 36-256 character string")
        rules = parse_rotation_rules(payload["RotationRules"]) if "RotationRules" in payload else None
        with self.aws_lock:
            secret = self._ctl_secret(payload)
            existing = secret.versions.get(token)
            if existing is not None and _has_value(existing):
                raise _ControlError(409, f"version {token} already exists with a value")
            # Only one version can carry AWSPENDING.
            self._add_pending_version(secret, token)
            lambda_arn = (
                payload.get("RotationLambdaARN") or secret.rotation_lambda_arn or self.default_rotation_lambda(secret)
            )
            shown = self._enable_rotation(secret, lambda_arn, rules)
            rotation_token = self._start_rotation_token(secret, token, lambda_arn, given_rotation_token)
            secret.last_changed_date = _now()
            stages = {vid: list(v["version_stages"]) for vid, v in secret.versions.items()}
        return _control_ok(
            {
                "status": "ok",
                "ARN": secret.arn,
                "VersionIdsToStages": stages,
                "RotationRules": shown,
                "RotationToken": rotation_token,
            }
        )

    def _ctl_version_created(self, payload: dict, query: dict) -> Response:
        """Set a version's creation time (ListSecretVersionIds' / GetSecretValue's CreatedDate)."""
        version_id = payload.get("VersionId")
        created = payload.get("CreatedDate")
        if not isinstance(version_id, str) or not version_id:
            raise _ControlError(400, "'VersionId' is required")
        if isinstance(created, bool) or not isinstance(created, (int, float)) or created < 0:
            raise _ControlError(400, "'CreatedDate' must be epoch seconds (a number >= 0)")
        with self.aws_lock:
            secret = self._ctl_secret(payload)
            version = secret.versions.get(version_id)
            if version is None:
                raise _ControlError(404, f"secret {secret.name!r} has no version {version_id!r}")
            version["createdate"] = created if isinstance(created, int) else round(created, 3)
        return _control_ok({"status": "ok", "VersionId": version_id, "CreatedDate": version["createdate"]})

    @staticmethod
    def _set_rotation_rules(secret: FakeSecret, rules: Optional[dict]) -> dict:
        """Store ``rules`` (or default to 30 days if the secret has none); returns them as shown."""
        if rules is not None:
            setattr(secret, ROTATION_RULES_ATTR, dict(rules))
            # moto's own field, for anything that reads it directly.
            secret.auto_rotate_after_days = render_rotation_rules(rules).get("AutomaticallyAfterDays", 0)
        elif not getattr(secret, ROTATION_RULES_ATTR, None) and not secret.auto_rotate_after_days:
            secret.auto_rotate_after_days = 30
        return EmulatorApp._shown_rotation_rules(secret)

    @staticmethod
    def _shown_rotation_rules(secret: FakeSecret) -> dict:
        """The RotationRules DescribeSecret shows for ``secret``."""
        stored = getattr(secret, ROTATION_RULES_ATTR, None)
        return render_rotation_rules(stored) if stored else {"AutomaticallyAfterDays": secret.auto_rotate_after_days}

    def _ctl_deny(self, payload: dict, query: dict) -> Response:
        """Deny an IAM user one action (only ``ChangePassword`` is checked)."""
        user = payload.get("UserName")
        action = payload.get("Action")
        if not isinstance(user, str) or action != "ChangePassword":
            raise _ControlError(400, "'UserName' is required and 'Action' must be 'ChangePassword'")
        self.denied.add((payload.get("AccountId", DEFAULT_ACCOUNT_ID), user, action))
        return _control_ok({"status": "ok"})

    def _ctl_iam_behaviour(self, payload: dict, query: dict) -> Response:
        """Choose ChangePassword's order: ``old-first`` (the default) or ``new-first``."""
        order = payload.get("ChangePasswordOrder")
        if order not in ("old-first", "new-first"):
            raise _ControlError(400, "'ChangePasswordOrder' must be 'old-first' or 'new-first'")
        with self.aws_lock:
            self.change_password_new_first = order == "new-first"
        return _control_ok({"status": "ok", "ChangePasswordOrder": order})

    def _ctl_rotation_enabled(self, payload: dict, query: dict) -> Response:
        enabled = payload.get("Enabled")
        if not isinstance(enabled, bool):
            raise _ControlError(400, "'Enabled' must be true or false")
        rules = parse_rotation_rules(payload["RotationRules"]) if "RotationRules" in payload else None
        with self.aws_lock:
            secret = self._ctl_secret(payload)
            secret.rotation_requested = True
            secret.rotation_enabled = enabled
            if enabled and not secret.rotation_lambda_arn:
                secret.rotation_lambda_arn = self.default_rotation_lambda(secret)
            if enabled or rules is not None:
                shown = self._set_rotation_rules(secret, rules)
            else:
                shown = self._shown_rotation_rules(secret)
        return _control_ok({"status": "ok", "RotationEnabled": enabled, "RotationRules": shown})

    def _ctl_organization(self, payload: dict, query: dict) -> Response:
        """Seed an organisation: management account + member accounts with known ids (correction 12)."""
        management = payload.get("ManagementAccountId", DEFAULT_ACCOUNT_ID)
        members = payload.get("AccountIds", [])
        org_id = payload.get("OrganizationId")
        if not isinstance(management, str) or not ACCOUNT_ID_RE.fullmatch(management):
            raise _ControlError(400, "'ManagementAccountId' must be a 12-digit account id")
        if not isinstance(members, list) or not all(isinstance(m, str) and ACCOUNT_ID_RE.fullmatch(m) for m in members):
            raise _ControlError(400, "'AccountIds' must be a list of 12-digit account ids")
        if org_id is not None and (not isinstance(org_id, str) or not ORG_ID_RE.fullmatch(org_id)):
            raise _ControlError(400, "'OrganizationId' must match o-[a-z0-9]{10,32}")
        try:
            seeded = self.seed_organization(management, members, org_id)
        except LookupError as err:
            raise _ControlError(409, str(err.args[0])) from None
        return _control_ok({"status": "ok", **seeded})

    def _ctl_seed_users(self, payload: dict, query: dict) -> Response:
        """Many console users at once, optionally each bound to its own rotated secret (``bulk.py``)."""
        account = payload.get("AccountId", DEFAULT_ACCOUNT_ID)
        count = payload.get("Count")
        prefix = payload.get("Prefix", "user")
        path = payload.get("Path", "/")
        if not isinstance(account, str) or not ACCOUNT_ID_RE.fullmatch(account):
            raise _ControlError(400, "'AccountId' must be a 12-digit account id")
        if isinstance(count, bool) or not isinstance(count, int) or not 0 <= count <= 100_000:
            raise _ControlError(400, "'Count' must be an integer within 0-100000")
        if not isinstance(prefix, str) or not re.fullmatch(r"[\w+=,.@-]{1,50}", prefix):
            raise _ControlError(400, "'Prefix' must be 1-50 of letters, digits and _+=,.@-")
        if not isinstance(path, str) or not re.fullmatch(r"/([\x21-\x7e]*/)?", path):
            raise _ControlError(400, "'Path' must be / or start and end with /")
        for key in ("LastRotatedDate", "PasswordLastChanged"):
            value = payload.get(key)
            if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))):
                raise _ControlError(400, f"'{key}' must be epoch seconds")
        try:
            seeded = self.seed_users(account, prefix, count, path, payload.get("FunctionArn"),
                                     bool(payload.get("Bound", True)), payload.get("LastRotatedDate"),
                                     payload.get("PasswordLastChanged"))
        except Exception as err:  # noqa: BLE001 - moto's EntityAlreadyExists and the like
            raise _ControlError(409, f"{type(err).__name__}: {err}") from None
        return _control_ok(seeded)

    def _ctl_expire_credential_report(self, payload: dict, query: dict) -> Response:
        account = payload.get("AccountId", DEFAULT_ACCOUNT_ID)
        with self.aws_lock:
            expired = self.expire_credential_report(account)
        return _control_ok({"status": "ok", "expired": expired})

    def _ctl_credential_report_delay(self, payload: dict, query: dict) -> Response:
        seconds = payload.get("Seconds")
        if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not 0 <= seconds <= MAX_DELAY_SECONDS:
            raise _ControlError(400, f"'Seconds' must be a number within 0-{MAX_DELAY_SECONDS}")
        with self.aws_lock:
            self.set_credential_report_delay(seconds)
        return _control_ok({"status": "ok", "Seconds": seconds})

    def _ctl_password_last_changed(self, payload: dict, query: dict) -> Response:
        """Back-date (or set) a user's password_last_changed in the credential report."""
        name = payload.get("UserName")
        when = payload.get("PasswordLastChanged")
        account = payload.get("AccountId", DEFAULT_ACCOUNT_ID)
        if not isinstance(name, str) or not name:
            raise _ControlError(400, "'UserName' is required")
        if isinstance(when, bool) or not isinstance(when, (int, float)) or when < 0:
            raise _ControlError(400, "'PasswordLastChanged' must be epoch seconds (a number >= 0)")
        with self.aws_lock:
            user = iam_backends[account]["aws"].users.get(name)
            if user is None:
                raise _ControlError(404, f"no IAM user {name!r} in account {account}")
            if not user.password:
                raise _ControlError(409, f"IAM user {name!r} has no console password (login profile)")
            self.password_changed[(account, name)] = float(when)
        return _control_ok({"status": "ok", "UserName": name, "PasswordLastChanged": when})

    def _ctl_secret_dates(self, payload: dict, query: dict) -> Response:
        """Set a secret's CreatedDate / LastRotatedDate / LastChangedDate (epoch seconds; LastRotatedDate may be null)."""
        keys = {"CreatedDate": "created_date", "LastRotatedDate": "last_rotation_date", "LastChangedDate": "last_changed_date"}
        given = {k: payload[k] for k in keys if k in payload}
        if not given:
            raise _ControlError(400, f"give at least one of {list(keys)}")
        for key, value in given.items():
            if value is None and key == "LastRotatedDate":
                continue
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
                raise _ControlError(400, f"'{key}' must be epoch seconds (a number >= 0)")
        with self.aws_lock:
            secret = self._ctl_secret(payload)
            for key, value in given.items():
                setattr(secret, keys[key], value)
            shown = {key: getattr(secret, attr) for key, attr in keys.items()}
        return _control_ok({"status": "ok", "ARN": secret.arn, **shown})

    def _ctl_iam_password(self, payload: dict, query: dict) -> Response:
        name = query.get("user")
        if not name:
            raise _ControlError(400, "query parameter 'user' is required")
        account = query.get("account", DEFAULT_ACCOUNT_ID)
        with self.aws_lock:
            user = iam_backends[account]["aws"].users.get(name)
            if user is None:
                raise _ControlError(404, f"no IAM user {name!r} in account {account}")
            history = self.history(account, user)
            return _control_ok({"user": name, "password": user.password, "history": history})


# ---------------------------------------------------------------------------
# HTTP server
# ---------------------------------------------------------------------------


class QuietRequestHandler(MotoRequestHandler):
    """moto's request handler without the per-request access log line."""

    def log(self, type: str, message: str, *args) -> None:  # noqa: A002 - werkzeug's signature
        if type != "info":
            super().log(type, message, *args)


class Emulator:
    """A running emulator: a threaded werkzeug server in a daemon thread."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.app = EmulatorApp()
        self._server = make_server(host, port, self.app, threaded=True, request_handler=QuietRequestHandler)
        self.host = host
        self.port = self._server.server_port
        self.url = f"http://{host}:{self.port}"
        self._thread = threading.Thread(target=self._server.serve_forever, name="rotation-emulator", daemon=True)

    def start(self) -> "Emulator":
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving; held requests are released so no thread stays blocked."""
        self.app.control.release()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)

    def __enter__(self) -> "Emulator":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def start_emulator(host: str = "127.0.0.1", port: int = 0) -> Emulator:
    """Start an emulator on ``host:port`` (0 = a free port) and return it."""
    return Emulator(host, port).start()


__all__ = ["Emulator", "EmulatorApp", "start_emulator", "FAULT_KINDS", "SM_OPERATIONS", "NON_IAM_OPERATIONS"]
