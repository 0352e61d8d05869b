"""The production shape as real processes, for tests/production (issue 11):

nginx terminating TLS with a throwaway CA (trustme) → gunicorn with three workers → PostgreSQL;
Redis for the rate limits; the outbox worker delivering to an SMTP sink; the LMTP listener. Every
part is a Debian package or the project's own command, started here and stopped afterwards.
"""

from __future__ import annotations

import base64
import hashlib
import os
import shutil
import ssl
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import trustme
from aiosmtpd.controller import Controller
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from tests.helpers import CollectingHandler, SmtpSink, free_port
from tests.live import wait_for
from tests.postgres import PostgresServer
from tests.redis_server import RedisServer

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
CUSTOMER_PASSWORD = "correct horse battery staple"
STAFF_PASSWORD = "nhan vien ho tro 2026 mat khau dai"

# The proxy part of the README's nginx site, as the test runs it (docs: "Deployment").
NGINX = """
{user}
worker_processes 1;
pid {root}/nginx.pid;
error_log {root}/error.log warn;
daemon off;
events {{ worker_connections 512; }}
http {{
    access_log off;
    client_body_temp_path {root}/body;
    proxy_temp_path {root}/proxy;
    fastcgi_temp_path {root}/fastcgi;
    uwsgi_temp_path {root}/uwsgi;
    scgi_temp_path {root}/scgi;
    client_max_body_size 1m;
    server {{
        listen 127.0.0.1:{tls_port} ssl;
        server_name localhost;
        ssl_certificate {cert};
        ssl_certificate_key {key};
        ssl_protocols TLSv1.2 TLSv1.3;
        location / {{
            proxy_pass http://127.0.0.1:{web_port};
            proxy_set_header Host $host:$server_port;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto $scheme;
            proxy_read_timeout 60s;
        }}
    }}
}}
"""


def nginx_binary() -> str:
    found = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
    if found is None:
        raise RuntimeError("nginx is not installed: apt-get install nginx")
    return found


@dataclass
class Stack:
    root: Path
    env: dict[str, str]
    base: str
    lmtp_port: int
    sink: SmtpSink
    ca: trustme.CA
    spki: str  # base64 SHA-256 of the server key, for Chromium's --ignore-certificate-errors-spki-list
    processes: dict[str, subprocess.Popen[str]] = field(default_factory=dict)

    def flask(self, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(BIN / "flask"), "--app", "wsgi", *args],
            cwd=ROOT,
            env=self.env,
            input=stdin,
            capture_output=True,
            text=True,
            timeout=120,
        )

    def ssl_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context()
        self.ca.configure_trust(context)
        return context

    def logs(self, name: str) -> str:
        path = self.root / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""


