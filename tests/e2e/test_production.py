"""The production shape as real processes: gunicorn (2 workers), the outbox worker and the LMTP
listener on the test database (PostgreSQL in the PostgreSQL run), with production settings."""

from __future__ import annotations

import os
import re
import smtplib
import subprocess
import sys
from pathlib import Path

from tests.helpers import PASSWORD, free_port
from tests.live import Browser, wait_for

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def test_gunicorn_worker_and_lmtp_listener_serve_a_report(app, database_url, smtp_sink) -> None:  # type: ignore[no-untyped-def]
    web_port, lmtp_port = free_port(), free_port()
    base = f"http://127.0.0.1:{web_port}"
    env = {
        **os.environ,
        "APP_ENV": "production",
        "SECRET_KEY": "a-production-like-secret-key-of-48-characters-x",
        "AUDIT_SIGNING_KEY": "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVpBQkNERUY=",  # base64 of 32 bytes
        "PUBLIC_BASE_URL": base,
        "DATABASE_URL": database_url,
        "MAIL_SERVER": "127.0.0.1",
        "MAIL_PORT": str(smtp_sink.port),
        "REPORT_ADDRESSES": "security@ecc.example",
        "LOG_FORMAT": "json",
        "SESSION_COOKIE_SECURE": "false",  # plain http on loopback in this test; production runs behind TLS
        "PASSWORD_HASH_PROFILE": "owasp-minimum",
        "GUNICORN_BIND": f"127.0.0.1:{web_port}",
        "GUNICORN_WORKERS": "1",
        "RATELIMIT_STORAGE_URI": "memory://",
    }
    env.pop("TEST_DATABASE", None)
    flask = [str(BIN / "flask"), "--app", "wsgi"]
    added = subprocess.run(
        [*flask, "customers", "add", "an@example.com", "--name", "An"],
        cwd=ROOT,
        env=env,
        input=PASSWORD + "\n",
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert added.returncode == 0, added.stderr
    processes = [
        subprocess.Popen(
            [str(BIN / "gunicorn"), "-c", "gunicorn.conf.py", "wsgi:app"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        ),
        subprocess.Popen(
            [*flask, "outbox", "work", "--interval", "0.2"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        ),
        subprocess.Popen(
            [*flask, "intake", "smtpd", "--lmtp", "--port", str(lmtp_port)],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        ),
    ]
    try:
        browser = Browser(base)
        wait_for(lambda: browser.open("/healthz")[0] == 200, "gunicorn")
        status, page = browser.submit("/report", {"email": "an@example.com", "kind": "stolen"})
        assert status == 200 and "RPT-" in page
        assert browser.open("/")[2]["X-Request-ID"]

        def lmtp_ready() -> bool:
            try:
                with smtplib.LMTP("127.0.0.1", lmtp_port, timeout=5) as client:
                    client.ehlo_or_helo_if_needed()
                    client.mail("an@example.com")
                    client.rcpt("security@ecc.example")
                    return client.data(b"From: an@example.com\r\nSubject: also by email\r\n\r\nleaked\r\n")[0] == 250
            except OSError:
                return False

        wait_for(lmtp_ready, "the LMTP listener")

        def acknowledgement_text() -> str | None:
            # The emailed report joins the web one's incident: besides the acknowledgement (with the
            # link) comes a short "already in hand" reply; take the one that carries the link.
            for message in smtp_sink.to("an@example.com"):
                text = message.get_body(preferencelist=("plain",)).get_content()
                if "/reset/" in text:
                    return str(text)
            return None

        text = wait_for(acknowledgement_text, "the acknowledgement")
        reset = re.search(re.escape(base) + r"(/reset/[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-.]+)", text).group(1)  # type: ignore[union-attr]
        reader = Browser(base)
        assert reader.open(reset)[0] == 200
        new_password = "một mật khẩu mới cho sản xuất"
        assert reader.submit("/reset", {"password": new_password, "password_confirm": new_password})[0] == 200
        assert Browser(base).submit("/login", {"email": "an@example.com", "password": new_password})[0] == 200
        wait_for(lambda: len(smtp_sink.to("an@example.com")) == 3, "the in-hand reply and the password-changed email")
        subjects = sorted(str(message["Subject"]) for message in smtp_sink.to("an@example.com"))
        assert sum("đang được xử lý" in subject for subject in subjects) == 1  # one in-hand reply
        metrics = Browser(base).open("/metrics")[1]
        assert 'incident_service_reports_total{channel="email"} 1.0' in metrics
        assert 'incident_service_reports_total{channel="web"} 1.0' in metrics
    finally:
        for process in processes:
            process.terminate()
        logs = [process.communicate(timeout=20) for process in processes]
    web_log = logs[0][1]
    assert '"logger": "incident_service.access"' in web_log and '"/reset/[redacted]"' in web_log
    assert reset.rsplit("/", 1)[1] not in "".join(out + err for out, err in logs)
