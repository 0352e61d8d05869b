"""The outbox worker against real SMTP servers: delivery, retries, permanent failures, TLS (E1, E2)."""

from __future__ import annotations

import email
import logging
import ssl
from contextlib import contextmanager
from datetime import timedelta
from email import policy
from typing import Any, Iterator

import pytest
import trustme
from aiosmtpd.controller import Controller
from sqlalchemy import select

from incident_service.audit.service import verify_chain
from incident_service.database import utcnow
from incident_service.extensions import db
from incident_service.notifications.delivery import backoff, deliver_due
from incident_service.notifications.models import OutboxMessage
from tests.helpers import LINK_RE, CollectingHandler, free_port, submit


class ScriptedHandler(CollectingHandler):
    """Answers DATA with the scripted replies in turn, then accepts."""

    def __init__(self, replies: list[str]) -> None:
        super().__init__()
        self.replies = list(replies)
        self.attempts = 0

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.attempts += 1
        if self.replies:
            return self.replies.pop(0)
        return await super().handle_DATA(server, session, envelope)


@contextmanager
def relay(app, handler: CollectingHandler, port: int | None = None, **options: Any) -> Iterator[None]:  # type: ignore[no-untyped-def]
    """A real SMTP server with `handler`, and the app's mail settings pointing at it."""
    port = port or free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port, **options)
    controller.start()
    app.extensions["mail"].port = port
    try:
        yield
    finally:
        controller.stop()


def queue_one(app, client) -> None:  # type: ignore[no-untyped-def]
    submit(client, "/report", {"email": "an@example.com", "kind": "stolen"})


def message(app) -> OutboxMessage:  # type: ignore[no-untyped-def]
    with app.app_context():
        found = db.session.execute(select(OutboxMessage)).scalar_one()
        db.session.expunge(found)
        return found


def run_at(app, when) -> Any:  # type: ignore[no-untyped-def]
    with app.app_context():
        return deliver_due(clock=lambda: when)


def test_delivered_once_and_live_copy_cleared(app, client, smtp_sink, customer_id) -> None:  # type: ignore[no-untyped-def]
    queue_one(app, client)
    assert run_at(app, utcnow()).sent == 1
    assert run_at(app, utcnow() + timedelta(hours=2)).handled == 0
    sent = message(app)
    assert sent.status == "sent" and sent.attempts == 1 and sent.sent_at is not None
    assert sent.smtp_reply.startswith("250")
    assert sent.raw is None
    record = email.message_from_bytes(sent.raw_redacted, policy=policy.default)
    record_text = record.get_body(preferencelist=("plain",)).get_content()  # type: ignore[union-attr]
    assert "RPT-" in record_text and not LINK_RE.search(record_text)  # the record keeps no working link
    assert LINK_RE.search(smtp_sink.messages[0][2].get_body(preferencelist=("plain",)).get_content())  # type: ignore[union-attr]
    assert len(smtp_sink.messages) == 1
    delivered = smtp_sink.messages[0][2]
    assert delivered["Message-ID"] == sent.message_id and delivered["Auto-Submitted"] == "auto-generated"
    assert smtp_sink.messages[0][1] == ["an@example.com"]


@pytest.mark.settings(MAIL_PORT=0)
def test_relay_down_then_back(app, client, customer_id) -> None:  # type: ignore[no-untyped-def]
    port = free_port()
    app.extensions["mail"].port = port  # a port where nothing listens yet
    queue_one(app, client)
    now = utcnow()
    assert run_at(app, now).retried == 1
    deferred = message(app)
    assert deferred.status == "queued" and deferred.attempts == 1 and "unavailable" in deferred.last_error
    assert deferred.next_attempt_at >= now + backoff(1) - timedelta(seconds=1)
    assert run_at(app, now).handled == 0  # not due yet: backoff is respected

    handler = CollectingHandler()
    with relay(app, handler, port):
        assert run_at(app, now + timedelta(minutes=1)).sent == 1
    assert len(handler.messages) == 1 and handler.messages[0][2]["Message-ID"] == deferred.message_id


