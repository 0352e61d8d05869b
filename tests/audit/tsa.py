"""A local RFC 3161 time-stamping authority for tests: Debian's `openssl ts -reply` behind a loopback
HTTP server, with a throwaway CA and a TSA certificate (extendedKeyUsage critical, timeStamping)."""

from __future__ import annotations

import subprocess
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Iterator

CONFIG = """\
[ tsa ]
default_tsa = tsa_config

[ tsa_config ]
dir = {dir}
serial = $dir/serial
crypto_device = builtin
signer_cert = $dir/tsa.crt
certs = $dir/tsa.crt
signer_key = $dir/tsa.key
signer_digest = sha256
default_policy = 1.2.3.4.1
other_policies = 1.2.3.4.5.6
digests = sha256, sha384, sha512
accuracy = secs:1
ordering = yes
tsa_name = yes
ess_cert_id_chain = no
ess_cert_id_alg = sha256

[ tsa_ext ]
basicConstraints = critical, CA:false
keyUsage = critical, digitalSignature
extendedKeyUsage = critical, timeStamping
"""


def openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


@dataclass
class LocalTSA:
    """The authority's files; `reply` answers a DER request the way `openssl ts -reply` does."""

    root: Path

    @property
    def config(self) -> Path:
        return self.root / "tsa.cnf"

    @property
    def ca_certificate(self) -> Path:
        return self.root / "ca.crt"

    @property
    def certificate(self) -> Path:
        return self.root / "tsa.crt"

    def reply(self, query: bytes) -> bytes:
        (self.root / "query.tsq").write_bytes(query)
        result = subprocess.run(
            [
                "openssl",
                "ts",
                "-reply",
                "-queryfile",
                "query.tsq",
                "-config",
                str(self.config),
                "-section",
                "tsa_config",
            ],
            cwd=self.root,
            capture_output=True,
            check=False,
        )
        return result.stdout

    def openssl_verifies(self, token_path: Path, data_path: Path) -> bool:
        """What `openssl ts -verify` says of a token (-token_in) over a file of data."""
        result = subprocess.run(
            [
                "openssl", "ts", "-verify", "-token_in", "-in", str(token_path), "-data", str(data_path),
                "-CAfile", str(self.ca_certificate), "-untrusted", str(self.certificate),
            ],
            capture_output=True,
            check=False,
        )  # fmt: skip
        return result.returncode == 0 and b"Verification: OK" in result.stdout


def make_tsa(root: Path) -> LocalTSA:
    """A CA, a TSA key and certificate signed by it, and the `openssl ts` configuration."""
    root.mkdir(parents=True, exist_ok=True)
    tsa = LocalTSA(root)
    tsa.config.write_text(CONFIG.format(dir=root))
    (root / "serial").write_text("01\n")
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.crt",
            "-days", "2", "-subj", "/CN=Test Time-Stamping CA", cwd=root)  # fmt: skip
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "tsa.key", "-out", "tsa.csr",
            "-subj", "/CN=Test TSA", cwd=root)  # fmt: skip
    openssl("x509", "-req", "-in", "tsa.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
            "-out", "tsa.crt", "-days", "2", "-extfile", "tsa.cnf", "-extensions", "tsa_ext", cwd=root)  # fmt: skip
    return tsa


class _Handler(BaseHTTPRequestHandler):
    server: _TSAServer

    def do_POST(self) -> None:  # noqa: N802 (http.server's name)
        query = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.server.queries.append((self.headers.get("Content-Type", ""), query))
        body = self.server.answer(query)
        self.send_response(200)
        self.send_header("Content-Type", "application/timestamp-reply")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass


class _TSAServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, answer: object) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.answer = answer  # type: ignore[assignment]
        self.queries: list[tuple[str, bytes]] = []


def serve(answer: object) -> Iterator[tuple[str, _TSAServer]]:
    """Serve `answer(query) -> reply bytes` on a loopback port; yields (url, server)."""
    server = _TSAServer(answer)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/tsr", server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
