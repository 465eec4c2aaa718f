"""Reading and seeding IAM users in bulk, and Lambda's asynchronous ``Invoke``.

* ``GetAccountAuthorizationDetails`` with ``Filter=User``: implemented here, because
  moto answers every user in one page (``IsTruncated`` always false, ``MaxItems`` and
  ``Marker`` ignored) and leaves out their tags. AWS pages it (``MaxItems`` 1-1000,
  default 100) and lists each user's path, name, id, ARN, creation date, inline
  policies, groups, attached policies and tags. Other filters go to moto unchanged.
* ``POST /_emulator/seed-users``: many users with a console password at once, each
  bound (the binding tag) to its own secret that this function rotates, without one
  HTTP round trip per call (an organisation of 500 accounts by 2,000 users).
* Lambda ``Invoke`` (REST-JSON ``POST /2015-03-31/functions/{FunctionName}/invocations``,
  signing name ``lambda``): moto would run the function in Docker. Here an
  ``InvocationType=Event`` call is queued (202, as Lambda answers) and a test takes the
  queue (``POST /_emulator/lambda-invocations/take``) and runs each payload through the
  function's Runtime API, as Lambda's asynchronous queue would; ``DryRun`` answers 204;
  ``RequestResponse`` is refused (the emulator runs no function). Payloads over 256 KB
  (Lambda's limit for asynchronous invocations) are refused with
  ``RequestTooLargeException`` (413).

See tests/emulator/README.md (correction 15).
"""

from __future__ import annotations

import json
import re
import time
import uuid
from typing import Optional
from urllib.parse import unquote
from xml.sax.saxutils import escape

from .responses import Response, iam_error, iam_result, rest_json_error

BINDING_TAG = "password-rotation:secret-arn"
GAAD_MAX_ITEMS = 1000
GAAD_DEFAULT_ITEMS = 100
INVOKE_PATH_RE = re.compile(r"^/2015-03-31/functions/(?P<name>[^/]+)/invocations$")
ASYNC_PAYLOAD_LIMIT = 256 * 1024


def parse_lambda_request(environ: dict, body: bytes) -> tuple:
    """(action, params) of a Lambda REST-JSON call; only ``Invoke`` is recognised."""
    raw_path = (environ.get("RAW_URI") or environ.get("REQUEST_URI") or "").partition("?")[0]
    path = raw_path or environ.get("PATH_INFO", "")
    match = INVOKE_PATH_RE.match(path)
    method = environ.get("REQUEST_METHOD", "GET")
    if method != "POST" or not match:
        return f"Unknown({method} {path})", {}
    return "Invoke", {
        "FunctionName": unquote(match.group("name")),
        "InvocationType": environ.get("HTTP_X_AMZ_INVOCATION_TYPE", "RequestResponse"),
        "PayloadSize": len(body),
    }


def _iso(moment) -> str:
    seconds = moment.timestamp() if hasattr(moment, "timestamp") else float(moment)
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))


