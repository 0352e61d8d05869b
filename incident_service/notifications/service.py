"""Queueing email: render in the customer's language, store the exact bytes in the outbox, audit it.

Nothing is sent here. The row is written in the caller's transaction, so an email exists if and only
if the change that caused it was committed; the worker (notifications.delivery) sends it afterwards.
"""

from __future__ import annotations

from datetime import datetime
from email.utils import make_msgid, parseaddr
from typing import Any

from flask import current_app, render_template
from flask_babel import force_locale
from flask_mail import Message

from ..audit.service import append_event
from ..customers.models import Customer
from ..extensions import db
from ..incidents.models import Incident, Report
from ..reactivation.models import ResetGrant
from ..tokens import REPORT, make_token
from .models import OUTBOX_QUEUED, OutboxMessage

REDACTED_LINK = "[link removed from the stored copy]"


def public_url(path: str) -> str:
    """An absolute link built from PUBLIC_BASE_URL, never from the request's Host (T6)."""
    return current_app.config["PUBLIC_BASE_URL"] + path


def report_link(customer: Customer) -> str:
    """The customer's own "report a compromised password" link, carried by every email we send."""
    return public_url("/r/" + make_token(REPORT, {"c": customer.id}))


def render_email(template: str, context: dict[str, Any], locale: str) -> tuple[str, str, str]:
    """Subject, text body and HTML body of templates/email/<template>/ in `locale`."""
    with force_locale(locale):
        subject = render_template(f"email/{template}/subject.txt", **context)
        text = render_template(f"email/{template}/body.txt", **context)
        html = render_template(f"email/{template}/body.html", **context)
    # M6: a subject never carries a line break into the header.
    return " ".join(subject.split()), text, html


class OutgoingMessage(Message):
    """Flask-Mail's message with a Subject every mail client reads: Flask-Mail hands the generator a
    pre-encoded string, whose re-folding can leave text glued to an encoded-word (RFC 2047 forbids it)."""

    def _message(self):  # type: ignore[no-untyped-def]
        built = super()._message()
        if self.subject:
            del built["Subject"]
            built["Subject"] = self.subject  # the message's email policy encodes and folds it properly
        return built


def _build(subject: str, text: str, html: str, *, to: str, message_id: str, date: float) -> bytes:
    message = OutgoingMessage(
        subject=subject,
        recipients=[to],
        body=text,
        html=html,
        sender=current_app.config["MAIL_DEFAULT_SENDER"],
        date=date,
        extra_headers={"Auto-Submitted": "auto-generated", "X-Auto-Response-Suppress": "All"},
    )
    message.msgId = message_id
    return message.as_bytes()


def queue_email(template: str, *, customer: Customer, context: dict[str, Any], links: dict[str, str],
                source: str, actor: str, now: datetime, incident_id: int | None = None) -> OutboxMessage:
    """Queue `template` to the customer's address on record, in their language and time zone, with
    their report link; audits `<source>:email:queued`."""
    return queue_message(
        template, to_address=customer.email, locale=customer.locale,
        zone=customer.time_zone or current_app.config["DISPLAY_TIMEZONE"],
        context={**context, "customer": customer}, links={**links, "report_url": report_link(customer)},
        source=source, actor=actor, now=now, customer_id=customer.id, incident_id=incident_id,
    )


def queue_message(template: str, *, to_address: str, locale: str, zone: str, context: dict[str, Any],
                  links: dict[str, str], source: str, actor: str, now: datetime, customer_id: int | None = None,
                  incident_id: int | None = None) -> OutboxMessage:
    """Render and queue one email. `links` are rendered into the sent message but replaced in the
    stored record copy, so a read of the database after delivery yields no working link."""
    full_context = {**context, **links, "zone": zone}
    redacted_context = {**full_context, **{name: REDACTED_LINK for name in links}}
    subject, text, html = render_email(template, full_context, locale)
    _, text_redacted, html_redacted = render_email(template, redacted_context, locale)

    sender_domain = parseaddr(current_app.config["MAIL_DEFAULT_SENDER"])[1].rpartition("@")[2] or "localhost"
    message_id = make_msgid(domain=sender_domain)
    date = now.timestamp()
    message = OutboxMessage(
        template=template,
        customer_id=customer_id,
        incident_id=incident_id,
        to_address=to_address,
        sender=parseaddr(current_app.config["MAIL_DEFAULT_SENDER"])[1],
        message_id=message_id,
        subject=subject[:255],
        raw=_build(subject, text, html, to=to_address, message_id=message_id, date=date),
        raw_redacted=_build(subject, text_redacted, html_redacted, to=to_address, message_id=message_id, date=date),
        status=OUTBOX_QUEUED,
        attempts=0,
        created_at=now,
        next_attempt_at=now,
    )
    db.session.add(message)
    db.session.flush()
    append_event(f"{source}:email:queued", actor=actor, now=now, customer_id=customer_id,
                 incident_id=incident_id, data={"outbox_id": message.id, "template": template,
                                                "message_id": message_id})
    return message


def render_for_nobody(template: str, now: datetime) -> None:
    """Render `template` for a made-up customer and discard it, so that answering an unknown
    address costs what answering a known one does (R3). Nothing is stored or sent."""
    locale = current_app.config["DEFAULT_LOCALE"]
    customer = Customer(id=0, email="nobody@example.invalid", name="", locale=locale)
    context = {
        "customer": customer,
        "incident": Incident(id=0, reference="INC-0000-000000", first_received_at=now),
        "report": Report(id=0, reference="RPT-0000-000000", received_at=now),
        "grant": ResetGrant(id=0, issued_at=now, expires_at=now),
        "changed_at": now,
        "zone": current_app.config["DISPLAY_TIMEZONE"],
        "support_contact": current_app.config["SUPPORT_CONTACT"],
    }
    links = {"reset_url": "", "discovery_url": "", "report_url": report_link(customer)}
    render_email(template, {**context, **links}, locale)
