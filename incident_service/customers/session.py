"""Customer web sessions bound to the security stamp and checked on every request (S1, S2)."""

from __future__ import annotations

from datetime import datetime

from flask import Flask, g, session

from ..extensions import db
from ..session_binding import SessionBinding
from .models import Customer

BINDING = SessionBinding("customer", "SESSION_IDLE_MINUTES", "SESSION_ABSOLUTE_HOURS", explains_endings=True)


def sign_in(customer: Customer, now: datetime) -> None:
    """Start a fresh session: anything from before sign-in (e.g. a pre-login CSRF token) is dropped."""
    session.clear()
    session.permanent = False
    BINDING.start(customer, now)
    g.customer = customer


def sign_out() -> None:
    session.clear()
    g.customer = None


def load_customer_session() -> None:
    g.customer = BINDING.load(lambda customer_id: db.session.get(Customer, customer_id))


def init_app(app: Flask) -> None:
    app.before_request(load_customer_session)
