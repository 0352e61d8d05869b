"""Queueing and rendering: every email renders in both languages."""

from __future__ import annotations

import pytest
from flask import Flask

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


# Bodies that exercise every rule of quoted-printable as the email package writes it: lines longer than
# a wire line, an escape at the break, white space at the end of a line, empty lines, a CR alone or in
# CRLF, control characters that other tools count as line ends (FF, NEL's byte in "ễ"), text that ends
# with and without a line break, nothing at all.
_TRICKY_BODIES = [
    "",
    "\n",
    "one line",
    "ends with a break\n",
    "a\n\n\nb\n\n",
    "x" * 74 + "=y\n" + "x" * 75 + "=y\n" + "x" * 73 + "==\n" + "x" * 76 + "\n" + "x" * 77,
    "trailing space \ntrailing tab\t\n" + "x" * 74 + " \n" + "x" * 75 + " \n" + "x" * 76 + "\t",
    "Mật khẩu cũ của bạn không còn dùng được. " * 9 + "\nễ ễ ễ\x0cform feed\x1cfile sep\x85",
    "carriage\rreturn\r\nand crlf\r\n",
    '<td style="padding:0 4px 12px 4px;font-family:Arial,Helvetica,sans-serif;font-size:18px">Đã nhận</td>\n' * 5,
]


def _stock_build(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make _build what it was before it was made faster: the whole body through Charset.body_encode, the
    message through the email package's own generator."""
    from email.generator import BytesGenerator

    from incident_service.notifications import service

    monkeypatch.setattr(service, "_WireGenerator", BytesGenerator)
    monkeypatch.setattr(service.BodyLines, "encode", lambda self, text: service._BODY_CHARSET.body_encode(text))


@pytest.mark.parametrize("text", _TRICKY_BODIES)
def test_message_builder_writes_the_bytes_of_the_email_package(
    app: Flask, monkeypatch: pytest.MonkeyPatch, text: str
) -> None:
    """The builder encodes bodies a line at a time, each distinct line once per batch, and writes them in
    one piece (issue 17): byte for byte what the email package's own encoding and generator write, with
    the same boundary from the same random draw."""
    import random

    from incident_service.notifications.service import BodyLines, _build

    html = "<p>" + text.replace("\n", "</p>\n<p>") + "</p>"
    arguments = dict(to="an@example.com", message_id="<id@ecc.example>", date=1.7e9)
    with app.app_context():
        lines = BodyLines()  # shared, as a batch shares it: the second build reuses the first's lines
        random.seed(17)
        fast = _build("[ECC] Mật khẩu", [(text, html), (html, text)], lines=lines, **arguments)  # type: ignore[arg-type]
        random.seed(17)
        again = _build("[ECC] Mật khẩu", [(text, html)], lines=lines, **arguments)  # type: ignore[arg-type]
        _stock_build(monkeypatch)
        random.seed(17)
        stock = _build("[ECC] Mật khẩu", [(text, html), (html, text)], **arguments)  # type: ignore[arg-type]
    assert fast == stock
    assert again == stock[:1]


def _staff_alert(kind: str, count: int, hours_left: int) -> dict[str, object]:
    from datetime import timedelta

    now = utcnow()
    item = {
        "reference": "INC-2026-000001",
        "channel": "web",
        "url": "https://security.ecc.example/console/incidents/1",
        "deadline": now + timedelta(hours=hours_left),
        "hours_left": hours_left,
        "passed": False,
        "subscription": 7,
        "host": "hooks.example",
        "disabled_at": now,
        "reason": "failures",
        "failures": count,
        "refused_at": now,
        "problem": "the tree does not extend checkpoint 4",
    }
    return {
        "kind": kind,
        "count": count,
        "listed": [item] * count,
        "more": 0,
        "by_channel": [{"channel": "web", "count": count}],
        "alerts_url": "https://security.ecc.example/console/alerts",
        "console_url": "https://security.ecc.example/console/legal/reviews",
        "zone": "Asia/Ho_Chi_Minh",
    }


@pytest.mark.parametrize("locale", ["vi", "en"])
def test_emails_read_the_same_with_the_catalogue_found_once(
    app: Flask, monkeypatch: pytest.MonkeyPatch, locale: str
) -> None:
    """render_email hands its templates gettext and ngettext bound to the locale's catalogue (issue 17:
    Flask-Babel's looked it up for every phrase). Every phrase, plural and escaped value comes out as
    Flask-Babel's own callables render it."""
    from datetime import timedelta

    from incident_service.customers.models import Customer
    from incident_service.incidents.models import Incident, Report
    from incident_service.notifications import service
    from incident_service.reactivation.models import ResetGrant

    now = utcnow()
    acknowledgement = {
        "customer": Customer(id=1, email="an@example.com", name='<b>An</b> & "Bình"', locale=locale),
        "incident": Incident(reference="INC-2026-000001", first_received_at=now),
        "report": Report(reference="RPT-2026-000001", received_at=now),
        "grant": ResetGrant(expires_at=now + timedelta(hours=1)),
        "zone": "Asia/Ho_Chi_Minh",
        "support_contact": "security@ecc.example, (028) 3822 0000",
        "reset_url": "https://security.ecc.example/reset/a?b=1&c=2",
        "discovery_url": "https://security.ecc.example/discovery/d",
        "report_url": "https://security.ecc.example/r/e",
    }
    emails = [("acknowledgement", acknowledgement)] + [
        ("staff_alert", _staff_alert(kind, count, hours))
        for kind in ("new_incidents", "breach_clock", "webhook_disabled", "log_rewritten")
        for count, hours in ((1, 1), (3, 5))
    ]
    with app.test_request_context():
        bound = [render_email(template, context, locale) for template, context in emails]
        monkeypatch.setattr(service, "template_gettext", dict)  # nothing given: Flask-Babel's callables
        stock = [render_email(template, context, locale) for template, context in emails]
    assert bound == stock
    assert "&lt;b&gt;An&lt;/b&gt; &amp; &#34;Bình&#34;" in bound[0][2]  # a value in a phrase is still escaped
