"""Changing a customer's address on record, and the previous addresses that still report as theirs.

The change is the account-takeover move in this domain (every reset link goes to the address on record),
so it takes the password, is refused while an incident is open, and happens only when both the current
and the new address have confirmed it through their own single-use links. Each function changes state,
appends audit events and queues email, and flushes; the edge commits once.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Iterable

from flask import current_app
from sqlalchemy import bindparam, func, select, update
from sqlalchemy.exc import IntegrityError

from ..audit.actions import Event, Source, tag
from ..audit.service import append_event
from ..customers.addresses import InvalidAddress, normalize_address
from ..customers.models import Customer
from ..customers.password_policy import MAX_BYTES
from ..customers.passwords import hashing
from ..customers.service import find_customer, lock_customer, rotate_security_stamp
from ..domain_errors import DomainError
from ..extensions import db
from ..incidents.models import Report, open_incident_of
from ..tokens import (
    EMAIL_CHANGE,
    SignedLink,
    TokenExpired,
    TokenInvalid,
    email_change_link,
    max_age,
    read_email_change_link,
)
from .emails import (
    previous_address_reply_sent_recently,
    send_address_taken_email,
    send_change_done_emails,
    send_confirm_new_email,
    send_confirm_old_email,
    send_previous_address_report_email,
)
from .models import (
    SIDE_NEW,
    SIDE_OLD,
    STATE_CANCELLED,
    STATE_DONE,
    STATE_PENDING,
    STATE_REPLACED,
    STATE_VOID,
    EmailChange,
    PreviousAddress,
)

# Why a request is refused; each has its own words on the page (email_change.views).
INVALID_ADDRESS = "invalid_address"
SAME_ADDRESS = "same_address"
WRONG_PASSWORD = "wrong_password"
OPEN_INCIDENT = "open_incident"


class EmailChangeRefused(DomainError):
    """A request the rules refuse; `code` says which (one of the constants above)."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


def nonce_hash(nonce: str) -> str:
    """What the database keeps of a link's secret nonce: its SHA-256, never the nonce itself."""
    return hashlib.sha256(nonce.encode("ascii")).hexdigest()


def has_open_incident(customer: Customer) -> bool:
    """Whether a change of address must wait: an incident is open (status `reactivated`: the old
    password is dead and a reset link is on its way to the address on record), or the password is
    locked. Resolved and closed incidents do not count."""
    return customer.is_locked or open_incident_of(customer.id) is not None


def check_email_change(customer: Customer, raw_address: str, password: str) -> str:
    """The new address, normalised, if the customer may ask to move to it with this password;
    EmailChangeRefused otherwise. Changes nothing (the edge audits a refusal: record_refusal)."""
    try:
        address = normalize_address(raw_address)
    except InvalidAddress:
        raise EmailChangeRefused(INVALID_ADDRESS) from None
    if address == customer.email:
        raise EmailChangeRefused(SAME_ADDRESS)
    # Over the byte limit: refused before hashing, like a wrong password (P2).
    too_long = len(password.encode("utf-8")) > MAX_BYTES
    if too_long or not hashing().verify(customer.password_hash, password):
        raise EmailChangeRefused(WRONG_PASSWORD)
    if has_open_incident(customer):
        raise EmailChangeRefused(OPEN_INCIDENT)
    return address


def record_refusal(customer: Customer, code: str, *, ip: str | None, now: datetime) -> None:
    """Audit `web:email_change:refused` with the reason (a wrong password shows up beside sign-ins)."""
    append_event(
        tag(Source.WEB, Event.EMAIL_CHANGE_REFUSED),
        actor="customer",
        now=now,
        customer_id=customer.id,
        data={"reason": code, "ip": ip},
    )


