"""Every email the service sends, one typed function each (PyPI's warehouse `@_email` functions are the
model): what the template needs, in its words, instead of `queue_email("name", context={...})` spelled
out at each call site. Each queues to the address on record (or, for the anchor, outside the company),
in the customer's language and zone, rendered later by the outbox worker; each audits `email:queued`.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from flask import current_app
from sqlalchemy import select

from ..customers.models import CREDENTIAL_LOCKED, Customer
from ..extensions import db
from ..tokens import SignedLink, discovery_link
from .models import OutboxMessage
from .service import queue_email, queue_message

if TYPE_CHECKING:
    from ..audit.models import AuditCheckpoint
    from ..incidents.models import Incident, Report
    from ..reactivation.models import ResetGrant


def acknowledgement_links(customer_id: int, incident_id: int, reset: SignedLink) -> dict[str, SignedLink]:
    """The links of the acknowledgement: set a new password, and tell us when you noticed."""
    return {"reset_url": reset, "discovery_url": discovery_link(customer_id, incident_id)}


def send_acknowledgement_email(
    customer: Customer,
    incident: Incident,
    report: Report,
    grant: ResetGrant,
    reset_link: SignedLink,
    *,
    source: str,
    actor: str,
    now: datetime,
) -> OutboxMessage:
    """ "We received your report": reference, received time, the reset link and the discovery link."""
    return queue_email(
        "acknowledgement",
        customer=customer,
        context={
            "incident": incident,
            "report": report,
            "grant": grant,
            "support_contact": current_app.config["SUPPORT_CONTACT"],
        },
        links=acknowledgement_links(customer.id, incident.id, reset_link),
        source=source,
        actor=actor,
        now=now,
        incident_id=incident.id,
    )


def report_in_hand_reply_sent_recently(customer_id: int, now: datetime) -> bool:
    """Whether an 'already in hand' reply went to this customer within LINK_RESEND_WINDOW_SECONDS: a
    flood of emailed reports gets one reply per window, not one each."""
    window = timedelta(seconds=current_app.config["LINK_RESEND_WINDOW_SECONDS"])
    return (
        db.session.execute(
            select(OutboxMessage.id)
            .where(
                OutboxMessage.customer_id == customer_id,
                OutboxMessage.template == "report_in_hand",
                OutboxMessage.created_at > now - window,
            )
            .limit(1)
        ).scalar()
        is not None
    )


def send_report_in_hand_email(
    customer: Customer, incident: Incident, report: Report, *, source: str, actor: str, now: datetime
) -> OutboxMessage:
    """A short reply to an emailed report that joined an open incident when no new link was due: it is
    received and in hand, and the newest email's link is the one to use. To the address on record only,
    never to the sender of the mail, and, as every email we send, marked Auto-Submitted (no loops)."""
    return queue_email(
        "report_in_hand",
        customer=customer,
        context={"incident": incident, "report": report, "support_contact": current_app.config["SUPPORT_CONTACT"]},
        links={},
        source=source,
        actor=actor,
        now=now,
        incident_id=incident.id,
    )


def send_reset_link_email(
    customer: Customer,
    incident: Incident | None,
    grant: ResetGrant,
    reset_link: SignedLink,
    *,
    sent_by_staff: bool,
    source: str,
    actor: str,
    now: datetime,
) -> OutboxMessage:
    """A new link to set a password: asked for by the customer, or sent by support (then the email says
    so, and that the old password no longer works, instead of "you can ignore this")."""
    return queue_email(
        "reset_link",
        customer=customer,
        context={
            "incident": incident,
            "grant": grant,
            "sent_by_staff": sent_by_staff,
            "password_locked": customer.credential_state == CREDENTIAL_LOCKED,
            "support_contact": current_app.config["SUPPORT_CONTACT"],
        },
        links={"reset_url": reset_link},
        source=source,
        actor=actor,
        now=now,
        incident_id=incident.id if incident is not None else None,
    )


def send_password_changed_email(
    customer: Customer, incident: Incident | None, *, source: str, actor: str, now: datetime
) -> OutboxMessage:
    """ "Your password was changed" (T7): no password, no token, a way to dispute it."""
    return queue_email(
        "password_changed",
        customer=customer,
        context={"incident": incident, "changed_at": now},
        links={},
        source=source,
        actor=actor,
        now=now,
        incident_id=incident.id if incident is not None else None,
    )


def send_discovery_request_email(incident: Incident, *, source: str, actor: str, now: datetime) -> OutboxMessage:
    """Legal needs to know when the customer noticed: a link to say so."""
    return queue_email(
        "discovery_request",
        customer=incident.customer,
        context={"incident": incident},
        links={"discovery_url": discovery_link(incident.customer_id, incident.id)},
        source=source,
        actor=actor,
        now=now,
        incident_id=incident.id,
    )


def send_audit_checkpoint_email(
    checkpoint: AuditCheckpoint, *, to_address: str, source: str, actor: str, now: datetime
) -> OutboxMessage:
    """A signed checkpoint of the audit log (its text, signature, public key and time-stamp), to an
    address outside the company's systems (the chain's anchors went the same way before the tree)."""
    return _audit_record_outside({"checkpoint": checkpoint}, to_address=to_address, source=source, actor=actor, now=now)


def _audit_record_outside(
    context: dict[str, Any], *, to_address: str, source: str, actor: str, now: datetime
) -> OutboxMessage:
    """The email of a record of the log's state kept outside: in the company's language."""
    config = current_app.config
    return queue_message(
        "audit_anchor",
        to_address=to_address,
        locale=config["DEFAULT_LOCALE"],
        zone=config["DISPLAY_TIMEZONE"],
        context=context,
        links={},
        source=source,
        actor=actor,
        now=now,
    )


def send_staff_alert_email(
    kind: str, *, to_address: str, context: dict[str, Any], source: str, actor: str, now: datetime
) -> OutboxMessage:
    """An alert to the security team (incident_service.alerts): what happened, how many, the first few
    references and links to the console. A team list has no language of its own, so it is written in
    DEFAULT_LOCALE and the company's zone; no customer's report link, since no customer reads it."""
    config = current_app.config
    return queue_message(
        "staff_alert",
        to_address=to_address,
        locale=config["DEFAULT_LOCALE"],
        zone=config["DISPLAY_TIMEZONE"],
        context={**context, "kind": kind},
        links={},
        source=source,
        actor=actor,
        now=now,
    )
