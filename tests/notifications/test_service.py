"""Queueing and rendering: every email renders in both languages."""

from __future__ import annotations

import pytest

from incident_service.database import utcnow
from incident_service.notifications.service import render_email


def test_subject_never_carries_a_line_break(app) -> None:  # type: ignore[no-untyped-def]
    from incident_service.customers.models import Customer
    from incident_service.incidents.models import Incident, Report
    from incident_service.reactivation.models import ResetGrant

    now = utcnow()
    with app.test_request_context():
        subject, _text, _html = render_email(
            "acknowledgement",
            {
                "customer": Customer(id=1, email="a@b.c", name="x", locale="vi"),
                "incident": Incident(reference="INC-1\r\nBcc: evil@example.com", first_received_at=now),
                "report": Report(reference="RPT-1", received_at=now),
                "grant": ResetGrant(expires_at=now),
                "zone": "Asia/Ho_Chi_Minh",
                "support_contact": "",
                "reset_url": "",
                "discovery_url": "",
                "report_url": "",
            },
            "vi",
        )
    assert "\r" not in subject and "\n" not in subject


def test_vietnamese_subject_is_valid_rfc2047(app, customer_id) -> None:  # type: ignore[no-untyped-def]
    import email
    import re
    from email import policy

    from sqlalchemy import select

    from incident_service.extensions import db
    from incident_service.notifications.models import OutboxMessage
    from incident_service.notifications.service import render_queued
    from tests.helpers import submit

    submit(app.test_client(), "/report", {"email": "an@example.com", "kind": "lost"})
    with app.app_context():
        assert db.session.execute(select(OutboxMessage.raw)).scalar_one() is None  # the worker renders it
        render_queued(db.session.execute(select(OutboxMessage)).scalar_one())
        raw = db.session.execute(select(OutboxMessage.raw)).scalar_one()
    header = raw.split(b"\r\n\r\n")[0].decode("ascii")
    subject = re.search(r"^Subject: (.*?)(?=\r\n\S|\Z)", header, re.S | re.M).group(1)  # type: ignore[union-attr]
    # Every encoded-word stands alone, separated by folding white space, with nothing glued to it.
    word = r"=\?utf-8\?[bq]\?[^?\s]+\?="
    assert re.fullmatch(rf"\[ECC\] {word}(\r\n {word})*", subject), subject
    parsed = email.message_from_bytes(raw, policy=policy.default)
    assert parsed["Subject"].startswith("[ECC] Đã nhận báo cáo (RPT-")  # the reference the customer was shown


@pytest.mark.parametrize(
    "subject,to",
    [
        ("Hi\r\nBcc: evil@example.com", "an@example.com"),
        ("Hi", "an@example.com\r\nBcc: evil@example.com"),
        ("Hi", "an@example.com\nBcc: evil@example.com"),
    ],
)
def test_message_builder_refuses_a_header_with_a_line_break(app, subject: str, to: str) -> None:
    """M6 at the last step: whatever reaches the builder, it never writes a second header from a value
    (the worker then marks the email failed, visibly)."""
    from email.errors import HeaderParseError

    from incident_service.notifications.service import _build

    with app.app_context(), pytest.raises(HeaderParseError):
        _build(subject, [("text", "<p>html</p>")], to=to, message_id="<id@ecc.example>", date=1.7e9)


def test_message_builder_writes_long_and_short_headers_intact(app) -> None:
    import email
    from email import policy

    from incident_service.notifications.service import _build

    long_to = "a" * 60 + "@" + "b" * 40 + ".example"  # longer than a header line: the email package folds it
    with app.app_context():
        sent, record = _build(
            "[ECC] Đã nhận báo cáo (INC-2026-000001)",
            [("văn bản", "<p>one</p>"), ("khác", "<p>two</p>")],
            to=long_to,
            message_id="<id@ecc.example>",
            date=1.7e9,
        )
    for raw, text in ((sent, "văn bản"), (record, "khác")):
        parsed = email.message_from_bytes(raw, policy=policy.default)
        assert parsed["To"] == long_to and parsed["Message-ID"] == "<id@ecc.example>"
        assert parsed["Subject"] == "[ECC] Đã nhận báo cáo (INC-2026-000001)"
        assert parsed["Auto-Submitted"] == "auto-generated"
        assert parsed.get_body(("plain",)).get_content().strip() == text  # type: ignore[union-attr]
    assert sent.split(b"\r\n\r\n")[0] == record.split(b"\r\n\r\n")[0]  # the same headers, boundary and all


def test_message_builder_sends_any_line_length_as_short_ascii_lines(app) -> None:  # type: ignore[no-untyped-def]
    """A rendered line may be longer than SMTP's 998 octets (an HTML button with a signed link, a long
    Vietnamese sentence): on the wire every body line is short ASCII, labelled as encoded, and decodes
    back to exactly what was rendered."""
    import email
    from email import policy

    from incident_service.notifications.service import _build

    text = "Đường dẫn chỉ dùng được một lần. " * 60 + "\nhttps://security.ecc.example/reset/" + "a" * 300
    html = '<p style="margin:0">' + "Mật khẩu cũ của bạn không còn dùng được. " * 60 + "</p>"
    with app.app_context():
        [raw] = _build("[ECC] Mật khẩu", [(text, html)], to="an@example.com", message_id="<id@ecc.example>", date=1.7e9)
    assert raw.isascii() and max(len(line) for line in raw.split(b"\r\n")) <= 78
    parsed = email.message_from_bytes(raw, policy=policy.default)
    for kind, body in (("plain", text), ("html", html)):
        part = parsed.get_body((kind,))
        assert part is not None and part["Content-Transfer-Encoding"] == "quoted-printable"
        assert part.get_content().splitlines() == body.splitlines()  # the wire's CRLF, read back as lines
