"""Guessed link tokens (issue 18, item 5): every link page is throttled per client IP, every token that
fails to verify is counted for /metrics, and a client whose failures pass LINK_GUESSING_THRESHOLD is
recorded once per window as a security event (`web:link:guessing_suspected`) that admins see in the
audit log. Counting happens in the rate limiter's storage, shared by every worker (Redis)."""

from __future__ import annotations

from flask import current_app, request
from limits import parse

from .audit.service import append_event
from .database import utcnow
from .extensions import db, limiter
from .metrics_store import increment


def invalid_link(kind: str) -> None:
    """A `kind` link (reset, discovery, report) did not verify. Counts it, perhaps records the client
    as guessing, and commits both on their own (the page shown is the same as ever)."""
    increment(f"invalid_link:{kind}")
    threshold = current_app.config["LINK_GUESSING_THRESHOLD"]
    ip = request.remote_addr or "unknown"
    strategy, limit = limiter.limiter, parse(threshold)
    if not strategy.hit(limit, "invalid-link", ip):
        once_per_window = type(limit)(1, limit.multiples)
        if strategy.hit(once_per_window, "invalid-link-recorded", ip):
            append_event("web:link:guessing_suspected", actor="system", now=utcnow(),
                         data={"ip": ip, "kind": kind, "threshold": threshold})
    db.session.commit()
