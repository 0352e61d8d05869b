"""append_events: each stored hash is the SHA-256 of the event's canonical body spelled the slow, obvious
way; listeners are told every event with its time; ids follow the list."""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta, timezone

from sqlalchemy import select

from incident_service.audit import service
from incident_service.audit.models import AuditEvent
from incident_service.audit.service import NewEvent, append_events, canonical_event_body, canonical_json
from incident_service.extensions import db
from incident_service.incidents.models import Report
from tests.helpers import make_customer, submit


def test_appended_events_hash_their_canonical_bodies(app, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    customer = make_customer(app, "an@example.com", password=None)
    submit(app.test_client(), "/report", {"email": "an@example.com", "kind": "lost"})
    with app.app_context():
        incident, report = db.session.execute(select(Report.incident_id, Report.id)).one()
        check(customer, incident, report, monkeypatch)


def check(customer: int, incident: int, report: int, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    now = datetime(2026, 11, 30, 5, 0, 0, 123456, tzinfo=timezone.utc)
    earlier = now - timedelta(hours=1, microseconds=1)
    told: list[NewEvent] = []
    monkeypatch.setattr(service, "_append_listeners", [told.extend])
    events = [
        NewEvent("web:report:received", None, None, None, {"address": 'a"b\\c@ví.example', "kind": "lost"}),
        NewEvent(
            "web:incident:opened", customer, incident, None, {"reference": "INC-2026-000003"}, now
        ),  # at: `now` itself
        NewEvent("web:sessions:revoked", customer, incident, report, None, earlier),  # its own time
        NewEvent("web:reset_grant:issued", customer, incident, None, {"grant": 9, "expires_at": now.isoformat()}, now),
    ]
    before = db.session.scalar(select(AuditEvent.id).order_by(AuditEvent.id.desc()).limit(1)) or 0
    append_events(events, actor='Nhân viên "x"', now=now)
    stored = (
        db.session.execute(select(AuditEvent).where(AuditEvent.id > before).order_by(AuditEvent.id)).scalars().all()
    )
    assert [event.action for event in stored] == [event.action for event in events]
    for event, row in zip(events, stored, strict=True):
        at = event.at or now
        body = canonical_event_body(
            at,
            event.action,
            'Nhân viên "x"',
            event.customer_id,
            event.incident_id,
            event.report_id,
            canonical_json(event.data or {}),
        )
        assert row.hash == hashlib.sha256(body.encode("utf-8")).hexdigest()
        assert row.prev_hash == "" and row.occurred_at == at and row.data == canonical_json(event.data or {})
    assert told == [events[0]._replace(at=now), *events[1:]]
