"""EventBridge Scheduler (signing name ``scheduler``, REST-JSON protocol).

REST-JSON requests carry neither ``X-Amz-Target`` nor an ``Action`` parameter:
the operation is named by the HTTP method and the path (``POST
/schedules/{Name}`` is ``CreateSchedule``). ``RestJsonRoutes`` derives it from
botocore's service model, and with it the request's parameters (body, path
labels and query string, by member name).

``SchedulerCorrections`` is a mixin of ``EmulatorApp`` holding the corrections
of moto 5.2.5's scheduler and the ``/_emulator/schedules`` control endpoints;
see tests/emulator/README.md (correction 8).
"""

from __future__ import annotations

import copy
import datetime
import json
import re
from typing import Callable, Optional
from urllib.parse import parse_qs, unquote

from moto.scheduler.models import scheduler_backends

from .responses import Response, json_response, rest_json_error

# Error code -> HTTP status, as EventBridge Scheduler sends them. moto sends
# ConflictException with 400.
SCHEDULER_ERROR_STATUS = {
    "ConflictException": 409,
    "ResourceNotFoundException": 404,
    "ValidationException": 400,
    "ServiceQuotaExceededException": 402,
    "ThrottlingException": 429,
    "InternalServerException": 500,
}

_NAME_RE = re.compile(r"[0-9a-zA-Z\-_.]{1,64}")
_AT_RE = re.compile(r"at\((\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})\)")
_RATE_RE = re.compile(r"rate\(\s*([1-9]\d*)\s+(minute|minutes|hour|hours|day|days)\s*\)")
_CRON_RE = re.compile(r"cron\(\s*\S+(\s+\S+){5}\s*\)")

# ScheduleSummary members (ListSchedules); moto returns whole schedules.
_SUMMARY_KEYS = ("Arn", "CreationDate", "GroupName", "LastModificationDate", "Name", "State", "Target")

# Attribute of moto's Schedule holding the ClientToken of the CreateSchedule
# that created it (moto ignores ClientToken). Dies with the schedule.
CLIENT_TOKEN_ATTR = "emulator_client_token"


class RestJsonRoutes:
    """Method + path -> operation name and parameters, from botocore's model."""

    def __init__(self, service: str) -> None:
        import botocore.session

        model = botocore.session.get_session().get_service_model(service)
        self._routes: list = []
        for name in model.operation_names:
            op = model.operation_model(name)
            path = op.http["requestUri"].partition("?")[0]
            pattern = ""
            for literal, label in re.findall(r"([^{]*)(\{[^}]+\})?", path):
                pattern += re.escape(literal)
                if label:
                    greedy = label.endswith("+}")
                    key = label.strip("{}+")
                    pattern += f"(?P<{key}>{'.+' if greedy else '[^/]+'})"
            members = op.input_shape.members if op.input_shape is not None else {}
            uri = {m.serialization.get("name", n): n for n, m in members.items() if m.serialization.get("location") == "uri"}
            query = {
                m.serialization.get("name", n): (n, m.type_name == "list")
                for n, m in members.items()
                if m.serialization.get("location") == "querystring"
            }
            self._routes.append((op.http["method"].upper(), re.compile(pattern), name, uri, query))

    def resolve(self, method: str, path: str, query_string: str, body: bytes) -> Optional[tuple[str, dict]]:
        """``(operation, params)`` for a request, or ``None`` if no operation matches."""
        for route_method, pattern, name, uri, query in self._routes:
            match = pattern.fullmatch(path) if route_method == method.upper() else None
            if match is None:
                continue
            try:
                params = json.loads(body) if body.strip() else {}
            except ValueError:
                params = {}
            if not isinstance(params, dict):
                params = {}
            for label, value in match.groupdict().items():
                params[uri.get(label, label)] = unquote(value)
            for key, values in parse_qs(query_string, keep_blank_values=True).items():
                member, is_list = query.get(key, (key, False))
                params[member] = values if is_list else values[0]
            return name, params
        return None


def _without_nulls(value):
    """Drop ``null`` members recursively: AWS omits absent members."""
    if isinstance(value, dict):
        return {k: _without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_nulls(v) for v in value]
    return value


