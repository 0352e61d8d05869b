"""Deliveries are queued in the transaction of the change: rolled back with it, one per active
subscription to the event, for single appends and for a mass reactivation's batch alike."""

from __future__ import annotations

import json

from sqlalchemy import func, select

from incident_service.audit.actions import Event, Source, tag
from incident_service.audit.models import AuditEvent
from incident_service.audit.service import NewEvent, append_event, append_events
from incident_service.database import utcnow
from incident_service.extensions import db
from incident_service.webhooks.models import WebhookDelivery
from incident_service.webhooks.queue import event_type_of
from incident_service.webhooks.service import (
    DISABLED_BY_STAFF,
    add_subscription,
    disable_subscription,
    url_for_the_record,
)

LOOPBACK = {"WEBHOOK_ALLOW_PRIVATE_ADDRESSES": True}


def queued() -> list[WebhookDelivery]:
    return list(db.session.execute(select(WebhookDelivery).order_by(WebhookDelivery.id)).scalars())


def test_audit_actions_map_to_event_types() -> None:
    assert event_type_of("web:report:received") == "report.received"
    assert event_type_of("breach_list:incident:opened") == "incident.opened"
    assert event_type_of("worker:email:failed") == "delivery.failed"
    assert event_type_of("worker:email:deferred") is None
    assert event_type_of("system:credential:locked") is None


def test_queued_with_the_change_and_rolled_back_with_it(app) -> None:  # type: ignore[no-untyped-def]
    app.config.update(LOOPBACK)
    with app.app_context():
        add_subscription("http://127.0.0.1:9/a", ["report.received"], source="cli", actor="t", now=utcnow())
        add_subscription("http://127.0.0.1:9/b", ["incident.opened"], source="cli", actor="t", now=utcnow())
        off, _secret = add_subscription(
            "http://127.0.0.1:9/c", ["report.received"], source="cli", actor="t", now=utcnow()
        )
        disable_subscription(off, reason=DISABLED_BY_STAFF, source="cli", actor="t", now=utcnow())
        db.session.commit()

        append_event(tag(Source.WEB, Event.REPORT_RECEIVED), actor="customer", now=utcnow(), data={"reference": "R"})
        assert len(queued()) == 1  # in this transaction, before any commit
        db.session.rollback()
        assert queued() == []  # the change rolled back: nothing to announce

        append_event(tag(Source.WEB, Event.REPORT_RECEIVED), actor="customer", now=utcnow(), data={"reference": "R"})
        append_event(tag(Source.SYSTEM, Event.CREDENTIAL_LOCKED), actor="system", now=utcnow())  # no webhook
        db.session.commit()
        (delivery,) = queued()  # one subscriber: the other wants incident.opened, the third is disabled
        assert delivery.event_type == "report.received" and delivery.message_id.startswith("msg_")
        assert json.loads(delivery.payload)["data"]["report"] == "R"


def test_a_batch_queues_one_delivery_per_event_and_subscriber(app) -> None:  # type: ignore[no-untyped-def]
    app.config.update(LOOPBACK)
    with app.app_context():
        for name in ("a", "b"):
            add_subscription(f"http://127.0.0.1:9/{name}", ["incident.opened"], source="cli", actor="t", now=utcnow())
        append_events(
            [
                NewEvent(tag(Source.BREACH_LIST, Event.INCIDENT_OPENED), data={"reference": f"INC-2026-00000{n}"})
                for n in range(3)
            ]
            + [NewEvent(tag(Source.BREACH_LIST, Event.SESSIONS_REVOKED))],
            actor="cli",
            now=utcnow(),
        )
        rows = queued()
        assert len(rows) == 6 and db.session.scalar(select(func.count(func.distinct(WebhookDelivery.message_id)))) == 6
        assert {json.loads(row.payload)["data"]["incident"] for row in rows} == {
            "INC-2026-000000",
            "INC-2026-000001",
            "INC-2026-000002",
        }


def test_a_mass_reactivation_announces_each_incident_with_its_references(app, runner, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from tests.helpers import make_customer

    app.config.update(LOOPBACK)
    for name in ("an", "binh"):
        make_customer(app, f"{name}@example.com", password=None)
    with app.app_context():
        add_subscription(
            "http://127.0.0.1:9/a", ["report.received", "incident.opened"], source="cli", actor="t", now=utcnow()
        )
        db.session.commit()
    leaked = tmp_path / "leak.txt"
    leaked.write_text("an@example.com\nbinh@example.com\nnobody@example.com\n", encoding="utf-8")
    done = runner.invoke(args=["incidents", "mass-reactivate", str(leaked), "--reason", "Leak of 2026-11-25"])
    assert "reactivated 2" in done.output, done.output
    with app.app_context():
        bodies = [json.loads(row.payload) for row in queued()]
    opened = [body["data"] for body in bodies if body["type"] == "incident.opened"]
    received = [body["data"] for body in bodies if body["type"] == "report.received"]
    assert len(opened) == 2 and all(d["incident"].startswith("INC-") and d["channel"] == "breach_list" for d in opened)
    assert {d["report"] for d in received} == {d["customer_reference"] for d in opened}
    assert all(d["channel"] == "breach_list" for d in received)
    assert "@" not in json.dumps(bodies)


def test_a_token_in_the_url_stays_out_of_the_audit_log(app) -> None:  # type: ignore[no-untyped-def]
    app.config.update(LOOPBACK)
    with app.app_context():
        add_subscription(
            "http://127.0.0.1:9/hooks/in?token=s3cret#frag",
            ["report.received"],
            source="cli",
            actor="t",
            now=utcnow(),
        )
        db.session.commit()
        (event,) = db.session.execute(select(AuditEvent).where(AuditEvent.action == "cli:webhook:subscribed")).scalars()
        assert json.loads(event.data)["url"] == "http://127.0.0.1:9/hooks/in"
        assert "s3cret" not in event.data
    assert url_for_the_record("https://[2001:db8::1]:8443/x?a=b") == "https://[2001:db8::1]:8443/x"