def request_email_change(customer: Customer, address: str, *, ip: str | None, now: datetime) -> EmailChange:
    """Ask to move `customer` to `address` (checked by check_email_change). Replaces a pending change,
    creates this one with a random nonce per side and queues one email to each address: a link to the
    current one; to the new one a link, or, when it is another customer's address on record, a notice
    to that customer that the address already has an account (the requester is told nothing different).

    Audits `web:email_change:requested`. Raises EmailChangeRefused (OPEN_INCIDENT) when an incident
    opened meanwhile. Flushes."""
    # The customer's row first: a report opening an incident meanwhile has committed and is seen here.
    lock_customer(customer)
    if has_open_incident(customer):
        raise EmailChangeRefused(OPEN_INCIDENT)
    append_event(
        tag(Source.WEB, Event.EMAIL_CHANGE_REQUESTED),
        actor="customer",
        now=now,
        customer_id=customer.id,
        data={"new_address": address, "ip": ip},
    )
    db.session.execute(
        update(EmailChange)
        .where(EmailChange.customer_id == customer.id, EmailChange.state == STATE_PENDING)
        .values(state=STATE_REPLACED, finished_at=now)
    )
    owner = find_customer(address)
    nonces = {SIDE_OLD: secrets.token_urlsafe(16), SIDE_NEW: secrets.token_urlsafe(16)}  # 128 random bits
    change = EmailChange(
        customer_id=customer.id,
        old_address=customer.email,
        new_address=address,
        old_nonce_hash=nonce_hash(nonces[SIDE_OLD]),
        new_nonce_hash=nonce_hash(nonces[SIDE_NEW]),
        new_address_taken=owner is not None,
        created_at=now,
        expires_at=now + timedelta(seconds=max_age(EMAIL_CHANGE)),
        state=STATE_PENDING,
    )
    db.session.add(change)
    db.session.flush()

    def link(side: str) -> SignedLink:
        return email_change_link(customer.id, change.id, nonces[side], customer.security_stamp)

    send_confirm_old_email(customer, change, link(SIDE_OLD), now=now)
    if owner is None:
        send_confirm_new_email(customer, change, link(SIDE_NEW), now=now)
    else:
        send_address_taken_email(owner, now=now)
    return change


@dataclass(frozen=True)
class LinkedChange:
    """A pending change as one of its links names it, and which side's link it is."""

    change: EmailChange
    customer: Customer
    side: str

    @property
    def confirmed(self) -> bool:
        return self.change.confirmed_at(self.side) is not None


def load_change_link(token: str, now: datetime) -> LinkedChange:
    """The pending change a confirmation link is for. TokenInvalid when the link is forged, for another
    customer, bound to a stamp that changed since (a report, a reset, a completed change), or its
    change is no longer pending (done, cancelled, replaced); TokenExpired past its expiry."""
    link = read_email_change_link(token)
    change = db.session.get(EmailChange, link.change_id)
    if change is None or change.customer_id != link.customer_id:
        raise TokenInvalid("no such change")
    digest = nonce_hash(link.nonce) if link.nonce.isascii() else ""
    if hmac.compare_digest(digest, change.old_nonce_hash):
        side = SIDE_OLD
    elif hmac.compare_digest(digest, change.new_nonce_hash) and not change.new_address_taken:
        side = SIDE_NEW
    else:
        raise TokenInvalid("wrong nonce")
    customer = change.customer
    if not hmac.compare_digest(customer.security_stamp, link.stamp):
        raise TokenInvalid("stale stamp")
    if change.state != STATE_PENDING:
        raise TokenInvalid(f"change {change.state}")
    if now >= change.expires_at:
        raise TokenExpired(EMAIL_CHANGE)
    return LinkedChange(change, customer, side)


def _locked(token: str, now: datetime) -> LinkedChange:
    """load_change_link, then again once the customer's row is locked: of two clicks at once, the second
    reads what the first committed."""
    linked = load_change_link(token, now)
    lock_customer(linked.customer)
    db.session.refresh(linked.change)
    return load_change_link(token, now)


@dataclass(frozen=True)
class Confirmation:
    linked: LinkedChange
    # Both sides have confirmed and the address on record changed; or the change could not be made.
    done: bool = False
    void: bool = False


