"""Queueing webhooks: each audited change that is a webhook event becomes one delivery per active
subscription to it, in the transaction of the change (the audit log tells us, through `on_append`).

Payloads carry references and times, never a token, a link, a password hash, an email address or
free text someone typed (a close reason, a legal rationale): receivers log bodies, and whoever needs
more asks the API with a key."""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timezone
from typing import Any, Sequence

from flask import Flask
from sqlalchemy import select

from ..audit.actions import Event
from ..audit.service import NewEvent, on_append
from ..database import utcnow
from ..disclosures.service import record_webhook_disclosures
from ..extensions import core_execute, db
from ..incidents.models import Incident, Report
from ..notifications.models import OutboxMessage
from .models import DELIVERY_QUEUED, SUBSCRIPTION_ACTIVE, WebhookDelivery, WebhookSubscription

# The audited `subject:verb` (whatever its source) that is each webhook event.
EVENT_OF_ACTION: dict[str, str] = {
    Event.REPORT_RECEIVED: "report.received",
    Event.INCIDENT_OPENED: "incident.opened",
    Event.INCIDENT_CLOSED: "incident.closed",
    Event.PASSWORD_RESET: "password.reset",
    Event.REVIEW_DECIDED: "review.decided",
    Event.BREACH_MARKED: "breach.marked",
    # The outbox gave up on an email (permanent refusal, or attempts ran out): `worker:email:failed`.
    Event.EMAIL_FAILED: "delivery.failed",
}


def init_app(app: Flask) -> None:
    on_append(queue_webhooks)


def event_type_of(action: str) -> str | None:
    """`web:report:received` -> `report.received`; None for actions no webhook carries."""
    return EVENT_OF_ACTION.get(action.partition(":")[2])


def rfc3339(moment: datetime | None) -> str | None:
    """UTC, with milliseconds and `Z` (DESIGN: what the server returns is UTC)."""
    if moment is None:
        return None
    return moment.astimezone(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def new_message_id() -> str:
    """The `webhook-id` of one delivery, kept for every retry of it."""
    return f"msg_{uuid.uuid4().hex}"


def queue_webhooks(events: Sequence[NewEvent]) -> None:
    """One delivery row for each event that is a webhook event and each active subscription to it."""
    # Each distinct action looked up once, and no event looked at unless someone subscribes to its type:
    # a mass reactivation tells six hundred thousand events (issue 17).
    kinds = {action: event_type_of(action) for action in {event.action for event in events}}
    if not any(kinds.values()):
        return
    subscribers = _subscribers({kind for kind in kinds.values() if kind is not None})
    if not subscribers:
        return
    wanted = [(event, kind) for event in events if (kind := kinds[event.action]) is not None]
    facts = _Facts.load([event for event, _kind in wanted])
    now = utcnow()
    rows = []
    # What each subscription is sent about whom, for the disclosure register (disclosures.service).
    disclosed: dict[int, list[tuple[str, tuple[int, int | None]]]] = {}
    for event, kind in wanted:
        subscription_ids = subscribers.get(kind)
        if not subscription_ids:
            continue
        body = json.dumps(
            {"type": kind, "timestamp": rfc3339(event.at), "data": facts.data(kind, event)},
            ensure_ascii=False,
            separators=(",", ":"),
            sort_keys=True,
        )
        for subscription_id in subscription_ids:
            if event.customer_id is not None:
                disclosed.setdefault(subscription_id, []).append((kind, (event.customer_id, event.incident_id)))
            rows.append(
                WebhookDelivery(
                    subscription_id=subscription_id,
                    message_id=new_message_id(),
                    event_type=kind,
                    payload=body,
                    status=DELIVERY_QUEUED,
                    attempts=0,
                    created_at=now,
                    next_attempt_at=now,
                )
            )
    db.session.add_all(rows)
    record_webhook_disclosures(disclosed, now=now)


def _subscribers(kinds: set[str]) -> dict[str, list[int]]:
    """Active subscriptions' ids by event type, for the types in `kinds`."""
    found: dict[str, list[int]] = {}
    for row in core_execute(_ACTIVE_SUBSCRIPTIONS):
        subscription_id, events = row.id, row.events
        for kind in events.split():
            if kind in kinds:
                found.setdefault(kind, []).append(subscription_id)
    return found


# Built once: every report runs it, and building it cost more than running it (issue 17).
_ACTIVE_SUBSCRIPTIONS = (
    select(WebhookSubscription.id, WebhookSubscription.events)
    .where(WebhookSubscription.status == SUBSCRIPTION_ACTIVE)
    .order_by(WebhookSubscription.id)
)


class _Facts:
    """The incidents, reports and outbox messages a batch of events names, read once for the batch."""

    def __init__(
        self, incidents: dict[int, Incident], reports: dict[int, Report], messages: dict[int, OutboxMessage]
    ) -> None:
        self.incidents, self.reports, self.messages = incidents, reports, messages

    @classmethod
    def load(cls, events: list[NewEvent]) -> _Facts:
        incident_ids = {event.incident_id for event in events if event.incident_id is not None}
        report_ids = {event.report_id for event in events if event.report_id is not None}
        message_ids = {
            int(event.data["outbox_id"])
            for event in events
            if event.data and isinstance(event.data.get("outbox_id"), int)
        }
        return cls(_by_id(Incident, incident_ids), _by_id(Report, report_ids), _by_id(OutboxMessage, message_ids))

    def data(self, kind: str, event: NewEvent) -> dict[str, Any]:
        details = event.data or {}
        incident = self.incidents.get(event.incident_id) if event.incident_id is not None else None
        report = self.reports.get(event.report_id) if event.report_id is not None else None
        at = rfc3339(event.at)
        case: dict[str, Any] = {
            "incident": incident.reference
            if incident
            else details.get("reference")
            if kind == "incident.opened"
            else None,
            "customer_reference": incident.customer_reference if incident else None,
        }
        if kind == "report.received":
            return {
                "report": report.reference if report else details.get("reference"),
                "channel": report.channel if report else None,
                "kind": report.kind if report else details.get("kind"),
                "received_at": rfc3339(report.received_at) if report else at,
            }
        if kind == "incident.opened":
            return {
                **case,
                "report": report.reference if report else None,
                "channel": incident.first_channel if incident else None,
                "opened_at": rfc3339(incident.opened_at) if incident else at,
                "first_received_at": rfc3339(incident.first_received_at) if incident else None,
            }
        if kind == "incident.closed":
            return {**case, "category": details.get("category"), "closed_at": at}
        if kind == "password.reset":
            return {**case, "reset_at": at}
        if kind == "review.decided":
            return {**case, "decision": details.get("decision"), "decided_at": at}
        if kind == "breach.marked":
            deadline = details.get("deadline")
            return {
                **case,
                "marked_at": at,
                "notify_authority_by": rfc3339(datetime.fromisoformat(deadline)) if isinstance(deadline, str) else None,
            }
        # delivery.failed: which email (its template's name, not its address or contents) gave up.
        message = self.messages.get(details["outbox_id"]) if isinstance(details.get("outbox_id"), int) else None
        return {
            **case,
            "email": message.template if message else None,
            "attempts": details.get("attempts"),
            "failed_at": at,
        }


def _by_id(model: Any, ids: set[int]) -> dict[int, Any]:
    if not ids:
        return {}
    return {row.id: row for row in db.session.execute(select(model).where(model.id.in_(ids))).scalars()}