def validate_schedule_params(params: dict) -> Optional[str]:
    """The ValidationException message for Create/UpdateSchedule parameters, or None."""
    name = params.get("Name")
    if not isinstance(name, str) or not _NAME_RE.fullmatch(name):
        return "Name must be 1-64 characters of [0-9a-zA-Z-_.]"
    group = params.get("GroupName")
    if group is not None and (not isinstance(group, str) or not _NAME_RE.fullmatch(group)):
        return "GroupName must be 1-64 characters of [0-9a-zA-Z-_.]"
    expr = params.get("ScheduleExpression")
    if not isinstance(expr, str) or not expr or len(expr) > 256:
        return "ScheduleExpression is required (1-256 characters)"
    at = _AT_RE.fullmatch(expr)
    if at:
        try:
            datetime.datetime.strptime(at.group(1), "%Y-%m-%dT%H:%M:%S")
        except ValueError:
            return f"Invalid Schedule Expression {expr}."
    elif not (_RATE_RE.fullmatch(expr) or _CRON_RE.fullmatch(expr)):
        return f"Invalid Schedule Expression {expr}."
    window = params.get("FlexibleTimeWindow")
    if not isinstance(window, dict) or window.get("Mode") not in ("OFF", "FLEXIBLE"):
        return "FlexibleTimeWindow is required, with Mode OFF or FLEXIBLE"
    if window["Mode"] == "FLEXIBLE":
        minutes = window.get("MaximumWindowInMinutes")
        if isinstance(minutes, bool) or not isinstance(minutes, int) or not 1 <= minutes <= 1440:
            return "FlexibleTimeWindow.MaximumWindowInMinutes must be 1-1440 when Mode is FLEXIBLE"
    target = params.get("Target")
    if not isinstance(target, dict) or not target.get("Arn") or not target.get("RoleArn"):
        return "Target is required, with Arn and RoleArn"
    if "Input" in target and (not isinstance(target["Input"], str) or not target["Input"]):
        return "Target.Input must be a non-empty string"
    after = params.get("ActionAfterCompletion")
    if after is not None and after not in ("NONE", "DELETE"):
        return "ActionAfterCompletion must be NONE or DELETE"
    state = params.get("State")
    if state is not None and state not in ("ENABLED", "DISABLED"):
        return "State must be ENABLED or DISABLED"
    return None


