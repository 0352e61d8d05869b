"""`/discovery/<token>`: the customer states when they noticed; delay and lateness follow."""

from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select

from incident_service.assessment.models import DiscoveryStatement
from incident_service.database import utcnow
from incident_service.extensions import db
from incident_service.incidents.models import Incident
from tests.helpers import deliver, links_in, path_of, submit

HCM = ZoneInfo("Asia/Ho_Chi_Minh")


def discovery_path(app, smtp_sink) -> str:  # type: ignore[no-untyped-def]
    submit(app.test_client(), "/report", {"email": "an@example.com", "kind": "leaked"})
    deliver(app)
    return path_of(links_in(smtp_sink.to("an@example.com")[0])["discovery"])


def local_input(moment) -> str:  # type: ignore[no-untyped-def]
    return moment.astimezone(HCM).strftime("%Y-%m-%dT%H:%M")


def test_statement_sets_delay_and_lateness(app, smtp_sink, customer_id) -> None:  # type: ignore[no-untyped-def]
    path = discovery_path(app, smtp_sink)
    client = app.test_client()
    three_days_ago = utcnow() - timedelta(days=3)
    answer = submit(client, path, {"discovered_at": local_input(three_days_ago)})
    assert answer.status_code == 200
    with app.app_context():
        incident = db.session.execute(select(Incident)).scalar_one()
        assert incident.lateness == "late"
        assert 3 * 86400 - 120 < incident.reporting_delay_seconds < 3 * 86400 + 60
        statement = db.session.execute(select(DiscoveryStatement)).scalar_one()
        assert statement.source == "discovery_link" and statement.actor == "customer"

    # A corrected, later statement is kept beside the first and becomes the effective one.
    one_hour_before = utcnow() - timedelta(hours=1)
    submit(app.test_client(), path, {"discovered_at": local_input(one_hour_before)})
    with app.app_context():
        incident = db.session.execute(select(Incident)).scalar_one()
        assert incident.lateness == "on_time"
        assert len(db.session.execute(select(DiscoveryStatement)).scalars().all()) == 2


def test_time_after_the_report_is_refused_with_reason(app, smtp_sink, customer_id) -> None:  # type: ignore[no-untyped-def]
    path = discovery_path(app, smtp_sink)
    with app.app_context():
        incident = db.session.execute(select(Incident)).scalar_one()
        incident.first_received_at = utcnow() - timedelta(hours=5)
        db.session.commit()
    answer = submit(
        app.test_client(),
        path,
        {"discovered_at": local_input(utcnow() - timedelta(hours=1))},
        headers={"Accept-Language": "en"},
    )
    assert answer.status_code == 400
    assert "after we received your report" in answer.get_data(as_text=True)
    with app.app_context():
        assert db.session.execute(select(DiscoveryStatement)).first() is None


def test_empty_and_malformed_times_are_refused(app, smtp_sink, customer_id) -> None:  # type: ignore[no-untyped-def]
    path = discovery_path(app, smtp_sink)
    for value in ("", "yesterday", "2026-13-45T99:99"):
        assert submit(app.test_client(), path, {"discovered_at": value}).status_code == 400


def test_bad_link_refused(client) -> None:  # type: ignore[no-untyped-def]
    assert client.get("/discovery/abc.def.ghi").status_code == 400


def test_get_changes_nothing(app, smtp_sink, customer_id) -> None:  # type: ignore[no-untyped-def]
    path = discovery_path(app, smtp_sink)
    for _ in range(3):
        assert app.test_client().get(path).status_code == 200
    with app.app_context():
        assert db.session.execute(select(DiscoveryStatement)).first() is None
