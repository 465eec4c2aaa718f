"""Buffered responses and AWS error documents, one renderer per protocol.

| protocol | services | error form |
|---|---|---|
| query (XML) | IAM, STS | ``<ErrorResponse><Error><Code>…`` |
| awsJson1.1 | Secrets Manager, EventBridge, Organizations | ``{"__type": code, "message": …}`` |
| REST-JSON | EventBridge Scheduler | header ``x-amzn-ErrorType: code``, ``{"Message": …}`` |
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from http import HTTPStatus
from xml.sax.saxutils import escape

IAM_XMLNS = "https://iam.amazonaws.com/doc/2010-05-08/"
STS_XMLNS = "https://sts.amazonaws.com/doc/2011-06-15/"

QUERY = "query"
JSON = "json"
REST_JSON = "rest-json"


@dataclass
class Response:
    status: int
    headers: list = field(default_factory=list)
    body: bytes = b""

    def json(self) -> dict:
        return json.loads(self.body or b"{}")


def status_line(status: int) -> str:
    try:
        return f"{status} {HTTPStatus(status).phrase}"
    except ValueError:
        return f"{status} Unknown"


def request_id() -> str:
    return str(uuid.uuid4())


def iam_error(status: int, code: str, message: str, xmlns: str = IAM_XMLNS) -> Response:
    """An IAM (query protocol) error document; ``xmlns`` for other query services (STS)."""
    rid = request_id()
    kind = "Receiver" if status >= 500 else "Sender"
    body = (
        f'<ErrorResponse xmlns="{xmlns}"><Error><Type>{kind}</Type>'
        f"<Code>{escape(code)}</Code><Message>{escape(message)}</Message></Error>"
        f"<RequestId>{rid}</RequestId></ErrorResponse>"
    )
    return Response(status, [("Content-Type", "text/xml"), ("x-amzn-RequestId", rid)], body.encode())


def iam_empty_result(action: str) -> Response:
    """Success document for IAM actions that return no data."""
    return iam_result(action, "")


def iam_result(action: str, result_xml: str) -> Response:
    """Success document for an IAM action: ``result_xml`` (already escaped) is the
    content of ``<{action}Result>``; empty means no result element."""
    rid = request_id()
    result = f"<{action}Result>{result_xml}</{action}Result>" if result_xml else ""
    body = (
        f'<{action}Response xmlns="{IAM_XMLNS}">{result}<ResponseMetadata><RequestId>{rid}</RequestId>'
        f"</ResponseMetadata></{action}Response>"
    )
    return Response(200, [("Content-Type", "text/xml"), ("x-amzn-RequestId", rid)], body.encode())


def json_response(status: int, payload: dict, content_type: str = "application/x-amz-json-1.1") -> Response:
    rid = request_id()
    return Response(
        status,
        [("Content-Type", content_type), ("x-amzn-RequestId", rid)],
        json.dumps(payload).encode(),
    )


def sm_error(code: str, message: str, status: int = 400) -> Response:
    """An awsJson1.1 error document (Secrets Manager, EventBridge)."""
    return json_response(status, {"__type": code, "message": message})


def rest_json_error(status: int, code: str, message: str) -> Response:
    """A REST-JSON error (EventBridge Scheduler): code in ``x-amzn-ErrorType``."""
    rid = request_id()
    return Response(
        status,
        [("Content-Type", "application/json"), ("x-amzn-RequestId", rid), ("x-amzn-ErrorType", code)],
        json.dumps({"Message": message}).encode(),
    )


def protocol_error(protocol: str, status: int, code: str, message: str) -> Response:
    """An error document in ``protocol``'s form."""
    if protocol == QUERY:
        return iam_error(status, code, message)
    if protocol == REST_JSON:
        return rest_json_error(status, code, message)
    return sm_error(code, message, status)


# Error codes of the injected throttling / server faults, per service:
# service -> ((throttle code, status), (server error code, status)).
FAULT_CODES = {
    "iam": (("Throttling", 400), ("ServiceFailure", 500)),
    "secretsmanager": (("ThrottlingException", 400), ("InternalServiceError", 500)),
    "events": (("ThrottlingException", 400), ("InternalException", 500)),
    "scheduler": (("ThrottlingException", 429), ("InternalServerException", 500)),
    "sts": (("Throttling", 400), ("InternalFailure", 500)),
    "organizations": (("TooManyRequestsException", 400), ("ServiceException", 500)),
    "lambda": (("TooManyRequestsException", 429), ("ServiceException", 500)),
}
# Any other JSON service (not served by the emulator's corrections).
_DEFAULT_JSON_FAULT_CODES = (("ThrottlingException", 400), ("InternalFailure", 500))


def fault_codes(service: str, protocol: str) -> tuple:
    if service in FAULT_CODES:
        return FAULT_CODES[service]
    return FAULT_CODES["iam"] if protocol == QUERY else _DEFAULT_JSON_FAULT_CODES


def server_error(service: str, protocol: str, message: str) -> Response:
    """The service's 500 error (ServiceFailure, InternalServiceError, ...)."""
    code, status = fault_codes(service, protocol)[1]
    return protocol_error(protocol, status, code, message)


def throttle_error(service: str, protocol: str) -> Response:
    code, status = fault_codes(service, protocol)[0]
    return protocol_error(protocol, status, code, "Rate exceeded")
