"""Appending to and verifying the audit chain: hash = SHA-256(prev_hash ‖ canonical JSON)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from json.encoder import encode_basestring as _string  # what json.dumps uses with ensure_ascii=False
from typing import Any, Callable, NamedTuple, Sequence

from sqlalchemy import func, or_, select

from ..database import bind_value, insert_tuples, table_of, within
from ..extensions import core_execute, db
from .actions import checked
from .models import GENESIS_HASH, AuditAnchor, AuditEvent, AuditRedaction

# Any constant; PostgreSQL serialises chain appends on it so the chain stays one line.
CHAIN_LOCK_KEY = 0x1AC1DE47


_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def canonical_json(value: Any) -> str:
    """Sorted keys, no spaces, UTF-8 as is: the one spelling hashed into the chain. A flat object of
    strings, integers and nulls (nearly every event's data) is written directly, exactly as the
    encoder would (tests/audit/test_chain.py compares them)."""
    if type(value) is not dict:
        return _CANONICAL.encode(value)
    try:
        keys = sorted(value)
    except TypeError:  # keys of mixed types: the encoder's own rules apply
        return _CANONICAL.encode(value)
    parts = []
    for key in keys:
        item = value[key]
        kind = type(item)
        if type(key) is not str:
            return _CANONICAL.encode(value)
        if kind is str:
            parts.append(f"{_string(key)}:{_string(item)}")
        elif kind is int:
            parts.append(f"{_string(key)}:{item}")
        elif item is None:
            parts.append(f"{_string(key)}:null")
        else:
            return _CANONICAL.encode(value)
    return "{" + ",".join(parts) + "}"


def event_details(data: str) -> dict[str, Any]:
    """An event's `data` read back as the object it was written from ({} if it is not one: only a
    changed row can be anything else, and `flask audit verify` names that)."""
    try:
        value = json.loads(data or "{}")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def event_hash(
    prev_hash: str,
    occurred_at: datetime | str,
    action: str,
    actor: str,
    customer_id: int | None,
    incident_id: int | None,
    report_id: int | None,
    data: str,
) -> str:
    """SHA-256 of the previous hash and the event's canonical JSON. The JSON is spelled out here, keys
    in sorted order, exactly as `canonical_json` writes it (a test holds them equal): this runs once per
    event when the log is verified. `occurred_at` may come already in ISO form. (append_events spells the
    same body with its constant parts made once per append: tests/audit/test_service.py.)"""
    body = _event_body(occurred_at, action, actor, customer_id, incident_id, report_id, data)
    return hashlib.sha256((prev_hash + body).encode("utf-8")).hexdigest()


def event_leaf(event: AuditEvent) -> str:
    """The event's leaf in the Merkle tree (audit.merkle), as text; its bytes are its UTF-8: the
    previous hash (64 hex digits) then the canonical JSON body. Exactly what `event.hash` is the SHA-256
    of, so the tree also carries the chain: a pack's leaf shows the event and its link to the one before."""
    return event.prev_hash + _event_body(
        event.occurred_at,
        event.action,
        event.actor,
        event.customer_id,
        event.incident_id,
        event.report_id,
        event.data,
    )


def _event_body(
    occurred_at: datetime | str,
    action: str,
    actor: str,
    customer_id: int | None,
    incident_id: int | None,
    report_id: int | None,
    data: str,
) -> str:
    """The event's canonical JSON (what canonical_event_body makes), spelled out for speed."""
    moment = occurred_at if isinstance(occurred_at, str) else occurred_at.isoformat(timespec="microseconds")
    return "".join(
        (
            '{"action":',
            _string(action),
            ',"actor":',
            _string(actor),
            ',"customer_id":',
            "null" if customer_id is None else str(int(customer_id)),
            ',"data":',
            _string(data),
            ',"incident_id":',
            "null" if incident_id is None else str(int(incident_id)),
            ',"occurred_at":',
            _string(moment),
            ',"report_id":',
            "null" if report_id is None else str(int(report_id)),
            "}",
        )
    )