@pytest.mark.settings(MAIL_PORT=0)
def test_451_twice_then_accepted(app, client, customer_id) -> None:  # type: ignore[no-untyped-def]
    handler = ScriptedHandler(["451 4.3.0 Try again later", "451 4.3.0 Try again later"])
    with relay(app, handler):
        queue_one(app, client)
        now = utcnow()
        assert run_at(app, now).retried == 1
        assert run_at(app, now + backoff(1)).retried == 1
        assert run_at(app, now + backoff(1) + backoff(2)).sent == 1
        assert run_at(app, now + timedelta(days=1)).handled == 0
    assert handler.attempts == 3 and len(handler.messages) == 1
    final = message(app)
    assert final.status == "sent" and final.attempts == 3


@pytest.mark.settings(MAIL_PORT=0)
def test_550_is_a_visible_permanent_failure(app, client, customer_id) -> None:  # type: ignore[no-untyped-def]
    handler = ScriptedHandler(["550 5.1.1 Mailbox unavailable"])
    with relay(app, handler):
        queue_one(app, client)
        assert run_at(app, utcnow()).failed == 1
        assert run_at(app, utcnow() + timedelta(days=1)).handled == 0
    failed = message(app)
    assert failed.status == "failed" and "550" in failed.last_error
    with app.app_context():
        assert verify_chain().ok


@pytest.mark.settings(OUTBOX_MAX_ATTEMPTS=2, MAIL_PORT=0)
def test_attempts_run_out(app, client, customer_id) -> None:  # type: ignore[no-untyped-def]
    app.extensions["mail"].port = free_port()
    queue_one(app, client)
    now = utcnow()
    run_at(app, now)
    assert run_at(app, now + timedelta(hours=1)).failed == 1
    assert message(app).status == "failed"


def test_dead_worker_lease_expires_and_same_message_is_sent(app, client, smtp_sink, customer_id) -> None:  # type: ignore[no-untyped-def]
    from incident_service.notifications.delivery import claim_due

    queue_one(app, client)
    now = utcnow()
    with app.app_context():
        assert len(claim_due(now, 10)) == 1  # a worker claims it, then dies before sending
    assert run_at(app, now + timedelta(seconds=1)).handled == 0  # leased: nobody else takes it
    lease = timedelta(seconds=app.config["OUTBOX_LEASE_SECONDS"])
    assert run_at(app, now + lease + timedelta(seconds=1)).sent == 1
    assert len(smtp_sink.messages) == 1


