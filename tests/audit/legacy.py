"""The audit log as it was before the Merkle tree: a hash chain, each event holding the hash of the one
before. Tests write such events directly, as the old code did, to check that the chain and the anchors
taken of it still verify beside the tree."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from incident_service.audit.models import GENESIS_HASH, AuditAnchor, AuditEvent
from incident_service.audit.service import canonical_json, event_hash
from incident_service.extensions import db

START = datetime(2026, 1, 5, 3, 0, 0, tzinfo=UTC)


def write_chain(count: int) -> list[int]:
    """`count` chained events after any chained ones already there; their ids. Flushes."""
    head = db.session.execute(
        select(AuditEvent.hash).where(AuditEvent.prev_hash != "").order_by(AuditEvent.id.desc()).limit(1)
    ).scalar()
    previous = head or GENESIS_HASH
    ids = []
    for number in range(count):
        at, data = START + timedelta(minutes=number), canonical_json({"n": number})
        digest = event_hash(previous, at, "cli:customer:created", f"old {number}", None, None, None, data)
        event = AuditEvent(
            occurred_at=at,
            action="cli:customer:created",
            actor=f"old {number}",
            data=data,
            prev_hash=previous,
            hash=digest,
        )
        db.session.add(event)
        db.session.flush()
        ids.append(event.id)
        previous = digest
    return ids


def anchor_head() -> tuple[int, str]:
    """Record an anchor of the chain's head, as `flask audit anchor` did; (event id, hash)."""
    last = db.session.execute(
        select(AuditEvent.id, AuditEvent.hash).where(AuditEvent.prev_hash != "").order_by(AuditEvent.id.desc()).limit(1)
    ).one()
    count = len(db.session.execute(select(AuditEvent.id).where(AuditEvent.prev_hash != "")).all())
    db.session.add(
        AuditAnchor(created_at=START, last_event_id=last[0], event_count=count, head_hash=last[1], emailed_to=None)
    )
    db.session.flush()
    return last[0], last[1]


def rebuild_chain_after_changing(event_id: int) -> None:
    """What an attacker with the database would do: change a chained row, then recompute every later hash."""
    events = db.session.execute(select(AuditEvent).where(AuditEvent.prev_hash != "").order_by(AuditEvent.id)).scalars()
    previous = GENESIS_HASH
    for event in events:
        if event.id == event_id:
            event.actor = "someone else"
        event.prev_hash = previous
        event.hash = event_hash(
            previous,
            event.occurred_at,
            event.action,
            event.actor,
            event.customer_id,
            event.incident_id,
            event.report_id,
            event.data,
        )
        previous = event.hash
    db.session.flush()
