"""Collecting staff alerts: read what happened since the last run (from the audit log, and the breach
clocks), queue one email per kind to each security-team address, record the alert, move the cursors.

The log is read by position (leaf index) up to what the sequencer has integrated, so an alert follows
its events within a sequencer's turn. Safe on any number of hosts at once: each cursor moves only by a
compare-and-set on its position, each breach threshold is claimed by inserting a row under a primary key, and each alert has
a unique key: a second worker that got as far finds the work done and sends nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Callable, Sequence, cast
from urllib.parse import urlsplit

from flask import current_app
from sqlalchemy import ColumnElement, CursorResult, func, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from werkzeug.routing import BuildError

from ..assessment.service import BREACH_NOTICE, breach_clock
from ..audit.actions import Event, Source, tag
from ..audit.models import TREE_STATE_ID, AuditEvent, AuditTreeState
from ..audit.service import event_details
from ..database import table_of
from ..extensions import db
from ..incidents.models import Incident
from ..intake.models import InboundMessage
from ..notifications.emails import send_staff_alert_email
from ..notifications.models import OutboxMessage
from .models import (
    KIND_BREACH_CLOCK,
    KIND_DELIVERY_FAILED,
    KIND_LOG_REWRITTEN,
    KIND_NEW_INCIDENTS,
    KIND_QUARANTINED,
    KIND_WEBHOOK_DISABLED,
    AlertCursor,
    BreachClockAlert,
    StaffAlert,
)

# Items listed by name in one alert; the count says how many in all, the console has the rest.
LISTED = 20
# Hours left on the 72-hour clock at which legal and security hear of it, once each per incident.
BREACH_THRESHOLDS_HOURS = (24, 6)
ACTOR = "staff-alerts"


@dataclass
class PlannedAlert:
    """An alert as it will be (or, in a dry run, would be) sent."""

    kind: str
    count: int
    listed: list[dict[str, Any]]
    dedupe_key: str
    context: dict[str, Any] = field(default_factory=dict)
    alert: StaffAlert | None = None  # once recorded


def security_team() -> list[str]:
    """SECURITY_TEAM_ADDRESSES; empty when alerts are off."""
    return list(current_app.config["SECURITY_TEAM_ADDRESSES"])


def console_url(endpoint: str, **values: Any) -> str:
    """An absolute console link built from PUBLIC_BASE_URL (T6), also outside a request (the worker)."""
    path = current_app.url_map.bind("localhost").build(endpoint, values)
    return str(current_app.config["PUBLIC_BASE_URL"]) + path


def console_url_if_any(endpoint: str, **values: Any) -> str:
    """console_url, or "" while no page of that name is registered (a package built alongside this one)."""
    try:
        return console_url(endpoint, **values)
    except BuildError:
        return ""


def _actions(event: Event) -> list[str]:
    """`event` from every source: the kinds below match any channel that wrote them."""
    return [tag(source, event) for source in Source]


def _webhook_disabled_actions() -> list[str]:
    # Spelled here, not taken from Event: alerts only read the log that webhooks write.
    return [f"{source}:webhook:disabled" for source in Source]


# ---- what each kind reads from the audit log, and how it lists its items ------------------------------


def _new_incidents(events: Sequence[AuditEvent], count: int, window: ColumnElement[bool]) -> dict[str, Any]:
    incidents = {
        row.id: row
        for row in db.session.execute(
            select(Incident.id, Incident.reference, Incident.first_channel).where(
                Incident.id.in_([event.incident_id for event in events if event.incident_id is not None])
            )
        )
    }
    listed = [
        {
            "reference": incidents[event.incident_id].reference or "",
            "channel": incidents[event.incident_id].first_channel or "",
            "url": console_url("console.incident", incident_id=event.incident_id),
        }
        for event in events
        if event.incident_id in incidents
    ]
    by_channel = db.session.execute(
        select(Incident.first_channel, func.count())
        .join(AuditEvent, AuditEvent.incident_id == Incident.id)
        .where(window)
        .group_by(Incident.first_channel)
        .order_by(func.count().desc(), Incident.first_channel)
    ).all()
    return {
        "listed": listed,
        "by_channel": [{"channel": channel or "", "count": number} for channel, number in by_channel],
        "console_url": console_url("console.queue", status="reactivated"),
    }


def _delivery_failed(events: Sequence[AuditEvent], count: int, window: ColumnElement[bool]) -> dict[str, Any]:
    outbox_ids = [event_details(event.data).get("outbox_id") for event in events]
    messages = {
        message.id: message
        for message in db.session.execute(
            select(OutboxMessage).where(OutboxMessage.id.in_([i for i in outbox_ids if isinstance(i, int)]))
        ).scalars()
    }
    references = {
        row.id: row.reference
        for row in db.session.execute(
            select(Incident.id, Incident.reference).where(
                Incident.id.in_([event.incident_id for event in events if event.incident_id is not None])
            )
        )
    }
    listed = []
    for event, outbox_id in zip(events, outbox_ids, strict=True):
        message = messages.get(outbox_id) if isinstance(outbox_id, int) else None
        listed.append(
            {
                "template": message.template if message else "",
                "reference": references.get(event.incident_id) or "" if event.incident_id else "",
                "url": console_url("console.incident", incident_id=event.incident_id) if event.incident_id else "",
                "failed_at": event.occurred_at,
            }
        )
    return {"listed": listed, "console_url": console_url("console.queue")}


def _quarantined(events: Sequence[AuditEvent], count: int, window: ColumnElement[bool]) -> dict[str, Any]:
    message_ids = [event_details(event.data).get("inbound_message") for event in events]
    received = {
        row.id: row.received_at
        for row in db.session.execute(
            select(InboundMessage.id, InboundMessage.received_at).where(
                InboundMessage.id.in_([i for i in message_ids if isinstance(i, int)])
            )
        )
    }
    listed = [
        {
            "message": message_id,
            "reason": str(event_details(event.data).get("reason") or ""),
            "received_at": received.get(message_id, event.occurred_at),
            "url": console_url("console_evidence.message", message_id=message_id),
        }
        for event, message_id in zip(events, message_ids, strict=True)
        if isinstance(message_id, int)
    ]
    return {"listed": listed, "console_url": console_url("console_evidence.quarantine")}


def _webhook_disabled(events: Sequence[AuditEvent], count: int, window: ColumnElement[bool]) -> dict[str, Any]:
    listed = []
    for event in events:
        data = event_details(event.data)
        # The host only: a subscription's URL may carry a token in its path or query.
        host = urlsplit(str(data.get("url") or "")).hostname or ""
        listed.append(
            {
                "subscription": data.get("subscription"),
                "host": host,
                "reason": str(data.get("reason") or ""),
                "failures": data.get("failures"),
                "disabled_at": event.occurred_at,
                "url": console_url_if_any("console_webhooks.log", subscription_id=data.get("subscription")),
            }
        )
    return {"listed": listed, "console_url": console_url_if_any("console_webhooks.subscriptions_page")}


def _log_rewritten(events: Sequence[AuditEvent], count: int, window: ColumnElement[bool]) -> dict[str, Any]:
    listed = [
        {"refused_at": event.occurred_at, "problem": str(event_details(event.data).get("problem") or "")}
        for event in events
    ]
    return {"listed": listed, "console_url": console_url_if_any("console_admin.audit", verify="1")}


@dataclass(frozen=True)
class LogKind:
    """A kind of alert read from the audit log: its actions, and how its items are listed."""

    kind: str
    actions: Callable[[], list[str]]
    describe: Callable[[Sequence[AuditEvent], int, ColumnElement[bool]], dict[str, Any]]
    only: Callable[[], ColumnElement[bool]] | None = None


LOG_KINDS = (
    LogKind(KIND_NEW_INCIDENTS, lambda: _actions(Event.INCIDENT_OPENED), _new_incidents),
    # Customers' email only: an alert that cannot be delivered must not raise an alert about itself.
    LogKind(
        KIND_DELIVERY_FAILED,
        lambda: [tag(Source.WORKER, Event.EMAIL_FAILED)],
        _delivery_failed,
        only=lambda: AuditEvent.customer_id.is_not(None),
    ),
    LogKind(KIND_QUARANTINED, lambda: _actions(Event.MESSAGE_QUARANTINED), _quarantined),
    LogKind(KIND_WEBHOOK_DISABLED, _webhook_disabled_actions, _webhook_disabled),
    LogKind(KIND_LOG_REWRITTEN, lambda: _actions(Event.CHECKPOINT_REFUSED), _log_rewritten),
)


# ---- cursors ------------------------------------------------------------------------------------------


def _insert_ignoring_duplicate(model: type[Any], values: dict[str, Any]) -> bool:
    """Insert a row unless its key exists; True if this call inserted it (both databases' ON CONFLICT)."""
    insert = postgresql_insert if db.session.get_bind().dialect.name == "postgresql" else sqlite_insert
    # RETURNING says whether the row went in: psycopg reports no row count for INSERT ... ON CONFLICT.
    table = table_of(model)
    statement = insert(table).values(**values).on_conflict_do_nothing().returning(*table.primary_key.columns)
    return db.session.execute(statement).first() is not None


def _audit_head() -> int:
    """How many events the log's tree holds: cursors count positions in the log (leaf indexes), the
    order events became visible in, which ids are not once writers stop waiting on one another."""
    return db.session.scalar(select(AuditTreeState.size).where(AuditTreeState.id == TREE_STATE_ID)) or 0


def _cursor(name: str, head: int, *, dry_run: bool) -> AlertCursor | None:
    """The cursor `name`, or None on its first run, which starts it at the log's head: what happened
    before alerts were turned on is not news."""
    cursor = db.session.execute(
        select(AlertCursor).where(AlertCursor.name == name).execution_options(populate_existing=True)
    ).scalar_one_or_none()
    if cursor is None and not dry_run:
        _insert_ignoring_duplicate(AlertCursor, {"name": name, "position": head, "last_alert_at": None})
    return cursor


def _advance(name: str, old: int, new: int, *, alerted_at: datetime | None) -> bool:
    """Compare-and-set: move the cursor from `old` to `new` (and record an alert's time); False if
    another worker moved it first, and then this one sends nothing."""
    values: dict[str, Any] = {"position": new}
    if alerted_at is not None:
        values["last_alert_at"] = alerted_at
    result = cast(
        "CursorResult[Any]",
        db.session.execute(
            update(AlertCursor)
            .where(AlertCursor.name == name, AlertCursor.position == old)
            .values(**values)
            .execution_options(synchronize_session=False)
        ),
    )
    return result.rowcount == 1


def _from_log(kind: LogKind, head: int, now: datetime, *, dry_run: bool) -> PlannedAlert | None:
    """One alert for the kind's events after its cursor, if there are any and its last alert is at least
    ALERT_DIGEST_MINUTES old; the first after a quiet spell goes at once."""
    cursor = _cursor(kind.kind, head, dry_run=dry_run)
    if cursor is None or cursor.position >= head:
        return None
    interval = timedelta(minutes=current_app.config["ALERT_DIGEST_MINUTES"])
    if cursor.last_alert_at is not None and now < cursor.last_alert_at + interval:
        return None
    start = cursor.position
    window = (AuditEvent.leaf_index >= start) & (AuditEvent.leaf_index < head) & AuditEvent.action.in_(kind.actions())
    if kind.only is not None:
        window = window & kind.only()
    count = db.session.scalar(select(func.count()).select_from(AuditEvent).where(window)) or 0
    if count == 0:
        # Nothing of this kind: skip the range next time, and keep the time of the last alert.
        if not dry_run:
            _advance(kind.kind, start, head, alerted_at=None)
        return None
    if not dry_run and not _advance(kind.kind, start, head, alerted_at=now):
        return None
    first = (
        db.session.execute(select(AuditEvent).where(window).order_by(AuditEvent.leaf_index).limit(LISTED))
        .scalars()
        .all()
    )
    context = kind.describe(first, count, window)
    return PlannedAlert(kind.kind, count, context.pop("listed"), f"{kind.kind}:{start}", context)


# ---- the breach clock -----------------------------------------------------------------------------------


def _breach_clocks(now: datetime, *, dry_run: bool) -> PlannedAlert | None:
    """One alert for the breaches whose 72-hour clock passed 24 or 6 hours left since the last run:
    each threshold claimed once per incident by its row's key. An incident seen past both at once (it
    was marked late) is listed once, with the time it really has left."""
    crossed: dict[int, Incident] = {}
    claimed: list[tuple[int, int]] = []
    for hours in BREACH_THRESHOLDS_HOURS:
        since = now - (BREACH_NOTICE - timedelta(hours=hours))
        candidates = db.session.execute(
            select(Incident)
            .where(
                Incident.personal_data_breach.is_(True),
                Incident.authority_notified_at.is_(None),
                Incident.first_received_at <= since,
                ~select(BreachClockAlert.incident_id)
                .where(BreachClockAlert.incident_id == Incident.id, BreachClockAlert.hours_left == hours)
                .exists(),
            )
            .order_by(Incident.first_received_at, Incident.id)
        ).scalars()
        for incident in candidates:
            if dry_run or _insert_ignoring_duplicate(
                BreachClockAlert, {"incident_id": incident.id, "hours_left": hours, "alerted_at": now}
            ):
                crossed[incident.id] = incident
                claimed.append((incident.id, hours))
    if not crossed:
        return None
    ordered = sorted(crossed.values(), key=lambda incident: (incident.first_received_at, incident.id))
    listed = []
    for incident in ordered[:LISTED]:
        clock = breach_clock(incident, now)
        listed.append(
            {
                "reference": incident.reference or "",
                "deadline": clock.deadline,
                "hours_left": clock.hours_left,
                "passed": clock.passed,
                "url": console_url("console.incident", incident_id=incident.id),
            }
        )
    first_id, first_hours = claimed[0]
    return PlannedAlert(
        KIND_BREACH_CLOCK,
        len(ordered),
        listed,
        f"{KIND_BREACH_CLOCK}:{first_id}:{first_hours}",
        {"console_url": console_url("console_legal.reviews")},
    )


# ---- a run ----------------------------------------------------------------------------------------------


def collect_alerts(*, now: datetime, source: str, actor: str = ACTOR, dry_run: bool = False) -> list[PlannedAlert]:
    """Find what the security team must hear of and, unless `dry_run`, queue it: one email per kind to
    each SECURITY_TEAM_ADDRESSES address (outbox, audited `email:queued`), a StaffAlert row each, the
    cursors and breach thresholds moved. Flushes, never commits. Nothing at all when no address is set."""
    addresses = security_team()
    if not addresses:
        return []
    head = _audit_head()
    planned = [alert for kind in LOG_KINDS if (alert := _from_log(kind, head, now, dry_run=dry_run))]
    breach = _breach_clocks(now, dry_run=dry_run)
    if breach is not None:
        planned.append(breach)
    if dry_run:
        return planned
    for alert in planned:
        record_alert(alert, addresses, source=source, actor=actor, now=now)
    return planned


def record_alert(alert: PlannedAlert, addresses: list[str], *, source: str, actor: str, now: datetime) -> StaffAlert:
    """Queue the alert's email to each address and keep the alert, with its outbox messages."""
    context = {
        **alert.context,
        "count": alert.count,
        "listed": alert.listed,
        "more": alert.count - len(alert.listed),
        "alerts_url": console_url("console_alerts.alerts"),
    }
    messages = [
        send_staff_alert_email(alert.kind, to_address=address, context=context, source=source, actor=actor, now=now)
        for address in addresses
    ]
    row = StaffAlert(
        kind=alert.kind,
        dedupe_key=alert.dedupe_key,
        created_at=now,
        item_count=alert.count,
        listed=[_shown(item) for item in alert.listed],
        outbox_ids=[message.id for message in messages],
    )
    db.session.add(row)
    db.session.flush()
    alert.alert = row
    return row


def _shown(item: dict[str, Any]) -> str:
    """How an item is named in the console's list: its reference, message number or host."""
    for key in ("reference", "message", "host", "subscription"):
        if item.get(key):
            return str(item[key])
    return ""  # e.g. an undelivered email with no incident: the console shows the count and the time


# ---- the console ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AlertRow:
    alert: StaffAlert
    messages: list[OutboxMessage]


def recent_alerts(limit: int = 100) -> list[AlertRow]:
    """The latest alerts, newest first, each with its outbox messages (recipient, delivery status)."""
    alerts = db.session.execute(select(StaffAlert).order_by(StaffAlert.id.desc()).limit(limit)).scalars().all()
    ids = [message_id for alert in alerts for message_id in alert.outbox_ids]
    messages = {
        message.id: message
        for message in db.session.execute(select(OutboxMessage).where(OutboxMessage.id.in_(ids))).scalars()
    }
    return [
        AlertRow(alert, [messages[message_id] for message_id in alert.outbox_ids if message_id in messages])
        for alert in alerts
    ]
