"""Ingesting each corpus message: what is stored, matched, and sent to whom, or why it is quarantined."""

from __future__ import annotations

import hashlib
import json
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest
from sqlalchemy import func, select, text

from incident_service.audit.models import AuditEvent
from incident_service.audit.service import canonical_event_body
from incident_service.customers.models import Customer
from incident_service.database import table_of, utcnow
from incident_service.extensions import db
from incident_service.incidents.models import Incident, Report
from incident_service.intake.models import InboundMessage
from incident_service.intake.service import Envelope, ingest_message
from incident_service.notifications.models import OutboxMessage
from tests.helpers import deliver

CORPUS = Path(__file__).parent / "corpus"

# file → (status, the report's customer is An?, acknowledgement queued to An?, quarantine reason)
EXPECTED = {
    "plain.eml": ("reported", True, True, None),
    "alternative.eml": ("reported", True, True, None),
    "html_only.eml": ("reported", True, True, None),
    "qp_utf8.eml": ("reported", True, True, None),
    "base64_utf8.eml": ("reported", True, True, None),
    "qp_cp1258.eml": ("reported", True, True, None),
    "base64_cp1258.eml": ("reported", True, True, None),
    "rfc2047_vietnamese.eml": ("reported", True, True, None),
    "forwarded.eml": ("reported", True, True, None),
    "attachments.eml": ("reported", True, True, None),
    "missing_boundary.eml": ("reported", True, True, None),
    "bad_base64.eml": ("reported", True, True, None),
    "unknown_charset.eml": ("reported", True, True, None),
    "no_blank_line.eml": ("reported", True, True, None),
    "reply_to_elsewhere.eml": ("reported", True, True, None),
    "forged_auth_results.eml": ("reported", True, True, None),
    "forged_below_company_hop.eml": ("reported", True, True, None),
    "internal_hops.eml": ("reported", True, True, None),
    "auto_reply.eml": ("not_a_report", False, False, None),
    "dsn_bounce.eml": ("not_a_report", False, False, None),
    "list_mail.eml": ("not_a_report", False, False, None),
    "spoof_display_name.eml": ("reported", False, False, None),
    "spoof_encoded_word.eml": ("reported", False, False, None),
    "spoof_lookalike.eml": ("reported", False, False, None),
    "unknown_sender.eml": ("reported", False, False, None),
    "spoof_bidi.eml": ("quarantined", False, False, "no_sender"),
    "xss_html.eml": ("reported", True, True, None),
}


def test_every_corpus_file_has_an_expectation() -> None:
    assert sorted(EXPECTED) == sorted(path.name for path in CORPUS.glob("*.eml"))


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_corpus_message(app, customer_id, name: str) -> None:  # type: ignore[no-untyped-def]
    status, matched, acknowledged, reason = EXPECTED[name]
    raw = (CORPUS / name).read_bytes()
    with app.app_context():
        outcome = ingest_message(
            raw,
            envelope=Envelope(
                mail_from="sender@example.net", rcpt_tos=["security@ecc.example"], peer="203.0.113.5:4000"
            ),
            via="smtp",
            now=utcnow(),
        )
        db.session.commit()
        message = db.session.get(InboundMessage, outcome.message_id)
        assert message.raw == raw and message.size == len(raw)  # the bytes, exactly
        assert message.status == status and message.quarantine_reason == reason
        report = db.session.execute(select(Report)).scalar_one_or_none()
        assert (report is not None) == (status == "reported")
        if report is not None:
            assert report.channel == "email" and report.inbound_message_id == message.id
            assert report.received_at == message.received_at
            assert (report.customer_id == customer_id) == matched
        customer = db.session.get(Customer, customer_id)
        assert customer.credential_state == ("locked" if matched else "active")
        recipients = db.session.execute(select(OutboxMessage.to_address)).scalars().all()
        # The only address ever written to is the one on record, never From, Reply-To or Sender.
        assert recipients == (["an@example.com"] if acknowledged else [])


