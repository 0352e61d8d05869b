"""Removing personal data from audit events that are already leaves of the Merkle tree.

An event's content is what its leaf hashes; a leaf, once in the tree, never changes (checkpoints outside
the company hold roots made from it). So redaction replaces the named fields of the event's `data` with a
tombstone and records the leaf's hash (the tree's level-0 node) in `audit_redactions` and in an event of
its own (`audit:events_redacted`, a leaf itself): the proof of the event's place in the log stands,
its content is gone, and `flask audit verify` checks the recorded hash instead of recomputing it.
Events not yet sequenced are left for a later run (they are seconds old, never due).
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Iterable

from sqlalchemy import select

from ..extensions import db
from .actions import Event, tag
from .models import AuditEvent, AuditRedaction, AuditTreeNode
from .service import append_event, canonical_json, event_details

# Said in place of a removed value, with the rule and the day: the event shows what was removed, not what it was.
PURGED = "[removed: {rule}, {day}]"


def redact_events(
    event_ids: Iterable[int], keys: frozenset[str], *, rule: str, source: str, actor: str, now: datetime
) -> int:
    """Replace `keys` of each event's data with a tombstone (events in the tree only, and only keys they
    have). Audits `audit:events_redacted` with each event's id, leaf index and leaf hash. Flushes; returns
    how many events changed."""
    ids = sorted(set(event_ids))
    if not ids:
        return 0
    # An event redacted before (a shorter rule) may have more to remove now (a longer rule, an erasure).
    earlier = redactions_of(ids)
    events = db.session.execute(
        select(AuditEvent).where(AuditEvent.id.in_(ids), AuditEvent.leaf_index.is_not(None)).order_by(AuditEvent.id)
    ).scalars()
    marker = PURGED.format(rule=rule, day=now.date().isoformat())
    changed: list[tuple[AuditEvent, list[str]]] = []
    for event in events:
        data = event_details(event.data)
        present = sorted(key for key in keys if key in data and data[key] != marker)
        if not present:
            continue
        for key in present:
            data[key] = marker
        event.data = canonical_json(data)
        changed.append((event, present))
    if not changed:
        return 0
    leaves = _leaf_hashes([event.leaf_index for event, _fields in changed if event.leaf_index is not None])
    recorded = []
    for event, fields in changed:
        assert event.leaf_index is not None
        leaf_hash = leaves[event.leaf_index]
        before = earlier.get(event.id)
        if before is not None:
            before.fields = sorted(set(before.fields) | set(fields))
            before.rule, before.redacted_at = rule, now
        else:
            db.session.add(
                AuditRedaction(
                    event_id=event.id,
                    leaf_index=event.leaf_index,
                    leaf_hash=leaf_hash,
                    fields=fields,
                    rule=rule,
                    redacted_at=now,
                )
            )
        recorded.append([event.id, event.leaf_index, leaf_hash])
    append_event(
        tag(source, Event.EVENTS_REDACTED),
        actor=actor,
        now=now,
        data={"rule": rule, "fields": sorted(keys), "events": json.dumps(recorded, separators=(",", ":"))},
    )
    db.session.flush()
    return len(changed)


def redactions_of(event_ids: Iterable[int]) -> dict[int, AuditRedaction]:
    ids = list(set(event_ids))
    if not ids:
        return {}
    rows = db.session.execute(select(AuditRedaction).where(AuditRedaction.event_id.in_(ids))).scalars()
    return {row.event_id: row for row in rows}


def _leaf_hashes(indexes: list[int]) -> dict[int, str]:
    rows = db.session.execute(
        select(AuditTreeNode.index, AuditTreeNode.hash).where(
            AuditTreeNode.level == 0, AuditTreeNode.index.in_(indexes)
        )
    )
    return {index: bytes(digest).hex() for index, digest in rows}
