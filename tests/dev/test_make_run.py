"""`flask dev serve` (what `make run` starts), as a real process: report, read the mail, reset."""

from __future__ import annotations

import mailbox
import os
import re
import smtplib
import subprocess
import sys
import urllib.request
from email import message_from_bytes, policy
from pathlib import Path

import pytest

from incident_service.dev.cli import DEMO_EMAIL, DEMO_PASSWORD, DEMO_STAFF, DEMO_STAFF_PASSWORD
from tests.helpers import free_port
from tests.live import Browser, wait_for

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def served(tmp_path):  # type: ignore[no-untyped-def]
    port, mail_port, intake_port = free_port(), free_port(), free_port()
    env = {
        **os.environ,
        "APP_ENV": "development",
        "INSTANCE_PATH": str(tmp_path / "instance"),
        "PORT": str(port),
        "MAIL_PORT": str(mail_port),
        "INTAKE_PORT": str(intake_port),
        "PASSWORD_HASH_PROFILE": "owasp-minimum",
    }
    for name in ("DATABASE_URL", "PUBLIC_BASE_URL", "SECRET_KEY"):
        env.pop(name, None)
    process = subprocess.Popen(
        [sys.executable, "-m", "flask", "--app", "wsgi", "dev", "serve", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"

    def healthy() -> bool:
        if process.poll() is not None:
            _out, err = process.communicate()
            pytest.fail("dev server exited:\n" + err)
        try:
            with urllib.request.urlopen(base + "/healthz", timeout=1) as response:
                return response.status == 200
        except OSError:
            return False

    wait_for(healthy, "the dev server to answer")
    try:
        yield base, tmp_path / "instance" / "mail", process, intake_port
    finally:
        if process.returncode is None:
            process.terminate()
            process.communicate(timeout=10)


@pytest.mark.sqlite_only  # the embedded setup is SQLite by definition
def test_newcomer_flow(served) -> None:  # type: ignore[no-untyped-def]
    base, maildir, process, intake_port = served
    # The customer emails the report address (the policy's first channel).
    with smtplib.SMTP("127.0.0.1", intake_port, timeout=10) as client:
        client.sendmail(
            DEMO_EMAIL,
            ["security@ecc.example"],
            f"From: {DEMO_EMAIL}\r\nTo: security@ecc.example\r\nSubject: mat khau bi lo\r\n"
            "\r\nMat khau cua toi bi lo.\r\n",
        )

    def mail_arrived():  # type: ignore[no-untyped-def]
        if not maildir.exists():
            return None
        keys = mailbox.Maildir(str(maildir), create=False).keys()
        return keys or None

    keys = wait_for(mail_arrived, "the acknowledgement in the mail sink")
    box = mailbox.Maildir(str(maildir), create=False)
    with box.get_file(keys[0]) as handle:
        message = message_from_bytes(handle.read(), policy=policy.default)
    text = message.get_body(preferencelist=("plain",)).get_content()  # type: ignore[union-attr]
    assert "Mã tham chiếu của bạn" in text  # the demo customer reads Vietnamese
    reset = re.search(re.escape(base) + r"(/reset/[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-.]+)", text).group(1)  # type: ignore[union-attr]

    browser = Browser(base)
    status, listing = browser.get("/_dev/mail")
    assert status == 200 and "Đã nhận báo cáo" in listing

    reader = Browser(base)
    assert reader.get(reset)[0] == 200  # followed the redirect to /reset
    new_password = "một mật khẩu mới thật dài"
    status, _page = reader.submit("/reset", {"password": new_password, "password_confirm": new_password})
    assert status == 200
    status, _page = Browser(base).submit("/login", {"email": DEMO_EMAIL, "password": new_password})
    assert status == 200 and "Tài khoản của tôi" in _page
    status, _page = Browser(base).submit("/login", {"email": DEMO_EMAIL, "password": DEMO_PASSWORD})
    assert status == 400

    # The demo admin can start signing in to the console (the second step is their authenticator).
    status, _page = Browser(base).submit("/console/login", {"email": DEMO_STAFF, "password": DEMO_STAFF_PASSWORD})
    assert status == 200 and "<svg" in _page

    process.terminate()
    out, err = process.communicate(timeout=10)
    assert DEMO_STAFF in out and "/console" in out
    assert "GET /reset/[redacted]" in err
    assert reset.rsplit("/", 1)[1] not in err  # L1: no token in the logs


def test_dev_mail_answers_loopback_names_only(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Issue 18, item 6: a page could reach /_dev/mail (reset links!) through DNS rebinding, whose
    requests carry the attacker's host name."""
    from incident_service import create_app

    app = create_app(
        {"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path}/dev.sqlite3"},
        environ={"APP_ENV": "development", "SECRET_KEY": "k" * 40},
    )
    client = app.test_client()
    for host in ("127.0.0.1:5000", "localhost:5000", "[::1]:5000"):
        assert client.get("/_dev/mail", headers={"Host": host}).status_code == 200, host
    for host in ("rebind.attacker.example:5000", "127.0.0.1.attacker.example", "evil.localhost:5000"):
        assert client.get("/_dev/mail", headers={"Host": host}).status_code == 404, host
