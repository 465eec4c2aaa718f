"""Peak memory of a whole rotation with TLS: a local HTTPS endpoint in front of the emulator.

The function talks to AWS over HTTPS (rustls); against the plain-HTTP emulator its TLS stack
never runs, so `make bench`'s memory figure leaves TLS out. `TlsTerminator` is a local HTTPS
endpoint with a throwaway CA and server certificate (made at start with the `cryptography`
package, a dependency of moto, so always in the venv) that forwards every request to the
emulator over HTTP: a thread per connection, keep-alive on both sides.

The function trusts the throwaway CA through `SSL_CERT_FILE`: its HTTPS client (rustls with
rustls-native-certs) reads the roots from that file *instead of* the system store, so the file
is a bundle of the system roots plus the throwaway CA. The terminator counts the TLS
handshakes it completed, which shows the function's connections really were TLS.

Run alone: `python scripts/tls_terminator.py --binary target/lambda/iam-password-rotation/bootstrap`.
"""

from __future__ import annotations

import argparse
import datetime
import http.client
import ipaddress
import socket
import ssl
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Optional
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO / "tests" / "emulator"))

from harness import Aws, LocalLambda, SecretsManagerDriver  # noqa: E402
from harness.driver import STEPS  # noqa: E402
from rotation_emulator import start_emulator  # noqa: E402

# Hop-by-hop headers (RFC 9110 §7.6.1): each side of the terminator has its own connection.
HOP_BY_HOP = frozenset({"connection", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding",
                        "upgrade", "content-length"})
# See _rotation_peak_rss.
STOP_GRACE_SECONDS = 0.2
# Where Debian/Ubuntu, Fedora/RHEL and Alpine keep the system roots, if Python's own
# default (OpenSSL's configured file) is absent.
SYSTEM_ROOTS = ("/etc/ssl/certs/ca-certificates.crt", "/etc/pki/tls/certs/ca-bundle.crt", "/etc/ssl/cert.pem")


def system_roots() -> Path:
    """The file of the system's trusted roots (PEM)."""
    candidates = [ssl.get_default_verify_paths().cafile, ssl.get_default_verify_paths().openssl_cafile,
                  *SYSTEM_ROOTS]
    for candidate in candidates:
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    raise FileNotFoundError(f"no system CA bundle found (looked at {candidates})")


def make_certificates(directory: Path) -> dict:
    """A throwaway CA, a server certificate it signs for ``localhost`` and 127.0.0.1, and a
    bundle of the system roots plus the CA. Returns the paths: ``ca``, ``cert``, ``key``, ``bundle``."""
    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"throwaway bench CA {uuid.uuid4().hex[:8]}")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name).issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=False, content_commitment=False, key_encipherment=False,
                                     data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                     crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
        # rustls (webpki) matches names only against the subject alternative names.
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost"),
                                                    x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                       critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    paths = {name: directory / f"{name}.pem" for name in ("ca", "cert", "key", "bundle")}
    paths["ca"].write_bytes(ca.public_bytes(pem))
    paths["cert"].write_bytes(cert.public_bytes(pem))
    paths["key"].write_bytes(key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    paths["bundle"].write_bytes(system_roots().read_bytes().rstrip(b"\n") + b"\n" + ca.public_bytes(pem))
    return paths


class TlsTerminator:
    """HTTPS on 127.0.0.1 (``url``: ``https://localhost:PORT``), forwarded to ``upstream`` over HTTP.

    ``handshakes`` counts completed TLS handshakes (``versions`` by protocol version),
    ``failed_handshakes`` the refused ones, ``requests`` the requests forwarded.
    """

    def __init__(self, upstream: str) -> None:
        self._tmp = tempfile.TemporaryDirectory(prefix="tls-terminator-")
        self.paths = make_certificates(Path(self._tmp.name))
        self.upstream = urlsplit(upstream)
        self.handshakes = 0
        self.failed_handshakes = 0
        self.requests = 0
        self.versions: Counter = Counter()
        self._lock = threading.Lock()
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.paths["cert"], self.paths["key"])
        context.set_alpn_protocols(["http/1.1"])  # what the forwarding speaks
        self._server = _TlsServer(("127.0.0.1", 0), _handler(self), context, self)
        self.port = self._server.server_address[1]
        self.url = f"https://localhost:{self.port}"
        self._thread = threading.Thread(target=self._server.serve_forever, name="tls-terminator", daemon=True)

    @property
    def ca_bundle(self) -> Path:
        """System roots + the throwaway CA: the value for the function's ``SSL_CERT_FILE``."""
        return self.paths["bundle"]

    def start(self) -> "TlsTerminator":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)
        self._tmp.cleanup()

    def __enter__(self) -> "TlsTerminator":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def counters(self) -> dict:
        with self._lock:
            return {"handshakes": self.handshakes, "failed_handshakes": self.failed_handshakes,
                    "requests": self.requests, "versions": dict(self.versions)}

    def _handshaken(self, version: str) -> None:
        with self._lock:
            self.handshakes += 1
            self.versions[version] += 1

    def _refused(self) -> None:
        with self._lock:
            self.failed_handshakes += 1

    def _forwarded(self) -> None:
        with self._lock:
            self.requests += 1


