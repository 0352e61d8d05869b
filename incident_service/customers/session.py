"""Customer web sessions bound to the security stamp and checked on every request (S1, S2).

Flask's signed cookie cannot be revoked by itself; keeping the stamp in it and comparing it with the
database on every request means rotating the stamp ends every session at once, server-side.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from flask import Flask, current_app, g, session

from ..database import utcnow
from ..extensions import db
from .models import Customer

_KEYS = ("customer_id", "customer_stamp", "customer_signed_in_at", "customer_seen_at")


def sign_in(customer: Customer, now: datetime) -> None:
    """Start a fresh session: anything from before sign-in (e.g. a pre-login CSRF token) is dropped."""
    session.clear()
    session.permanent = False
    session["customer_id"] = customer.id
    session["customer_stamp"] = customer.security_stamp
    session["customer_signed_in_at"] = now.timestamp()
    session["customer_seen_at"] = now.timestamp()
    g.customer = customer


def sign_out() -> None:
    session.clear()
    g.customer = None


def _expired(now: datetime) -> bool:
    config = current_app.config
    signed_in = session.get("customer_signed_in_at", 0)
    seen = session.get("customer_seen_at", 0)
    idle = timedelta(minutes=config["SESSION_IDLE_MINUTES"]).total_seconds()
    absolute = timedelta(hours=config["SESSION_ABSOLUTE_HOURS"]).total_seconds()
    stamp = now.timestamp()
    return stamp - seen > idle or stamp - signed_in > absolute


def load_customer_session() -> None:
    """Set g.customer from the session, or end the session if its stamp is stale or it timed out."""
    g.customer = None
    customer_id = session.get("customer_id")
    if customer_id is None:
        return
    now = utcnow()
    customer = db.session.get(Customer, customer_id) if isinstance(customer_id, int) else None
    if customer is None or customer.security_stamp != session.get("customer_stamp") or _expired(now):
        for key in _KEYS:
            session.pop(key, None)
        return
    g.customer = customer
    # Refresh the idle clock at most once a minute so the cookie is not rewritten on every request.
    if now.timestamp() - session.get("customer_seen_at", 0) > 60:
        session["customer_seen_at"] = now.timestamp()


def init_app(app: Flask) -> None:
    app.before_request(load_customer_session)
