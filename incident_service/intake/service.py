"""Ingesting one email: store the bytes, read them, and hand a person's report to receive_report.

Every edge (the SMTP/LMTP listener, mailbox import) calls `ingest_message`; a report found in the
mail goes through exactly the web form's service code, with channel `email`.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from flask import current_app
from sqlalchemy import Insert, bindparam, select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import SQLAlchemyError

from ..audit.actions import Event, Source, tag
from ..audit.service import append_event
from ..customers.models import Customer
from ..database import table_of
from ..domain_errors import DomainError
from ..extensions import core_execute, db
from ..incidents.models import Report
from ..incidents.service import ReportSubmission, receive_report
from .models import (
    RECEIVED_COMPANY_MTA,
    RECEIVED_IMPORT_TIME,
    RECEIVED_SERVER_CLOCK,
    STATUS_DISMISSED,
    STATUS_DUPLICATE,
    STATUS_NOT_A_REPORT,
    STATUS_QUARANTINED,
    STATUS_REPORTED,
    VIA_IMPORT,
    VIA_LMTP,
    InboundMessage,
)
from .parser_process import Reading, parse_within, read_ahead
from .parsing import CompanyMta, Limits, ParsedMessage, Quarantine, company_hop_count


class MessageAlreadyHandled(DomainError):
    """Staff acted on a stored message that is no longer waiting for them (another did it first)."""


@dataclass(frozen=True)
class Envelope:
    mail_from: str | None = None
    rcpt_tos: list[str] = field(default_factory=list)
    peer: str | None = None
    helo: str | None = None


@dataclass(frozen=True)
class IngestOutcome:
    status: str  # an InboundMessage status, or "already_stored" for byte-identical mail
    message_id: int
    report: Report | None = None


def limits_from_config() -> Limits:
    config = current_app.config
    return Limits(
        max_message_bytes=config["INTAKE_MAX_MESSAGE_BYTES"],
        max_header_bytes=config["INTAKE_MAX_HEADER_BYTES"],
        max_parts=config["INTAKE_MAX_MIME_PARTS"],
        max_depth=config["INTAKE_MAX_MIME_DEPTH"],
        max_seconds=config["INTAKE_PARSE_SECONDS"],
    )


def company_mta_for(via: str, peer: str | None) -> CompanyMta | None:
    """The company's mail servers, when this mail came on a path from them: a mailbox they delivered to
    (import), or LMTP from an address in COMPANY_MTA_NETWORKS. None otherwise (plain SMTP to the
    listener, or LMTP from anywhere else): then nothing in its headers is the company's word."""
    config = current_app.config
    company = CompanyMta(hosts=tuple(config["COMPANY_MTA_HOSTS"]), networks=tuple(config["COMPANY_MTA_NETWORKS"]))
    if via == VIA_IMPORT:
        return company
    if via == VIA_LMTP and company.is_internal((peer or "").rsplit(":", 1)[0].strip("[]")):
        return company
    return None


def company_mta_time(received: list[dict[str, Any]], company: CompanyMta | None) -> datetime | None:
    """When the company's own MTA first took the message: the lowest of the hops it really added
    (company_hop_count), never a lower line that merely names a company host."""
    for hop in reversed(received[: company_hop_count(received, company)]):
        if hop.get("at"):
            return datetime.fromisoformat(hop["at"])
    return None


def _reading_arguments(envelope: Envelope, via: str, company: CompanyMta | None) -> dict[str, Any]:
    return {
        "authserv_id": current_app.config["AUTHSERV_ID"],
        "limits": limits_from_config(),
        "envelope_sender": envelope.mail_from if via != VIA_IMPORT else None,
        "company": company,
    }


def start_reading(raw: bytes, *, envelope: Envelope, via: str) -> Reading:
    """Start reading `raw` in a child now, as ingest_message would; hand the Reading to ingest_message."""
    return read_ahead(raw, **_reading_arguments(envelope, via, company_mta_for(via, envelope.peer)))


def _message_row(
    raw: bytes, digest: str, envelope: Envelope, *, via: str, now: datetime, import_source: str | None
) -> dict[str, Any]:
    """The stored bytes and envelope, stamped `now`, as an inbound_messages row; quarantined unless
    ingest_message knows better."""
    return {
        "received_at": now,
        "received_at_source": RECEIVED_SERVER_CLOCK if via != VIA_IMPORT else RECEIVED_IMPORT_TIME,
        "stored_at": now,
        "via": via,
        "import_source": import_source,
        "raw": raw,
        "size": len(raw),
        "sha256": digest,
        "mail_from": envelope.mail_from,
        "rcpt_tos": list(envelope.rcpt_tos),
        "peer": envelope.peer,
        "helo": (envelope.helo or "")[:255] or None,
        "status": STATUS_QUARANTINED,
    }


