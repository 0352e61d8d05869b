"""Locking the old password, issuing reset grants and links, and setting the new password.

Each function changes state, appends audit events and flushes; the edge that called it commits.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import bindparam, select, update

from ..audit.actions import Event, tag
from ..audit.service import append_event
from ..customers.models import CREDENTIAL_ACTIVE, CREDENTIAL_LOCKED, Customer
from ..customers.passwords import hashing, password_problems
from ..customers.service import find_customer, lock_customer, rotate_security_stamp
from ..extensions import core_execute, db
from ..incidents.models import STATUS_RESOLVED, open_incident_of
from ..notifications.emails import send_password_changed_email, send_reset_link_email
from ..tokens import SignedLink, TokenInvalid, read_reset_link, reset_link
from .models import ResetGrant


def grant_id_hash(grant_id: str) -> str:
    """What the database keeps of a grant's secret id: its SHA-256, never the id itself."""
    return hashlib.sha256(grant_id.encode("ascii")).hexdigest()


def lock_credential(
    customer: Customer, *, source: str, actor: str, now: datetime, incident_id: int | None = None
) -> None:
    """Make the old password stop verifying everywhere. Audits `<source>:credential:locked`."""
    if customer.credential_state == CREDENTIAL_LOCKED:
        return
    customer.credential_state = CREDENTIAL_LOCKED
    append_event(
        tag(source, Event.CREDENTIAL_LOCKED), actor=actor, now=now, customer_id=customer.id, incident_id=incident_id
    )


