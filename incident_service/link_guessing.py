"""Guessed link tokens (issue 18, item 5): every link page is throttled per client IP, every token that
fails to verify is counted for /metrics, and a client whose failures pass LINK_GUESSING_THRESHOLD is
recorded once per window as a security event (`web:link:guessing_suspected`) that admins see in the
audit log. Counting happens in the rate limiter's storage, shared by every worker (Redis)."""

from __future__ import annotations

from flask import current_app, request
from limits import parse

from .audit.actions import Event, Source, tag
from .audit.service import append_event
from .database import utcnow
from .extensions import limiter
from .metrics_store import increment


def count_invalid_link(kind: str) -> None:
    """A `kind` link (reset, discovery, report) did not verify: count it, and record the client as
    guessing when it passes the threshold. Flushes; the view commits."""
    increment(f"invalid_link:{kind}")
    if not current_app.config["RATELIMIT_ENABLED"]:
        return  # no limiter storage to count per client in
    threshold = parse(current_app.config["LINK_GUESSING_THRESHOLD"])
    ip = request.remote_addr or "unknown"
    try:
        guessing = not limiter.limiter.hit(threshold, "invalid-link", ip)
        first_in_window = guessing and limiter.limiter.hit(
            type(threshold)(1, threshold.multiples), "invalid-link-recorded", ip
        )
    except Exception:  # noqa: BLE001 - the counter store is down: the page must still answer
        current_app.logger.warning("could not count an invalid link per client (rate-limit storage unavailable)")
        return
    if first_in_window:
        append_event(
            tag(Source.WEB, Event.LINK_GUESSING_SUSPECTED),
            actor="system",
            now=utcnow(),
            data={"ip": ip, "kind": kind, "threshold": current_app.config["LINK_GUESSING_THRESHOLD"]},
        )