def confirm_email_change(token: str, *, now: datetime) -> Confirmation:
    """Confirm the change from the side whose link this is (each side once: a link used to confirm cannot
    confirm again). When both sides have, the change is made (complete_email_change).

    Audits `web:email_change:confirmed` with the side. Raises TokenError as load_change_link. Flushes."""
    linked = _locked(token, now)
    if linked.confirmed:
        raise TokenInvalid("already confirmed from this address")
    append_event(
        tag(Source.WEB, Event.EMAIL_CHANGE_CONFIRMED),
        actor="customer",
        now=now,
        customer_id=linked.customer.id,
        data={"change": linked.change.id, "side": linked.side},
    )
    change = linked.change
    if linked.side == SIDE_OLD:
        change.confirmed_old_at = now
    else:
        change.confirmed_new_at = now
    if change.confirmed_old_at is None or change.confirmed_new_at is None:
        db.session.flush()
        return Confirmation(linked)
    done = complete_email_change(change, linked.customer, now=now)
    return Confirmation(linked, done=done, void=not done)


def complete_email_change(change: EmailChange, customer: Customer, *, now: datetime) -> bool:
    """Make the confirmed change: the old address is kept as a previous address, the new one is the
    address on record, the security stamp rotates (every session and every earlier link ends), the old
    address is told with the report link and the new one gets a confirmation. Audits
    `web:email_change:completed` and `web:sessions:revoked`.

    When it can no longer be made (an incident opened, or the new address became another customer's
    meanwhile), the change is void instead, nothing else changes, and False is returned."""
    old, new = change.old_address, change.new_address
    if has_open_incident(customer) or customer.email != old or find_customer(new) is not None:
        _finish(change, STATE_VOID, now)
        return False
    since = db.session.scalar(
        select(PreviousAddress.replaced_at)
        .where(PreviousAddress.customer_id == customer.id)
        .order_by(PreviousAddress.replaced_at.desc())
        .limit(1)
    )
    try:
        with db.session.begin_nested():
            customer.email = new
            db.session.flush()
    except IntegrityError:
        # Taken by another customer in the same instant: the unique address decided.
        customer.email = old
        _finish(change, STATE_VOID, now)
        return False
    db.session.add(
        PreviousAddress(
            customer_id=customer.id,
            address=old,
            recorded_since=since or customer.created_at,
            replaced_at=now,
            email_change_id=change.id,
        )
    )
    _finish(change, STATE_DONE, now)
    append_event(
        tag(Source.WEB, Event.EMAIL_CHANGE_COMPLETED),
        actor="customer",
        now=now,
        customer_id=customer.id,
        data={"change": change.id, "old_address": old, "new_address": new},
    )
    rotate_security_stamp(customer, source=Source.WEB, actor="customer", now=now)
    send_change_done_emails(customer, old_address=old, now=now)
    db.session.flush()
    return True


def cancel_email_change(token: str, *, now: datetime) -> LinkedChange:
    """Cancel the pending change from either of its emails ("this was not me"), whether or not that side
    had confirmed. Audits `web:email_change:cancelled` with the side. Raises TokenError. Flushes."""
    linked = _locked(token, now)
    append_event(
        tag(Source.WEB, Event.EMAIL_CHANGE_CANCELLED),
        actor="customer",
        now=now,
        customer_id=linked.customer.id,
        data={"change": linked.change.id, "side": linked.side},
    )
    _finish(linked.change, STATE_CANCELLED, now)
    db.session.flush()
    return linked


def _finish(change: EmailChange, state: str, now: datetime) -> None:
    change.state, change.finished_at = state, now


def pending_change_of(customer_id: int, now: datetime) -> EmailChange | None:
    """The customer's pending change, if one is waiting and has not expired."""
    return db.session.execute(
        select(EmailChange).where(
            EmailChange.customer_id == customer_id, EmailChange.state == STATE_PENDING, EmailChange.expires_at > now
        )
    ).scalar_one_or_none()


# Previous addresses


