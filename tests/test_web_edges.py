"""Headers on every response, generic errors, health, and failing closed when the database is gone."""

from __future__ import annotations

import email
import email.policy
import smtplib
import sqlite3
from contextlib import contextmanager
from typing import Iterator

import pytest
from sqlalchemy import func, select

from incident_service.extensions import db
from incident_service.incidents.models import Report
from incident_service.intake.smtpd import IntakeController
from tests.helpers import csrf_from, free_port


@pytest.mark.parametrize(
    "path,status", [("/", 200), ("/report", 200), ("/no-such-page", 404), ("/reset", 400), ("/healthz", 200)]
)
def test_security_headers_everywhere(client, path, status) -> None:  # type: ignore[no-untyped-def]
    answer = client.get(path)
    assert answer.status_code == status
    csp = answer.headers["Content-Security-Policy"]
    for directive in ("script-src 'self'", "object-src 'none'", "base-uri 'none'", "frame-ancestors 'none'"):
        assert directive in csp
    assert "unsafe-inline" not in csp
    assert answer.headers["X-Content-Type-Options"] == "nosniff"
    assert answer.headers["Referrer-Policy"] == "no-referrer"
    assert answer.headers["Strict-Transport-Security"].startswith("max-age=")  # PUBLIC_BASE_URL is https


def test_no_inline_script_in_pages(client) -> None:  # type: ignore[no-untyped-def]
    for path in ("/", "/report", "/login", "/reset/new"):
        html = client.get(path).get_data(as_text=True)
        assert "<script" not in html and "onclick" not in html and "style=" not in html


def test_405_is_generic(client) -> None:  # type: ignore[no-untyped-def]
    answer = client.delete("/report")
    assert answer.status_code == 405 and "Traceback" not in answer.get_data(as_text=True)


def test_health(client) -> None:  # type: ignore[no-untyped-def]
    assert client.get("/healthz").get_json() == {"status": "ok", "database": "ok"}


def test_session_cookie_flags(app, client) -> None:  # type: ignore[no-untyped-def]
    cookie = client.get("/report").headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie


@contextmanager
def write_lock_held_elsewhere(database_url: str) -> Iterator[None]:
    """Another process holds what a report must wait for: SQLite's write lock, or on PostgreSQL the
    customers' rows (a report for a known customer locks its row to lock the credential)."""
    if database_url.startswith("sqlite"):
        blocker = sqlite3.connect(database_url.removeprefix("sqlite:///"), isolation_level=None)
        blocker.execute("BEGIN EXCLUSIVE")
        try:
            yield
        finally:
            blocker.execute("ROLLBACK")
            blocker.close()
        return
    import psycopg

    with psycopg.connect(database_url.replace("postgresql+psycopg://", "postgresql://")) as other:
        other.execute("SELECT id FROM customers FOR UPDATE")
        try:
            yield
        finally:
            other.rollback()


@pytest.mark.settings(DATABASE_LOCK_TIMEOUT_MS=300)
@pytest.mark.real_commits  # another connection holds the lock; the listener writes from its threads
def test_database_locked_gives_503_and_no_false_success(app, client, customer_id, database_url) -> None:  # type: ignore[no-untyped-def]
    """Issue 11, item 2: a writer waits a bounded time for a lock, then the request fails with 503
    (the listener with 451), never hangs and never says it stored what it did not."""
    token = csrf_from(client.get("/report").get_data(as_text=True))
    port = free_port()
    listener = IntakeController(app, host="127.0.0.1", port=port)
    listener.start()
    try:
        with write_lock_held_elsewhere(database_url):
            answer = client.post("/report", data={"email": "an@example.com", "kind": "lost", "csrf_token": token})
            with smtplib.SMTP("127.0.0.1", port, timeout=30) as smtp:
                smtp.ehlo("client.example.net")
                smtp.mail("an@example.com")
                smtp.rcpt("security@ecc.example")
                code, _reply = smtp.data(b"From: an@example.com\r\nSubject: lost\r\n\r\nmy password\r\n")
    finally:
        listener.stop()
    assert answer.status_code == 503 and code == 451
    assert answer.headers["Retry-After"] == "30"
    assert "RPT-" not in answer.get_data(as_text=True)
    assert "Content-Security-Policy" in answer.headers
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Report)) == 0
    # Once the lock is gone, the same report goes through.
    again = client.post("/report", data={"email": "an@example.com", "kind": "lost", "csrf_token": token})
    assert again.status_code == 303 and again.headers["Location"] == "/report/received"