def test_acknowledgement_reaches_the_address_on_record_only(app, smtp_sink, customer_id) -> None:  # type: ignore[no-untyped-def]
    with app.app_context():
        ingest_message((CORPUS / "reply_to_elsewhere.eml").read_bytes(), envelope=Envelope(), via="smtp", now=utcnow())
        db.session.commit()
    deliver(app)
    assert [rcpts for _sender, rcpts, _message in smtp_sink.messages] == [["an@example.com"]]


def test_same_bytes_twice_store_once(app, customer_id) -> None:  # type: ignore[no-untyped-def]
    raw = (CORPUS / "plain.eml").read_bytes()
    with app.app_context():
        first = ingest_message(raw, envelope=Envelope(), via="smtp", now=utcnow())
        second = ingest_message(raw, envelope=Envelope(), via="smtp", now=utcnow())
        db.session.commit()
        assert second.status == "already_stored" and second.message_id == first.message_id
        assert db.session.scalar(select(func.count()).select_from(InboundMessage)) == 1
        assert db.session.scalar(select(func.count()).select_from(Report)) == 1


def test_same_message_id_other_bytes_is_kept_as_duplicate(app, customer_id) -> None:  # type: ignore[no-untyped-def]
    raw = (CORPUS / "plain.eml").read_bytes()
    with app.app_context():
        ingest_message(raw, envelope=Envelope(), via="smtp", now=utcnow())
        again = ingest_message(
            b"Delivered-To: security@ecc.example\n" + raw, envelope=Envelope(), via="smtp", now=utcnow()
        )
        db.session.commit()
        assert again.status == "duplicate"
        assert db.session.scalar(select(func.count()).select_from(InboundMessage)) == 2
        assert db.session.scalar(select(func.count()).select_from(Report)) == 1


def test_second_email_joins_the_open_incident_and_is_answered_once(app, smtp_sink, customer_id) -> None:  # type: ignore[no-untyped-def]
    """Issue 13: someone who emails again in distress hears back, even when no new link is due: one short
    reply per resend window, to the address on record only, marked Auto-Submitted (no mail loops)."""
    with app.app_context():
        for name in ("plain.eml", "alternative.eml", "html_only.eml"):
            ingest_message((CORPUS / name).read_bytes(), envelope=Envelope(), via="smtp", now=utcnow())
        db.session.commit()
        assert db.session.scalar(select(func.count()).select_from(Incident)) == 1
        assert db.session.scalar(select(func.count()).select_from(Report)) == 3
        templates = db.session.execute(select(OutboxMessage.template).order_by(OutboxMessage.id)).scalars().all()
        assert templates == ["acknowledgement", "report_in_hand"]  # the third email: no second reply
        first = db.session.execute(select(Report).order_by(Report.id)).scalars().first()
    deliver(app)
    reply = smtp_sink.messages[1]
    assert reply[1] == ["an@example.com"] and reply[2]["Auto-Submitted"] == "auto-generated"
    assert first is not None and first.reference in reply[2]["Subject"]


OUR_VERDICT = ["mx.ecc.example; spf=fail smtp.mailfrom=example.com; dmarc=fail header.from=example.com"]


@pytest.mark.parametrize(
    "via,peer,trusted",
    [
        ("lmtp", "127.0.0.1:40000", OUR_VERDICT),  # the company MTA, delivering on this host
        ("lmtp", "203.0.113.9:40000", []),  # anyone else who reached the LMTP port
        ("smtp", "127.0.0.1:40000", []),  # plain SMTP to the listener is not the MTA's delivery
    ],
)
def test_a_forged_verdict_is_stored_as_a_claim(app, customer_id, via: str, peer: str, trusted: list[str]) -> None:  # type: ignore[no-untyped-def]
    """Issue 11, item 5: only what the company MTA added on its way to us is kept as its verdict."""
    raw = (CORPUS / "forged_below_company_hop.eml").read_bytes()
    with app.app_context():
        outcome = ingest_message(raw, envelope=Envelope(mail_from="an@example.com", peer=peer), via=via, now=utcnow())
        db.session.commit()
        message = db.session.get(InboundMessage, outcome.message_id)
        assert message.authentication_results == trusted
        assert message.untrusted_authentication_results == 2 - len(trusted)


