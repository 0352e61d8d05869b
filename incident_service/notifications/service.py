"""Queueing email: store what to send in the outbox, audit it; render it in the customer's language.

Nothing is sent here. The row is written in the caller's transaction, so an email exists if and only
if the change that caused it was committed; the worker (notifications.delivery) renders it into the
exact bytes, keeps those for every attempt, and sends it afterwards.
"""

from __future__ import annotations

import functools
import json
from datetime import datetime
from email.charset import QP, Charset
from email.generator import BytesGenerator
from email.header import Header
from email.message import Message
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.policy import Compat32
from email.utils import formatdate, make_msgid, parseaddr
from io import BytesIO
from typing import Any, NamedTuple, Sequence

from flask import current_app, render_template
from flask_babel import force_locale
from sqlalchemy import inspect as sa_inspect
from sqlalchemy import select

from ..audit.actions import Event, tag
from ..audit.service import append_event
from ..customers.models import Customer
from ..extensions import Model, db
from ..i18n import template_gettext
from ..incidents.models import Incident, Report
from ..reactivation.models import ResetGrant
from ..tokens import SignedLink, report_link
from .models import OUTBOX_QUEUED, OutboxMessage

REDACTED_LINK = "[link removed from the stored copy]"


def customer_report_url(customer: Customer) -> str:
    """The customer's own "report a compromised password" link, carried by every email we send."""
    return report_link(customer.id).url()


def render_email(template: str, context: dict[str, Any], locale: str) -> tuple[str, str, str]:
    """Subject, text body and HTML body of templates/email/<template>/ in `locale`. The bodies also get
    the finished `subject` (the HTML layout's <title>)."""
    with force_locale(locale):
        context = {**context, **template_gettext()}  # the locale's catalogue found once, not per phrase
        # M6: a subject never carries a line break into the header.
        subject = " ".join(render_template(f"email/{template}/subject.txt", **context).split())
        text = render_template(f"email/{template}/body.txt", **context, subject=subject)
        html = render_template(f"email/{template}/body.html", **context, subject=subject)
    return subject, text, html


class _Folded(str):
    """A header value already encoded and folded for the wire (an encoded Subject), written as it is."""


class _WirePolicy(Compat32):
    """The classic (compat32) generator, CRLF on the wire. A short ASCII header is written as it is:
    compat32 would run it through Header's folding, which leaves it unchanged but costs most of a build."""

    def fold_binary(self, name: str, value: Any) -> bytes:
        if isinstance(value, _Folded):
            return f"{name}: {value}{self.linesep}".encode("ascii")
        if (
            isinstance(value, str)
            and value.isascii()
            and "\r" not in value
            and "\n" not in value
            and len(name) + 2 + len(value) <= (self.max_line_length or 78)
        ):
            return f"{name}: {value}{self.linesep}".encode("ascii")
        return super().fold_binary(name, value)


_WIRE = _WirePolicy(linesep="\r\n")

# Bodies go out quoted-printable: lines of at most 76 characters, whatever the template and language
# (SMTP refuses a line over 998 octets, and an HTML email has long ones), in ASCII on the wire. Chosen
# here, not taken from the email package's table, where Flask-Mail registers UTF-8 with no transfer
# encoding at all: a part made empty was labelled 7bit, then sent raw 8-bit UTF-8 lines of any length.
_BODY_CHARSET = Charset("utf-8")
_BODY_CHARSET.body_encoding = QP


class BodyLines:
    """Bodies encoded to quoted-printable exactly as `_BODY_CHARSET.body_encode` encodes them, a line at
    a time, each distinct line once: quoted-printable works line by line, and the emails of a batch
    share most of their lines (the layout, the sentences). Made for one batch and dropped with it, so
    the lines it keeps (links included) live no longer than the batch's rendered bytes do."""

    def __init__(self) -> None:
        self._encoded: dict[str, str] = {}

    def encode(self, text: str) -> str:
        if "\r" in text:  # a CR ends a line too: such text (never rendered by our templates) goes whole
            return _BODY_CHARSET.body_encode(text)
        encoded = self._encoded
        lines = []
        for line in text.split("\n"):
            done = encoded.get(line)
            if done is None:
                done = encoded[line] = _BODY_CHARSET.body_encode(line)
            lines.append(done)
        return "\n".join(lines)


