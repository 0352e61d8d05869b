"""Appending to and verifying the audit chain: hash = SHA-256(prev_hash ‖ canonical JSON)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, text

from ..extensions import db
from .models import GENESIS_HASH, AuditEvent

# Any constant; PostgreSQL serialises chain appends on it so the chain stays one line.
_CHAIN_LOCK_KEY = 0x1AC1DE47


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def event_hash(prev_hash: str, occurred_at: datetime, action: str, actor: str,
               customer_id: int | None, incident_id: int | None, report_id: int | None, data: str) -> str:
    body = canonical_json({
        "occurred_at": occurred_at.isoformat(timespec="microseconds"),
        "action": action,
        "actor": actor,
        "customer_id": customer_id,
        "incident_id": incident_id,
        "report_id": report_id,
        "data": data,
    })
    return hashlib.sha256((prev_hash + body).encode("utf-8")).hexdigest()


def append_event(action: str, *, actor: str, now: datetime, customer_id: int | None = None,
                 incident_id: int | None = None, report_id: int | None = None,
                 data: dict[str, Any] | None = None) -> AuditEvent:
    """Add one event at the head of the chain and flush it. The caller's transaction commits it."""
    session = db.session
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _CHAIN_LOCK_KEY})
    prev = session.execute(select(AuditEvent.hash).order_by(AuditEvent.id.desc()).limit(1)).scalar()
    prev_hash = prev or GENESIS_HASH
    # Both databases keep microseconds, so the hashed time survives the round trip.
    occurred_at = now
    payload = canonical_json(data or {})
    event = AuditEvent(
        occurred_at=occurred_at,
        action=action,
        actor=actor,
        customer_id=customer_id,
        incident_id=incident_id,
        report_id=report_id,
        data=payload,
        prev_hash=prev_hash,
        hash=event_hash(prev_hash, occurred_at, action, actor, customer_id, incident_id, report_id, payload),
    )
    session.add(event)
    session.flush()
    return event


@dataclass(frozen=True)
class ChainVerification:
    ok: bool
    events: int
    head: str
    broken_at: int | None = None
    problem: str | None = None


def verify_chain() -> ChainVerification:
    """Walk the whole chain in order; stop at the first event whose links or hash do not match."""
    expected_prev = GENESIS_HASH
    count = 0
    rows = db.session.execute(select(AuditEvent).order_by(AuditEvent.id).execution_options(yield_per=1000))
    try:
        for event in rows.scalars():
            count += 1
            if event.prev_hash != expected_prev:
                return ChainVerification(False, count, expected_prev, event.id, "its prev_hash does not match "
                                         "the event before it (a row was removed or inserted)")
            recomputed = event_hash(event.prev_hash, event.occurred_at, event.action, event.actor,
                                    event.customer_id, event.incident_id, event.report_id, event.data)
            if recomputed != event.hash:
                return ChainVerification(False, count, expected_prev, event.id,
                                         "its contents do not match its hash (the row was changed)")
            expected_prev = event.hash
    finally:
        rows.close()  # a server-side cursor on PostgreSQL when we stop early
    return ChainVerification(True, count, expected_prev)
