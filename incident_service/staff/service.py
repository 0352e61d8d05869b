"""Staff accounts: creating them, checking password and TOTP, enrolling, deactivating, resetting TOTP.

Functions change state, audit and flush; the edge commits.
"""

from __future__ import annotations

import io
import secrets
from datetime import datetime

import pyotp
import segno
from sqlalchemy import select

from ..audit.actions import Event, Source, tag
from ..audit.service import append_event
from ..customers.addresses import InvalidAddress, normalize_address
from ..customers.passwords import hashing, password_problems, refusal_message
from ..domain_errors import DomainError
from ..extensions import db
from .models import ROLES, StaffUser, new_stamp

TOTP_ISSUER = "ECC incident service"


class StaffError(DomainError):
    """Input that cannot become or change a staff account; the message says why."""


class StaffExists(StaffError):
    """Another staff user has this address."""


class StaffPasswordRefused(StaffError):
    """The company's password rules refuse it; `reasons` are the policy's codes."""

    def __init__(self, reasons: list[str]) -> None:
        super().__init__(refusal_message(reasons))
        self.reasons = reasons


def find_staff(address: str) -> StaffUser | None:
    return db.session.execute(select(StaffUser).where(StaffUser.email == address)).scalar_one_or_none()


def create_staff(
    email: str, *, role: str, name: str, password: str, source: str, actor: str, now: datetime
) -> StaffUser:
    """Create an active staff user, TOTP not yet enrolled. Audits `<source>:staff:created`."""
    try:
        address = normalize_address(email)
    except InvalidAddress:
        raise StaffError(f"{email!r} is not a valid email address") from None
    if role not in ROLES:
        raise StaffError(f"role must be one of {', '.join(ROLES)}, not {role!r}")
    if find_staff(address) is not None:
        raise StaffExists(f"a staff user with address {address} already exists")
    problems = password_problems(password, password, email=address)
    if problems:
        raise StaffPasswordRefused(problems)
    staff = StaffUser(
        email=address,
        role=role,
        name=name.strip()[:200],
        password_hash=hashing().hash(password),
        active=True,
        security_stamp=new_stamp(),
        created_at=now,
    )
    db.session.add(staff)
    db.session.flush()
    append_event(
        tag(source, Event.STAFF_CREATED), actor=actor, now=now, data={"staff": staff.id, "email": address, "role": role}
    )
    return staff


def check_staff_password(address: str, password: str) -> StaffUser | None:
    """The active staff user if the password is theirs; the same argon2 work for unknown addresses."""
    staff = find_staff(address)
    ok = hashing().verify(staff.password_hash if staff is not None else None, password)
    if not ok or staff is None or not staff.active:
        return None
    if hashing().needs_rehash(staff.password_hash):
        staff.password_hash = hashing().hash(password)
    return staff


SIGN_IN_EVENTS = ("signed_in", "sign_in_failed", "totp_failed", "signed_out")


def record_sign_in_step(step: str, *, who: str, ip: str | None, now: datetime) -> None:
    """Audit a step of console sign-in (`who`: the staff address, or what was typed when unknown)."""
    if step not in SIGN_IN_EVENTS:
        raise ValueError(f"unknown sign-in step {step!r}")
    append_event(
        tag(Source.CONSOLE, Event(f"staff:{step}")),
        actor=who.strip().lower()[:320] or "unknown",
        now=now,
        data={"ip": ip},
    )


def new_totp_secret() -> str:
    return pyotp.random_base32()


def totp_uri(staff: StaffUser, secret: str) -> str:
    return pyotp.TOTP(secret).provisioning_uri(name=staff.email, issuer_name=TOTP_ISSUER)


def grouped_key(secret: str) -> str:
    """The key as people copy it into an app: groups of four characters."""
    return " ".join(secret[start : start + 4] for start in range(0, len(secret), 4))


def qr_svg(uri: str) -> str:
    """The provisioning URI as an inline SVG QR code, drawn on the server (no script, no remote image).

    Sized by a viewBox (no width or height), so CSS scales the whole code instead of clipping it, with
    the four-module quiet zone the QR standard asks for."""
    buffer = io.BytesIO()
    segno.make(uri, error="m").save(
        buffer,
        kind="svg",
        scale=1,
        border=4,
        omitsize=True,
        xmldecl=False,
        svgns=True,
        title="TOTP",
        dark="#000",
        light="#fff",
    )
    return buffer.getvalue().decode("ascii")


def _matching_step(secret: str, code: str, now: datetime) -> int | None:
    code = "".join(code.split())
    if not code.isdigit() or len(code) != 6:
        return None
    totp = pyotp.TOTP(secret)
    current = totp.timecode(now)
    for step in (current - 1, current, current + 1):  # one step of clock drift either way
        if secrets.compare_digest(totp.generate_otp(step), code):
            return step
    return None


def verify_totp(staff: StaffUser, code: str, now: datetime) -> bool:
    """True when `code` is valid now and newer than the last accepted one (no replay)."""
    if staff.totp_secret is None:
        return False
    step = _matching_step(staff.totp_secret, code, now)
    if step is None or (staff.totp_last_step is not None and step <= staff.totp_last_step):
        return False
    staff.totp_last_step = step
    return True


def enrol_totp(staff: StaffUser, secret: str, code: str, *, now: datetime) -> bool:
    """Keep `secret` as the user's second factor if `code` proves the authenticator has it."""
    step = _matching_step(secret, code, now)
    if step is None:
        return False
    staff.totp_secret, staff.totp_enrolled_at, staff.totp_last_step = secret, now, step
    append_event(tag(Source.CONSOLE, Event.STAFF_TOTP_ENROLLED), actor=staff.label, now=now, data={"staff": staff.id})
    return True


def set_active(staff: StaffUser, active: bool, *, actor: str, now: datetime) -> None:
    """Deactivate (ending every session at once) or reactivate a staff user."""
    staff.active = active
    staff.security_stamp = new_stamp()
    append_event(
        tag(Source.CONSOLE, Event.STAFF_ACTIVATED if active else Event.STAFF_DEACTIVATED),
        actor=actor,
        now=now,
        data={"staff": staff.id},
    )


def reset_totp(staff: StaffUser, *, actor: str, now: datetime) -> None:
    """Forget the second factor: the user enrols again at next sign-in; current sessions end."""
    staff.totp_secret = staff.totp_enrolled_at = staff.totp_last_step = None
    staff.security_stamp = new_stamp()
    append_event(tag(Source.CONSOLE, Event.STAFF_TOTP_RESET), actor=actor, now=now, data={"staff": staff.id})