def canonical_event_body(
    occurred_at: datetime,
    action: str,
    actor: str,
    customer_id: int | None,
    incident_id: int | None,
    report_id: int | None,
    data: str,
) -> str:
    """The event's canonical JSON the slow, obvious way; tests compare event_hash against it."""
    return canonical_json(
        {
            "occurred_at": occurred_at.isoformat(timespec="microseconds"),
            "action": action,
            "actor": actor,
            "customer_id": customer_id,
            "incident_id": incident_id,
            "report_id": report_id,
            "data": data,
        }
    )


# An event written since the log became a Merkle tree has no link to the one before it: its `prev_hash`
# is empty, its leaf is its canonical body alone, and `hash` is the SHA-256 of that. Writers never read
# a head or wait on one another; the sequencer gives the order (audit.sequencer). The events before the
# change keep their chain (verify_chain still walks it against the anchors taken then).
UNCHAINED = ""


def _event_row(
    prev_hash: str,
    action: str,
    actor: str,
    now: datetime,
    customer_id: int | None,
    incident_id: int | None,
    report_id: int | None,
    data: dict[str, Any] | None,
) -> dict[str, Any]:
    # Both databases keep microseconds, so the hashed time survives the round trip.
    payload = canonical_json(data or {})
    return {
        "occurred_at": now,
        "action": action,
        "actor": actor,
        "customer_id": customer_id,
        "incident_id": incident_id,
        "report_id": report_id,
        "data": payload,
        "prev_hash": prev_hash,
        "hash": event_hash(prev_hash, now, action, actor, customer_id, incident_id, report_id, payload),
    }


def append_event(
    action: str,
    *,
    actor: str,
    now: datetime,
    customer_id: int | None = None,
    incident_id: int | None = None,
    report_id: int | None = None,
    data: dict[str, Any] | None = None,
) -> None:
    """Write one event, taking no lock: the caller's transaction commits it, and the sequencer then
    gives it its place in the log. What the session holds is flushed first (as before); the event itself
    is one INSERT, not an object in the session's unit of work (a report writes six: issue 17)."""
    action = checked(action)
    core_execute(
        table_of(AuditEvent).insert(),
        _event_row(UNCHAINED, action, actor, now, customer_id, incident_id, report_id, data),
    )
    _tell_listeners([NewEvent(action, customer_id, incident_id, report_id, data, now)])


class NewEvent(NamedTuple):
    """One event to append with append_events (a tuple: a mass reactivation makes six per customer)."""

    action: str
    customer_id: int | None = None
    incident_id: int | None = None
    report_id: int | None = None
    data: dict[str, Any] | None = None
    at: datetime | None = None  # when it happened, if not the `now` of the whole append
    actor: str | None = None  # who did it, if not the `actor` of the whole append


