"""Console sessions bound to the staff user's stamp, checked on every request, with idle and absolute timeouts.

Sign-in has two steps: the password makes the session *pending*; only a TOTP code (or enrolment)
makes it a staff session. A new session is started at each step.
"""

from __future__ import annotations

from datetime import datetime

from flask import Flask, g, session

from ..extensions import db
from ..session_binding import SessionBinding
from .models import StaffUser

PENDING = "staff_pending"
BINDING = SessionBinding("staff", "STAFF_SESSION_IDLE_MINUTES", "STAFF_SESSION_ABSOLUTE_HOURS")


def start_pending(staff: StaffUser, now: datetime) -> None:
    session.clear()
    session[PENDING] = {"id": staff.id, "stamp": staff.security_stamp, "at": now.timestamp()}


def pending_staff(now: datetime) -> StaffUser | None:
    """The user who gave the right password in the last five minutes and now owes a TOTP code."""
    pending = session.get(PENDING)
    if not isinstance(pending, dict) or now.timestamp() - float(pending.get("at", 0)) > 300:
        return None
    staff = db.session.get(StaffUser, pending.get("id")) if isinstance(pending.get("id"), int) else None
    if staff is None or not staff.active or staff.security_stamp != pending.get("stamp"):
        return None
    return staff


def complete_sign_in(staff: StaffUser, now: datetime) -> None:
    """A new session for the signed-in user, keeping only the language they chose."""
    locale = session.get("locale")
    session.clear()
    if locale:
        session["locale"] = locale
    BINDING.start(staff, now)
    g.staff = staff


def sign_out() -> None:
    BINDING.end()
    session.pop(PENDING, None)
    g.staff = None


def load_staff_session() -> None:
    g.staff = BINDING.load(lambda staff_id: db.session.get(StaffUser, staff_id), lambda staff: staff.active)


def init_app(app: Flask) -> None:
    app.before_request(load_staff_session)