class SchedulerCorrections:
    """Scheduler handlers and control endpoints, mixed into ``EmulatorApp``.

    Uses the app's ``forward``, ``account_id`` and ``aws_lock``; every AWS
    handler runs under that lock.
    """

    def _scheduler_handlers(self) -> dict:
        return {
            "CreateSchedule": self._sch_create_schedule,
            "UpdateSchedule": self._sch_update_schedule,
            "GetSchedule": self._sch_get_schedule,
            "ListSchedules": self._sch_list_schedules,
            "CreateScheduleGroup": self._sch_create_schedule_group,
            "DeleteScheduleGroup": self._sch_delete_schedule_group,
            "GetScheduleGroup": self._sch_clean_success,
            "ListScheduleGroups": self._sch_clean_success,
        }

    def scheduler_backend(self, req):
        return scheduler_backends[self.account_id(req)][req.region]

    def handle_scheduler(self, req) -> Response:
        handler: Optional[Callable] = self._scheduler_handlers().get(req.action)
        resp = handler(req) if handler else self.forward(req.environ)
        if resp.status >= 400:
            return self._scheduler_error_from(resp)
        resp.headers = [(k, v) for k, v in resp.headers if k.lower() != "content-type"]
        resp.headers.append(("Content-Type", "application/json"))
        return resp

    @staticmethod
    def _scheduler_error_from(resp: Response) -> Response:
        """Re-render a moto error as Scheduler sends it (status by code, x-amzn-ErrorType)."""
        try:
            doc = json.loads(resp.body or b"{}")
        except ValueError:
            doc = {}
        if not isinstance(doc, dict) or not doc.get("__type"):
            if resp.status >= 500:
                return rest_json_error(500, "InternalServerException", "Unexpected error in the emulated service.")
            return resp
        code = str(doc["__type"]).rpartition("#")[2]
        message = doc.get("message") or doc.get("Message") or ""
        return rest_json_error(SCHEDULER_ERROR_STATUS.get(code, resp.status), code, message)

    # -- corrections -----------------------------------------------------------

    def _sch_create_schedule(self, req):
        problem = validate_schedule_params(req.params)
        if problem:
            return rest_json_error(400, "ValidationException", problem)
        backend = self.scheduler_backend(req)
        group_name = req.params.get("GroupName") or "default"
        group = backend.schedule_groups.get(group_name)
        if group is None:
            # moto raises a KeyError (500).
            return rest_json_error(404, "ResourceNotFoundException", f"Schedule group {group_name} does not exist.")
        name = req.params["Name"]
        token = req.params.get("ClientToken")
        existing = group.schedules.get(name)
        if existing is not None and token and getattr(existing, CLIENT_TOKEN_ATTR, None) == token:
            # A retry of the request that created it (same ClientToken): idempotent.
            return json_response(200, {"ScheduleArn": existing.arn}, "application/json")
        resp = self.forward(req.environ)
        if resp.status == 200:
            schedule = group.schedules.get(name)
            if schedule is not None:
                setattr(schedule, CLIENT_TOKEN_ATTR, token)
                # AWS's default; moto keeps None.
                schedule.action_after_completion = req.params.get("ActionAfterCompletion") or "NONE"
        return resp

    def _sch_update_schedule(self, req):
        problem = validate_schedule_params(req.params)
        if problem:
            return rest_json_error(400, "ValidationException", problem)
        resp = self.forward(req.environ)
        if resp.status == 200:
            # UpdateSchedule replaces the whole schedule; moto ignores ActionAfterCompletion.
            group = self.scheduler_backend(req).schedule_groups.get(req.params.get("GroupName") or "default")
            schedule = group.schedules.get(req.params["Name"]) if group is not None else None
            if schedule is not None:
                schedule.action_after_completion = req.params.get("ActionAfterCompletion") or "NONE"
        return resp

    def _sch_clean_success(self, req):
        resp = self.forward(req.environ)
        if resp.status == 200:
            resp.body = json.dumps(_without_nulls(resp.json())).encode()
        return resp

    def _sch_get_schedule(self, req):
        resp = self.forward(req.environ)
        if resp.status == 200:
            doc = _without_nulls(resp.json())
            doc.setdefault("ActionAfterCompletion", "NONE")
            resp.body = json.dumps(doc).encode()
        return resp

    def _sch_list_schedules(self, req):
        resp = self.forward(req.environ)
        if resp.status == 200:
            doc = _without_nulls(resp.json())
            doc["Schedules"] = [
                {k: v for k, v in entry.items() if k in _SUMMARY_KEYS} for entry in doc.get("Schedules") or []
            ]
            resp.body = json.dumps(doc).encode()
        return resp

    def _sch_create_schedule_group(self, req):
        name = req.params.get("Name")
        if not isinstance(name, str) or not _NAME_RE.fullmatch(name):
            return rest_json_error(400, "ValidationException", "Name must be 1-64 characters of [0-9a-zA-Z-_.]")
        if name in self.scheduler_backend(req).schedule_groups:
            # moto replaces the group (and silently drops its schedules).
            return rest_json_error(409, "ConflictException", f"Schedule group {name} already exists.")
        return self.forward(req.environ)

    def _sch_delete_schedule_group(self, req):
        name = req.params.get("Name") or "default"
        if name not in self.scheduler_backend(req).schedule_groups:
            # moto raises a KeyError (500).
            return rest_json_error(404, "ResourceNotFoundException", f"Schedule group {name} does not exist.")
        if name == "default":
            return rest_json_error(400, "ValidationException", "The default schedule group cannot be deleted.")
        return self.forward(req.environ)

    # -- control endpoints ---------------------------------------------------------

    @staticmethod
    def _schedule_view(account: str, region: str, schedule) -> dict:
        target = schedule.target or {}
        return {
            "AccountId": account,
            "Region": region,
            "GroupName": schedule.group_name,
            "Name": schedule.name,
            "Arn": schedule.arn,
            "ScheduleExpression": schedule.schedule_expression,
            "ScheduleExpressionTimezone": schedule.schedule_expression_timezone,
            "State": schedule.state,
            "ActionAfterCompletion": schedule.action_after_completion or "NONE",
            "TargetArn": target.get("Arn"),
            "RoleArn": target.get("RoleArn"),
            "Input": target.get("Input"),
        }

    def all_schedules(self) -> list:
        """Every schedule of every account and region moto has state for."""
        views = []
        with self.aws_lock:
            for account, regions in list(dict.items(scheduler_backends)):
                for region, backend in list(dict.items(regions)):
                    for group in backend.schedule_groups.values():
                        for schedule in group.schedules.values():
                            views.append(self._schedule_view(account, region, schedule))
        return sorted(views, key=lambda v: (v["AccountId"], v["Region"], v["GroupName"], v["Name"]))

    def fire_schedule(self, name: str, group_name: str, account: str, region: str) -> dict:
        """What Scheduler does when the schedule is due: its target and Input; DELETE removes it.

        Raises ``LookupError`` (no such group/schedule) or ``PermissionError``
        (the schedule is DISABLED, so Scheduler would not invoke its target).
        """
        with self.aws_lock:
            backend = scheduler_backends[account][region]
            group = backend.schedule_groups.get(group_name)
            if group is None:
                raise LookupError(f"no schedule group {group_name!r} in {account}/{region}")
            schedule = group.schedules.get(name)
            if schedule is None:
                raise LookupError(f"no schedule {name!r} in group {group_name!r} ({account}/{region})")
            if schedule.state == "DISABLED":
                raise PermissionError(f"schedule {group_name}/{name} is DISABLED: Scheduler would not invoke its target")
            target = _without_nulls(copy.deepcopy(schedule.target or {}))
            deleted = (schedule.action_after_completion or "NONE") == "DELETE"
            if deleted:
                group.schedules.pop(name, None)
            return {
                "Arn": schedule.arn,
                "Name": schedule.name,
                "GroupName": schedule.group_name,
                "ScheduleExpression": schedule.schedule_expression,
                "Target": target,
                "Input": target.get("Input"),
                "Deleted": deleted,
            }
