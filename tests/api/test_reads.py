"""Incidents (filters, cursor pages, either reference), audit events after a cursor, the delay report."""

from __future__ import annotations

import json
from datetime import timedelta

from click.testing import Result
from sqlalchemy import select

from incident_service.audit.models import AuditEvent
from incident_service.audit.sequencer import integrate_all
from incident_service.database import utcnow
from incident_service.extensions import db
from tests.api.conftest import ApiClient
from tests.helpers import make_customer


def report(api: ApiClient, email: str, **extra: str) -> dict:  # type: ignore[type-arg]
    answer = api.post("/api/v1/reports", json={"email": email, "kind": "leaked", "channel": "api", **extra})
    assert answer.status_code == 201, answer.get_data(as_text=True)
    return answer.get_json()


def test_incidents_page_by_cursor_newest_first(app, api: ApiClient) -> None:  # type: ignore[no-untyped-def]
    for n in range(5):
        make_customer(app, f"c{n}@example.com")
        report(api, f"c{n}@example.com")
    seen: list[str] = []
    cursor = None
    while True:
        query = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = api.get("/api/v1/incidents", query_string=query).get_json()
        seen += [item["customer_email"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [f"c{n}@example.com" for n in reversed(range(5))]
    bad = api.get("/api/v1/incidents", query_string={"cursor": "bm90LWEtY3Vyc29y"})
    assert bad.status_code == 422 and "cursor" in bad.get_json()["errors"]
    assert api.get("/api/v1/incidents", query_string={"limit": 101}).status_code == 422


def test_incident_filters(app, api: ApiClient) -> None:  # type: ignore[no-untyped-def]
    make_customer(app, "an@example.com")
    make_customer(app, "binh@example.com")
    first = report(api, "an@example.com", channel="phone")
    report(api, "binh@example.com")
    by_email = api.get("/api/v1/incidents", query_string={"email": "AN@example.com"}).get_json()["items"]
    assert [item["customer_reference"] for item in by_email] == [first["reference"]]
    by_channel = api.get("/api/v1/incidents", query_string={"channel": "phone"}).get_json()["items"]
    assert [item["customer_email"] for item in by_channel] == ["an@example.com"]
    now = utcnow()
    window = {
        "received_from": (now - timedelta(minutes=5)).isoformat(),
        "received_to": (now + timedelta(minutes=5)).isoformat(),
    }
    assert len(api.get("/api/v1/incidents", query_string=window).get_json()["items"]) == 2
    later = {"received_from": (now + timedelta(minutes=5)).isoformat()}
    assert api.get("/api/v1/incidents", query_string=later).get_json()["items"] == []
    closed = api.get("/api/v1/incidents", query_string={"status": "closed"}).get_json()["items"]
    assert closed == []
    unknown = api.get("/api/v1/incidents", query_string={"lateness": "unknown"}).get_json()["items"]
    assert len(unknown) == 2
    assert api.get("/api/v1/incidents", query_string={"status": "open-ish"}).status_code == 422


def test_an_incident_by_its_reference_or_the_customers(app, api: ApiClient) -> None:  # type: ignore[no-untyped-def]
    make_customer(app, "an@example.com")
    opened = report(api, "an@example.com")
    joined = report(api, "an@example.com")
    for reference in (opened["incident_reference"], opened["reference"], joined["reference"].lower()):
        answer = api.get(f"/api/v1/incidents/{reference}")
        assert answer.status_code == 200, reference
        body = answer.get_json()
        assert body["reference"] == opened["incident_reference"]
        assert [item["reference"] for item in body["reports"]] == [opened["reference"], joined["reference"]]
        assert body["opened_at"].endswith("Z")
    missing = api.get("/api/v1/incidents/INC-1999-000001")
    assert missing.status_code == 404 and missing.mimetype == "application/problem+json"
    with app.app_context():
        assert db.session.execute(select(AuditEvent).where(AuditEvent.action == "api:incident:viewed")).first()


def sequence(app) -> None:  # type: ignore[no-untyped-def]
    with app.app_context():
        integrate_all()  # what the worker's sequencer does within seconds of each commit


def test_events_in_the_logs_order(app, api: ApiClient) -> None:  # type: ignore[no-untyped-def]
    make_customer(app, "an@example.com")
    make_customer(app, "binh@example.com")
    sequence(app)
    first = api.get("/api/v1/events", query_string={"limit": 2}).get_json()
    assert [item["leaf_index"] for item in first["items"]] == [0, 1] and first["next_after"] == 2
    rest = api.get("/api/v1/events", query_string={"after": first["next_after"]}).get_json()
    assert all(item["action"] != "api:audit_events:read" for item in rest["items"])  # not in the log yet
    sequence(app)  # now the two polls are
    later = api.get("/api/v1/events", query_string={"after": rest["next_after"]}).get_json()
    assert [item["action"] for item in later["items"]] == ["api:audit_events:read"] * 2
    indexes = [item["leaf_index"] for item in first["items"] + rest["items"] + later["items"]]
    assert indexes == list(range(len(indexes)))  # nothing missed, nothing twice
    assert all(item["occurred_at"].endswith("Z") and isinstance(item["data"], dict) for item in later["items"])
    assert all(item["prev_hash"] == "" and len(item["hash"]) == 64 for item in later["items"])
    empty = api.get("/api/v1/events", query_string={"after": 2**31 - 1}).get_json()
    assert empty == {"items": [], "next_after": 2**31 - 1}


def test_the_delay_report_is_the_clis(app, api: ApiClient, runner) -> None:  # type: ignore[no-untyped-def]
    make_customer(app, "an@example.com")
    report(api, "an@example.com", discovered_at=(utcnow() - timedelta(hours=30)).isoformat())
    answer = api.get("/api/v1/reports/delay")
    assert answer.status_code == 200
    cli: Result = runner.invoke(args=["reports", "delay", "--format", "json"])
    assert answer.get_json() == json.loads(cli.output)
    assert answer.get_json()["summary"]["incidents"] == 1
    filtered = api.get("/api/v1/reports/delay", query_string={"lateness": "late", "from": "2020-01-01"})
    assert filtered.status_code == 200 and filtered.get_json()["filters"] == {"from": "2020-01-01", "lateness": "late"}
    assert api.get("/api/v1/reports/delay", query_string={"from": "yesterday"}).status_code == 422


def test_every_operation_is_audited_under_the_keys_name(app, api: ApiClient) -> None:  # type: ignore[no-untyped-def]
    make_customer(app, "an@example.com")
    opened = report(api, "an@example.com")
    api.get("/api/v1/incidents")
    api.get(f"/api/v1/incidents/{opened['reference']}")
    api.put("/api/v1/customers/an@example.com", json={"name": "Nguyễn Văn Ân"})
    api.post("/api/v1/customers/an@example.com/report-link")
    api.get("/api/v1/events")
    api.get("/api/v1/reports/delay")
    with app.app_context():
        actions = set(
            db.session.execute(select(AuditEvent.action).where(AuditEvent.actor == "api:integration")).scalars()
        )
    assert {
        "api:report:received",
        "api:incident:opened",
        "api:incidents:listed",
        "api:incident:viewed",
        "api:customer:updated",
        "api:report_link:issued",
        "api:audit_events:read",
        "api:delay_report:read",
    } <= actions
