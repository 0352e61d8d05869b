"""The listener through a real SMTP client (smtplib) on a free loopback port."""

from __future__ import annotations

import smtplib
import threading
from pathlib import Path
from typing import Iterator

import pytest
from sqlalchemy import func, select, text

from incident_service.customers.models import Customer
from incident_service.extensions import db
from incident_service.incidents.models import Report
from incident_service.intake.models import InboundMessage
from incident_service.intake.smtpd import IntakeController
from tests.helpers import deliver, free_port, links_in, make_customer

CORPUS = Path(__file__).parent / "corpus"
# On the wire, lines end in CRLF: sent that way, the stored bytes must equal these exactly.
PLAIN = (CORPUS / "plain.eml").read_bytes().replace(b"\n", b"\r\n")

# The listener stores mail in its worker threads, each on its own connection.
pytestmark = pytest.mark.real_commits


@pytest.fixture
def listener(app) -> Iterator[int]:  # type: ignore[no-untyped-def]
    port = free_port()
    controller = IntakeController(app, host="127.0.0.1", port=port)
    controller.start()
    try:
        yield port
    finally:
        controller.stop()


def count(app, model) -> int:  # type: ignore[no-untyped-def]
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(model))


def send(
    port: int, raw: bytes, *, sender: str = "an@example.com", to: str = "security@ecc.example"
) -> tuple[int, bytes]:
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as client:
        client.ehlo("client.example.net")
        client.mail(sender)
        code, reply = client.rcpt(to)
        if code != 250:
            return code, reply
        return client.data(raw)


def test_report_by_email_reactivates_and_acknowledges_on_record(app, smtp_sink, listener, customer_id) -> None:  # type: ignore[no-untyped-def]
    code, reply = send(listener, PLAIN)
    assert code == 250
    with app.app_context():
        message = db.session.execute(select(InboundMessage)).scalar_one()
        assert message.raw == PLAIN and message.via == "smtp" and message.helo == "client.example.net"
        assert message.mail_from == "an@example.com" and message.rcpt_tos == ["security@ecc.example"]
        assert message.peer.startswith("127.0.0.1:")
        assert db.session.get(Customer, customer_id).credential_state == "locked"
    deliver(app)
    acknowledgement = smtp_sink.to("an@example.com")
    assert len(acknowledgement) == 1 and "reset" in links_in(acknowledgement[0])


def test_wrong_recipient_gets_550(app, listener) -> None:  # type: ignore[no-untyped-def]
    code, reply = send(listener, PLAIN, to="ceo@ecc.example")
    assert code == 550 and b"report addresses" in reply
    assert count(app, InboundMessage) == 0


@pytest.mark.settings(INTAKE_MAX_MESSAGE_BYTES=4096)
def test_size_is_advertised_and_enforced(app, listener) -> None:  # type: ignore[no-untyped-def]
    with smtplib.SMTP("127.0.0.1", listener, timeout=10) as client:
        client.ehlo()
        assert client.esmtp_features["size"] == "4096"
        client.mail("an@example.com")
        client.rcpt("security@ecc.example")
        code, _reply = client.data(PLAIN + (b"x" * 70 + b"\r\n") * 80)
    assert code == 552
    assert count(app, InboundMessage) == 0


def test_known_and_unknown_senders_get_the_same_answers(app, listener, customer_id) -> None:  # type: ignore[no-untyped-def]
    other = (CORPUS / "unknown_sender.eml").read_bytes().replace(b"\n", b"\r\n")
    assert send(listener, PLAIN) == send(listener, other, sender="stranger@example.org")