def test_imported_mail_that_joins_gets_no_in_hand_reply(app, customer_id) -> None:  # type: ignore[no-untyped-def]
    """The short reply is for someone writing now; importing old mail, or staff assigning quarantined
    mail later, must not email the customer about "your email" of weeks ago."""
    with app.app_context():
        ingest_message((CORPUS / "plain.eml").read_bytes(), envelope=Envelope(), via="smtp", now=utcnow())
        ingest_message((CORPUS / "alternative.eml").read_bytes(), envelope=Envelope(), via="import", now=utcnow())
        db.session.commit()
        assert db.session.scalar(select(func.count()).select_from(Report)) == 2
        templates = db.session.execute(select(OutboxMessage.template)).scalars().all()
        assert templates == ["acknowledgement"]


def test_a_message_that_joins_writes_these_rows_and_events(app, customer_id) -> None:  # type: ignore[no-untyped-def]
    """Issue 17 stores a message with Core statements (one INSERT of the whole row, no savepoint): the
    rows and the audit events, bytes and order, are what they were. An imported message from a customer
    whose incident is open: the message, its report attached, three events in this order and spelling."""
    first_raw = (CORPUS / "plain.eml").read_bytes()
    raw = first_raw.replace(b"<plain-1@example.com>", b"<plain-2@example.com>")
    with app.app_context():
        ingest_message(first_raw, envelope=Envelope(), via="import", now=utcnow(), import_source="box:1")
        before = db.session.scalar(select(func.max(AuditEvent.id)))
        now = datetime(2026, 11, 30, 8, 0, 0, 123456, tzinfo=timezone.utc)
        outcome = ingest_message(raw, envelope=Envelope(), via="import", now=now, import_source="box:2")
        db.session.commit()
        assert outcome.status == "reported" and outcome.report is not None
        message = db.session.execute(
            select(*table_of(InboundMessage).columns).where(InboundMessage.id == outcome.message_id)
        ).one()
        mta_time = datetime(2026, 11, 24, 2, 15, 2, tzinfo=timezone.utc)  # the company MTA's Received line
        assert message._asdict() == {
            **message._asdict(),  # the columns parse_message fills, checked in test_parsing.py
            "received_at": mta_time,
            "received_at_source": "company_mta",
            "stored_at": now,
            "via": "import",
            "import_source": "box:2",
            "raw": raw,
            "size": len(raw),
            "sha256": hashlib.sha256(raw).hexdigest(),
            "mail_from": None,
            "rcpt_tos": [],
            "peer": None,
            "helo": None,
            "status": "reported",
            "quarantine_reason": None,
            "quarantine_detail": None,
            "not_a_report_reason": None,
            "duplicate_of_id": None,
            "dismiss_reason": None,
            "handled_by": None,
            "from_address": "an@example.com",
            "message_id_header": "<plain-2@example.com>",
            "subject": "Mật khẩu bị lộ",
            # The company MTA's own verdict, trusted on a path from it (an import).
            "authentication_results": [
                "mx.ecc.example; spf=pass smtp.mailfrom=example.com; dkim=pass header.d=example.com"
            ],
            "untrusted_authentication_results": 0,
            "has_html": False,
            "attachments": [],
            "defects": [],
        }
        report = db.session.get(Report, outcome.report.id)
        incident = db.session.execute(select(Incident)).scalar_one()
        assert report is not None and report.incident_id == incident.id and report.inbound_message_id == message.id
        assert (report.received_at, report.received_at_source, report.recorded_at) == (mta_time, "company_mta", now)
        events = db.session.execute(select(AuditEvent).where(AuditEvent.id > before).order_by(AuditEvent.id)).scalars()
        written = [(e.action, e.actor, e.customer_id, e.incident_id, e.report_id, e.data) for e in events]
    digest = hashlib.sha256(raw).hexdigest()
    assert written == [
        (
            "email:message:received",
            "intake",
            None,
            None,
            None,
            f'{{"inbound_message":{message.id},"mail_from":null,"peer":null,"rcpt_tos":[],'
            f'"sha256":"{digest}","size":{len(raw)},"via":"import"}}',
        ),
        (
            "email:report:received",
            "customer",
            customer_id,
            None,
            report.id,
            f'{{"address":"an@example.com","kind":"other","reference":"{report.reference}"}}',
        ),
        ("email:report:attached", "customer", customer_id, incident.id, report.id, "{}"),
    ]
    with app.app_context():
        for event in db.session.execute(select(AuditEvent).where(AuditEvent.id > before)).scalars():
            body = canonical_event_body(
                event.occurred_at, event.action, event.actor, event.customer_id, event.incident_id,
                event.report_id, event.data,
            )  # fmt: skip
            assert event.occurred_at == now and event.prev_hash == ""
            assert event.hash == hashlib.sha256(body.encode("utf-8")).hexdigest()


