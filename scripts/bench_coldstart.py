"""Cold start, measured where Lambda sees it: at the Runtime API.

Three programs, each spawned fresh for every run with a fresh Runtime API:
- bootstrap: the release function;
- floor: bench/runtime-floor, a lambda_runtime hello-world with the function's release
  profile, i.e. what any Rust function on this runtime pays before its first poll;
- python: bench/python-baseline/bootstrap.py on the venv's python, the boto3 rotation
  function a user would otherwise deploy.

A cold start runs from just before the spawn to the moment the program's first
``GET /2018-06-01/runtime/invocation/next`` request line is read (``perf_counter_ns``
in one selector thread on raw sockets: the harness's http.server starts a thread per
connection and parses the headers before ``do_GET``). A cold step runs from the spawn to
the response of a ``createSecret`` against the emulator. Runs are interleaved, one of each
program per round in a shuffled order, so that a load on the machine, and the caches the
previous program disturbed, hit every program alike. Every program gets the
environment Lambda gives a function (tests/harness/function.py's ``function_environment``):
no SSL_CERT_FILE or SSL_CERT_DIR, so a program finds its CA certificates as it would on
Lambda.

``where_the_time_goes`` breaks the bootstrap's start-up down: instructions by function
(callgrind, repeatable under load; names need a build with symbols, ``--build-symbols``),
the files and syscalls of the start (strace), and the real time CA certificates cost
(the same start with fewer of them).

Run: python scripts/bench_coldstart.py --binary target/lambda/iam-password-rotation/bootstrap
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import selectors
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Optional

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from harness.aws import INITIAL_PASSWORD, Aws  # noqa: E402
from harness.function import function_environment  # noqa: E402
from harness.runtime_api import FUNCTION_ARN, PREFIX  # noqa: E402

FLOOR = REPO / "target/release/runtime-floor"
PYTHON_BOOTSTRAP = REPO / "bench/python-baseline/bootstrap.py"
VENV_PYTHON = REPO / ".venv/bin/python"
NEXT = f"{PREFIX}/invocation/next"
UNSET = ("SSL_CERT_FILE", "SSL_CERT_DIR")


class RuntimeApi:
    """A Lambda Runtime API on raw sockets for one process, stamping its requests.

    One selector thread reads every connection and stamps a request with
    ``time.perf_counter_ns`` as soon as its request line is in. The first poll is
    answered with ``event`` when one is given; every other poll is held, as Lambda
    holds it between invocations.
    """

    def __init__(self, event: Optional[dict] = None) -> None:
        self.first_poll_ns: Optional[int] = None
        self.reply_ns: Optional[int] = None
        self.reply: Optional[tuple[str, Any]] = None  # ("response" | "error" | "init/error", body)
        self.polled = threading.Event()
        self.replied = threading.Event()
        self._event = event
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.setblocking(False)
        self._selector = selectors.DefaultSelector()
        self._selector.register(self._listener, selectors.EVENT_READ)
        self._stopping = False
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    @property
    def address(self) -> str:
        """``host:port``, the value of ``AWS_LAMBDA_RUNTIME_API``."""
        host, port = self._listener.getsockname()[:2]
        return f"{host}:{port}"

    def stop(self) -> None:
        self._stopping = True
        self._thread.join()

    def _serve(self) -> None:
        while not self._stopping:
            for key, _ in self._selector.select(timeout=0.05):
                if key.fileobj is self._listener:
                    conn, _ = self._listener.accept()
                    conn.setblocking(False)
                    self._selector.register(conn, selectors.EVENT_READ, _Connection())
                else:
                    self._read(key.fileobj, key.data)
        for key in list(self._selector.get_map().values()):
            key.fileobj.close()
        self._selector.close()

    def _read(self, conn: socket.socket, state: _Connection) -> None:
        try:
            chunk = conn.recv(65536)
        except ConnectionError:
            chunk = b""
        now = time.perf_counter_ns()
        if not chunk:
            self._selector.unregister(conn)
            conn.close()
            return
        state.buffer += chunk
        while True:
            if state.line_ns is None and b"\r\n" in state.buffer:
                state.line_ns = now
            end = state.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head = state.buffer[:end].decode("latin-1").split("\r\n")
            method, path = head[0].split(" ")[:2]
            headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in head[1:])}
            length = int(headers.get("content-length") or 0)
            if len(state.buffer) < end + 4 + length:
                return
            body = state.buffer[end + 4 : end + 4 + length]
            state.buffer = state.buffer[end + 4 + length :]
            line_ns, state.line_ns = state.line_ns, None
            self._answer(conn, method, path, body, line_ns, now)

    def _answer(self, conn: socket.socket, method: str, path: str, body: bytes, line_ns: int, now: int) -> None:
        if method == "GET" and path == NEXT:
            if self.first_poll_ns is None:
                self.first_poll_ns = line_ns
                self.polled.set()
            if self._event is not None:
                event, self._event = self._event, None
                _send(conn, 200, json.dumps(event).encode(), {
                    "Lambda-Runtime-Aws-Request-Id": str(uuid.uuid4()),
                    "Lambda-Runtime-Deadline-Ms": str(int((time.time() + 60) * 1000)),
                    "Lambda-Runtime-Invoked-Function-Arn": FUNCTION_ARN,
                    "Lambda-Runtime-Trace-Id": f"Root=1-{uuid.uuid4().hex[:8]}-{uuid.uuid4().hex[:24]}",
                })
            return
        kind = _reply_kind(path) if method == "POST" else None
        if kind is None:
            _send(conn, 404, b'{"errorType":"NotFound"}')
            return
        self.reply = (kind, json.loads(body) if body else None)
        self.reply_ns = now
        _send(conn, 202, b'{"status":"OK"}')
        self.replied.set()


@dataclass
class _Connection:
    buffer: bytes = b""
    line_ns: Optional[int] = None


def _reply_kind(path: str) -> Optional[str]:
    if path == f"{PREFIX}/init/error":
        return "init/error"
    if path.startswith(f"{PREFIX}/invocation/"):
        for kind in ("response", "error"):
            if path.endswith(f"/{kind}"):
                return kind
    return None


def _send(conn: socket.socket, status: int, body: bytes, headers: Optional[dict] = None) -> None:
    lines = [f"HTTP/1.1 {status} {'OK' if status < 300 else 'Not Found'}", "Content-Type: application/json",
             f"Content-Length: {len(body)}", *(f"{k}: {v}" for k, v in (headers or {}).items())]
    conn.sendall(("\r\n".join(lines) + "\r\n\r\n").encode() + body)  # small: fits the socket buffer


# -- programs and their environment ---------------------------------------------------


def lambda_environment(endpoint_url: str) -> dict:
    """Lambda's environment for a function (AWS pointed at ``endpoint_url``); each run sets
    its own ``AWS_LAMBDA_RUNTIME_API``. Built from scratch, so no SSL_CERT_* leaks in.
    Lambda sets AWS_DEFAULT_REGION as well as AWS_REGION, and botocore reads only the former."""
    env = function_environment("", endpoint_url, "JSON", {"AWS_DEFAULT_REGION": "us-east-1"})
    assert not any(name in env for name in UNSET)
    return env


def build_floor() -> Path:
    """target/release/runtime-floor, built from bench/runtime-floor (the function's
    release profile) when missing."""
    if not FLOOR.exists():
        subprocess.run(["cargo", "build", "--release"], cwd=REPO / "bench/runtime-floor", check=True,
                       env={**os.environ, "CARGO_TARGET_DIR": str(REPO / "target")})
    return FLOOR


def programs(binary: Path) -> dict[str, list[str]]:
    """The three commands compared: the function, the floor, the Python baseline."""
    return {"bootstrap": [str(binary)], "floor": [str(build_floor())],
            "python": [str(VENV_PYTHON), str(PYTHON_BOOTSTRAP)]}


# -- one run ---------------------------------------------------------------------------


@dataclass
class Spawned:
    """A program just spawned under its own Runtime API."""

    command: list[str]
    process: subprocess.Popen
    api: RuntimeApi
    started_ns: int  # perf_counter_ns just before the spawn
    output: Any  # the program's stdout and stderr, a temporary file

    def wait_for(self, flag: threading.Event, what: str, timeout: float = 30.0) -> None:
        """Wait for ``flag``; a program that exits or hangs first is an error, with its output."""
        end = time.monotonic() + timeout
        while not flag.wait(0.05):
            if self.process.poll() is not None or time.monotonic() > end:
                self.output.seek(0)
                tail = self.output.read().decode("utf-8", "replace")[-2000:]
                raise RuntimeError(f"{' '.join(self.command)}: no {what} "
                                   f"(exit status {self.process.poll()}):\n{tail}")

    def ms_since_spawn(self, ns: int) -> float:
        return (ns - self.started_ns) / 1e6

    def cpu(self) -> dict:
        """CPU time (all threads) and minor page faults so far, from /proc."""
        pid = self.process.pid
        cpu_ns = sum(int((task / "schedstat").read_text().split()[0])
                     for task in Path(f"/proc/{pid}/task").iterdir())
        minflt = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[7])
        return {"cpu_ms": cpu_ns / 1e6, "minor_faults": minflt}


@contextmanager
def spawned(command: list[str], env: dict, event: Optional[dict] = None) -> Iterator[Spawned]:
    """Spawn ``command`` with a fresh Runtime API (serving ``event`` once); killed on exit."""
    api = RuntimeApi(event)
    output = tempfile.TemporaryFile()  # not a pipe: nobody has to drain it while we time
    try:
        env = {**env, "AWS_LAMBDA_RUNTIME_API": api.address}
        started = time.perf_counter_ns()
        process = subprocess.Popen(command, env=env, stdin=subprocess.DEVNULL, stdout=output,
                                   stderr=subprocess.STDOUT)
        try:
            yield Spawned(command, process, api, started, output)
        finally:
            process.kill()
            process.wait()
    finally:
        api.stop()
        output.close()


def first_poll(command: list[str], env: dict) -> dict:
    """One cold start: ms from spawn to the first poll, and CPU ms and page faults by then."""
    with spawned(command, env) as run:
        run.wait_for(run.api.polled, "poll for an event")
        return {"ms": run.ms_since_spawn(run.api.first_poll_ns), **run.cpu()}


# -- statistics ------------------------------------------------------------------------


def summary(samples: list[float]) -> dict:
    """median, p95, min, max (ms) and the raw samples."""
    p95 = statistics.quantiles(samples, n=20, method="inclusive")[-1] if len(samples) > 1 else samples[0]
    return {"runs": len(samples), "median_ms": statistics.median(samples), "p95_ms": p95,
            "min_ms": min(samples), "max_ms": max(samples), "samples_ms": samples}


# -- cold starts -------------------------------------------------------------------------


def interleaved_cold_starts(commands: dict[str, list[str]], env: dict, runs: int = 30) -> dict:
    """Cold starts of several programs, one of each per round, in a new order every round
    (a program started right after another pays for the caches that one disturbed:
    0.15 ms here, as much as the gap measured): {name: cold_starts' dict}."""
    samples: dict[str, list[dict]] = {name: [] for name in commands}
    order = random.Random(0)  # the same orders in every run of the bench
    for _ in range(runs):
        for name in order.sample(list(commands), len(commands)):
            samples[name].append(first_poll(commands[name], env))
    return {name: {**summary([s["ms"] for s in rows]),
                   "cpu_median_ms": statistics.median(s["cpu_ms"] for s in rows),
                   "minor_faults_median": statistics.median(s["minor_faults"] for s in rows)}
            for name, rows in samples.items()}


def cold_starts(command: list[str], env: dict, runs: int = 30) -> dict:
    """Spawn to first poll, ``runs`` times: {runs, median_ms, p95_ms, min_ms, max_ms,
    samples_ms, cpu_median_ms (CPU time by the first poll: less noisy under load),
    minor_faults_median}."""
    return interleaved_cold_starts({"program": command}, env, runs)["program"]


def ratios(starts: dict) -> dict:
    """The two ratios of medians the issue asks for."""
    return {"bootstrap/floor": starts["bootstrap"]["median_ms"] / starts["floor"]["median_ms"],
            "python/bootstrap": starts["python"]["median_ms"] / starts["bootstrap"]["median_ms"]}


# -- cold steps ------------------------------------------------------------------------


def cold_step(command: list[str], env: dict, aws: Aws, name: str) -> dict:
    """Spawn to the response of createSecret on a fresh bound user and rotation placeholder;
    checks the token's AWSPENDING value holds a new password for the user."""
    user = aws.bound_user(name)
    token = str(uuid.uuid4())
    aws.control.rotation_placeholder(user.secret_arn, token)  # what RotateSecret leaves (driver.start)
    event = {"Step": "createSecret", "SecretId": user.secret_arn, "ClientRequestToken": token}
    with spawned(command, env, event) as run:
        run.wait_for(run.api.replied, "createSecret response", timeout=60)
        kind, body = run.api.reply[0], run.api.reply[1] or {}
        result = {"ms": run.ms_since_spawn(run.api.reply_ns),
                  "first_poll_ms": run.ms_since_spawn(run.api.first_poll_ns)}
    pending = aws.value(user.secret_arn, "AWSPENDING") or {}
    created = (kind == "response" and body.get("Outcome") == "created"
               and "AWSPENDING" in aws.stages(user.secret_arn).get(token, [])
               and pending.get("username") == name and pending.get("password") not in (None, INITIAL_PASSWORD))
    if not created:
        raise RuntimeError(f"{' '.join(command)}: createSecret stored no new AWSPENDING value: {kind} {body}")
    return result


def cold_steps(commands: dict[str, list[str]], endpoint_url: str, runs: int = 15) -> dict:
    """createSecret in a fresh process, interleaved: {name: {runs, median_ms, p95_ms, min_ms,
    max_ms, samples_ms, first_poll_median_ms, created}}, ``created`` counting the runs
    checked to have stored a new AWSPENDING value (all of them, or this raises)."""
    aws, env = Aws(endpoint_url), lambda_environment(endpoint_url)
    batch = uuid.uuid4().hex[:6]  # user names unique across calls on one emulator
    samples: dict[str, list[dict]] = {name: [] for name in commands}
    for i in range(runs):
        for name, command in commands.items():
            samples[name].append(cold_step(command, env, aws, f"cold-{name}-{batch}-{i}"))
    return {name: {**summary([s["ms"] for s in rows]),
                   "first_poll_median_ms": statistics.median(s["first_poll_ms"] for s in rows),
                   "created": len(rows)}
            for name, rows in samples.items()}


# -- where the time goes -----------------------------------------------------------------

SYMBOLS_DIR = REPO / "target/coldstart-symbols"
SYMBOLS_BINARY = SYMBOLS_DIR / "release/iam-password-rotation"
# Frames that enclose everything, or only glue: they say nothing about where the time goes.
_GLUE = re.compile(r"^(\(below main\)|main|__libc_start|_start|0x|core::ops::function::|std::sync::once::"
                   r"|<std::sys::sync::once|std::sys::backtrace::|std::rt::)")
# What the function's start-up is made of, as (label, function pattern, how to combine the
# matches): "max" for one function (its closures match too, nested), "sum" for a family of
# functions that do not call each other (one per SDK crate).
MILESTONES = (
    ("aws-config: load the SDK config (its STS client builds the HTTPS client: the certificates below)",
     r"^aws_config::loader::ConfigLoader::load\b", "max"),
    ("CA certificates found, read and PEM-decoded (rustls-native-certs; kept for the process)",
     r"^rustls_native_certs::CertPaths::load$", "max"),
    ("root store: every certificate parsed into a trust anchor (webpki), again for every SDK client",
     r"^webpki::trust_anchor::anchor_from_trusted_cert$", "max"),
    ("SDK clients other than STS built at init (each builds its HTTPS connector and root store)",
     r"^aws_sdk_(?!sts)\w+::client::Client::(new|from_conf)$", "sum"),
    ("endpoint partitions (partitions.json) parsed, once per SDK crate",
     r"^aws_sdk_\w+::endpoint_lib::partition::PartitionResolver::new_from_json$", "sum"),
    ("dynamic loading and relocation (ld.so)", r"^_dl_start$", "max"),
    ("tracing subscriber", r"^<?tracing_subscriber::", "max"),
    ("tokio runtime", r"^tokio::runtime::builder::Builder::build$", "max"),
)
# callgrind_annotate's rows: "Ir (share) [<*] file:function[ (Nx)][ [object]]"; with
# --tree=caller, "<" rows are a function's callers (with call counts), "*" the function.
_ANNOTATED = re.compile(r"^\s*([\d,]+) \(\s*[\d.]+%\)\s+(?:([<*]) +)?[^:]*:(.+?)(?: \(([\d,]+)x\))?(?: \[(.*)\])?$")
_CA_BUNDLES = ("/etc/ssl/certs/ca-certificates.crt", "/etc/pki/tls/certs/ca-bundle.crt", "/etc/ssl/cert.pem")


def build_symbols() -> Path:
    """The function built like the release binary but with its symbols kept, so that a
    profile names its functions (the release profile strips them). Minutes: fat LTO."""
    subprocess.run(["cargo", "build", "--release", "--locked", "--bin", "iam-password-rotation"], cwd=REPO,
                   check=True, env={**os.environ, "CARGO_TARGET_DIR": str(SYMBOLS_DIR),
                                    "CARGO_PROFILE_RELEASE_STRIP": "none"})
    return SYMBOLS_BINARY


def callgrind_profile(binary: Path, env: dict, top: int = 15) -> dict:
    """Instructions until the first poll, by function: callgrind counts are repeatable
    under load, unlike times. A stripped binary names its own functions by address only.

    {total_ir, milestones, inclusive, exclusive, by_crate}, each a list of {name, ir, share}
    (milestones also ``calls``): milestones in MILESTONES' order, the others biggest first;
    inclusive without the frames that enclose everything; by_crate the self cost summed
    by Rust crate, else by shared object."""
    with tempfile.TemporaryDirectory() as scratch:
        out = Path(scratch) / "callgrind.out"
        command = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", str(binary)]
        with spawned(command, env) as run:
            run.wait_for(run.api.polled, "poll for an event", timeout=600)
            run.process.send_signal(signal.SIGTERM)  # valgrind writes the profile as the program dies
            run.process.wait(120)
        inclusive = _annotate(out, inclusive=True)
        exclusive = _annotate(out, inclusive=False)
    total = inclusive[0][2]  # the dynamic loader's entry: the whole program
    by_crate: dict[str, int] = {}
    for name, obj, ir, _ in exclusive:
        by_crate[_crate(name, obj)] = by_crate.get(_crate(name, obj), 0) + ir

    def rows(pairs) -> list:
        return [{"name": name, "ir": ir, "share": ir / total} for name, ir in pairs][:top]

    milestones = []
    for label, pattern, combine in MILESTONES:
        matched = [(ir, calls) for name, _, ir, calls in inclusive if re.search(pattern, name)]
        if matched:
            ir, calls = (tuple(map(sum, zip(*matched))) if combine == "sum" else max(matched))
            milestones.append({"name": label, "ir": ir, "share": ir / total, "calls": calls})
    return {"total_ir": total, "milestones": milestones,
            "inclusive": rows((n, ir) for n, _, ir, _ in inclusive if ir < 0.9 * total and not _GLUE.match(n)),
            "exclusive": rows((n, ir) for n, _, ir, _ in exclusive),
            "by_crate": rows(sorted(by_crate.items(), key=lambda kv: -kv[1]))}


def _crate(function: str, obj: str) -> str:
    """The Rust crate of a demangled function (``<T as Trait>::f``: T's crate, or the
    trait's when T is a primitive), else its shared object."""
    if "::" not in function:
        return obj
    head = function.lstrip("<&*").removeprefix("mut ").removeprefix("dyn ")
    implementor, _, trait = head.partition(" as ")
    if trait and "::" not in implementor.split("<", 1)[0]:
        head = trait
    return head.split("::", 1)[0]


def _annotate(out: Path, inclusive: bool) -> list[tuple[str, str, int, int]]:
    """callgrind_annotate's (function, object file name, Ir, calls) rows, biggest first;
    calls (summed over the callers) only for the inclusive listing, else 0."""
    command = ["callgrind_annotate", f"--inclusive={'yes' if inclusive else 'no'}", "--threshold=100", str(out)]
    listing = subprocess.run(command + (["--tree=caller"] if inclusive else []),
                             capture_output=True, text=True, check=True).stdout
    rows, calls = [], 0
    for line in listing.splitlines():
        match = _ANNOTATED.match(line)
        if not match or "PROGRAM TOTALS" in line:
            continue
        ir, marker, name, count, obj = match.groups()
        if marker == "<":
            calls += int(count.replace(",", "")) if count else 0
            continue
        # ld.so's inlined functions come without an object file, named by glibc's elf/ sources
        obj = obj or ("ld-linux-x86-64.so.2" if "/elf/" in line else "?")
        rows.append((name, Path(obj).name, int(ir.replace(",", "")), calls))
        calls = 0
    return sorted(rows, key=lambda row: -row[2])


def _file_group(path: str) -> str:
    if path.startswith(("/etc/ssl", "/etc/pki")) or "certificates" in path:  # bundles, dirs and their links
        return "CA certificates"
    if ".so" in path:
        return "shared libraries"
    if "/.aws/" in path:
        return "AWS config files"
    if path.startswith(("/proc", "/sys")):
        return "/proc and /sys"
    return "other"


_SYSCALL = re.compile(r"^\d+\s+([\d.]+) (\w+)\((.*?)\)? += (-?\d+)")


def syscall_profile(binary: Path, env: dict) -> dict:
    """The start-up's syscalls and files, until the first poll (strace -f -ttt -T -y).
    strace slows every syscall down, so its times say in what order, not how long.
    {traced_ms, syscalls: {name: count}, files: {group: {opened, bytes_read, first_ms, last_ms}}}."""
    with tempfile.TemporaryDirectory() as scratch:
        out = Path(scratch) / "strace.out"
        command = ["strace", "-f", "-ttt", "-T", "-y", "-o", str(out), str(binary)]
        with spawned(command, env) as run:
            run.wait_for(run.api.polled, "poll for an event", timeout=120)
            traced = _descendant(run.process.pid)
            if traced is not None:  # strace killed first would leave it running, detached
                os.kill(traced, signal.SIGKILL)
            run.process.wait(30)
        lines = out.read_text(errors="replace").splitlines()
    start, poll, syscalls, files = None, None, {}, {}
    for line in lines:
        match = _SYSCALL.match(line)
        if not match:
            continue
        ts, name, args, result = float(match.group(1)), match.group(2), match.group(3), int(match.group(4))
        start = ts if start is None else start
        syscalls[name] = syscalls.get(name, 0) + 1
        if name in ("writev", "write", "sendto") and "GET /2018-06-01/" in args:
            poll = poll or ts  # the poll (strace cuts strings at 32 characters)
        # What the call works on: a path first argument (openat's after AT_FDCWD), else the
        # path -y gives its fd (a read's data may start with "/" too: only the start counts).
        path = re.match(r'(?:AT_FDCWD(?:<[^>]*>)?, )?"(/[^"]*)"', args) or re.match(r"\d+<(/[^>]*)>", args)
        if path and name != "execve":  # execve's path is the program itself
            elapsed = (ts - start) * 1000
            group = files.setdefault(_file_group(path.group(1)),
                                     {"opened": 0, "bytes_read": 0, "first_ms": elapsed, "last_ms": elapsed})
            group["last_ms"] = elapsed
            group["opened"] += name == "openat"
            group["bytes_read"] += result if name in ("read", "pread64") and result > 0 else 0
    return {"traced_ms": ((poll or ts) - start) * 1000,
            "syscalls": dict(sorted(syscalls.items(), key=lambda kv: -kv[1])), "files": files}


def _descendant(pid: int) -> Optional[int]:
    """The first child of ``pid``: the program strace runs."""
    for task in Path(f"/proc/{pid}/task").iterdir():
        children = (task / "children").read_text().split()
        if children:
            return int(children[0])
    return None


def certificate_costs(binary: Path, env: dict, runs: int = 15) -> dict:
    """What CA certificates cost in real time, by running the program with less of them
    (interleaved): as on Lambda (no SSL_CERT_*: rustls-native-certs reads the probed bundle
    and every file of the probed directory), SSL_CERT_FILE naming the bundle alone, and a
    single certificate. {variant: {median_ms, cpu_median_ms, ...}} as cold_starts returns."""
    bundle = next((path for path in _CA_BUNDLES if Path(path).exists()), None)
    if bundle is None:
        return {}
    text = Path(bundle).read_text()
    end = text.index("-----END CERTIFICATE-----") + len("-----END CERTIFICATE-----")
    with tempfile.NamedTemporaryFile("w", suffix=".pem") as one:
        one.write(text[text.index("-----BEGIN CERTIFICATE-----"):end] + "\n")
        one.flush()
        variants = {"as on Lambda (bundle + directory)": env,
                    f"SSL_CERT_FILE={bundle}": {**env, "SSL_CERT_FILE": bundle},
                    "SSL_CERT_FILE=one certificate": {**env, "SSL_CERT_FILE": one.name}}
        samples: dict[str, list[dict]] = {name: [] for name in variants}
        for _ in range(runs):
            for name, variant in variants.items():
                samples[name].append(first_poll([str(binary)], variant))
    return {name: {**summary([s["ms"] for s in rows]), "cpu_median_ms": statistics.median(s["cpu_ms"] for s in rows)}
            for name, rows in samples.items()}


def where_the_time_goes(binary: Path, env: Optional[dict] = None, profile_binary: Optional[Path] = None,
                        runs: int = 15) -> dict:
    """The bootstrap's start-up, broken down: {callgrind (of ``profile_binary``, the same
    code with symbols, when given), profiled, syscalls, certificates}; see the functions
    that make each. ``env`` defaults to Lambda's with a closed endpoint: the function
    calls no AWS API before its first poll."""
    env = env or lambda_environment("http://127.0.0.1:9")
    return {"callgrind": callgrind_profile(profile_binary or binary, env),
            "profiled": str(profile_binary or binary),
            "syscalls": syscall_profile(binary, env),
            "certificates": certificate_costs(binary, env, runs)}


# -- report ------------------------------------------------------------------------------


def markdown_cold_starts(starts: dict) -> str:
    """The cold-start table: program | median | p95 | ratio | CPU by the first poll."""
    ratio = ratios(starts)
    against = {"bootstrap": f"{ratio['bootstrap/floor']:.1f}× floor", "floor": "1.0",
               "python": f"{ratio['python/bootstrap']:.1f}× bootstrap"}
    lines = ["| program | median | p95 | ratio | min–max | CPU by first poll (median) |", "|---|---|---|---|---|---|"]
    for name, s in starts.items():
        lines.append(f"| {name} | {s['median_ms']:.1f} ms | {s['p95_ms']:.1f} ms | {against.get(name, '')} | "
                     f"{s['min_ms']:.1f}–{s['max_ms']:.1f} ms | {s['cpu_median_ms']:.1f} ms |")
    return "\n".join(lines)


def markdown_cold_steps(steps: dict) -> str:
    """The cold-step table: program | median | p95 | first poll | runs checked."""
    lines = ["| program | createSecret, spawn to response: median | p95 | first poll (median) | AWSPENDING created |",
             "|---|---|---|---|---|"]
    for name, s in steps.items():
        lines.append(f"| {name} | {s['median_ms']:.1f} ms | {s['p95_ms']:.1f} ms | {s['first_poll_median_ms']:.1f} ms "
                     f"| {s['created']}/{s['runs']} |")
    lines.append("| floor | — | — | — | no createSecret: it echoes its events |")
    return "\n".join(lines)


def markdown_breakdown(breakdown: dict, top: int = 10) -> str:
    """The start-up breakdown: instructions by function and crate, files, certificate costs."""
    cg, sc = breakdown["callgrind"], breakdown["syscalls"]
    out = [f"Instructions to the first poll: {cg['total_ir'] / 1e6:.1f} M (callgrind, {breakdown['profiled']})", "",
           "| part of the start-up (inclusive) | share | calls |", "|---|---|---|"]
    out += [f"| {row['name']} | {row['share']:.1%} | {row['calls']:,} |" for row in cg["milestones"]]
    out += ["", "| crate or object (self cost) | share |", "|---|---|"]
    out += [f"| {row['name']} | {row['share']:.1%} |" for row in cg["by_crate"][:top]]
    out += ["", f"Files until the first poll (strace, {sc['traced_ms']:.1f} ms traced: times stretched by strace)", "",
            "| files | opened | bytes read | from | to |", "|---|---|---|---|---|"]
    out += [f"| {group} | {f['opened']} | {f['bytes_read']:,} | {f['first_ms']:.1f} ms | {f['last_ms']:.1f} ms |"
            for group, f in sc["files"].items()]
    if breakdown["certificates"]:
        out += ["", "| CA certificates | first poll: median | CPU (median) |", "|---|---|---|"]
        out += [f"| {name} | {s['median_ms']:.1f} ms | {s['cpu_median_ms']:.1f} ms |"
                for name, s in breakdown["certificates"].items()]
    return "\n".join(out)


@contextmanager
def emulator() -> Iterator[str]:
    """The emulator in a process of its own, so that its threads never hold this one's GIL
    while the Runtime API's thread should be stamping a request. Yields its URL."""
    process = subprocess.Popen([str(VENV_PYTHON), "-m", "rotation_emulator", "--port", "0"],
                               cwd=REPO / "tests/emulator", stdout=subprocess.PIPE, text=True)
    try:
        ready = process.stdout.readline().split()
        if ready[:1] != ["READY"]:
            raise RuntimeError(f"the emulator did not start: {ready}")
        yield ready[1]
    finally:
        process.terminate()
        process.wait()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--binary", default=str(REPO / "target/lambda/iam-password-rotation/bootstrap"))
    parser.add_argument("--runs", type=int, default=30, help="cold starts per program")
    parser.add_argument("--step-runs", type=int, default=15, help="cold createSecret steps per program")
    parser.add_argument("--symbols", help="the function built with symbols, for callgrind "
                        f"(default: {SYMBOLS_BINARY.relative_to(REPO)} when built)")
    parser.add_argument("--build-symbols", action="store_true", help="build that binary first (minutes)")
    parser.add_argument("--no-breakdown", action="store_true", help="skip where_the_time_goes")
    args = parser.parse_args()
    binary = Path(args.binary).resolve()
    symbols = Path(args.symbols) if args.symbols else build_symbols() if args.build_symbols else SYMBOLS_BINARY
    commands = programs(binary)
    load = os.getloadavg()[0]

    with emulator() as url:
        env = lambda_environment(url)
        starts = interleaved_cold_starts(commands, env, args.runs)
        steps = cold_steps({name: commands[name] for name in ("bootstrap", "python")}, url, args.step_runs)
        breakdown = None if args.no_breakdown else where_the_time_goes(
            binary, env, symbols if symbols.exists() else None, runs=max(5, args.runs // 2))

    print(f"binary: {binary.relative_to(REPO) if binary.is_relative_to(REPO) else binary}; "
          f"{args.runs} cold starts per program, interleaved; {os.cpu_count()} cores, "
          f"load average {load:.1f} at the start, {os.getloadavg()[0]:.1f} at the end")
    print("environment: Lambda's (tests/harness/function.py): SSL_CERT_FILE and SSL_CERT_DIR unset, "
          "AWS_LAMBDA_* set, AWS_REGION and AWS_DEFAULT_REGION us-east-1, dummy credentials, "
          "AWS_ENDPOINT_URL the emulator")
    print("a cold start: spawn to the first poll's request line at the Runtime API\n")
    print(markdown_cold_starts(starts))
    ratio = ratios(starts)
    print(f"\nratios of medians: bootstrap/floor {ratio['bootstrap/floor']:.2f}, "
          f"python/bootstrap {ratio['python/bootstrap']:.1f}\n")
    print(markdown_cold_steps(steps))
    if breakdown is not None:
        print("\n## Where the bootstrap's start-up goes\n")
        if not symbols.exists():
            print(f"({symbols} missing: function names are addresses; run with --build-symbols)\n")
        elif symbols.stat().st_mtime < binary.stat().st_mtime:
            print(f"({symbols} is older than the binary: rebuild it with --build-symbols)\n")
        print(markdown_breakdown(breakdown))
    return 0


if __name__ == "__main__":
    sys.exit(main())