def test_ten_concurrent_connections_all_land(app, listener) -> None:  # type: ignore[no-untyped-def]
    for n in range(10):
        make_customer(app, f"c{n}@example.com")
    results: list[int] = []
    barrier = threading.Barrier(10)

    def one(n: int) -> None:
        raw = (
            f"From: c{n}@example.com\nTo: security@ecc.example\nSubject: lost\n"
            f"Message-ID: <c{n}@example.com>\n\nmy password leaked\n"
        ).encode()
        barrier.wait()
        results.append(send(listener, raw, sender=f"c{n}@example.com")[0])

    threads = [threading.Thread(target=one, args=(n,)) for n in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == [250] * 10
    assert count(app, InboundMessage) == 10 and count(app, Report) == 10
    with app.app_context():
        assert (
            db.session.scalar(select(func.count()).select_from(Customer).where(Customer.credential_state == "locked"))
            == 10
        )


def test_database_failure_gives_451_and_no_partial_rows(app, listener, customer_id) -> None:  # type: ignore[no-untyped-def]
    with app.app_context():
        db.session.execute(text("ALTER TABLE reports RENAME TO reports_away"))
        db.session.commit()
    try:
        code, reply = send(listener, PLAIN)
    finally:
        with app.app_context():
            db.session.execute(text("ALTER TABLE reports_away RENAME TO reports"))
            db.session.commit()
    assert code == 451 and b"try again later" in reply
    assert count(app, InboundMessage) == 0 and count(app, Report) == 0
    with app.app_context():
        assert db.session.get(Customer, customer_id).credential_state == "active"
    # The MTA retries; now it lands, once.
    assert send(listener, PLAIN)[0] == 250
    assert count(app, InboundMessage) == 1 and count(app, Report) == 1


def test_lmtp_answers_per_recipient(app, customer_id) -> None:  # type: ignore[no-untyped-def]
    app.config["REPORT_ADDRESSES"] = ["security@ecc.example", "baomat@ecc.example"]
    port = free_port()
    controller = IntakeController(app, host="127.0.0.1", port=port, lmtp=True)
    controller.start()
    try:
        with smtplib.LMTP("127.0.0.1", port, timeout=10) as client:
            client.ehlo_or_helo_if_needed()
            client.mail("an@example.com")
            rcpt_codes = [
                client.rcpt(to)[0] for to in ("security@ecc.example", "nobody@ecc.example", "baomat@ecc.example")
            ]
            # smtplib reads one DATA reply; LMTP sends one per accepted recipient, so read the rest.
            data_codes = [client.data(PLAIN)[0], client.getreply()[0]]
    finally:
        controller.stop()
    assert rcpt_codes == [250, 550, 250]
    assert data_codes == [250, 250]
    assert count(app, InboundMessage) == 1
    with app.app_context():
        assert db.session.execute(select(InboundMessage.via)).scalar_one() == "lmtp"


def test_a_processing_bug_keeps_the_message_quarantined(
    app, listener, runner, customer_id, monkeypatch, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    """M2 and 'bad input loses nothing': if reading the mail fails unexpectedly (a bug, injected here),
    the listener still answers 250 and the importer still keeps the bytes, quarantined with the error."""
    import incident_service.intake.service as intake

    def broken(*_args, **_kwargs):  # type: ignore[no-untyped-def]
        raise RuntimeError("parser bug")

    monkeypatch.setattr(intake, "parse_within", broken)
    monkeypatch.setattr(intake, "read_ahead", broken)  # the importer reads ahead (issue 17)
    code, _reply = send(listener, PLAIN)
    assert code == 250
    other = tmp_path / "other.eml"
    other.write_bytes((CORPUS / "alternative.eml").read_bytes())
    imported = runner.invoke(args=["intake", "import", str(other)])
    assert imported.exit_code == 0, imported.output
    with app.app_context():
        kept = db.session.execute(select(InboundMessage).order_by(InboundMessage.id)).scalars().all()
        assert [m.raw for m in kept] == [PLAIN, other.read_bytes()]
        assert all(
            m.status == "quarantined"
            and m.quarantine_reason == "processing_error"
            and "RuntimeError: parser bug" in (m.quarantine_detail or "")
            for m in kept
        )
        assert kept[1].import_source == str(other)  # the importer's label survives the fallback
    assert count(app, Report) == 0


def test_lines_over_1000_octets_are_taken_and_kept_intact(app, listener, customer_id) -> None:  # type: ignore[no-untyped-def]
    """Real mail carries long lines (unwrapped HTML): like Postfix, take them up to the size limit."""
    raw = PLAIN.replace(b"\r\n\r\n", b"\r\n\r\n" + b"x" * 5000 + b"\r\n", 1)
    code, _reply = send(listener, raw)
    assert code == 250
    with app.app_context():
        assert db.session.execute(select(InboundMessage.raw)).scalar_one() == raw
