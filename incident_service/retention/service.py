"""Retention: each kind of personal data is emptied once its period (settings RETENTION_*_DAYS) has passed,
unless legal holds its incident; and legal holds themselves.

What stays of a row is what proves a report: its time, its reference, its hashes (an email's SHA-256 and
size, an audit event's leaf in the Merkle tree). What goes is replaced by nothing, and a tombstone
(retention.models.Tombstone) says which fields went, when and under which rule; an audit event keeps its
leaf and gets a tombstone in its data (audit.redaction). Every run is itself audited, rule by rule.

Periods count from when the data arrived, and only once its incident is closed or resolved (an email or
report with no incident counts from its arrival): the data of an incident being worked is never due.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Sequence

from flask import current_app
from sqlalchemy import ColumnElement, and_, exists, func, not_, or_, select

from ..audit.actions import Event, tag
from ..audit.models import AuditEvent
from ..audit.redaction import redact_events
from ..audit.service import append_event
from ..domain_errors import DomainError
from ..extensions import db
from ..incidents.models import STATUS_CLOSED, STATUS_RESOLVED, Incident, Report
from ..intake.models import InboundMessage
from .models import (
    RULE_CLOSED_INCIDENT,
    RULE_FREE_TEXT,
    RULE_IP_ADDRESS,
    RULE_RAW_EMAIL,
    SUBJECT_INBOUND_MESSAGE,
    SUBJECT_REPORT,
    LegalHold,
    Tombstone,
)

# Each rule's setting (days; 0 keeps for ever).
PERIOD_SETTINGS = {
    RULE_RAW_EMAIL: "RETENTION_RAW_EMAIL_DAYS",
    RULE_FREE_TEXT: "RETENTION_FREE_TEXT_DAYS",
    RULE_IP_ADDRESS: "RETENTION_IP_ADDRESS_DAYS",
    RULE_CLOSED_INCIDENT: "RETENTION_CLOSED_INCIDENT_DAYS",
}

# The fields each rule empties, and what an emptied field holds.
MESSAGE_RAW_FIELDS = (
    "raw",
    "received_headers",
    "from_header",
    "reply_to",
    "sender_header",
    "date_header",
    "attachments",
)
MESSAGE_TEXT_FIELDS = ("subject", "text_body")
MESSAGE_IP_FIELDS = ("peer", "helo")
MESSAGE_IDENTITY_FIELDS = ("from_display_name", "mail_from", "rcpt_tos", "from_address", "message_id_header")
REPORT_TEXT_FIELDS = ("details",)
REPORT_IP_FIELDS = ("client_ip", "user_agent")
REPORT_IDENTITY_FIELDS = ("claimed_address",)
EMPTY: dict[str, Any] = {
    "raw": b"",
    "received_headers": [],
    "attachments": [],
    "rcpt_tos": [],
    "details": "",
    "claimed_address": "",
    "name": "",
}
# Keys of audit event data that hold personal data: network addresses, and the rest (addresses, names, text).
AUDIT_IP_KEYS = frozenset({"ip", "peer"})
AUDIT_PERSONAL_KEYS = AUDIT_IP_KEYS | frozenset(
    {
        "address",
        "claimed_address",
        "customer_address",
        "email",
        "from",
        "mail_from",
        "name",
        "new_address",
        "old_address",
        "rcpt_tos",
        "to",
    }
)

# Rows handled per transaction: a first run on years of data goes in bounded steps.
BATCH = 2000

ACTOR = "retention"


class HoldError(DomainError):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


# ---- legal holds ---------------------------------------------------------------------------------------


def active_hold(incident_id: int) -> LegalHold | None:
    return db.session.execute(
        select(LegalHold).where(LegalHold.incident_id == incident_id, LegalHold.released_at.is_(None))
    ).scalar_one_or_none()


def holds_of(incident_id: int) -> list[LegalHold]:
    """Every hold placed on the incident, newest first (released ones stay, with why)."""
    query = select(LegalHold).where(LegalHold.incident_id == incident_id).order_by(LegalHold.id.desc())
    return list(db.session.execute(query).scalars())


def place_hold(incident: Incident, *, reason: str, source: str, actor: str, now: datetime) -> LegalHold:
    """Hold everything of `incident` from retention and erasure until released. Audited. HoldError
    `empty_reason` or `already_held`."""
    reason = reason.strip()
    if not reason:
        raise HoldError("empty_reason", "a legal hold needs its reason")
    # Holds on one incident take turns (its row locked): of two placed at once, the second sees the first.
    db.session.refresh(incident, with_for_update=True)
    if active_hold(incident.id) is not None:
        raise HoldError("already_held", f"incident {incident.reference} is already under a legal hold")
    hold = LegalHold(incident_id=incident.id, reason=reason, placed_by=actor, placed_at=now)
    db.session.add(hold)
    db.session.flush()
    append_event(
        tag(source, Event.LEGAL_HOLD_PLACED),
        actor=actor,
        now=now,
        customer_id=incident.customer_id,
        incident_id=incident.id,
        data={"hold": hold.id, "reason": reason},
    )
    return hold


def release_hold(hold: LegalHold, *, reason: str, source: str, actor: str, now: datetime) -> LegalHold:
    """End a hold (it stays on record). Audited. HoldError `empty_reason` or `released`."""
    reason = reason.strip()
    if not reason:
        raise HoldError("empty_reason", "releasing a legal hold needs its reason")
    db.session.refresh(hold, with_for_update=True)  # of two releases at once, the second is told
    if hold.released_at is not None:
        raise HoldError("released", f"legal hold {hold.id} was already released")
    hold.released_at, hold.released_by, hold.release_reason = now, actor, reason
    incident = db.session.get(Incident, hold.incident_id)
    append_event(
        tag(source, Event.LEGAL_HOLD_RELEASED),
        actor=actor,
        now=now,
        customer_id=incident.customer_id if incident is not None else None,
        incident_id=hold.incident_id,
        data={"hold": hold.id, "reason": reason},
    )
    db.session.flush()
    return hold


def _held() -> ColumnElement[bool]:
    """True for an incident id under an active hold (a correlated EXISTS on legal_holds)."""
    return exists().where(LegalHold.incident_id == Incident.id, LegalHold.released_at.is_(None))


# ---- tombstones ----------------------------------------------------------------------------------------


def tombstones_of(subject: str, ids: Sequence[int]) -> dict[int, list[Tombstone]]:
    """The tombstones of rows of one kind, by row id, oldest first."""
    if not ids:
        return {}
    found: dict[int, list[Tombstone]] = {}
    query = select(Tombstone).where(Tombstone.subject == subject, Tombstone.subject_id.in_(list(ids)))
    for tombstone in db.session.execute(query.order_by(Tombstone.id)).scalars():
        found.setdefault(tombstone.subject_id, []).append(tombstone)
    return found


def empty_fields(
    row: Any,
    subject: str,
    fields: Sequence[str],
    *,
    rule: str,
    now: datetime,
    customer_id: int | None,
    incident_id: int | None,
) -> list[str]:
    """Empty `fields` of `row` that still hold something, and record a tombstone naming them; which."""
    emptied = []
    for name in fields:
        value = getattr(row, name)
        if value in (None, "", b"", []):
            continue
        setattr(row, name, EMPTY.get(name))
        emptied.append(name)
    if emptied:
        db.session.add(
            Tombstone(
                subject=subject,
                subject_id=row.id,
                fields=emptied,
                rule=rule,
                purged_at=now,
                customer_id=customer_id,
                incident_id=incident_id,
            )
        )
    return emptied


# ---- the rules -----------------------------------------------------------------------------------------


@dataclass
class RuleOutcome:
    rule: str
    days: int
    cutoff: datetime | None
    messages: int = 0
    reports: int = 0
    events: int = 0

    @property
    def total(self) -> int:
        return self.messages + self.reports + self.events


@dataclass
class RetentionRun:
    outcomes: list[RuleOutcome] = field(default_factory=list)

    @property
    def total(self) -> int:
        return sum(outcome.total for outcome in self.outcomes)


def _free_of_holds_and_open_incidents(incident_id: Any) -> ColumnElement[bool]:
    """The row's incident (if any) is closed or resolved, and not held."""
    settled = (
        select(Incident.id)
        .where(Incident.id == incident_id, Incident.status.in_((STATUS_CLOSED, STATUS_RESOLVED)), not_(_held()))
        .exists()
    )
    return or_(incident_id.is_(None), settled)


