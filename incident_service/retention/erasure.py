"""Erasing a customer's personal data on their request (a granted erasure: incident_service/data_requests).

Everything the retention rules would one day remove goes now, whatever its age, except what a legal hold
keeps and the minimum that proves each report: its reference, the time it reached us, the digests of what
was sent (an email's SHA-256 and size, each audit event's leaf in the Merkle tree), and when the customer
said they noticed the loss (under the policy, these decide who bears a loss). The address on record stays
too: it is where a reset link must go if a password of theirs is reported again. The customer is told both
lists, in their language.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from flask_babel import force_locale, ngettext
from flask_babel import gettext as _
from sqlalchemy import or_, select

from ..audit.actions import Event, Source, tag
from ..audit.models import AuditEvent
from ..audit.redaction import redact_events
from ..audit.sequencer import integrate
from ..audit.service import append_event
from ..customers.models import Customer
from ..domain_errors import DomainError
from ..extensions import db
from ..incidents.models import Incident, Report
from ..intake.models import InboundMessage
from .models import RULE_ERASURE, SUBJECT_CUSTOMER, SUBJECT_INBOUND_MESSAGE, SUBJECT_REPORT, LegalHold
from .service import (
    ACTOR,
    ALL_MESSAGE_FIELDS,
    ALL_REPORT_FIELDS,
    AUDIT_PERSONAL_KEYS,
    empty_fields,
)


class ErasureError(DomainError):
    pass


@dataclass
class ErasureOutcome:
    """What was erased and what was kept and why: sentences in the customer's language."""

    erased: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)
    messages: int = 0
    reports: int = 0
    events: int = 0
    held: list[str] = field(default_factory=list)  # references of incidents under a legal hold


def erase_customer(customer_id: int, *, reason: str, actor: str, now: datetime) -> ErasureOutcome:
    """Erase what may be erased of the customer's data now. Audits `console:customer:erased` with the counts
    (not the data). Flushes; the caller commits. ErasureError if there is no such customer."""
    customer = db.session.get(Customer, customer_id)
    if customer is None:
        raise ErasureError(f"no customer {customer_id}")
    held_ids = set(
        db.session.execute(
            select(Incident.id)
            .join(LegalHold, LegalHold.incident_id == Incident.id)
            .where(Incident.customer_id == customer_id, LegalHold.released_at.is_(None))
        ).scalars()
    )
    held = sorted(
        reference or str(incident_id)
        for incident_id, reference in db.session.execute(
            select(Incident.id, Incident.reference).where(Incident.id.in_(held_ids))
        )
    )
    outcome = ErasureOutcome(held=held)
    free = (
        or_(Report.incident_id.is_(None), Report.incident_id.not_in(held_ids)) if held_ids else Report.id.is_not(None)
    )
    reports = list(db.session.execute(select(Report).where(Report.customer_id == customer_id, free)).scalars())
    for report in reports:
        if empty_fields(
            report,
            SUBJECT_REPORT,
            ALL_REPORT_FIELDS,
            rule=RULE_ERASURE,
            now=now,
            customer_id=customer_id,
            incident_id=report.incident_id,
        ):
            outcome.reports += 1
    message_ids = {report.inbound_message_id for report in reports if report.inbound_message_id is not None}
    # Emails from their address that made no report (an auto-reply, a message set aside) are theirs too.
    blocked = select(Report.inbound_message_id).where(Report.incident_id.in_(held_ids)) if held_ids else None
    unreported = select(InboundMessage.id).where(
        InboundMessage.from_address == customer.email,
        ~select(Report.id).where(Report.inbound_message_id == InboundMessage.id).exists(),
    )
    message_ids |= set(db.session.execute(unreported).scalars())
    if blocked is not None:
        message_ids -= set(db.session.execute(blocked).scalars())
    for message in db.session.execute(select(InboundMessage).where(InboundMessage.id.in_(message_ids))).scalars():
        if empty_fields(
            message,
            SUBJECT_INBOUND_MESSAGE,
            ALL_MESSAGE_FIELDS,
            rule=RULE_ERASURE,
            now=now,
            customer_id=customer_id,
            incident_id=None,
        ):
            outcome.messages += 1
    # Events still waiting for the sequencer get their leaves first: only a leaf can be redacted, and an
    # erasure runs once (events of theirs with no incident fall under no later rule).
    while integrate():
        pass
    events = select(AuditEvent.id).where(AuditEvent.customer_id == customer_id)
    if held_ids:
        events = events.where(or_(AuditEvent.incident_id.is_(None), AuditEvent.incident_id.not_in(held_ids)))
    outcome.events = redact_events(
        db.session.execute(events).scalars(),
        AUDIT_PERSONAL_KEYS,
        rule=RULE_ERASURE,
        source=Source.CONSOLE,
        actor=ACTOR,
        now=now,
    )
    named = bool(
        empty_fields(
            customer, SUBJECT_CUSTOMER, ("name",), rule=RULE_ERASURE, now=now, customer_id=customer_id, incident_id=None
        )
    )
    append_event(
        tag(Source.CONSOLE, Event.CUSTOMER_ERASED),
        actor=actor,
        now=now,
        customer_id=customer_id,
        data={
            "reason": reason,
            "reports": outcome.reports,
            "messages": outcome.messages,
            "events": outcome.events,
            "name": int(named),
            "held": ",".join(held),
        },
    )
    db.session.flush()
    with force_locale(customer.locale):
        _describe(outcome, named)
    return outcome


def _describe(outcome: ErasureOutcome, named: bool) -> None:
    if named:
        outcome.erased.append(_("Your name."))
    if outcome.reports:
        outcome.erased.append(
            ngettext(
                "What you wrote in %(num)d report, the address it was made with, and the network address and "
                "browser it came from.",
                "What you wrote in %(num)d reports, the addresses they were made with, and the network addresses "
                "and browsers they came from.",
                outcome.reports,
            )
        )
    if outcome.messages:
        outcome.erased.append(
            ngettext(
                "The content of %(num)d email you sent us: its text, headers and attachments.",
                "The content of %(num)d emails you sent us: their text, headers and attachments.",
                outcome.messages,
            )
        )
    if outcome.events:
        outcome.erased.append(
            _("Addresses and network addresses in our records of what happened (the records themselves stay).")
        )
    if not outcome.erased:
        outcome.erased.append(_("Nothing more: what could be erased had already been removed."))
    outcome.kept.append(
        _(
            "For each report: its reference, the time it reached us, and the digests (SHA-256) of what you sent. "
            "Our privacy policy makes the time of a report decide who bears a loss, so we must be able to prove it."
        )
    )
    outcome.kept.append(_("When you said you noticed the loss, for the same reason."))
    outcome.kept.append(
        _(
            "Your email address on record: it is where we must send a link to set a new password if a password "
            "of yours is reported again. It is removed when your account with us is closed."
        )
    )
    outcome.kept.append(_("The record of who your data was given to, and of this request."))
    for reference in outcome.held:
        outcome.kept.append(
            _(
                "Everything about incident %(reference)s, which is under a legal hold: it is kept until the hold "
                "is released, then removed under our retention rules.",
                reference=reference,
            )
        )
