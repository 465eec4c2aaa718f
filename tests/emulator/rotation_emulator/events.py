"""EventBridge (signing name ``events``, awsJson1.1 ``AWSEvents.*``).

``EventsCorrections`` is a mixin of ``EmulatorApp``: ``PutEvents`` fails the
entries whose event bus does not exist (moto fails the whole request) and
records every entry in the control log ``GET /_emulator/events``. See
tests/emulator/README.md (correction 9).
"""

from __future__ import annotations

import json
import time

from moto.events.models import events_backends

from .responses import Response, json_response


def bus_name(value) -> str:
    """The bus an entry's ``EventBusName`` (name or ARN, absent = default) names."""
    if not value:
        return "default"
    return str(value).split("/")[-1]


def _parsed_detail(detail):
    if not isinstance(detail, str):
        return detail
    try:
        return json.loads(detail)
    except ValueError:
        return detail  # malformed: kept as the string that was sent


class EventsCorrections:
    """EventBridge handlers, mixed into ``EmulatorApp`` (uses ``forward``, ``account_id``, ``control``)."""

    def events_backend(self, req):
        return events_backends[self.account_id(req)][req.region]

    def handle_events(self, req) -> Response:
        if req.action == "PutEvents":
            resp = self._events_put_events(req)
        else:
            resp = self.forward(req.environ)
        resp.headers = [(k, v) for k, v in resp.headers if k.lower() != "content-type"]
        resp.headers.append(("Content-Type", "application/x-amz-json-1.1"))
        return resp

    def _events_put_events(self, req) -> Response:
        entries = req.params.get("Entries")
        if not isinstance(entries, list) or not 1 <= len(entries) <= 10 or not all(isinstance(e, dict) for e in entries):
            return self.forward(req.environ)  # moto's ValidationException
        received = time.time()
        buses = self.events_backend(req).event_buses
        results: list = [None] * len(entries)
        passed = []
        for i, entry in enumerate(entries):
            name = bus_name(entry.get("EventBusName"))
            if name not in buses:
                # moto fails the whole request with ResourceNotFoundException.
                results[i] = {"ErrorCode": "ResourceNotFoundException", "ErrorMessage": f"Event bus {name} does not exist."}
            else:
                passed.append(i)
        if passed:
            params = dict(req.params)
            params["Entries"] = [entries[i] for i in passed]
            resp = self._forward_json(req, params)
            if resp.status != 200:
                return resp
            for i, result in zip(passed, resp.json().get("Entries") or []):
                results[i] = result
        failed = sum(1 for r in results if r is None or "ErrorCode" in r)
        account = self.account_id(req)
        self.control.record_events(
            {
                "AccountId": account,
                "EventBusName": bus_name(entry.get("EventBusName")),
                "EventBusNameGiven": entry.get("EventBusName"),
                "Source": entry.get("Source"),
                "DetailType": entry.get("DetailType"),
                "Detail": _parsed_detail(entry.get("Detail")),
                "Resources": list(entry.get("Resources") or []),
                "Time": entry.get("Time"),
                "time": received,
                "EventId": (result or {}).get("EventId"),
                "ErrorCode": (result or {}).get("ErrorCode"),
            }
            for entry, result in zip(entries, results)
        )
        return json_response(200, {"FailedEntryCount": failed, "Entries": results})