def _message_is_due() -> ColumnElement[bool]:
    """No report made from the message belongs to an incident still open or held."""
    blocking = (
        select(Report.id)
        .join(Incident, Incident.id == Report.incident_id)
        .where(
            Report.inbound_message_id == InboundMessage.id,
            or_(Incident.status.not_in((STATUS_CLOSED, STATUS_RESOLVED)), _held()),
        )
        .exists()
    )
    return not_(blocking)


def _message_incident(message: InboundMessage) -> tuple[int | None, int | None]:
    row = db.session.execute(
        select(Report.customer_id, Report.incident_id).where(Report.inbound_message_id == message.id).limit(1)
    ).first()
    return (row[0], row[1]) if row else (None, None)


def _messages(condition: ColumnElement[bool], fields: Sequence[str], rule: str, now: datetime) -> int:
    """Empty `fields` of every message matching `condition` and due; how many, in batches (flushes)."""
    done, seen = 0, 0
    while True:
        query = (
            select(InboundMessage)
            .where(condition, _message_is_due(), InboundMessage.id > seen)
            .order_by(InboundMessage.id)
            .limit(BATCH)
        )
        batch = list(db.session.execute(query).scalars())
        if not batch:
            return done
        for message in batch:
            customer_id, incident_id = _message_incident(message)
            if empty_fields(
                message,
                SUBJECT_INBOUND_MESSAGE,
                fields,
                rule=rule,
                now=now,
                customer_id=customer_id,
                incident_id=incident_id,
            ):
                done += 1
        seen = batch[-1].id
        db.session.flush()


