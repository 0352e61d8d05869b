"""Creating and updating customers, checking their passwords, and rotating their security stamp."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from datetime import datetime

from flask import current_app
from sqlalchemy import exists, select
from sqlalchemy.exc import IntegrityError

from ..audit.actions import Event, Source, tag
from ..audit.service import append_event
from ..database import utcnow
from ..domain_errors import DomainError
from ..extensions import db
from ..incidents.models import Incident
from ..settings import LOCALES
from ..tokens import TokenInvalid, read_report_link
from .addresses import InvalidAddress, normalize_address
from .imported_hashes import ACCEPTED_FORMATS, hash_problem, scheme_of
from .models import Customer, new_security_stamp
from .passwords import hashing, password_problems, refusal_message

NAME_MAX = 200


class CustomerError(DomainError):
    """Input that cannot become a customer; the message says why."""


class CustomerExists(CustomerError):
    pass


class UnsupportedPasswordHash(CustomerError):
    """A password hash from the company's current system that is in none of the accepted formats, or
    outside their limits (customers.imported_hashes); the message says which and names the formats."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"{reason}; accepted formats: {ACCEPTED_FORMATS}")


class PasswordHashRefused(CustomerError):
    """A password hash for a customer who has reported their password: it is not set (see upsert_customer)."""


def checked_password_hash(encoded: str) -> str:
    """`encoded` if it is a hash the service accepts; UnsupportedPasswordHash saying why not."""
    problem = hash_problem(encoded)
    if problem is not None:
        raise UnsupportedPasswordHash(problem)
    return encoded


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
    Audit events take no lock (audit.service), so this is the first lock a change to a customer takes."""
    db.session.refresh(customer, with_for_update={"key_share": True})


def _checked_address(email: str) -> str:
    try:
        return normalize_address(email)
    except InvalidAddress:
        raise CustomerError(f"{email!r} is not a valid email address") from None


def _checked_locale(locale: str) -> str:
    if locale not in LOCALES:
        raise CustomerError(f"locale must be one of {', '.join(LOCALES)}, not {locale!r}")
    return locale


def _checked_name(name: str) -> str:
    if len(name) > NAME_MAX:
        raise CustomerError(f"name is longer than {NAME_MAX} characters")
    return name.strip()


def add_customer(
    email: str,
    *,
    name: str,
    locale: str,
    password: str | None,
    source: str,
    actor: str,
    now: datetime,
    password_hash: str | None = None,
) -> Customer:
    """Create a customer with a password (hashed here) or a `password_hash` imported from the company's
    current system (UnsupportedPasswordHash if not accepted), or neither; audits
    `<source>:customer:created` with the hash's format, never the hash. Flushes."""
    if password and password_hash:
        raise ValueError("a new customer has a password or an imported hash, not both")
    address = _checked_address(email)
    _checked_locale(locale)
    name = _checked_name(name)
    if password_hash is not None:
        checked_password_hash(password_hash)
    if find_customer(address) is not None:
        raise CustomerExists(f"a customer with address {address} already exists")
    stored = hashing().hash(password) if password else password_hash
    customer = Customer(
        email=address,
        name=name,
        locale=locale,
        password_hash=stored,
        security_stamp=new_security_stamp(),
        created_at=now,
        password_changed_at=now if stored else None,
    )
    db.session.add(customer)
    db.session.flush()
    data: dict[str, object] = {"locale": locale, "has_password": bool(stored)}
    if password_hash is not None:
        data["password_format"] = scheme_of(password_hash)
    append_event(tag(source, Event.CUSTOMER_CREATED), actor=actor, now=now, customer_id=customer.id, data=data)
    return customer


def has_reported_password(customer: Customer) -> bool:
    """Whether the customer's password was ever reported: the credential is locked, or an incident of
    theirs exists in any state (open, resolved with a password set here, or closed with the lock kept)."""
    if customer.is_locked:
        return True
    return bool(db.session.scalar(select(exists().where(Incident.customer_id == customer.id))))


