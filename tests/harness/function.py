"""The function as a process: the release binary, its environment, its log lines."""

from __future__ import annotations

import os
import select
import subprocess
import threading
from pathlib import Path
from typing import Optional

REPO = Path(__file__).resolve().parents[2]


def find_binary() -> Path:
    """The release binary: ``$ROTATION_BINARY`` or ``target/release/iam-password-rotation``."""
    binary = Path(os.environ.get("ROTATION_BINARY") or REPO / "target/release/iam-password-rotation")
    if not binary.is_absolute():
        binary = REPO / binary
    if not binary.exists():
        raise FileNotFoundError(f"{binary} does not exist: run `cargo build --release` (make test does)")
    return binary


class LogSink:
    """Every line every function process wrote, kept for the leak scan."""

    def __init__(self, path: Optional[Path] = None) -> None:
        self.lines: list[str] = []
        self._lock = threading.Lock()
        self._file = None
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._file = open(path, "w", encoding="utf-8")

    def write(self, line: str) -> None:
        with self._lock:
            self.lines.append(line)
            if self._file:
                self._file.write(line + "\n")
                self._file.flush()


def function_environment(runtime_api: str, endpoint_url: str, log_format: str, extra: dict) -> dict:
    """What Lambda gives the process, with AWS pointed at the emulator and no host config leaking in."""
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": "/nonexistent",
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_LAMBDA_RUNTIME_API": runtime_api,
        "AWS_LAMBDA_FUNCTION_NAME": "iam-password-rotation",
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "128",
        "AWS_LAMBDA_LOG_GROUP_NAME": "/aws/lambda/iam-password-rotation",
        "AWS_LAMBDA_LOG_STREAM_NAME": "local",
        "AWS_LAMBDA_LOG_FORMAT": log_format,
        "AWS_LAMBDA_LOG_LEVEL": "INFO",
        "AWS_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "AKIDROTATIONFUNCTION",
        "AWS_SECRET_ACCESS_KEY": "emulator-secret-key",
        "AWS_ENDPOINT_URL": endpoint_url,
    }
    env.update({key: str(value) for key, value in extra.items()})
    return env


class FunctionProcess:
    """One function process; stdout and stderr lines go to ``lines`` and the sink.

    A pump thread per stream reads whatever the process writes, and ``settle()``
    lets an invoker collect what is still in the pipes: both read under one lock,
    so every line the process wrote before its reply is in ``lines`` once
    ``settle()`` returns (the reply alone does not say the pump has caught up).
    """

    def __init__(self, binary: Path, env: dict, sink: Optional[LogSink] = None) -> None:
        self.lines: list[str] = []
        self._sink = sink
        self._lock = threading.Lock()
        self.process = subprocess.Popen(
            [str(binary)], env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        self._partial: dict[int, bytes] = {}
        self._fds = [stream.fileno() for stream in (self.process.stdout, self.process.stderr)]
        for fd in self._fds:
            os.set_blocking(fd, False)
            self._partial[fd] = b""
        self._pumps = [threading.Thread(target=self._pump, args=(fd,), daemon=True) for fd in self._fds]
        for pump in self._pumps:
            pump.start()

    def settle(self) -> None:
        """Take every complete line already written to the pipes."""
        for fd in self._fds:
            self._read_available(fd)

    def _pump(self, fd: int) -> None:
        readable = select.poll()  # poll, not select: no limit on fd numbers in a long session
        readable.register(fd, select.POLLIN)
        while True:
            readable.poll()
            if not self._read_available(fd):
                return

    def _read_available(self, fd: int) -> bool:
        """Read the pipe until it is empty; False at end of file."""
        with self._lock:
            while True:
                try:
                    chunk = os.read(fd, 65536)
                except BlockingIOError:
                    return True
                if not chunk:
                    if self._partial[fd]:
                        self._take(self._partial[fd])
                        self._partial[fd] = b""
                    return False
                *complete, self._partial[fd] = (self._partial[fd] + chunk).split(b"\n")
                for raw in complete:
                    self._take(raw)

    def _take(self, raw: bytes) -> None:
        line = raw.decode("utf-8", "replace")
        self.lines.append(line)
        if self._sink is not None:
            self._sink.write(line)

    def alive(self) -> bool:
        return self.process.poll() is None

    def kill(self) -> None:
        """SIGKILL, as a crash or a Lambda timeout would."""
        if self.alive():
            self.process.kill()
        self.process.wait()
        self._drain()

    def stop(self) -> None:
        if self.alive():
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._drain()

    def _drain(self) -> None:
        for pump in self._pumps:
            pump.join(timeout=5)
