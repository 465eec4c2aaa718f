"""EmulatorClient: a small urllib wrapper around the emulator's control API."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Any, Optional


class EmulatorError(RuntimeError):
    """A control-API request failed; ``status`` is the HTTP status."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"{status}: {message}")
        self.status = status


class EmulatorClient:
    """Control a running emulator at ``url`` (e.g. ``http://127.0.0.1:5123``)."""

    def __init__(self, url: str, timeout: float = 10.0) -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout

    # -- plumbing ------------------------------------------------------------

    def _request(self, method: str, path: str, payload: Optional[dict] = None, query: Optional[dict] = None) -> Any:
        url = f"{self.url}/_emulator/{path}"
        if query:
            url += "?" + urllib.parse.urlencode(query)
        data = json.dumps(payload).encode() if payload is not None else None
        req = urllib.request.Request(url, data=data, method=method)
        if data is not None:
            req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                return json.loads(resp.read() or b"{}")
        except urllib.error.HTTPError as err:
            body = err.read().decode("utf-8", "replace")
            try:
                message = json.loads(body).get("error", body)
            except ValueError:
                message = body
            raise EmulatorError(err.code, message) from None

    # -- state -----------------------------------------------------------------

    def reset(self) -> None:
        """Reset moto and all emulator state (call log, faults, holds, histories,
        rotation and event logs; schedules go with moto)."""
        self._request("POST", "reset", {})

    # -- call log --------------------------------------------------------------

    def calls(self) -> list:
        """Every AWS call since reset/clear: dicts with index, service, action, account
        (the account of the call's credentials), status, fault, throttled (refused by a
        rate limit, see ``set_rate_limit``); ``sts:AssumeRole``
        calls also have ``RoleArn``, ``RoleAccount``, ``RoleSessionName``, ``HasExternalId``."""
        return self._request("GET", "calls")["calls"]

    def counts(self, account: Optional[str] = None) -> dict:
        """``{"service:Action": n}`` for the calls since reset/clear; with ``account``,
        only the calls made in that account."""
        doc = self._request("GET", "calls")
        if account is None:
            return doc["counts"]
        return doc["counts_by_account"].get(account, {})

    def assume_role_counts(self) -> dict:
        """``{role account: n}``: ``sts:AssumeRole`` calls per account of the role asked
        for, whatever their outcome (``None`` for a malformed ``RoleArn``)."""
        return self._request("GET", "calls")["assume_role_counts"]

    def clear_calls(self) -> None:
        self._request("POST", "calls/clear", {})

    # -- faults ------------------------------------------------------------------

    def inject_fault(
        self, action: str, kind: str, nth: int = 1, count: int = 1, account: Optional[str] = None
    ) -> None:
        """Fault calls nth..nth+count-1 of ``action`` ("*" = any) from now on.

        ``kind``: "throttle", "500", "applied-500" (the call is applied, then
        answered with a 500), "409", "limit-exceeded", "no-such-entity" (these
        three IAM only, with an explicit action) or "stale-read"
        (``GetLoginProfile`` only: the PasswordResetRequired of before the
        profile's latest change). With ``account``, only calls made in that
        account match (and count towards ``nth``).
        """
        payload = {"action": action, "kind": kind, "nth": nth, "count": count}
        if account is not None:
            payload["account"] = account
        self._request("POST", "faults", payload)

    def clear_faults(self) -> None:
        self._request("DELETE", "faults")

    # -- request-rate limits -----------------------------------------------------------

    def set_rate_limit(self, service: str, rate: float, burst: Optional[int] = None) -> dict:
        """Limit ``service``'s calls ("iam", "secretsmanager", "sts", ...; every account
        and action together) to ``rate`` per second, with bursts of ``burst`` (default:
        ``rate`` rounded up). Calls beyond it are answered with the service's throttling
        error (IAM: ``Throttling`` 400) and never applied. Replaces an earlier limit of
        the service and its counters; returns ``{"rate", "burst", "allowed", "throttled"}``."""
        payload: dict = {"service": service, "rate": rate}
        if burst is not None:
            payload["burst"] = burst
        answer = self._request("POST", "rate-limit", payload)
        return {key: answer[key] for key in ("rate", "burst", "allowed", "throttled")}

    def rate_limits(self) -> dict:
        """``{service: {"rate", "burst", "allowed", "throttled"}}``: the limits set, with
        the calls let through and throttled since each was set."""
        return self._request("GET", "rate-limit")["rate_limits"]

    def clear_rate_limits(self) -> None:
        """Remove every rate limit (reset does too)."""
        self._request("DELETE", "rate-limit")

    # -- holds -------------------------------------------------------------------

    def hold(self, index: int, when: str) -> None:
        """Hold the ``index``-th AWS call from now; ``when`` is "before" or "after"."""
        self._request("POST", "hold", {"index": index, "when": when})

    def hold_state(self) -> dict:
        """``{"armed": bool, "held": bool, "call": {...} | None, "when": ...}``."""
        return self._request("GET", "hold")

    def wait_held(self, timeout: float = 10.0) -> dict:
        """Poll until the armed call is being held; returns the hold state."""
        deadline = time.monotonic() + timeout
        while True:
            state = self.hold_state()
            if state["held"]:
                return state
            if time.monotonic() >= deadline:
                raise TimeoutError(f"no call was held within {timeout}s (state: {state})")
            time.sleep(0.02)

    def release(self) -> bool:
        """Release the held call (or disarm the hold); True if a call was held."""
        return self._request("POST", "release", {})["released"]

    # -- Secrets Manager rotation state ---------------------------------------------

    def rotation_placeholder(self, secret_id: str, token: str, **extra: Any) -> dict:
        """Create the AWSPENDING, value-less version ``token`` and enable rotation.

        ``extra`` is passed through: ``RotationLambdaARN``, ``RotationRules``
        (``{"AutomaticallyAfterDays": N}`` or ``{"ScheduleExpression": ...,
        "Duration"?: "2h"}``), ``RotationToken``, ``Region``, ``AccountId``.
        The answer's ``RotationToken`` is set for a rotation function in another
        account than the secret (or when one was given).
        """
        return self._request("POST", "rotation-placeholder", {"SecretId": secret_id, "ClientRequestToken": token, **extra})

    def set_rotation_enabled(self, secret_id: str, enabled: bool, **extra: Any) -> dict:
        """Set ``RotationEnabled``; ``extra`` is passed through (``RotationRules``, ``Region``, ``AccountId``)."""
        return self._request("POST", "rotation-enabled", {"SecretId": secret_id, "Enabled": enabled, **extra})

    def set_version_created(self, secret_id: str, version_id: str, created: float, **extra: Any) -> dict:
        """Set a version's ``CreatedDate`` (epoch seconds); ``extra``: ``Region``, ``AccountId``."""
        return self._request(
            "POST", "version-created", {"SecretId": secret_id, "VersionId": version_id, "CreatedDate": created, **extra}
        )

    def rotations(self) -> list:
        """Rotations started by ``RotateSecret`` since reset/clear, oldest first:
        dicts with ``SecretArn``, ``ClientRequestToken``, ``RotationLambdaARN``,
        ``RotateImmediately``, ``RotationToken`` (for a rotation function in another
        account, else None), ``time`` (epoch seconds). Nothing is invoked: the
        test driver runs the rotation steps."""
        return self._request("GET", "rotations")["rotations"]

    def clear_rotations(self) -> None:
        self._request("POST", "rotations/clear", {})

    # -- EventBridge Scheduler -----------------------------------------------------

    def schedules(self) -> list:
        """Every schedule: dicts with ``AccountId``, ``Region``, ``GroupName``, ``Name``,
        ``Arn``, ``ScheduleExpression``, ``ScheduleExpressionTimezone``, ``State``,
        ``ActionAfterCompletion``, ``TargetArn``, ``RoleArn``, ``Input``."""
        return self._request("GET", "schedules")["schedules"]

    def fire_schedule(self, name: str, group: str = "default", **extra: Any) -> dict:
        """Fire a schedule as Scheduler would: returns ``Target`` and ``Input`` (the
        string the target receives), ``Deleted`` (ActionAfterCompletion DELETE removes
        it), ``Arn``, ``Name``, ``GroupName``, ``ScheduleExpression``. Nothing is invoked.
        ``extra``: ``Region``, ``AccountId``."""
        return self._request("POST", "schedules/fire", {"Name": name, "GroupName": group, **extra})

    # -- EventBridge -----------------------------------------------------------------

    def put_events_log(self) -> list:
        """Every ``PutEvents`` entry since reset/clear, in order: dicts with
        ``EventBusName`` (the bus's name: from a name or an ARN, "default" if absent),
        ``EventBusNameGiven`` (the parameter as sent, or None), ``Source``, ``DetailType``,
        ``Detail`` (parsed JSON; the raw string if malformed), ``Resources``, ``Time``
        (the entry's own, or None), ``time`` (when received), and ``EventId`` or
        ``ErrorCode`` (the other is None)."""
        return self._request("GET", "events")["events"]

    def clear_events(self) -> None:
        self._request("POST", "events/clear", {})

    # -- IAM -------------------------------------------------------------------------

    def deny(self, user: str, action: str = "ChangePassword", **extra: Any) -> None:
        """Make ``action`` (only ``ChangePassword``) AccessDenied for IAM user ``user``."""
        self._request("POST", "deny", {"UserName": user, "Action": action, **extra})

    def set_change_password_order(self, order: str) -> None:
        """``"new-first"``: ChangePassword judges NewPassword before OldPassword (AWS
        does not document its order); ``"old-first"``: the default, until reset."""
        self._request("POST", "iam-behaviour", {"ChangePasswordOrder": order})

    def iam_password(self, user: str, account: Optional[str] = None) -> dict:
        """``{"user", "password": str | None, "history": [...]}`` for an IAM user."""
        query = {"user": user}
        if account is not None:
            query["account"] = account
        return self._request("GET", "iam-password", query=query)

    def set_password_last_changed(self, user: str, when: float, **extra: Any) -> dict:
        """Set the credential report's ``password_last_changed`` of ``user`` (epoch
        seconds); ``extra``: ``AccountId``. The user must have a login profile."""
        return self._request("POST", "password-last-changed", {"UserName": user, "PasswordLastChanged": when, **extra})

    def expire_credential_report(self, account: Optional[str] = None) -> bool:
        """Age the account's credential report past 4 hours (ReportExpired; the next
        GenerateCredentialReport starts a new one). False if there was none."""
        payload = {} if account is None else {"AccountId": account}
        return self._request("POST", "credential-report/expire", payload)["expired"]

    def set_credential_report_delay(self, seconds: float) -> None:
        """How long a new credential report takes to generate (default 0; until reset)."""
        self._request("POST", "credential-report/delay", {"Seconds": seconds})

    # -- Organizations ---------------------------------------------------------------

    def seed_organization(
        self, management: str, members: list, organization_id: Optional[str] = None
    ) -> dict:
        """Create the organisation of ``management`` (or extend it) with member accounts of
        exactly these ids. Returns ``{"Organization": {...}, "Accounts": [...]}``."""
        payload: dict = {"ManagementAccountId": management, "AccountIds": list(members)}
        if organization_id is not None:
            payload["OrganizationId"] = organization_id
        return self._request("POST", "organization", payload)

    # -- Secrets Manager dates -------------------------------------------------------

    def set_secret_dates(self, secret_id: str, **dates: Any) -> dict:
        """Set ``CreatedDate``, ``LastRotatedDate`` (None clears it) and/or
        ``LastChangedDate`` (epoch seconds) of a secret; also ``AccountId``, ``Region``."""
        return self._request("POST", "secret-dates", {"SecretId": secret_id, **dates})

    def seed_users(self, count: int, prefix: str = "user", **extra: Any) -> dict:
        """``count`` console users at once, each bound to its own secret unless ``Bound=False``
        (``AccountId``, ``Path``, ``FunctionArn``, ``LastRotatedDate``, ``PasswordLastChanged``)."""
        return self._request("POST", "seed-users", {"Count": count, "Prefix": prefix, **extra})

    def lambda_invocations(self) -> list:
        """The queued asynchronous Lambda invocations (``FunctionName``, ``AccountId``, ``Payload``)."""
        return self._request("GET", "lambda-invocations")["invocations"]

    def take_lambda_invocations(self) -> list:
        """The queued asynchronous Lambda invocations, taken off the queue."""
        return self._request("POST", "lambda-invocations/take")["invocations"]