def upsert_customer(
    email: str,
    *,
    name: str | None,
    locale: str | None,
    password_hash: str | None,
    actor: str,
    now: datetime,
    source: str = "api",
) -> tuple[Customer, bool]:
    """Create the customer whose address is `email`, or update the one there; True when created.

    `email` is the key (normalised as every channel does) and is never changed here. None leaves a
    field as it is (a new customer gets an empty name and DEFAULT_LOCALE); `password_hash` is one of the
    formats in customers.imported_hashes (UnsupportedPasswordHash otherwise), stored as it is and
    rehashed to argon2id at the first sign-in. It is refused (PasswordHashRefused, nothing changed) for
    a customer whose password was ever reported (has_reported_password): a reported password stays dead
    until the customer sets a new one through the reset link, and after that the password is this
    service's, so a copy from the old system must not bring the reported one back. Setting a hash ends
    no session.

    Audits `<source>:customer:created` or `<source>:customer:updated` (the fields changed and the hash's
    format, never a value); an update that changes nothing audits nothing. Flushes, never commits.
    """
    address = _checked_address(email)
    new_name = _checked_name(name) if name is not None else None
    new_locale = _checked_locale(locale) if locale is not None else None
    if password_hash is not None:
        checked_password_hash(password_hash)
    customer = find_customer(address)
    if customer is None:
        try:
            with db.session.begin_nested():
                created = add_customer(
                    address,
                    name=new_name or "",
                    locale=new_locale or current_app.config["DEFAULT_LOCALE"],
                    password=None,
                    password_hash=password_hash,
                    source=source,
                    actor=actor,
                    now=now,
                )
            return created, True
        except (CustomerExists, IntegrityError):
            # Another upsert created it meanwhile (the unique address decided): update that one instead.
            customer = find_customer(address)
            assert customer is not None
    if password_hash is not None:
        _refuse_hash_if_reported(customer)
    changes = {
        column: value
        for column, value in (("name", new_name), ("locale", new_locale), ("password_hash", password_hash))
        if value is not None and getattr(customer, column) != value
    }
    if not changes:
        return customer, False
    data: dict[str, object] = {"changed": sorted(changes)}
    if "password_hash" in changes:
        data["password_format"] = scheme_of(password_hash or "")
    append_event(tag(source, Event.CUSTOMER_UPDATED), actor=actor, now=now, customer_id=customer.id, data=data)
    # Then a report that opened an incident meanwhile has committed, and the checks below see it.
    lock_customer(customer)
    if "password_hash" in changes:
        _refuse_hash_if_reported(customer)
        customer.password_changed_at = now
        # A new password from the company's systems ends every session signed in with the old one, as a
        # reset does: whoever knew the old password must not stay signed in.
        rotate_security_stamp(customer, source=source, actor=actor, now=now)
    for column, value in changes.items():
        setattr(customer, column, value)
    db.session.flush()
    return customer, False


def _refuse_hash_if_reported(customer: Customer) -> None:
    if has_reported_password(customer):
        raise PasswordHashRefused(
            "this customer has reported their password: an imported password hash is not set, and the old "
            "password stays dead until the customer sets a new one through the reset link"
        )


@dataclass
class ImportResult:
    created: list[str] = field(default_factory=list)
    skipped: list[tuple[int, str]] = field(default_factory=list)  # (line number, reason)


PASSWORD_COLUMNS = ("password", "password_hash")


def import_customers(text: str, *, actor: str, now: datetime) -> ImportResult:
    """Create customers from CSV `email,name,locale[,password]` (header optional), or
    `email,name,locale,password_hash` when the header line names the fourth column so.

    Bad lines are skipped and reported with their line numbers; good lines are kept. A password must
    pass the company's rules (customers.passwords.password_problems); a hash must be in an accepted
    format (customers.imported_hashes). A value in a `password` column that looks like a hash is refused,
    so that a hash is never taken for a password by a missing header.
    """
    result = ImportResult()
    reader = csv.reader(io.StringIO(text))
    fourth = "password"
    for line_number, row in enumerate(reader, start=1):
        if not row or all(not cell.strip() for cell in row):
            continue
        if line_number == 1 and row[0].strip().lower() == "email":
            fourth = row[3].strip().lower() if len(row) > 3 else "password"
            if fourth not in PASSWORD_COLUMNS:
                result.skipped.append(
                    (line_number, f"the fourth column must be password or password_hash, not {fourth!r}")
                )
                return result
            continue
        if len(row) not in (3, 4):
            result.skipped.append(
                (line_number, f"expected 3 or 4 columns (email,name,locale[,{fourth}]), found {len(row)}")
            )
            continue
        email, name, locale = (cell.strip() for cell in row[:3])
        value = row[3] if len(row) == 4 and row[3] != "" else None
        password = value if fourth == "password" else None
        password_hash = value.strip() if value is not None and fourth == "password_hash" else None
        if password is not None and scheme_of(password) is not None:
            result.skipped.append(
                (line_number, "the password looks like a password hash: name the column password_hash")
            )
            continue
        problems = password_problems(password, password, email=email) if password is not None else []
        if problems:
            result.skipped.append((line_number, refusal_message(problems)))
            continue
        try:
            with db.session.begin_nested():
                add_customer(
                    email,
                    name=name,
                    locale=locale or "vi",
                    password=password,
                    password_hash=password_hash,
                    source="cli",
                    actor=actor,
                    now=now,
                )
        except CustomerError as exc:
            result.skipped.append((line_number, str(exc)))
            continue
        result.created.append(email)
    return result


def check_password(address: str, password: str, *, now: datetime | None = None) -> Customer | None:
    """The customer if `password` is theirs and their credential is active; same work for unknown ones (R3).

    A hash in an imported format (customers.imported_hashes), or argon2id with other parameters than
    PASSWORD_HASH_PROFILE, is replaced by a fresh argon2id hash in the sign-in's own transaction, and
    audited `web:password:rehashed` with the old format. Flushes nothing else; the caller commits."""
    customer = find_customer(address)
    stored = customer.password_hash if customer is not None else None
    ok = hashing().verify(stored, password)
    if not ok or customer is None or customer.is_locked:
        return None
    if stored is not None and hashing().needs_rehash(stored):
        customer.password_hash = hashing().hash(password)
        append_event(
            tag(Source.WEB, Event.PASSWORD_REHASHED),
            actor="customer",
            now=now or utcnow(),
            customer_id=customer.id,
            data={"from": scheme_of(stored) or "other", "to": "argon2id"},
        )
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