@pytest.mark.real_commits  # swaps the app's engine for one that cannot connect
def test_database_unreachable_health(app, client) -> None:  # type: ignore[no-untyped-def]
    with app.app_context():
        db.engine.dispose()
    app.config["SQLALCHEMY_DATABASE_URI"] = "sqlite:////nonexistent-dir/x.sqlite3"
    with app.app_context():
        from sqlalchemy import create_engine

        db.engines[None] = create_engine("sqlite:////nonexistent-dir/x.sqlite3")  # type: ignore[index]
    answer = client.get("/healthz")
    assert answer.status_code == 503 and answer.get_json()["database"] == "unreachable"


def test_unexpected_error_is_generic(app) -> None:  # type: ignore[no-untyped-def]
    def broken():  # type: ignore[no-untyped-def]
        raise RuntimeError("secret detail that must not be shown")

    app.add_url_rule("/broken-for-test", "broken", broken)
    answer = app.test_client().get("/broken-for-test")
    body = answer.get_data(as_text=True)
    assert answer.status_code == 500 and "secret detail" not in body and "Traceback" not in body
    assert "Content-Security-Policy" in answer.headers
    json_error = app.test_client().get("/healthz/nope", headers={"Accept-Language": "en"})
    assert json_error.status_code == 404 and json_error.get_json() == {
        "error": 404,
        "message": "This page does not exist.",
    }


def test_links_come_from_public_base_url_not_host(app, customer_id) -> None:  # type: ignore[no-untyped-def]
    from incident_service.notifications.models import OutboxMessage
    from incident_service.notifications.service import render_queued

    client = app.test_client()
    evil = {"Host": "evil.example", "X-Forwarded-Host": "evil.example"}
    token = csrf_from(client.get("/report", headers=evil).get_data(as_text=True))
    answer = client.post("/report", headers=evil, data={"email": "an@example.com", "kind": "lost", "csrf_token": token})
    assert answer.status_code == 303 and answer.headers["Location"] == "/report/received"  # a path, no host
    with app.app_context():
        render_queued(db.session.execute(select(OutboxMessage)).scalar_one())
        raw = db.session.execute(select(OutboxMessage.raw)).scalar_one()
    # Read as a mail client would: each part decoded (quoted-printable may split a host across lines).
    message = email.message_from_bytes(raw, policy=email.policy.default)
    parts = [part.get_content() for part in message.walk() if part.get_content_maintype() == "text"]
    assert len(parts) == 2 and all("security.ecc.example" in part for part in parts)
    assert not any("evil.example" in part for part in parts) and b"evil.example" not in raw


@pytest.mark.parametrize(
    "path",
    [
        "/console/incidents/{n}",
        "/console/reports/{n}",
        "/console/messages/{n}",
        "/console/messages/{n}/raw",
        "/console/incidents/{n}/evidence",
        "/console/incidents/{n}/evidence.zip",
        "/console/messages/1/attachments/{n}",
    ],
)
@pytest.mark.parametrize("number", [2**31, 2**63, 10**30])
def test_ids_beyond_the_database_are_not_found_not_an_outage(app, staff_login, path, number, caplog) -> None:  # type: ignore[no-untyped-def]
    """Issue 18, item 4: /console/incidents/2147483648 answered 503 with Retry-After and an ERROR line
    on PostgreSQL, which would page someone for an outage that is not one."""
    client = staff_login("admin")
    answer = client.get(path.format(n=number))
    assert answer.status_code == 404 and "Retry-After" not in answer.headers
    assert not [record for record in caplog.records if record.levelname == "ERROR"]