class _WireGenerator(BytesGenerator):
    """The email package's generator, writing a body that is already ASCII lines (quoted-printable) in
    one piece: the stock one writes each line and each line ending apart, the larger part of building
    an HTML email. The bytes are the same."""

    def _handle_text(self, msg: Message) -> None:
        payload = msg.get_payload()
        if isinstance(payload, str) and payload.isascii() and "\r" not in payload:
            self._fp.write(payload.replace("\n", self._NL).encode("ascii"))  # type: ignore[attr-defined]
        else:
            super()._handle_text(msg)  # type: ignore[misc]


def _body_part(subtype: str) -> MIMEText:
    """An empty text/<subtype> part in UTF-8, quoted-printable; its body is set, encoded, per message."""
    part = MIMEText("", subtype, "utf-8")
    part.replace_header("Content-Transfer-Encoding", "quoted-printable")
    return part


def _subject_header(subject: str) -> Header:
    """The Subject as RFC 2047 wants it: leading ASCII words as they are, everything from the first
    other word as encoded-words that each stand alone between folding white space (text glued to an
    encoded-word is what mail clients misread)."""
    words = subject.split(" ")
    plain = 0
    while plain < len(words) and words[plain].isascii():
        plain += 1
    header = Header(" ".join(words[:plain]) or None, "us-ascii", header_name="Subject")
    if plain < len(words):
        header.append(" ".join(words[plain:]), "utf-8")
    return header


def _build(
    subject: str,
    bodies: list[tuple[str, str]],
    *,
    to: str,
    message_id: str,
    date: float,
    lines: BodyLines | None = None,
) -> list[bytes]:
    """The whole message for each (text, HTML) pair in `bodies`: alternatives in UTF-8 under the same
    headers (M6: values come from our own settings and rendered text whose line breaks were removed).
    One message is built and only its two bodies swapped, so the sent bytes and the record copy share
    every header and the boundary. `lines`: the batch's encoded lines, if it shares them."""
    lines = BodyLines() if lines is None else lines
    message = MIMEMultipart("alternative")
    message["From"] = current_app.config["MAIL_DEFAULT_SENDER"]
    message["To"] = to
    message["Subject"] = _Folded(_subject_header(subject).encode(linesep=_WIRE.linesep, maxlinelen=78))
    message["Date"] = formatdate(date, localtime=False)
    message["Message-ID"] = message_id
    message["Auto-Submitted"] = "auto-generated"
    message["X-Auto-Response-Suppress"] = "All"
    plain, rich = _body_part("plain"), _body_part("html")
    message.attach(plain)
    message.attach(rich)
    # The generator's own draw, made before it runs: it would then search the bodies for the boundary
    # (compiling a pattern for each email), which cannot occur in quoted-printable ("==" never does).
    message.set_boundary(_WireGenerator._make_boundary())  # type: ignore[attr-defined]
    built = []
    for text, html in bodies:
        # Encoded here: set_payload with a charset encodes nothing once the part has its
        # Content-Transfer-Encoding header.
        plain.set_payload(lines.encode(text))
        rich.set_payload(lines.encode(html))
        wire = BytesIO()
        _WireGenerator(wire, mangle_from_=False, policy=_WIRE).flatten(message)  # what as_bytes does
        built.append(wire.getvalue())
    return built


def _models() -> dict[str, Any]:
    from ..audit.models import AuditAnchor, AuditCheckpoint

    return {model.__name__: model for model in (Customer, Incident, Report, ResetGrant, AuditAnchor, AuditCheckpoint)}