def server_tls(cert_authority: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert_authority.issue_cert("127.0.0.1", "localhost").configure_cert(context)
    return context


@pytest.mark.settings(MAIL_USE_TLS=True, MAIL_SERVER="127.0.0.1", MAIL_PORT=0)
def test_untrusted_certificate_sends_nothing(app, client, customer_id, caplog) -> None:  # type: ignore[no-untyped-def]
    handler = CollectingHandler()
    with relay(app, handler, tls_context=server_tls(trustme.CA()), require_starttls=True):
        queue_one(app, client)
        with caplog.at_level(logging.WARNING):
            assert run_at(app, utcnow()).retried == 1
    assert any("CERTIFICATE_VERIFY_FAILED" in record.getMessage() for record in caplog.records)  # and logged
    assert handler.messages == []
    assert "CERTIFICATE_VERIFY_FAILED" in message(app).last_error


@pytest.mark.settings(MAIL_USE_TLS=True, MAIL_SERVER="127.0.0.1", MAIL_PORT=0)
def test_trusted_certificate_delivers(app, client, customer_id, tmp_path) -> None:  # type: ignore[no-untyped-def]
    authority = trustme.CA()
    ca_file = tmp_path / "ca.pem"
    authority.cert_pem.write_to_path(str(ca_file))
    app.config["MAIL_CA_FILE"] = str(ca_file)
    handler = CollectingHandler()
    with relay(app, handler, tls_context=server_tls(authority), require_starttls=True):
        queue_one(app, client)
        assert run_at(app, utcnow()).sent == 1
    assert len(handler.messages) == 1


def test_worker_cli_once(app, runner, client, smtp_sink, customer_id) -> None:  # type: ignore[no-untyped-def]
    queue_one(app, client)
    result = runner.invoke(args=["outbox", "work", "--once"])
    assert result.exit_code == 0 and "sent 1" in result.output
    assert len(smtp_sink.messages) == 1


@pytest.mark.settings(MAIL_TIMEOUT_SECONDS=1, MAIL_PORT=0)
def test_silent_relay_times_out(app, client, customer_id) -> None:  # type: ignore[no-untyped-def]
    import socket

    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    app.extensions["mail"].port = server.getsockname()[1]
    try:
        queue_one(app, client)
        assert run_at(app, utcnow()).retried == 1  # no greeting within a second: deferred, not stuck
    finally:
        server.close()
    assert "timed out" in message(app).last_error


def test_queued_email_is_rendered_by_the_worker_once(app, client, smtp_sink, customer_id) -> None:  # type: ignore[no-untyped-def]
    """Queueing stores what to render (with the link payloads), not bytes; the worker renders it,
    the sent email carries working links and the pending payload is gone from the database."""
    queue_one(app, client)
    queued = message(app)
    assert queued.raw is None and queued.raw_redacted is None and queued.subject == ""
    assert '"reset_url":["reset-link"' in queued.pending
    assert run_at(app, utcnow()).sent == 1
    sent = message(app)
    assert sent.pending is None and sent.subject.startswith("[ECC]")
    delivered = smtp_sink.to("an@example.com")
    assert len(delivered) == 1 and delivered[0]["Message-ID"] == sent.message_id
    assert LINK_RE.search(delivered[0].get_body(("plain",)).get_content())  # type: ignore[union-attr]
    record = email.message_from_bytes(sent.raw_redacted, policy=policy.default)
    for kind in ("plain", "html"):
        body = record.get_body((kind,)).get_content()  # type: ignore[union-attr]
        assert "RPT-" in body and not LINK_RE.search(body) and "[link removed from the stored copy]" in body


def test_email_that_cannot_be_rendered_fails_visibly(app, client, smtp_sink, customer_id) -> None:  # type: ignore[no-untyped-def]
    queue_one(app, client)
    with app.app_context():
        queued = db.session.execute(select(OutboxMessage)).scalar_one()
        queued.pending = queued.pending.replace(
            '"grant":{"row":"ResetGrant","id":1}', '"grant":{"row":"ResetGrant","id":999}'
        )
        db.session.commit()
    run = run_at(app, utcnow())
    assert run.failed == 1 and run.sent == 0 and smtp_sink.messages == []
    failed = message(app)
    assert (
        failed.status == "failed"
        and "could not be rendered" in failed.last_error
        and "ResetGrant 999" in failed.last_error
    )
    with app.app_context():
        assert verify_chain().ok


def test_acceptances_are_recorded_together_each_with_its_time(app, smtp_sink) -> None:  # type: ignore[no-untyped-def]
    """Sent emails are committed in groups; each keeps its own acceptance time and audit event."""
    from incident_service.audit.models import AuditEvent
    from tests.helpers import make_customer

    addresses = [f"nguoi{n}@example.com" for n in range(25)]  # more than one group of 20
    for address in addresses:
        make_customer(app, address, password=None)
        submit(app.test_client(), "/report", {"email": address, "kind": "lost"})
    ticks = iter(range(1000))
    start = utcnow()
    with app.app_context():
        run = deliver_due(clock=lambda: start + timedelta(seconds=next(ticks)), limit=100)
        assert run.sent == 25 and run.failed == run.retried == 0
        sent = db.session.execute(select(OutboxMessage).order_by(OutboxMessage.id)).scalars().all()
        assert all(m.status == "sent" and m.raw is None and m.attempts == 1 for m in sent)
        assert len({m.sent_at for m in sent}) == 25  # each its own moment, not the group's
        events = (
            db.session.execute(
                select(AuditEvent).where(AuditEvent.action == "worker:email:sent").order_by(AuditEvent.id)
            )
            .scalars()
            .all()
        )
        assert [e.occurred_at for e in events] == [m.sent_at for m in sent]
        assert verify_chain().ok
    assert sorted(rcpt[0] for _s, rcpt, _m in smtp_sink.messages) == sorted(addresses)