def customer_of_previous_address(address: str, now: datetime) -> Customer | None:
    """The customer whose address on record `address` (normalised) was until fewer than
    PREVIOUS_ADDRESS_DAYS ago; the latest one when several had it. Callers look for a customer whose
    address on record it is first: the current owner of an address always comes first."""
    days = int(current_app.config["PREVIOUS_ADDRESS_DAYS"])
    if days == 0:
        return None
    customer_id = db.session.scalar(_PREVIOUS_OWNER, {"address": address, "since": now - timedelta(days=days)})
    return db.session.get(Customer, customer_id) if customer_id is not None else None


def last_replaced(addresses: list[str]) -> dict[str, datetime]:
    """When each of `addresses` (normalised) last stopped being a customer's address on record, for those
    that ever were: customer_of_previous_address for many reports at once (the importer's batch). A report
    from one of them received at `received_at` is a previous owner's if previous_owner_lately says so."""
    found: dict[str, datetime] = {}
    unique = sorted(set(addresses))
    connection = db.session.connection()
    for start in range(0, len(unique), 500):
        for address, replaced_at in connection.execute(_LAST_REPLACED, {"addresses": unique[start : start + 500]}):
            found[address] = replaced_at
    return found


def previous_owner_lately(last_replaced_at: datetime | None, received_at: datetime) -> bool:
    """Whether customer_of_previous_address(address, received_at) finds a customer, given last_replaced's
    answer for that address."""
    days = int(current_app.config["PREVIOUS_ADDRESS_DAYS"])
    return days > 0 and last_replaced_at is not None and last_replaced_at > received_at - timedelta(days=days)


_LAST_REPLACED = (
    select(PreviousAddress.address, func.max(PreviousAddress.replaced_at))
    .where(PreviousAddress.address.in_(bindparam("addresses", expanding=True)))
    .group_by(PreviousAddress.address)
)


# Built once: every report for an address nobody has runs it, under the write lock (issue 17).
_PREVIOUS_OWNER = (
    select(PreviousAddress.customer_id)
    .where(
        PreviousAddress.address == bindparam("address"),
        PreviousAddress.replaced_at > bindparam("since", type_=PreviousAddress.__table__.c.replaced_at.type),
    )
    .order_by(PreviousAddress.replaced_at.desc(), PreviousAddress.id.desc())
    .limit(1)
)


def tell_previous_address(customer: Customer, report: Report, *, now: datetime) -> None:
    """A customer's own report (web form or email) from an address they had before: the reset link went
    to the address on record, as always, so the reporting address is told where it went, with no link
    in the email at all, at most once per LINK_RESEND_WINDOW_SECONDS per address (no mail bombing)."""
    address = report.address_normalized
    if address is None or report.channel not in ("web", "email") or report.entered_by != "customer":
        return
    if report.received_at_source != "server_clock" or previous_address_reply_sent_recently(address, now):
        return
    replaced_at = db.session.scalar(
        select(PreviousAddress.replaced_at)
        .where(PreviousAddress.customer_id == customer.id, PreviousAddress.address == address)
        .order_by(PreviousAddress.replaced_at.desc())
        .limit(1)
    )
    send_previous_address_report_email(
        customer, report, to_address=address, replaced_at=replaced_at, source=report.channel, now=now
    )


def previous_addresses_of(customer_id: int) -> list[PreviousAddress]:
    """The customer's previous addresses, newest first, for staff."""
    return list(
        db.session.execute(
            select(PreviousAddress)
            .where(PreviousAddress.customer_id == customer_id)
            .order_by(PreviousAddress.replaced_at.desc(), PreviousAddress.id.desc())
        ).scalars()
    )


def reports_from_previous_addresses(customer_id: int, reports: Iterable[Report]) -> set[int]:
    """Ids of the reports that came from an address the customer had changed away from by then."""
    previous = previous_addresses_of(customer_id)
    return {
        report.id
        for report in reports
        if any(p.address == report.address_normalized and p.replaced_at <= report.received_at for p in previous)
    }