class _TlsServer(ThreadingHTTPServer):
    """A threaded HTTP server whose connections are TLS, handshaken in their own thread
    (so a slow or refused handshake never holds up accepting the next connection)."""

    daemon_threads = True

    def __init__(self, address, handler, context: ssl.SSLContext, terminator: TlsTerminator) -> None:
        super().__init__(address, handler)
        self.context = context
        self.terminator = terminator

    def finish_request(self, request: socket.socket, client_address) -> None:
        try:
            tls = self.context.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError):
            self.terminator._refused()
            return
        self.terminator._handshaken(tls.version())
        try:
            self.RequestHandlerClass(tls, client_address, self)
        finally:
            tls.close()

    def handle_error(self, request, client_address) -> None:
        """A client closing its keep-alive connection is not an error worth a traceback."""


def _handler(terminator: TlsTerminator):
    upstream = terminator.upstream

    class Forward(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive towards the function

        def setup(self) -> None:
            super().setup()
            # One upstream connection per client connection, kept alive with it.
            self.upstream = http.client.HTTPConnection(upstream.hostname, upstream.port, timeout=60)

        def finish(self) -> None:
            self.upstream.close()
            super().finish()

        def log_message(self, *args) -> None:  # quiet: the bench prints its own report
            pass

        def _body(self) -> bytes:
            if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                chunks = []
                while True:
                    size = int(self.rfile.readline().split(b";")[0], 16)
                    if size == 0:
                        while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                            pass  # trailers
                        return b"".join(chunks)
                    chunks.append(self.rfile.read(size))
                    self.rfile.readline()
            length = int(self.headers.get("Content-Length") or 0)
            return self.rfile.read(length) if length else b""

        def _forward(self) -> None:
            body = self._body()
            headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
            headers["Content-Length"] = str(len(body))
            try:
                self.upstream.request(self.command, self.path, body=body, headers=headers)
                response = self.upstream.getresponse()
                payload = response.read()
            except (OSError, http.client.HTTPException):
                self.upstream.close()  # reconnects on the next request
                self.send_error(502, "the emulator did not answer")
                return
            terminator._forwarded()
            self.send_response_only(response.status, response.reason)
            for name, value in response.getheaders():
                if name.lower() not in HOP_BY_HOP:
                    self.send_header(name, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = _forward

    return Forward


# -- the measurement -------------------------------------------------------------------


def _rotation_peak_rss(aws: Aws, binary: Path, endpoint_url: str, name: str, env: Optional[dict] = None) -> dict:
    """One whole rotation (placeholder + four steps) in one fresh process talking to
    ``endpoint_url``; its VmHWM at the end, and whether IAM holds AWSCURRENT's password."""
    user = aws.bound_user(name)
    function = LocalLambda(endpoint_url, config=env, binary=binary)
    try:
        driver = SecretsManagerDriver(aws, function)
        token = driver.start(user.secret_arn)
        # Started and polling before the first step, as scripts/bench.py measures it.
        function.start()
        results = {step: driver.invoke_step(step, user.secret_arn, token) for step in STEPS}
        rss = function.peak_rss_kib()
        # The Runtime API hands the reply to the invoker before it acknowledges the function's
        # POST (202): a moment's grace, so stopping the process does not cut that short.
        time.sleep(STOP_GRACE_SECONDS)
    finally:
        function.stop()
    failed = {step: f"{r.error_type}: {r.error_message}" for step, r in results.items() if not r.ok}
    return {
        "rss_kib": rss,
        "rotation_ok": not failed,
        "failed_steps": failed,
        "iam_matches_current": aws.iam_password(name) == aws.value(user.secret_arn)["password"],
    }


def peak_rss_with_tls(binary: Path, emulator_url: Optional[str] = None, name: str = "tls-rss") -> dict:
    """Peak RSS of a whole rotation with the function's AWS traffic over TLS.

    A `TlsTerminator` in front of the emulator (``emulator_url``, else one started here and
    stopped after) is the function's ``AWS_ENDPOINT_URL``; its ``SSL_CERT_FILE`` is the bundle
    of system roots + the throwaway CA. Returns ``{"rss_kib", "rotation_ok", "failed_steps",
    "iam_matches_current", "endpoint", "ssl_cert_file", "tls_handshakes",
    "failed_handshakes", "tls_versions", "requests"}``; ``tls_handshakes`` > 0 with
    ``requests`` > 0 shows the connections were really TLS.
    """
    emulator = None if emulator_url else start_emulator()
    url = emulator_url or emulator.url
    try:
        with TlsTerminator(url) as terminator:
            result = _rotation_peak_rss(Aws(url), Path(binary), terminator.url, name,
                                        {"SSL_CERT_FILE": str(terminator.ca_bundle)})
            counters = terminator.counters()
            return {**result, "endpoint": terminator.url, "ssl_cert_file": "system roots + throwaway CA",
                    "tls_handshakes": counters["handshakes"], "failed_handshakes": counters["failed_handshakes"],
                    "tls_versions": counters["versions"], "requests": counters["requests"]}
    finally:
        if emulator is not None:
            emulator.stop()


def peak_rss_plain_http(binary: Path, emulator_url: Optional[str] = None, name: str = "plain-rss") -> dict:
    """The same rotation straight against the emulator over plain HTTP (what `make bench`
    measures), for comparison: ``{"rss_kib", "rotation_ok", "failed_steps", "iam_matches_current"}``."""
    emulator = None if emulator_url else start_emulator()
    url = emulator_url or emulator.url
    try:
        return _rotation_peak_rss(Aws(url), Path(binary), url, name)
    finally:
        if emulator is not None:
            emulator.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--binary", default=str(REPO / "target/lambda/iam-password-rotation/bootstrap"))
    parser.add_argument("--runs", type=int, default=5, help="rotations per transport (medians)")
    args = parser.parse_args()
    binary = Path(args.binary)

    emulator = start_emulator()
    try:
        tls = [peak_rss_with_tls(binary, emulator.url, f"tls-{i}") for i in range(args.runs)]
        plain = [peak_rss_plain_http(binary, emulator.url, f"plain-{i}") for i in range(args.runs)]
    finally:
        emulator.stop()

    median_mib = lambda runs: statistics.median(r["rss_kib"] for r in runs) / 1024  # noqa: E731
    ok = all(r["rotation_ok"] and r["iam_matches_current"] for r in tls + plain)
    handshakes = [r["tls_handshakes"] for r in tls]
    versions = Counter()
    for r in tls:
        versions.update(r["tls_versions"])
    print(f"binary: {binary}; {args.runs} whole rotations per transport, one fresh process each (medians)")
    print("TLS: AWS_ENDPOINT_URL=https://localhost:PORT (a local TLS terminator forwarding to the emulator); "
          "SSL_CERT_FILE = system roots + a throwaway CA (rustls-native-certs reads only that file)\n")
    print("| transport | peak RSS (VmHWM) after a rotation | min-max |")
    print("|---|---|---|")
    for label, runs in (("HTTPS (rustls)", tls), ("plain HTTP", plain)):
        low, high = (min(r["rss_kib"] for r in runs) / 1024, max(r["rss_kib"] for r in runs) / 1024)
        print(f"| {label} | {median_mib(runs):.1f} MiB | {low:.1f}-{high:.1f} MiB |")
    print(f"\nTLS cost: {median_mib(tls) - median_mib(plain):+.1f} MiB; handshakes per rotation {handshakes} "
          f"({dict(versions)}), requests forwarded per rotation {[r['requests'] for r in tls]}, "
          f"refused handshakes {sum(r['failed_handshakes'] for r in tls)}")
    print(f"every rotation completed and IAM holds AWSCURRENT's password: {ok}")
    return 0 if ok and all(handshakes) else 1


if __name__ == "__main__":
    sys.exit(main())
