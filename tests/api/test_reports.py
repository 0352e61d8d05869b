"""POST /api/v1/reports: the same path as every channel (receive_report), one incident per customer."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from incident_service.audit.models import AuditEvent
from incident_service.database import utcnow
from incident_service.extensions import db
from incident_service.incidents.models import Incident, Report
from tests.api.conftest import ApiClient
from tests.helpers import deliver


def test_a_report_opens_an_incident_and_the_acknowledgement_goes_to_the_address_on_record(
    app, api: ApiClient, customer_id, smtp_sink
) -> None:  # type: ignore[no-untyped-def]
    answer = api.post("/api/v1/reports", json={"email": "AN@example.com ", "kind": "phished", "channel": "api"})
    assert answer.status_code == 201, answer.get_data(as_text=True)
    body = answer.get_json()
    assert body["reference"].startswith("RPT-") and body["customer_found"] is True
    assert body["joined_open_incident"] is False
    assert body["incident_reference"].startswith("INC-") and body["customer_reference"] == body["reference"]
    assert body["received_at"].endswith("Z") and body["received_at_source"] == "server_clock"
    deliver(app)
    assert [message["To"] for message in smtp_sink.to("an@example.com")] == ["an@example.com"]
    with app.app_context():
        actions = [event.action for event in db.session.execute(select(AuditEvent)).scalars()]
        assert "api:report:received" in actions and "api:incident:opened" in actions
        actors = {
            event.actor for event in db.session.execute(select(AuditEvent)).scalars() if event.action.startswith("api:")
        }
        assert actors == {"api:integration"}
        report = db.session.execute(select(Report)).scalar_one()
        assert report.entered_by == "api:integration" and report.channel == "api"

    again = api.post("/api/v1/reports", json={"email": "an@example.com", "kind": "leaked", "channel": "phone"})
    assert again.status_code == 201
    assert again.get_json()["joined_open_incident"] is True
    assert again.get_json()["customer_reference"] == body["reference"]


def test_a_stated_received_time_is_kept_beside_the_servers(app, api: ApiClient, customer_id) -> None:  # type: ignore[no-untyped-def]
    stated = (utcnow() - timedelta(hours=3)).replace(microsecond=0)
    noticed = stated - timedelta(hours=20)
    answer = api.post(
        "/api/v1/reports",
        json={
            "email": "an@example.com",
            "kind": "lost",
            "channel": "post",
            "received_at": stated.astimezone().isoformat(),
            "discovered_at": noticed.isoformat(),
            "details": "Thư gửi ngày thứ Hai.",
        },
    )
    assert answer.status_code == 201, answer.get_data(as_text=True)
    body = answer.get_json()
    assert body["received_at"] == stated.isoformat().replace("+00:00", "Z")
    assert body["received_at_source"] == "staff_statement"
    assert body["recorded_at"] > body["received_at"]
    with app.app_context():
        incident = db.session.execute(select(Incident)).scalar_one()
        assert incident.first_received_at == stated and incident.reporting_delay_seconds == 20 * 3600


def test_an_unknown_address_is_kept_unmatched_and_said_so(app, api: ApiClient, smtp_sink) -> None:  # type: ignore[no-untyped-def]
    answer = api.post("/api/v1/reports", json={"email": "nobody@example.com", "kind": "other", "channel": "fax"})
    assert answer.status_code == 201
    body = answer.get_json()
    assert body["customer_found"] is False and body["incident_reference"] is None
    deliver(app)
    assert smtp_sink.messages == []


def test_bodies_are_checked(api: ApiClient, customer_id) -> None:  # type: ignore[no-untyped-def]
    future = (utcnow() + timedelta(hours=1)).isoformat()
    cases = [
        ({"email": "an@example.com", "kind": "lost", "channel": "web"}, "channel"),
        ({"email": "an@example.com", "kind": "lost", "channel": "api", "is_admin": True}, "is_admin"),
        ({"email": "not an address", "kind": "lost", "channel": "api"}, "email"),
        (
            {"email": "an@example.com", "kind": "lost", "channel": "api", "received_at": "2026-11-01T09:00:00"},
            "received_at",
        ),
        ({"email": "an@example.com", "kind": "lost", "channel": "api", "received_at": future}, "received_at"),
        ({"email": "an@example.com", "kind": "lost", "channel": "api", "discovered_at": future}, "discovered_at"),
        ({"kind": "lost", "channel": "api"}, "email"),
    ]
    for body, field in cases:
        answer = api.post("/api/v1/reports", json=body)
        assert answer.status_code == 422, (body, answer.get_data(as_text=True))
        assert answer.mimetype == "application/problem+json"
        assert field in answer.get_json()["errors"], (body, answer.get_json())


def test_wrong_media_type_malformed_json_and_oversized_bodies_are_problems(api: ApiClient) -> None:  # type: ignore[no-untyped-def]
    form = api.post("/api/v1/reports", data={"email": "an@example.com"})
    assert form.status_code == 415 and form.mimetype == "application/problem+json"
    broken = api.post("/api/v1/reports", data="{not json", content_type="application/json")
    assert broken.status_code == 400 and broken.mimetype == "application/problem+json"
    huge = api.post("/api/v1/reports", data='{"details": "' + "x" * 70000 + '"}', content_type="application/json")
    assert huge.status_code == 413 and huge.get_json()["status"] == 413