def _reports(condition: ColumnElement[bool], fields: Sequence[str], rule: str, now: datetime) -> int:
    done, seen = 0, 0
    while True:
        query = (
            select(Report)
            .where(condition, _free_of_holds_and_open_incidents(Report.incident_id), Report.id > seen)
            .order_by(Report.id)
            .limit(BATCH)
        )
        batch = list(db.session.execute(query).scalars())
        if not batch:
            return done
        for report in batch:
            if empty_fields(
                report,
                SUBJECT_REPORT,
                fields,
                rule=rule,
                now=now,
                customer_id=report.customer_id,
                incident_id=report.incident_id,
            ):
                done += 1
        seen = batch[-1].id
        db.session.flush()


def _events(condition: ColumnElement[bool], keys: frozenset[str], rule: str, source: str, now: datetime) -> int:
    """Redact `keys` from the data of events in the tree matching `condition`, outside held or open
    incidents; only events whose data mentions one of the keys are read."""
    mentions = or_(*(AuditEvent.data.contains(f'"{key}":', autoescape=True) for key in sorted(keys)))
    done, seen = 0, 0
    while True:
        query = (
            select(AuditEvent.id)
            .where(
                condition,
                mentions,
                AuditEvent.leaf_index.is_not(None),
                _free_of_holds_and_open_incidents(AuditEvent.incident_id),
                AuditEvent.id > seen,
            )
            .order_by(AuditEvent.id)
            .limit(BATCH)
        )
        ids = list(db.session.execute(query).scalars())
        if not ids:
            return done
        done += redact_events(ids, keys, rule=rule, source=source, actor=ACTOR, now=now)
        seen = ids[-1]


def _cutoff(rule: str, now: datetime) -> tuple[int, datetime | None]:
    days = int(current_app.config[PERIOD_SETTINGS[rule]])
    return days, (now - timedelta(days=days) if days else None)


