"""Creating customers, checking their passwords, and rotating their security stamp."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select

from ..audit.actions import Event, Source, tag
from ..audit.service import append_event
from ..domain_errors import DomainError
from ..extensions import db
from ..settings import LOCALES
from ..tokens import TokenInvalid, read_report_link
from .addresses import InvalidAddress, normalize_address
from .models import Customer, new_security_stamp
from .passwords import hashing, password_problems, refusal_message


class CustomerError(DomainError):
    """Input that cannot become a customer; the message says why."""


class CustomerExists(CustomerError):
    pass


def find_customer(address: str) -> Customer | None:
    """The customer whose address on record is `address` (already normalised), if any."""
    return db.session.execute(select(Customer).where(Customer.email == address)).scalar_one_or_none()


def customer_of_report_link(token: str) -> Customer:
    """The customer a `/r/<token>` link was made for; TokenError if it is not such a link any more."""
    customer = db.session.get(Customer, read_report_link(token).customer_id)
    if customer is None:
        raise TokenInvalid("no such customer")
    return customer


def lock_customer(customer: Customer) -> None:
    """Lock `customer`'s row until the transaction ends and reload it as the last writer left it, so
    that changes to one customer take turns and each reads what the one before committed.

    FOR NO KEY UPDATE: rows that only reference the customer (a new report) are not held up by it.
    Taken after the audit chain's lock (every caller has appended an event by then), never before it,
    so the two locks are always taken in the same order."""
    db.session.refresh(customer, with_for_update={"key_share": True})


def add_customer(
    email: str, *, name: str, locale: str, password: str | None, source: str, actor: str, now: datetime
) -> Customer:
    """Create a customer (hashing the password if given); audits `<source>:customer:created`. Flushes."""
    try:
        address = normalize_address(email)
    except InvalidAddress:
        raise CustomerError(f"{email!r} is not a valid email address") from None
    if locale not in LOCALES:
        raise CustomerError(f"locale must be one of {', '.join(LOCALES)}, not {locale!r}")
    if len(name) > 200:
        raise CustomerError("name is longer than 200 characters")
    if find_customer(address) is not None:
        raise CustomerExists(f"a customer with address {address} already exists")
    customer = Customer(
        email=address,
        name=name.strip(),
        locale=locale,
        password_hash=hashing().hash(password) if password else None,
        security_stamp=new_security_stamp(),
        created_at=now,
        password_changed_at=now if password else None,
    )
    db.session.add(customer)
    db.session.flush()
    append_event(
        tag(source, Event.CUSTOMER_CREATED),
        actor=actor,
        now=now,
        customer_id=customer.id,
        data={"locale": locale, "has_password": bool(password)},
    )
    return customer


@dataclass
class ImportResult:
    created: list[str] = field(default_factory=list)
    skipped: list[tuple[int, str]] = field(default_factory=list)  # (line number, reason)


def import_customers(text: str, *, actor: str, now: datetime) -> ImportResult:
    """Create customers from CSV `email,name,locale[,password]` (header optional).

    Bad lines are skipped and reported with their line numbers; good lines are kept. A password must
    pass the company's rules (customers.passwords.password_problems).
    """
    result = ImportResult()
    reader = csv.reader(io.StringIO(text))
    for line_number, row in enumerate(reader, start=1):
        if not row or all(not cell.strip() for cell in row):
            continue
        if line_number == 1 and row[0].strip().lower() == "email":
            continue
        if len(row) not in (3, 4):
            result.skipped.append(
                (line_number, f"expected 3 or 4 columns (email,name,locale[,password]), found {len(row)}")
            )
            continue
        email, name, locale = (cell.strip() for cell in row[:3])
        password = row[3] if len(row) == 4 and row[3] != "" else None
        problems = password_problems(password, password, email=email) if password is not None else []
        if problems:
            result.skipped.append((line_number, refusal_message(problems)))
            continue
        try:
            with db.session.begin_nested():
                add_customer(
                    email, name=name, locale=locale or "vi", password=password, source="cli", actor=actor, now=now
                )
        except CustomerError as exc:
            result.skipped.append((line_number, str(exc)))
            continue
        result.created.append(email)
    return result


def check_password(address: str, password: str) -> Customer | None:
    """The customer if `password` is theirs and their credential is active; same work for unknown ones (R3)."""
    customer = find_customer(address)
    stored = customer.password_hash if customer is not None else None
    ok = hashing().verify(stored, password)
    if not ok or customer is None or customer.is_locked:
        return None
    if stored is not None and hashing().needs_rehash(stored):
        customer.password_hash = hashing().hash(password)
    return customer


def record_sign_in(customer: Customer, *, ip: str | None, now: datetime) -> None:
    """Audit a customer's sign-in (who, when, from where). Flushes, no commit."""
    append_event(
        tag(Source.WEB, Event.CUSTOMER_SIGNED_IN), actor="customer", now=now, customer_id=customer.id, data={"ip": ip}
    )


def rotate_security_stamp(
    customer: Customer, *, source: str, actor: str, now: datetime, incident_id: int | None = None
) -> None:
    """Give the customer a new stamp: every session and every earlier link dies. Audits `sessions:revoked`."""
    customer.security_stamp = new_security_stamp()
    append_event(
        tag(source, Event.SESSIONS_REVOKED), actor=actor, now=now, customer_id=customer.id, incident_id=incident_id
    )
