"""Ingesting each corpus message: what is stored, matched, and sent to whom, or why it is quarantined."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select

from incident_service.customers.models import Customer
from incident_service.database import utcnow
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