def append_events(events: list[NewEvent], *, actor: str, now: datetime, appends: Sequence[int] | None = None) -> None:
    """Write `events` with one multi-row insert (their ids, and so the sequencer's order, follow the
    list's), taking no lock. Each is `actor`'s unless it names its own.

    `appends`: the listeners are told of the events as that many appends one after another would tell
    them (so many events each, in order), not all at once: what they write per append (a webhook
    subscription's disclosure) is then what appending them one step at a time writes (the importer's
    batch, intake.bulk)."""
    if not events:
        return
    actions = {(event.action, event.actor or actor) for event in events}  # a handful of distinct ones per batch
    for action, _by in actions:
        checked(action)
    db.session.flush()
    connection, table = db.session.connection(), table_of(AuditEvent)
    now_iso, now_bound = now.isoformat(timespec="microseconds"), bind_value(connection, table, "occurred_at", now)
    # Each body is _event_body's, its constant parts spelled once per append (a mass reactivation hashes
    # six hundred thousand): the action and actor before the customer, the time between incident and report.
    heads = {
        (action, by): f'{{"action":{_string(action)},"actor":{_string(by)},"customer_id":' for action, by in actions
    }
    now_middle = f',"occurred_at":{_string(now_iso)},"report_id":'
    sha256 = hashlib.sha256
    rows = []
    told = []
    for event in events:
        action, customer_id, incident_id, report_id, data, at, by = event
        by = by or actor
        payload = canonical_json(data) if data else "{}"
        if at is None or at is now:  # the append's own time (bulk callers pass it, sparing a copy here)
            middle, bound = now_middle, now_bound
            if at is None:
                event = event._replace(at=now)
        else:
            middle = f',"occurred_at":{_string(at.isoformat(timespec="microseconds"))},"report_id":'
            bound = bind_value(connection, table, "occurred_at", at)
        body = "".join(
            (
                heads[action, by],
                _json_id(customer_id),
                ',"data":',
                _string(payload),
                ',"incident_id":',
                _json_id(incident_id),
                middle,
                _json_id(report_id),
                "}",
            )
        )
        rows.append(
            (
                bound,
                action,
                by,
                customer_id,
                incident_id,
                report_id,
                payload,
                UNCHAINED,
                sha256(body.encode("utf-8")).hexdigest(),  # event_hash(UNCHAINED, ...): a test holds them equal
            )
        )
        told.append(event)
    insert_tuples(connection, table, _EVENT_COLUMNS, rows)
    if appends is None:
        _tell_listeners(told)
        return
    if sum(appends) != len(told):
        raise ValueError(f"appends of {sum(appends)} events for {len(told)} events")
    start = 0
    for size in appends:
        _tell_listeners(told[start : start + size])
        start += size


def _json_id(value: int | None) -> str:
    """An id as _event_body writes it."""
    return "null" if value is None else str(value) if type(value) is int else str(int(value))


# Told of every event appended, in the transaction that appends it (webhooks queue their deliveries so):
# registered by packages above this one, which it must not import. Each event's `at` is set.
AppendListener = Callable[[Sequence[NewEvent]], None]
_append_listeners: list[AppendListener] = []


def on_append(listener: AppendListener) -> None:
    """Call `listener` with the events of every append, after they are flushed, before the commit."""
    if listener not in _append_listeners:
        _append_listeners.append(listener)


def _tell_listeners(events: Sequence[NewEvent]) -> None:
    for listener in _append_listeners:
        listener(events)


_EVENT_COLUMNS = [
    "occurred_at",
    "action",
    "actor",
    "customer_id",
    "incident_id",
    "report_id",
    "data",
    "prev_hash",
    "hash",
]


@dataclass(frozen=True)
class ChainVerification:
    ok: bool
    events: int
    head: str
    broken_at: int | None = None
    problem: str | None = None
    anchors_checked: int = 0


def verify_chain(external_anchors: Sequence[tuple[int, str]] = ()) -> ChainVerification:
    """Walk every event in id order: each one's contents must give its hash. The events written before
    the log became a tree (audit.sequencer) also form a chain, each holding the hash of the one before:
    stop at the first broken link, or a hash that differs from an anchor taken of that chain (stored
    ones, and `external_anchors` as (event id, hash)). The tree's own check is tree_verification's."""
    anchors: dict[int, str] = {}
    for anchor in db.session.execute(select(AuditAnchor)).scalars():
        anchors[anchor.last_event_id] = anchor.head_hash
    expected_by_id = dict(anchors)
    for event_id, head in external_anchors:
        if expected_by_id.get(event_id, head) != head:
            return ChainVerification(False, 0, GENESIS_HASH, event_id, "two anchors disagree about this event")
        expected_by_id[event_id] = head
    checked = 0
    expected_prev = GENESIS_HASH
    count = 0
    chain_ended = False
    # Events whose personal data was removed (audit.redaction): their stored hash stands, as their leaf does.
    redacted = set(db.session.execute(select(AuditRedaction.event_id)).scalars())
    rows = db.session.execute(select(AuditEvent).order_by(AuditEvent.id).execution_options(yield_per=1000))
    try:
        for event in rows.scalars():
            count += 1
            if event.prev_hash == UNCHAINED:
                chain_ended = True
            elif chain_ended or event.prev_hash != expected_prev:
                return ChainVerification(
                    False,
                    count,
                    expected_prev,
                    event.id,
                    "its prev_hash does not match the event before it (a row was removed or inserted)"
                    if not chain_ended
                    else "it is linked into the chain, which ended before it (the row was inserted)",
                )
            recomputed = event_hash(
                event.prev_hash,
                event.occurred_at,
                event.action,
                event.actor,
                event.customer_id,
                event.incident_id,
                event.report_id,
                event.data,
            )
            if recomputed != event.hash and event.id not in redacted:
                return ChainVerification(
                    False, count, expected_prev, event.id, "its contents do not match its hash (the row was changed)"
                )
            anchored = expected_by_id.pop(event.id, None)
            if anchored is not None:
                if anchored != event.hash:
                    return ChainVerification(
                        False,
                        count,
                        expected_prev,
                        event.id,
                        "its hash differs from an anchor taken earlier (the chain was rebuilt)",
                    )
                checked += 1
            if not chain_ended:
                expected_prev = event.hash
    finally:
        rows.close()  # a server-side cursor on PostgreSQL when we stop early
    if expected_by_id:
        missing = min(expected_by_id)
        return ChainVerification(
            False, count, expected_prev, missing, "an anchored event is missing (the chain was cut short)"
        )
    return ChainVerification(True, count, expected_prev, anchors_checked=checked)


