"""A minimal Lambda Runtime API (2018-06-01) server on 127.0.0.1.

The function long-polls ``GET /runtime/invocation/next``, then posts to
``/runtime/invocation/{id}/response`` or ``/error`` (or ``/runtime/init/error``).
One server serves one function process, so a killed process's dangling request
can never take an event meant for its successor.
"""

from __future__ import annotations

import json
import queue
import threading
import time
import uuid
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Optional

PREFIX = "/2018-06-01/runtime"
FUNCTION_ARN = "arn:aws:lambda:us-east-1:123456789012:function:iam-password-rotation"


@dataclass
class Reply:
    """What the function posted for one invocation."""

    ok: bool
    body: Any = None
    error_type: Optional[str] = None
    error_message: Optional[str] = None


class RuntimeApi:
    """Queue events for the function and collect its replies."""

    def __init__(self, deadline_seconds: float = 60.0) -> None:
        self.deadline_seconds = deadline_seconds
        self._events: "queue.Queue[tuple[str, dict]]" = queue.Queue()
        self._replies: dict[str, Reply] = {}
        self._done = threading.Condition()
        self.init_error: Optional[Reply] = None
        self.polled = threading.Event()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def address(self) -> str:
        """``host:port``, the value of ``AWS_LAMBDA_RUNTIME_API``."""
        host, port = self._server.server_address[:2]
        return f"{host}:{port}"

    def submit(self, event: dict) -> str:
        """Queue an event; returns its request id."""
        request_id = str(uuid.uuid4())
        self._events.put((request_id, event))
        return request_id

    def wait(self, request_id: str, timeout: float) -> Optional[Reply]:
        """The reply to ``request_id``, or None after ``timeout`` seconds."""
        end = time.monotonic() + timeout
        with self._done:
            while request_id not in self._replies and self.init_error is None:
                left = end - time.monotonic()
                if left <= 0:
                    return None
                self._done.wait(left)
            return self._replies.pop(request_id, None) or self.init_error

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _reply(self, request_id: Optional[str], reply: Reply) -> None:
        with self._done:
            if request_id is None:
                self.init_error = reply
            else:
                self._replies[request_id] = reply
            self._done.notify_all()

    def _handler(self):
        api = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:  # keep test output clean
                pass

            def _send(self, status: int, body: bytes = b"", headers: Optional[dict] = None) -> None:
                self.send_response(status)
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:
                if self.path != f"{PREFIX}/invocation/next":
                    self._send(404, b'{"errorType":"NotFound"}')
                    return
                api.polled.set()
                request_id, event = api._events.get()
                deadline_ms = int((time.time() + api.deadline_seconds) * 1000)
                self._send(
                    200,
                    json.dumps(event).encode(),
                    {
                        "Lambda-Runtime-Aws-Request-Id": request_id,
                        "Lambda-Runtime-Deadline-Ms": str(deadline_ms),
                        "Lambda-Runtime-Invoked-Function-Arn": FUNCTION_ARN,
                        "Lambda-Runtime-Trace-Id": f"Root=1-{uuid.uuid4().hex[:8]}-{uuid.uuid4().hex[:24]}",
                    },
                )

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                path = self.path
                if path == f"{PREFIX}/init/error":
                    api._reply(None, _error_reply(raw))
                elif path.startswith(f"{PREFIX}/invocation/") and path.endswith("/response"):
                    request_id = path[len(f"{PREFIX}/invocation/") : -len("/response")]
                    api._reply(request_id, Reply(ok=True, body=json.loads(raw) if raw else None))
                elif path.startswith(f"{PREFIX}/invocation/") and path.endswith("/error"):
                    request_id = path[len(f"{PREFIX}/invocation/") : -len("/error")]
                    api._reply(request_id, _error_reply(raw))
                else:
                    self._send(404, b'{"errorType":"NotFound"}')
                    return
                self._send(202, b'{"status":"OK"}')

        return Handler


def _error_reply(raw: bytes) -> Reply:
    try:
        body = json.loads(raw) if raw else {}
    except ValueError:
        body = {"errorMessage": raw.decode("utf-8", "replace")}
    return Reply(ok=False, body=body, error_type=body.get("errorType"), error_message=body.get("errorMessage"))