def issue_reset_grant(
    customer: Customer, *, incident_id: int | None, source: str, actor: str, now: datetime
) -> tuple[ResetGrant, SignedLink]:
    """Revoke the customer's live grant, create a new one and return it with its link (signed when
    the email carrying it is rendered).

    The unique index on live grants makes this safe under concurrency. Audits `reset_grant:issued`.
    """
    db.session.execute(
        update(ResetGrant)
        .where(ResetGrant.customer_id == customer.id, ResetGrant.used_at.is_(None), ResetGrant.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    grant_id = secrets.token_urlsafe(16)  # 128 random bits (T2)
    grant = ResetGrant(
        customer_id=customer.id,
        incident_id=incident_id,
        grant_id_hash=grant_id_hash(grant_id),
        issued_at=now,
        expires_at=now + timedelta(seconds=current_app.config["RESET_LINK_MAX_AGE_SECONDS"]),
    )
    db.session.add(grant)
    db.session.flush()
    append_event(
        tag(source, Event.RESET_GRANT_ISSUED),
        actor=actor,
        now=now,
        customer_id=customer.id,
        incident_id=incident_id,
        data={"grant": grant.id, "expires_at": grant.expires_at.isoformat()},
    )
    return grant, reset_link(customer.id, grant_id, customer.security_stamp)


def load_reset_grant(token: str, now: datetime, *, lock: bool = False) -> tuple[Customer, ResetGrant]:
    """The customer and live grant behind a reset token, or TokenError for any reason at all.

    With `lock`, for a change: the customer's row and the grant's row are held until the transaction
    ends, in the order every writer takes them (customer, grant), and both rows are read again as the
    last writer left them."""
    link = read_reset_link(token)
    customer_id, grant_id, stamp = link.customer_id, link.grant_id, link.stamp
    query = select(ResetGrant).where(ResetGrant.grant_id_hash == grant_id_hash(grant_id))
    grant = db.session.execute(query).scalar_one_or_none()
    if grant is None or grant.customer_id != customer_id:
        raise TokenInvalid("no such grant")
    customer = grant.customer
    if lock:
        lock_customer(customer)
        grant = db.session.execute(query.with_for_update().execution_options(populate_existing=True)).scalar_one()
    if not grant.is_live(now):
        raise TokenInvalid("no live grant")
    if not secrets.compare_digest(customer.security_stamp, stamp):
        raise TokenInvalid("stale security stamp")
    return customer, grant


def live_grant(customer_id: int, now: datetime) -> ResetGrant | None:
    """The customer's newest reset link that still works at `now`, if any (at most one is live)."""
    grant = db.session.execute(
        select(ResetGrant)
        .where(ResetGrant.customer_id == customer_id, ResetGrant.used_at.is_(None), ResetGrant.revoked_at.is_(None))
        .order_by(ResetGrant.issued_at.desc())
        .limit(1)
    ).scalar()
    return grant if grant is not None and grant.is_live(now) else None


def next_link_allowed_at(customer_id: int) -> datetime | None:
    """When another link may go to this customer: LINK_RESEND_WINDOW_SECONDS after the last one issued
    (R1: at most one per window, however it was asked for: a report, the fresh-link form, staff)."""
    last_issued: datetime | None = core_execute(_LAST_ISSUED, {"customer_id": customer_id}).scalar()
    if last_issued is None:
        return None
    return last_issued + timedelta(seconds=current_app.config["LINK_RESEND_WINDOW_SECONDS"])


# Built once: every report joining an open incident runs it (issue 17).
_LAST_ISSUED = (
    select(ResetGrant.issued_at)
    .where(ResetGrant.customer_id == bindparam("customer_id"))
    .order_by(ResetGrant.issued_at.desc())
    .limit(1)
)


def link_sent_recently(customer_id: int, now: datetime) -> bool:
    """Whether a link went to this customer within LINK_RESEND_WINDOW_SECONDS of `now`."""
    allowed_at = next_link_allowed_at(customer_id)
    return allowed_at is not None and now < allowed_at


def send_reset_link(customer: Customer, *, source: str, actor: str, now: datetime) -> bool:
    """Send a new reset link to the customer's address on record, unless one was issued within the
    resend window. Returns whether it was sent. Audits what it sends, or that it was throttled.

    Takes the customer's row before reading or changing anything: the order every writer uses (no
    deadlock with a report racing it), and two quick requests take turns, so the second sees the
    first's link and is throttled instead of sending another."""
    lock_customer(customer)
    if link_sent_recently(customer.id, now):
        append_event(tag(source, Event.RESET_LINK_THROTTLED), actor=actor, now=now, customer_id=customer.id)
        return False
    incident = open_incident_of(customer.id)
    incident_id = incident.id if incident is not None else None
    grant, link = issue_reset_grant(customer, incident_id=incident_id, source=source, actor=actor, now=now)
    # Staff sending a link is not the customer asking for one: the email says what happened instead.
    send_reset_link_email(
        customer, incident, grant, link, sent_by_staff=source == "console", source=source, actor=actor, now=now
    )
    if incident is not None:
        incident.last_link_sent_at = now
    return True


def send_fresh_link(address: str, *, source: str, actor: str, now: datetime) -> int | None:
    """`/reset/new`: a link for the account at `address`, if any; its customer's id when there was one (for
    the edge's answer floor, never for its answer), else None. An unknown address changes no account but is
    audited (`<source>:reset_link:unknown_address`), so it costs a written, committed row as a known one
    does, and shows who probes for accounts (R3)."""
    customer = find_customer(address)
    if customer is None:
        append_event(
            tag(source, Event.RESET_LINK_UNKNOWN_ADDRESS), actor=actor, now=now, data={"address": address[:320]}
        )
        return None
    send_reset_link(customer, source=source, actor=actor, now=now)
    return customer.id


@dataclass(frozen=True)
class ResetOutcome:
    ok: bool
    reasons: list[str]


@dataclass(frozen=True)
class CheckedPassword:
    """A new password weighed against the rules (P1–P3) with the argon2 work done: the reasons it is
    refused, or its hash."""

    reasons: list[str]
    new_hash: str | None


def check_reset_password(
    password: str, confirmation: str, *, email: str, compromised_hash: str | None
) -> CheckedPassword:
    """The company's rules for `password`, including an argon2 verify of each near form against the
    compromised hash, and the new hash. Touches no database: the caller holds no lock meanwhile, so a
    reset's half second of argon2 never stalls other writers."""
    reasons = password_problems(
        password,
        confirmation,
        email=email,
        is_compromised=lambda candidate: hashing().verify(compromised_hash, candidate),
    )
    return CheckedPassword(reasons, None if reasons else hashing().hash(password))


def complete_reset(token: str, checked: CheckedPassword, *, source: str, actor: str, now: datetime) -> ResetOutcome:
    """Apply a checked password through the link `token`: lock (load_reset_grant), then on success set
    the hash, unlock, use the grant, rotate the stamp, resolve the open incident and queue the
    "password changed" email; otherwise audit the refusal. Raises TokenError when the link stopped
    being live meanwhile (used by a concurrent reset, replaced, expired). Audits each step."""
    customer, grant = load_reset_grant(token, now, lock=True)
    if checked.reasons:
        append_event(
            tag(source, Event.PASSWORD_REFUSED),
            actor=actor,
            now=now,
            customer_id=customer.id,
            incident_id=grant.incident_id,
            data={"reasons": checked.reasons},
        )
        return ResetOutcome(False, checked.reasons)

    customer.password_hash = checked.new_hash
    customer.credential_state = CREDENTIAL_ACTIVE
    customer.password_changed_at = now
    grant.used_at = now
    rotate_security_stamp(customer, source=source, actor=actor, now=now, incident_id=grant.incident_id)
    append_event(
        tag(source, Event.PASSWORD_RESET),
        actor=actor,
        now=now,
        customer_id=customer.id,
        incident_id=grant.incident_id,
        data={"grant": grant.id},
    )
    incident = open_incident_of(customer.id)
    if incident is not None:
        incident.status = STATUS_RESOLVED
        incident.resolved_at = now
        append_event(
            tag(source, Event.INCIDENT_RESOLVED), actor=actor, now=now, customer_id=customer.id, incident_id=incident.id
        )
    send_password_changed_email(customer, incident, source=source, actor=actor, now=now)
    return ResetOutcome(True, [])