def chain_head() -> tuple[int, int, str]:
    """(last event id, number of events, head hash) of the chain, which ended when the log became a tree:
    what anchors taken before then are compared with."""
    chained = AuditEvent.prev_hash != UNCHAINED
    last = db.session.execute(
        select(AuditEvent.id, AuditEvent.hash).where(chained).order_by(AuditEvent.id.desc()).limit(1)
    ).first()
    count = db.session.scalar(select(func.count()).select_from(AuditEvent).where(chained)) or 0
    return (last[0], count, last[1]) if last else (0, 0, GENESIS_HASH)


NO_INCIDENT = -1  # an incident id that matches no event: a reference that names no incident


def search_events(
    *,
    action: str = "",
    actor: str = "",
    incident_id: int | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    page: int = 1,
    page_size: int = 100,
) -> tuple[list[AuditEvent], int]:
    """One page of events, newest first, and how many match: action and actor by substring, one
    incident's (by id; NO_INCIDENT for none), occurred in [start, end)."""
    query = select(AuditEvent)
    if action:
        query = query.where(AuditEvent.action.contains(action, autoescape=True))
    if actor:
        query = query.where(func.lower(AuditEvent.actor).contains(actor.lower(), autoescape=True))
    if incident_id is not None:
        query = query.where(AuditEvent.incident_id == incident_id)
    query = within(query, AuditEvent.occurred_at, start, end)
    total = db.session.scalar(select(func.count()).select_from(query.subquery())) or 0
    events = (
        db.session.execute(query.order_by(AuditEvent.id.desc()).limit(page_size).offset((page - 1) * page_size))
        .scalars()
        .all()
    )
    return list(events), total


def incident_events(incident_id: int, report_ids: list[int], message_ids: list[int]) -> list[AuditEvent]:
    """Events of an incident, of its reports, and of the stored emails behind them, in chain order."""
    conditions = [AuditEvent.incident_id == incident_id]
    if report_ids:
        conditions.append(AuditEvent.report_id.in_(report_ids))
    for message_id in sorted(set(message_ids)):
        # Message events name the message in their canonical JSON data: {"inbound_message":N,...}
        # A range, not LIKE 'email:message:%', so both databases can use the index on action
        # (";" is the character after ":") instead of reading every event.
        conditions.append(
            (AuditEvent.action >= "email:message:")
            & (AuditEvent.action < "email:message;")
            & (
                AuditEvent.data.like(f'%"inbound_message":{message_id},%')
                | AuditEvent.data.like(f'%"inbound_message":{message_id}}}%')
            )
        )
    return list(db.session.execute(select(AuditEvent).where(or_(*conditions)).order_by(AuditEvent.id)).scalars())