def run_rule(rule: str, *, source: str, now: datetime) -> RuleOutcome:
    """Apply one rule to everything due; audits `retention:purged` with what it emptied. Flushes."""
    days, cutoff = _cutoff(rule, now)
    outcome = RuleOutcome(rule, days, cutoff)
    if cutoff is None:
        return outcome
    # Each query also asks that something is left to empty: rows emptied before are not read again.
    message_before, report_before = InboundMessage.received_at < cutoff, Report.received_at < cutoff
    if rule == RULE_RAW_EMAIL:
        left = func.length(InboundMessage.raw) > 0
        outcome.messages = _messages(and_(message_before, left), MESSAGE_RAW_FIELDS, rule, now)
    elif rule == RULE_FREE_TEXT:
        left = or_(InboundMessage.subject.is_not(None), InboundMessage.text_body.is_not(None))
        outcome.messages = _messages(and_(message_before, left), MESSAGE_TEXT_FIELDS, rule, now)
        outcome.reports = _reports(and_(report_before, Report.details != ""), REPORT_TEXT_FIELDS, rule, now)
    elif rule == RULE_IP_ADDRESS:
        left = or_(InboundMessage.peer.is_not(None), InboundMessage.helo.is_not(None))
        outcome.messages = _messages(and_(message_before, left), MESSAGE_IP_FIELDS, rule, now)
        left = or_(Report.client_ip.is_not(None), Report.user_agent.is_not(None))
        outcome.reports = _reports(and_(report_before, left), REPORT_IP_FIELDS, rule, now)
        outcome.events = _events(AuditEvent.occurred_at < cutoff, AUDIT_IP_KEYS, rule, source, now)
    elif rule == RULE_CLOSED_INCIDENT:
        closed_before = select(Incident.id).where(
            Incident.status.in_((STATUS_CLOSED, STATUS_RESOLVED)),
            Incident.opened_at < cutoff,
            or_(
                and_(Incident.closed_at.is_not(None), Incident.closed_at < cutoff),
                and_(Incident.resolved_at.is_not(None), Incident.resolved_at < cutoff),
            ),
        )
        of_incident = Report.incident_id.in_(closed_before)
        message_ids = select(Report.inbound_message_id).where(of_incident, Report.inbound_message_id.is_not(None))
        left = or_(func.length(InboundMessage.raw) > 0, InboundMessage.from_address.is_not(None))
        outcome.messages = _messages(and_(InboundMessage.id.in_(message_ids), left), ALL_MESSAGE_FIELDS, rule, now)
        left = or_(
            Report.claimed_address != "",
            Report.details != "",
            Report.client_ip.is_not(None),
            Report.user_agent.is_not(None),
        )
        outcome.reports = _reports(and_(of_incident, left), ALL_REPORT_FIELDS, rule, now)
        outcome.events = _events(AuditEvent.incident_id.in_(closed_before), AUDIT_PERSONAL_KEYS, rule, source, now)
    if outcome.total:
        append_event(
            tag(source, Event.RETENTION_PURGED),
            actor=ACTOR,
            now=now,
            data={
                "rule": rule,
                "days": days,
                "cutoff": cutoff.isoformat(timespec="seconds"),
                "messages": outcome.messages,
                "reports": outcome.reports,
                "events": outcome.events,
            },
        )
    return outcome


ALL_MESSAGE_FIELDS = MESSAGE_RAW_FIELDS + MESSAGE_TEXT_FIELDS + MESSAGE_IP_FIELDS + MESSAGE_IDENTITY_FIELDS
ALL_REPORT_FIELDS = REPORT_TEXT_FIELDS + REPORT_IP_FIELDS + REPORT_IDENTITY_FIELDS
RULE_ORDER = (RULE_CLOSED_INCIDENT, RULE_RAW_EMAIL, RULE_FREE_TEXT, RULE_IP_ADDRESS)


def run_retention(*, source: str, now: datetime) -> RetentionRun:
    """Every rule, the widest first. Flushes; the caller commits (or rolls back, for a dry run)."""
    return RetentionRun([run_rule(rule, source=source, now=now) for rule in RULE_ORDER])