def _new_message(
    raw: bytes, digest: str, envelope: Envelope, *, via: str, now: datetime, import_source: str | None
) -> InboundMessage:
    """_message_row as an object of the session's (keep_unprocessed)."""
    return InboundMessage(**_message_row(raw, digest, envelope, via=via, now=now, import_source=import_source))


def _store_parsed(row: dict[str, Any], parsed: ParsedMessage) -> None:
    row.update(
        from_address=parsed.from_address,
        from_display_name=parsed.from_display_name,
        from_header=parsed.from_header,
        reply_to=parsed.reply_to,
        sender_header=parsed.sender_header,
        date_header=parsed.date_header,
        date_claimed=parsed.date_claimed,
        message_id_header=parsed.message_id,
        subject=parsed.subject,
        received_headers=parsed.received,
        authentication_results=parsed.authentication_results,
        untrusted_authentication_results=parsed.untrusted_authentication_results,
        text_body=parsed.text_body,
        has_html=parsed.has_html,
        attachments=parsed.attachments,
        defects=parsed.defects,
    )


# Built once, and run as Core statements on the session's connection (after a flush, as the session
# would): every message runs them, and building a statement and the ORM's handling of its result cost
# more than SQLite's own work (issue 17).
_STORED_WITH_DIGEST = select(InboundMessage.id).where(InboundMessage.sha256 == bindparam("digest"))
_FIRST_WITH_MESSAGE_ID = (
    select(InboundMessage.id)
    .where(InboundMessage.message_id_header == bindparam("message_id"))
    .order_by(InboundMessage.id)
    .limit(1)
)
_INSERT_NEW_BYTES: dict[str, Insert] = {}


def _stored_with_digest(digest: str) -> int | None:
    found: int | None = core_execute(_STORED_WITH_DIGEST, {"digest": digest}).scalar()
    return found


def _insert_message(row: dict[str, Any]) -> int | None:
    """INSERT `row`; its id, or None (nothing written) if the same bytes are stored already: they
    arrived on another connection a moment ago, whose transaction holds them. One statement on both
    databases (INSERT ... ON CONFLICT (sha256) DO NOTHING RETURNING id), not a savepoint, an INSERT and
    its release (issue 17)."""
    connection = db.session.connection()
    dialect = connection.dialect.name
    statement = _INSERT_NEW_BYTES.get(dialect)
    if statement is None:
        table = table_of(InboundMessage)
        insert = postgresql_insert if dialect == "postgresql" else sqlite_insert
        statement = insert(table).on_conflict_do_nothing(index_elements=[table.c.sha256]).returning(table.c.id)
        _INSERT_NEW_BYTES[dialect] = statement
    inserted: int | None = connection.execute(statement, row).scalar()
    return inserted


def _details(parsed: ParsedMessage) -> str:
    return f"{parsed.subject}\n\n{parsed.text_body}".strip()[:20_000]


def ingest_message(
    raw: bytes,
    *,
    envelope: Envelope,
    via: str,
    now: datetime,
    import_source: str | None = None,
    reading: Reading | None = None,
) -> IngestOutcome:
    """Store `raw` (stamped `now` by the server clock), read it, and act on it. Flushes, never commits.

    Byte-identical mail already stored changes nothing. Otherwise the bytes are kept whatever
    happens next: quarantined, a duplicate of a known Message-ID, not a report (auto-reply, bounce,
    list), or a report through receive_report. Audits `email:message:*` and what the report does.

    The bytes are read first, in a child process with a hard deadline, before any statement: nothing
    is locked while untrusted mail is parsed (on SQLite the first statement takes the write lock).
    `reading`: the same reading started earlier with `start_reading` (the importer reads ahead).
    """
    return ingest_read(
        read_message(raw, envelope=envelope, via=via, reading=reading), now=now, import_source=import_source
    )


@dataclass(frozen=True)
class ReadMessage:
    """A message's bytes and what reading them gave: `parsed`, or why it could not be read."""

    raw: bytes
    envelope: Envelope
    via: str
    parsed: ParsedMessage | None
    unreadable: Quarantine | None
    company: CompanyMta | None

    @property
    def digest(self) -> str:
        return hashlib.sha256(self.raw).hexdigest()


def read_message(raw: bytes, *, envelope: Envelope, via: str, reading: Reading | None = None) -> ReadMessage:
    """Read `raw` in a child with a hard deadline (or collect `reading`, started earlier for it), before
    anything is written: nothing is locked while untrusted mail is parsed."""
    company = company_mta_for(via, envelope.peer)
    try:
        parsed: ParsedMessage | None = (
            reading.result() if reading is not None else parse_within(raw, **_reading_arguments(envelope, via, company))
        )
        unreadable: Quarantine | None = None
    except Quarantine as quarantine:
        parsed, unreadable = None, quarantine
    return ReadMessage(raw, envelope, via, parsed, unreadable, company)