class Ref(NamedTuple):
    """A row by its model's name and id, for contexts built without loading the row (bulk paths)."""

    model: str
    id: int


def _pack(value: Any) -> Any:
    """A context value as JSON: a row by its class and id, a time in ISO form, plain values as they are."""
    if isinstance(value, Ref):
        return {"row": value.model, "id": value.id}
    if isinstance(value, datetime):
        return {"time": value.isoformat()}
    if isinstance(value, Model):
        identity = sa_inspect(value).identity  # the primary key, once the row is in the database
        return {"row": type(value).__name__, "id": identity[0] if identity else None}
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    # Lists and mappings of the above (a staff alert's items), each wrapped so none reads as a row or a time.
    if isinstance(value, (list, tuple)):
        return {"list": [_pack(item) for item in value]}
    if isinstance(value, dict):
        return {"map": {str(key): _pack(item) for key, item in value.items()}}
    raise TypeError(f"cannot queue a context value of type {type(value).__name__}")


def _unpack(value: Any, models: dict[str, Any]) -> Any:
    if isinstance(value, dict) and "time" in value:
        return datetime.fromisoformat(value["time"])
    if isinstance(value, dict) and "row" in value:
        row = db.session.get(models[value["row"]], value["id"])
        if row is None:
            raise LookupError(f"{value['row']} {value['id']} no longer exists")
        return row
    if isinstance(value, dict) and "list" in value:
        return [_unpack(item, models) for item in value["list"]]
    if isinstance(value, dict) and "map" in value:
        return {key: _unpack(item, models) for key, item in value["map"].items()}
    return value


_COMPACT = json.JSONEncoder(separators=(",", ":"))


def pending_render(*, locale: str, zone: str, context: dict[str, Any], links: dict[str, SignedLink]) -> str:
    """What the worker needs to render an email: its locale, zone, context rows by id, and link payloads."""
    return _COMPACT.encode(
        {
            "locale": locale,
            "zone": zone,
            "context": {k: _pack(v) for k, v in context.items()},
            "links": {name: [link.purpose, link.payload, link.path] for name, link in links.items()},
        }
    )


@functools.lru_cache(maxsize=4)
def _sender(setting: str) -> tuple[str, str]:
    """The envelope sender and the Message-ID domain from MAIL_DEFAULT_SENDER (parsed once, not per email)."""
    address = parseaddr(setting)[1]
    return address, address.rpartition("@")[2] or "localhost"


def outbox_row(
    template: str,
    *,
    to_address: str,
    pending: str,
    now: datetime,
    customer_id: int | None,
    incident_id: int | None,
    sender_setting: str | None = None,
) -> dict[str, Any]:
    """The columns of a queued email, for the ORM and for bulk inserts alike (which pass
    MAIL_DEFAULT_SENDER in, read once)."""
    sender, domain = _sender(sender_setting or current_app.config["MAIL_DEFAULT_SENDER"])
    return {
        "template": template,
        "customer_id": customer_id,
        "incident_id": incident_id,
        "to_address": to_address,
        "sender": sender,
        "message_id": make_msgid(domain=domain),
        "subject": "",
        "raw": None,
        "raw_redacted": None,
        "pending": pending,
        "status": OUTBOX_QUEUED,
        "attempts": 0,
        "created_at": now,
        "next_attempt_at": now,
    }


def queued_event_data(outbox_id: int, template: str, message_id: str) -> dict[str, Any]:
    return {"outbox_id": outbox_id, "template": template, "message_id": message_id}


def customer_email_parts(
    customer: Customer | Ref,
    customer_id: int,
    time_zone: str | None,
    context: dict[str, Any],
    links: dict[str, SignedLink],
) -> tuple[str, dict[str, Any], dict[str, SignedLink]]:
    """Zone, context and links of an email to a customer: their zone (or the company's), the customer
    in the context, and their own report link added to the links."""
    return (
        time_zone or current_app.config["DISPLAY_TIMEZONE"],
        {**context, "customer": customer},
        {**links, "report_url": report_link(customer_id)},
    )