def test_mail_that_cannot_be_read_is_stored_whole_and_quarantined(app) -> None:  # type: ignore[no-untyped-def]
    """Nothing read: the row is written once, quarantined with its reason, every column the model
    defaults as it was when the row was inserted and then updated; then received, then quarantined."""
    raw = (CORPUS / "spoof_bidi.eml").read_bytes()
    with app.app_context():
        before = db.session.scalar(select(func.max(AuditEvent.id))) or 0
        outcome = ingest_message(raw, envelope=Envelope(mail_from="x@example.net"), via="smtp", now=utcnow())
        db.session.commit()
        message = db.session.execute(
            select(*table_of(InboundMessage).columns).where(InboundMessage.id == outcome.message_id)
        ).one()
        events = db.session.execute(select(AuditEvent).where(AuditEvent.id > before).order_by(AuditEvent.id)).scalars()
        written = [(e.action, json.loads(e.data)) for e in events]
    assert outcome.status == "quarantined"
    detail = message.quarantine_detail
    assert detail and message._asdict() == {
        **message._asdict(),
        "status": "quarantined",
        "quarantine_reason": "no_sender",
        "received_at_source": "server_clock",
        "mail_from": "x@example.net",
        "from_address": None,
        "subject": None,
        "received_headers": [],
        "authentication_results": [],
        "untrusted_authentication_results": 0,
        "text_body": None,
        "has_html": None,
        "attachments": [],
        "defects": [],
    }
    assert [action for action, _data in written] == ["email:message:received", "email:message:quarantined"]
    assert written[1][1] == {"inbound_message": message.id, "reason": "no_sender", "detail": detail[:500]}


@pytest.mark.real_commits
def test_the_same_bytes_on_two_connections_at_once_are_stored_once(app, customer_id) -> None:  # type: ignore[no-untyped-def]
    """On PostgreSQL the second connection's INSERT waits for the first's transaction, then finds the
    bytes taken (ON CONFLICT DO NOTHING): no error, no second row or report, as the savepoint gave before.
    (On SQLite the second waits for the write lock and then finds the bytes stored before it inserts.)"""
    with app.app_context():
        if db.engine.dialect.name != "postgresql":
            pytest.skip("SQLite has one writer: the second connection finds the bytes stored before it inserts")
    raw = (CORPUS / "plain.eml").read_bytes()
    stored = threading.Event()
    statuses: dict[str, str] = {}

    def first() -> None:
        with app.app_context():
            statuses["first"] = ingest_message(raw, envelope=Envelope(), via="smtp", now=utcnow()).status
            stored.set()
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:  # commit once the other connection waits on the row
                with db.engine.connect() as watcher:
                    waiting = watcher.execute(
                        text("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'")
                    ).scalar_one()
                if waiting:
                    statuses["second waited"] = "yes"
                    break
                time.sleep(0.01)
            db.session.commit()

    def second() -> None:
        stored.wait(timeout=30)
        with app.app_context():
            statuses["second"] = ingest_message(raw, envelope=Envelope(), via="smtp", now=utcnow()).status
            db.session.commit()

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert statuses == {"first": "reported", "second waited": "yes", "second": "already_stored"}
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(InboundMessage)) == 1
        assert db.session.scalar(select(func.count()).select_from(Report)) == 1
        actions = db.session.execute(select(AuditEvent.action)).scalars().all()
        assert "email:message:already_stored" not in actions  # it found them by racing, as before