def message_row(message: ReadMessage, digest: str, *, now: datetime, import_source: str | None) -> dict[str, Any]:
    """The inbound_messages row `message` is stored as, quarantined when it could not be read and reported
    otherwise (a caller that finds it a duplicate or not a report says so in the row)."""
    row = _message_row(message.raw, digest, message.envelope, via=message.via, now=now, import_source=import_source)
    parsed = message.parsed
    if parsed is None:
        assert message.unreadable is not None
        row.update(quarantine_reason=message.unreadable.reason, quarantine_detail=message.unreadable.detail[:2000])
        return row
    _store_parsed(row, parsed)
    if message.via == VIA_IMPORT:
        mta_time = company_mta_time(parsed.received, message.company)
        if mta_time is not None:
            row["received_at"], row["received_at_source"] = mta_time, RECEIVED_COMPANY_MTA
    row["status"] = STATUS_REPORTED
    return row


def message_received_data(message_id: int, digest: str, raw: bytes, envelope: Envelope, via: str) -> dict[str, Any]:
    """The data of `email:message:received`."""
    return {
        "inbound_message": message_id,
        "sha256": digest,
        "size": len(raw),
        "via": via,
        "mail_from": envelope.mail_from,
        "rcpt_tos": list(envelope.rcpt_tos),
        "peer": envelope.peer,
    }


def report_submission(parsed: ParsedMessage, row: dict[str, Any], message_id: int) -> ReportSubmission:
    """The report a readable message makes, as stored in `row`."""
    return ReportSubmission(
        channel="email",
        address=parsed.from_address or "",
        kind="other",
        details=_details(parsed),
        received_at=row["received_at"],
        received_at_source=row["received_at_source"],
        inbound_message_id=message_id,
        client_ip=row["peer"],
    )


def ingest_read(message: ReadMessage, *, now: datetime, import_source: str | None = None) -> IngestOutcome:
    """ingest_message for a message read already (the importer reads a batch before it writes any)."""
    raw, envelope, via, parsed, unreadable = (
        message.raw,
        message.envelope,
        message.via,
        message.parsed,
        message.unreadable,
    )
    digest = message.digest
    existing = _stored_with_digest(digest)
    if existing is not None:
        return _already_stored(existing, digest, via=via, now=now)

    # What was read, and what the message is, are known before it is written: one INSERT of the whole
    # row, no UPDATE after it (issue 17). Anything failing later rolls the whole transaction back.
    row = message_row(message, digest, now=now, import_source=import_source)
    first: int | None = None
    if parsed is not None:
        if parsed.message_id:
            first = db.session.connection().execute(_FIRST_WITH_MESSAGE_ID, {"message_id": parsed.message_id}).scalar()
        if first is not None:
            row["status"], row["duplicate_of_id"] = STATUS_DUPLICATE, first
        elif parsed.not_a_report_reason:
            row["status"], row["not_a_report_reason"] = STATUS_NOT_A_REPORT, parsed.not_a_report_reason
    message_id = _insert_message(row)
    if message_id is None:
        # The same bytes arrived on another connection a moment ago: it holds them.
        held: int = db.session.connection().execute(_STORED_WITH_DIGEST, {"digest": digest}).scalar_one()
        return IngestOutcome("already_stored", held)
    append_event(
        tag(Source.EMAIL, Event.MESSAGE_RECEIVED),
        actor="intake",
        now=now,
        data=message_received_data(message_id, digest, raw, envelope, via),
    )

    if parsed is None:
        assert unreadable is not None
        _audit_quarantine(message_id, unreadable.reason, unreadable.detail, now=now)
        return IngestOutcome(STATUS_QUARANTINED, message_id)

    if first is not None:
        append_event(
            tag(Source.EMAIL, Event.MESSAGE_DUPLICATE),
            actor="intake",
            now=now,
            data={"inbound_message": message_id, "duplicate_of": first},
        )
        return IngestOutcome(STATUS_DUPLICATE, message_id)

    if parsed.not_a_report_reason:
        append_event(
            tag(Source.EMAIL, Event.MESSAGE_NOT_A_REPORT),
            actor="intake",
            now=now,
            data={"inbound_message": message_id, "reason": parsed.not_a_report_reason},
        )
        return IngestOutcome(STATUS_NOT_A_REPORT, message_id)

    report = receive_report(report_submission(parsed, row, message_id), now=now, actor="customer")
    return IngestOutcome(STATUS_REPORTED, message_id, report)