def start_stack(**settings: str) -> tuple[Stack, list[Any]]:
    """Start every part; returns the stack and what to stop, in order."""
    root = Path(tempfile.mkdtemp(prefix="incident-prod-"))
    stoppers: list[Any] = []
    try:
        postgres = PostgresServer(free_port())
        postgres.start()
        stoppers.append(postgres.stop)
        postgres.execute("CREATE DATABASE incident")
        redis = RedisServer(free_port())
        redis.start()
        stoppers.append(redis.stop)
        handler = CollectingHandler()
        sink_port = free_port()
        sink_controller = Controller(handler, hostname="127.0.0.1", port=sink_port)
        sink_controller.start()
        stoppers.append(sink_controller.stop)

        ca = trustme.CA()
        server_cert = ca.issue_cert("localhost", "127.0.0.1")
        cert, key = root / "server.pem", root / "server.key"
        server_cert.private_key_pem.write_to_path(str(key))
        server_cert.cert_chain_pems[0].write_to_path(str(cert))
        leaf = x509.load_pem_x509_certificate(server_cert.cert_chain_pems[0].bytes())
        spki = base64.b64encode(
            hashlib.sha256(
                leaf.public_key().public_bytes(
                    serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
                )
            ).digest()
        ).decode()

        web_port, tls_port, lmtp_port = free_port(), free_port(), free_port()
        base = f"https://localhost:{tls_port}"
        env = {
            **os.environ,
            "APP_ENV": "production",
            "SECRET_KEY": "a-production-like-secret-key-of-48-characters-x",
            "AUDIT_SIGNING_KEY": "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVpBQkNERUY=",  # base64 of 32 bytes
            "PUBLIC_BASE_URL": base,
            "DATABASE_URL": postgres.url("incident"),
            "RATELIMIT_STORAGE_URI": redis.url,
            "TRUSTED_PROXY_COUNT": "1",
            "MAIL_SERVER": "127.0.0.1",
            "MAIL_PORT": str(sink_port),
            "REPORT_ADDRESSES": "security@ecc.example",
            "AUTHSERV_ID": "mx.ecc.example",
            "COMPANY_MTA_HOSTS": "mx.ecc.example",
            "LOG_FORMAT": "json",
            "PASSWORD_HASH_PROFILE": "owasp-minimum",
            "GUNICORN_BIND": f"127.0.0.1:{web_port}",
            "GUNICORN_WORKERS": "3",
            "INTAKE_PARSE_SECONDS": "3",
            "INSTANCE_PATH": str(root / "instance"),
            **settings,
        }
        for name in ("TEST_DATABASE", "TEST_SHAPE"):
            env.pop(name, None)
        stack = Stack(root, env, base, lmtp_port, SmtpSink(handler, sink_port), ca, spki)

        migrated = stack.flask("db", "upgrade")
        assert migrated.returncode == 0, migrated.stderr
        # As root (CI), nginx's workers would drop to nobody and could not use the private temp folder.
        user = "user root;" if os.geteuid() == 0 else ""
        (root / "nginx.conf").write_text(
            NGINX.format(user=user, root=root, tls_port=tls_port, web_port=web_port, cert=cert, key=key)
        )
        commands = {
            "gunicorn": [str(BIN / "gunicorn"), "-c", "gunicorn.conf.py", "wsgi:app"],
            "outbox": [str(BIN / "flask"), "--app", "wsgi", "outbox", "work", "--interval", "0.2"],
            "lmtp": [str(BIN / "flask"), "--app", "wsgi", "intake", "smtpd", "--lmtp", "--port", str(lmtp_port)],
            "nginx": [nginx_binary(), "-c", str(root / "nginx.conf"), "-p", str(root)],
        }
        for name, command in commands.items():
            log = open(root / f"{name}.log", "w")
            stack.processes[name] = subprocess.Popen(
                command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, text=True
            )
            stoppers.append(_stopper(stack.processes[name], log))

        def healthy() -> bool:
            import urllib.request

            try:
                with urllib.request.urlopen(base + "/healthz", context=stack.ssl_context(), timeout=5) as answer:
                    return answer.status == 200
            except OSError:
                return False

        wait_for(healthy, "gunicorn behind nginx", seconds=60)
        return stack, stoppers
    except BaseException:
        stop_all(stoppers)
        shutil.rmtree(root, ignore_errors=True)
        raise


def _stopper(process: subprocess.Popen[str], log: Any) -> Any:
    def stop() -> None:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()

    return stop


def stop_all(stoppers: list[Any]) -> None:
    for stop in reversed(stoppers):
        try:
            stop()
        except Exception:  # noqa: BLE001 - stop everything else regardless
            pass


class HttpsClient:
    """A client from a chosen loopback address (each its own IP for the rate limits), keeping cookies,
    that fills forms as a browser does: the page's CSRF token, and the Origin a browser sends."""

    def __init__(self, stack: Stack, source_ip: str = "127.0.0.1") -> None:
        self.stack = stack
        self.source_ip = source_ip
        self.cookies: dict[str, str] = {}

    def request(
        self, method: str, path: str, body: bytes | None = None, headers: dict[str, str] | None = None
    ) -> tuple[int, str, dict[str, str]]:
        import http.client
        from urllib.parse import urlsplit

        host = urlsplit(self.stack.base)
        connection = http.client.HTTPSConnection(
            host.hostname, host.port, timeout=30, source_address=(self.source_ip, 0), context=self.stack.ssl_context()
        )
        sent = {"Cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items()), **(headers or {})}
        try:
            connection.request(method, path, body=body, headers=sent)
            answer = connection.getresponse()
            text = answer.read().decode("utf-8", "replace")
            for line in answer.headers.get_all("Set-Cookie") or []:
                name, _, rest = line.partition("=")
                self.cookies[name.strip()] = rest.split(";", 1)[0]
            return answer.status, text, dict(answer.headers)
        finally:
            connection.close()

    def submit(
        self,
        path: str,
        data: dict[str, str],
        *,
        origin: str | None = None,
        form_page: str | None = None,
        extra: dict[str, str] | None = None,
    ) -> tuple[int, str, dict[str, str]]:
        import re
        from urllib.parse import urlencode

        _status, page, _headers = self.request("GET", form_page or path)
        token = re.search(r'name="csrf_token"(?: type="hidden")? value="([^"]+)"', page)
        form = {**data, **({"csrf_token": token.group(1)} if token else {})}
        headers = {
            "Content-Type": "application/x-www-form-urlencoded",
            "Origin": origin or self.stack.base,
            **(extra or {}),
        }
        return self.request("POST", path, urlencode(form).encode(), headers)