class BulkCorrections:
    """Mixed into ``EmulatorApp``: uses ``iam_backend``, ``sm_backend``, ``account_id``,
    ``forward``, ``aws_lock``, ``_enable_rotation``, ``password_changed``."""

    def _init_bulk(self) -> None:
        self.lambda_invocations: list = []

    def _reset_bulk(self) -> None:
        self.lambda_invocations.clear()

    # -- IAM ------------------------------------------------------------------------

    def _iam_get_account_authorization_details(self, req) -> Response:
        filters = [value for key, value in sorted(req.params.items()) if key.startswith("Filter.member.")]
        if filters != ["User"]:
            return self.forward(req.environ)
        raw = req.params.get("MaxItems")
        try:
            max_items = GAAD_DEFAULT_ITEMS if raw is None else int(raw)
        except ValueError:
            max_items = 0
        if not 1 <= max_items <= GAAD_MAX_ITEMS:
            return iam_error(400, "ValidationError", f"MaxItems must be between 1 and {GAAD_MAX_ITEMS}.")
        offset = 0
        marker = req.params.get("Marker")
        if marker is not None:
            match = re.fullmatch(r"u1:(\d+)", marker)
            if not match:
                return iam_error(400, "ValidationError", "Invalid Marker.")
            offset = int(match.group(1))
        backend = self.iam_backend(req)
        users = list(backend.users.values())
        page = users[offset:offset + max_items]
        members = []
        for user in page:
            tags = backend.tagger.list_tags_for_resource(user.arn)["Tags"]
            tag_xml = "".join(
                f"<member><Key>{escape(t['Key'])}</Key><Value>{escape(t['Value'])}</Value></member>" for t in tags
            )
            members.append(
                f"<member><Path>{escape(user.path)}</Path><UserName>{escape(user.name)}</UserName>"
                f"<UserId>{escape(user.id)}</UserId><Arn>{escape(user.arn)}</Arn>"
                f"<CreateDate>{_iso(user.create_date)}</CreateDate><UserPolicyList/><GroupList/>"
                f"<AttachedManagedPolicies/><Tags>{tag_xml}</Tags></member>"
            )
        end = offset + len(page)
        truncated = end < len(users)
        result = (
            f"<UserDetailList>{''.join(members)}</UserDetailList><GroupDetailList/><RoleDetailList/><Policies/>"
            f"<IsTruncated>{'true' if truncated else 'false'}</IsTruncated>"
            + (f"<Marker>u1:{end}</Marker>" if truncated else "")
        )
        return iam_result("GetAccountAuthorizationDetails", result)

    # -- Lambda ---------------------------------------------------------------------

    def handle_lambda(self, req) -> Response:
        if req.action != "Invoke":
            return rest_json_error(404, "ResourceNotFoundException", f"The emulator serves Lambda Invoke only ({req.action}).")
        kind = req.params.get("InvocationType")
        if kind == "DryRun":
            return Response(204, [("x-amzn-RequestId", str(uuid.uuid4()))], b"")
        if kind != "Event":
            return rest_json_error(
                400, "InvalidParameterValueException",
                f"InvocationType {kind!r}: the emulator runs no function, it queues InvocationType=Event only.",
            )
        if len(req.body) > ASYNC_PAYLOAD_LIMIT:
            return rest_json_error(413, "RequestTooLargeException", "Request must be smaller than 262144 bytes for the InvokeAsync operation")
        try:
            payload = json.loads(req.body or b"{}")
        except ValueError:
            return rest_json_error(400, "InvalidRequestContentException", "Could not parse request body into json")
        self.lambda_invocations.append({
            "FunctionName": req.params["FunctionName"],
            "AccountId": self.account_id(req),
            "Payload": payload,
            "Time": time.time(),
        })
        return Response(202, [("x-amzn-RequestId", str(uuid.uuid4())), ("Content-Type", "application/json")], b"")

    def take_lambda_invocations(self) -> list:
        with self.aws_lock:
            taken, self.lambda_invocations[:] = list(self.lambda_invocations), []
        return taken

    # -- seeding --------------------------------------------------------------------

    def seed_users(self, account: str, prefix: str, count: int, path: str, function_arn: Optional[str],
                   bound: bool, last_rotated: Optional[float], password_changed: Optional[float]) -> dict:
        """``count`` users ``{prefix}-{i}`` with a console password; when ``bound``, each
        tagged with its own secret ``console/{prefix}-{i}`` that rotates with
        ``function_arn`` every 30 days, last rotated at ``last_rotated``, the password
        changed at ``password_changed`` (both epoch seconds, default now)."""
        from moto.iam.models import iam_backends
        from moto.secretsmanager.models import secretsmanager_backends

        now = time.time()
        with self.aws_lock:
            iam = iam_backends[account]["global"]
            sm = secretsmanager_backends[account]["us-east-1"]
            for i in range(count):
                name = f"{prefix}-{i:05d}"
                tags = []
                if bound:
                    secret_name = f"console/{name}"
                    value = json.dumps({"username": name, "password": "Seeded-Passw0rd!"})
                    sm.create_secret(name=secret_name, secret_string=value, secret_binary=None, description=None,
                                     tags=None, kms_key_id=None, client_request_token=None, replica_regions=[],
                                     force_overwrite=False)
                    secret = dict.get(sm.secrets, secret_name) or sm.secrets[secret_name]
                    self._enable_rotation(secret, function_arn, {"AutomaticallyAfterDays": 30})
                    secret.last_rotation_date = last_rotated or now
                    tags = [{"Key": BINDING_TAG, "Value": secret.arn}]
                iam.create_user("us-east-1", name, path, tags)
                iam.create_login_profile(name, "Seeded-Passw0rd!")
                # A bound user's password changed just before its secret's last rotation finished.
                changed = password_changed or ((last_rotated or now) - 2 if bound else now)
                self.password_changed[(account, name)] = changed
        return {"status": "ok", "AccountId": account, "Users": count}