def _already_stored(existing: int, digest: str, *, via: str, now: datetime) -> IngestOutcome:
    append_event(
        tag(Source.EMAIL, Event.MESSAGE_ALREADY_STORED),
        actor="intake",
        now=now,
        data={"inbound_message": existing, "sha256": digest, "via": via},
    )
    return IngestOutcome("already_stored", existing)


def quarantine_message(message: InboundMessage, reason: str, detail: str, *, now: datetime) -> IngestOutcome:
    message.status, message.quarantine_reason, message.quarantine_detail = STATUS_QUARANTINED, reason, detail[:2000]
    _audit_quarantine(message.id, reason, detail, now=now)
    return IngestOutcome(STATUS_QUARANTINED, message.id)


def _audit_quarantine(message_id: int, reason: str, detail: str, *, now: datetime) -> None:
    append_event(
        tag(Source.EMAIL, Event.MESSAGE_QUARANTINED),
        actor="intake",
        now=now,
        data={"inbound_message": message_id, "reason": reason, "detail": detail[:500]},
    )


def record_message(raw: bytes, *, envelope: Envelope, via: str, now: datetime, import_source: str | None = None) -> str:
    """ingest_message and commit: what the listener does before it answers 250 and the importer does
    for each message. If processing fails unexpectedly the bytes are still kept, quarantined with the
    error (a bug must not lose mail). Returns the outcome's status; raises SQLAlchemyError, after rolling
    back, when nothing could be stored (the listener then answers 451)."""
    try:
        outcome = ingest_message(raw, envelope=envelope, via=via, now=now, import_source=import_source)
        db.session.commit()
        return outcome.status
    except SQLAlchemyError:
        db.session.rollback()
        raise
    except Exception as exc:  # noqa: BLE001 - any bug: keep the bytes, quarantined
        db.session.rollback()
        current_app.logger.exception("intake: processing failed; keeping the message quarantined")
        error = f"{type(exc).__name__}: {exc}"
    try:
        kept = keep_unprocessed(raw, envelope=envelope, via=via, now=now, import_source=import_source, error=error)
        db.session.commit()
        return kept.status
    except SQLAlchemyError:
        db.session.rollback()
        raise


def keep_unprocessed(
    raw: bytes, *, envelope: Envelope, via: str, now: datetime, error: str, import_source: str | None = None
) -> IngestOutcome:
    """Last resort when processing failed unexpectedly: keep the bytes, quarantined, with the error."""
    digest = hashlib.sha256(raw).hexdigest()
    existing = db.session.execute(select(InboundMessage.id).where(InboundMessage.sha256 == digest)).scalar()
    if existing is not None:
        return IngestOutcome("already_stored", existing)
    message = _new_message(raw, digest, envelope, via=via, now=now, import_source=import_source)
    db.session.add(message)
    db.session.flush()
    return quarantine_message(message, "processing_error", error, now=now)


def attach_message_to_customer(message: InboundMessage, customer: Customer, *, actor: str, now: datetime) -> Report:
    """Staff read a quarantined (or not-a-report) message and identified its customer: it becomes
    that customer's email report, through receive_report. Audits `console:message:assigned`."""
    if message.status not in (STATUS_QUARANTINED, STATUS_NOT_A_REPORT):
        raise MessageAlreadyHandled("only quarantined messages, or mail read as not a report, can be assigned")
    append_event(
        tag(Source.CONSOLE, Event.MESSAGE_ASSIGNED),
        actor=actor,
        now=now,
        customer_id=customer.id,
        data={"inbound_message": message.id, "customer_address": customer.email},
    )
    report = receive_report(
        ReportSubmission(
            channel="email",
            address=customer.email,
            kind="other",
            details=f"{message.subject or ''}\n\n{message.text_body or ''}".strip()[:20_000],
            received_at=message.received_at,
            received_at_source=message.received_at_source,
            inbound_message_id=message.id,
            entered_by=actor,
        ),
        now=now,
        actor=actor,
    )
    message.status, message.handled_by = STATUS_REPORTED, actor
    return report


def dismiss_message(message: InboundMessage, reason: str, *, actor: str, now: datetime) -> None:
    """Set a quarantined message aside with a reason; its bytes stay. Audits `console:message:dismissed`."""
    if message.status != STATUS_QUARANTINED:
        raise MessageAlreadyHandled("only quarantined messages can be dismissed")
    message.status, message.dismiss_reason, message.handled_by = STATUS_DISMISSED, reason.strip(), actor
    append_event(
        tag(Source.CONSOLE, Event.MESSAGE_DISMISSED),
        actor=actor,
        now=now,
        data={"inbound_message": message.id, "reason": reason.strip()},
    )