def queue_email(
    template: str,
    *,
    customer: Customer,
    context: dict[str, Any],
    links: dict[str, SignedLink],
    source: str,
    actor: str,
    now: datetime,
    incident_id: int | None = None,
) -> OutboxMessage:
    """Queue `template` to the customer's address on record, in their language and time zone, with
    their report link; audits `<source>:email:queued`."""
    zone, full_context, full_links = customer_email_parts(customer, customer.id, customer.time_zone, context, links)
    return queue_message(
        template,
        to_address=customer.email,
        locale=customer.locale,
        zone=zone,
        context=full_context,
        links=full_links,
        source=source,
        actor=actor,
        now=now,
        customer_id=customer.id,
        incident_id=incident_id,
    )


def queue_message(
    template: str,
    *,
    to_address: str,
    locale: str,
    zone: str,
    context: dict[str, Any],
    links: dict[str, SignedLink],
    source: str,
    actor: str,
    now: datetime,
    customer_id: int | None = None,
    incident_id: int | None = None,
) -> OutboxMessage:
    """Queue one email, to be rendered by the worker (render_queued) just before its first attempt:
    the transaction that causes an email stays short, and answering a known address renders nothing
    an unknown one does not (R3)."""
    message = OutboxMessage(
        **outbox_row(
            template,
            to_address=to_address,
            now=now,
            customer_id=customer_id,
            incident_id=incident_id,
            pending=pending_render(locale=locale, zone=zone, context=context, links=links),
        )
    )
    db.session.add(message)
    db.session.flush()
    append_event(
        tag(source, Event.EMAIL_QUEUED),
        actor=actor,
        now=now,
        customer_id=customer_id,
        incident_id=incident_id,
        data=queued_event_data(message.id, template, message.message_id),
    )
    return message


def preload_rows(messages: Sequence[OutboxMessage]) -> list[Any]:
    """Load every row the messages' contexts name, a query per model, so rendering a batch does not
    fetch them one at a time. The session's identity map holds rows only while someone does: keep the
    returned list until the batch is rendered."""
    models, wanted = _models(), dict[str, set[int]]()
    for message in messages:
        if message.pending:
            for value in json.loads(message.pending)["context"].values():
                if isinstance(value, dict) and "row" in value:
                    wanted.setdefault(value["row"], set()).add(value["id"])
    loaded: list[Any] = []
    for name, ids in wanted.items():
        model, ordered = models[name], sorted(ids)
        for start in range(0, len(ordered), 500):
            loaded += (
                db.session.execute(select(model).where(model.id.in_(ordered[start : start + 500]))).scalars().all()
            )
    return loaded


def render_queued(message: OutboxMessage, lines: BodyLines | None = None) -> None:
    """Render a queued email into the exact bytes to send, and the copy kept as the record with every
    link replaced (the links are signed here, then only the sendable bytes carry them). `lines`: the
    batch's encoded body lines (BodyLines), shared by the emails rendered together."""
    if message.pending is None:
        return
    pending = json.loads(message.pending)
    models = _models()
    context = {name: _unpack(value, models) for name, value in pending["context"].items()}
    links = {
        name: SignedLink(purpose, payload, path).url() for name, (purpose, payload, path) in pending["links"].items()
    }
    subject, text, html = render_email(
        message.template, {**context, **links, "zone": pending["zone"]}, pending["locale"]
    )
    text_redacted, html_redacted = text, html
    for url in links.values():
        text_redacted, html_redacted = (
            text_redacted.replace(url, REDACTED_LINK),
            html_redacted.replace(url, REDACTED_LINK),
        )
    date = message.created_at.timestamp()
    message.subject = subject[:255]
    message.raw, message.raw_redacted = _build(
        subject,
        [(text, html), (text_redacted, html_redacted)],
        to=message.to_address,
        message_id=message.message_id,
        date=date,
        lines=lines,
    )
    message.pending = None
