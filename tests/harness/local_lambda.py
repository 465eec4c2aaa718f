"""Lambda's behaviour around the function: one warm process reused across
invocations; after a crash, the next invocation starts a fresh (cold) one."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from .function import FunctionProcess, LogSink, find_binary, function_environment
from .runtime_api import RuntimeApi


@dataclass
class InvocationResult:
    """The outcome of one invocation, as Lambda reports it to the caller."""

    ok: bool
    body: Any = None
    error_type: Optional[str] = None
    error_message: Optional[str] = None
    cold_start: bool = False
    duration_ms: float = 0.0
    lines: list = field(default_factory=list)


class LocalLambda:
    """Invoke the release binary through the Runtime API, as Lambda would."""

    def __init__(
        self,
        endpoint_url: str,
        config: Optional[dict] = None,
        log_format: str = "JSON",
        sink: Optional[LogSink] = None,
        binary: Optional[Path] = None,
        timeout: float = 60.0,
    ) -> None:
        self.binary = binary or find_binary()
        self.endpoint_url = endpoint_url
        self.config = dict(config or {})
        self.log_format = log_format
        self.sink = sink
        self.timeout = timeout
        self.processes_started = 0
        self._lock = threading.Lock()
        self._api: Optional[RuntimeApi] = None
        self._process: Optional[FunctionProcess] = None

    def invoke(self, event: dict) -> InvocationResult:
        """Run one invocation; a process that dies meanwhile is reported like Lambda does."""
        cold = self._ensure_process()
        api, process = self._api, self._process
        assert api is not None and process is not None
        first_line = len(process.lines)
        started = time.monotonic()
        request_id = api.submit(event)
        reply = None
        while reply is None:
            reply = api.wait(request_id, timeout=0.05)
            if reply is None and not process.alive():
                reply = api.wait(request_id, timeout=0.2)  # a reply may have raced the exit
                if reply is None:
                    self._discard()
                    return InvocationResult(
                        ok=False,
                        error_type="Runtime.ExitError",
                        error_message=f"the function process exited ({process.process.returncode})",
                        cold_start=cold,
                        duration_ms=(time.monotonic() - started) * 1000,
                        lines=process.lines[first_line:],
                    )
            if reply is None and time.monotonic() - started > self.timeout:
                self.kill()
                return InvocationResult(ok=False, error_type="Sandbox.Timedout", cold_start=cold)
        if api.init_error is not None:
            self._discard(kill=True)
        process.settle()  # the step's log lines were written before its reply
        return InvocationResult(
            ok=reply.ok,
            body=reply.body,
            error_type=reply.error_type,
            error_message=reply.error_message,
            cold_start=cold,
            duration_ms=(time.monotonic() - started) * 1000,
            lines=process.lines[first_line:],
        )

    def start(self, timeout: float = 10.0) -> bool:
        """Start a process if none runs, and wait until it polls for its first event."""
        self._ensure_process()
        assert self._api is not None
        return self._api.polled.wait(timeout)

    def peak_rss_kib(self) -> int:
        """The current process's peak resident set so far (``VmHWM``, KiB); 0 without one."""
        if self._process is None:
            return 0
        status = Path(f"/proc/{self._process.process.pid}/status").read_text()
        return next((int(line.split()[1]) for line in status.splitlines() if line.startswith("VmHWM:")), 0)

    def kill(self) -> None:
        """SIGKILL the current process (a crash); the next invocation starts a fresh one."""
        self._discard(kill=True)

    def stop(self) -> None:
        with self._lock:
            if self._process is not None:
                self._process.stop()
            if self._api is not None:
                self._api.stop()
            self._process = self._api = None

    @property
    def lines(self) -> list:
        return self._process.lines if self._process else []

    def _ensure_process(self) -> bool:
        with self._lock:
            if self._process is not None and self._process.alive():
                return False
            if self._api is not None:
                self._api.stop()
            self._api = RuntimeApi(deadline_seconds=self.timeout)
            env = function_environment(self._api.address, self.endpoint_url, self.log_format, self.config)
            self._process = FunctionProcess(self.binary, env, self.sink)
            self.processes_started += 1
            return True

    def _discard(self, kill: bool = False) -> None:
        with self._lock:
            process, api = self._process, self._api
            self._process = self._api = None
        if process is not None:
            process.kill() if kill else process.stop()
        if api is not None:
            api.stop()
