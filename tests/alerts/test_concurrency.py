"""Several workers at once: each breach threshold and each digest is sent once, whoever gets there first."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from incident_service.alerts.models import AlertCursor, BreachClockAlert, StaffAlert
from incident_service.alerts.service import _advance, collect_alerts
from incident_service.database import utcnow
from incident_service.extensions import db
from incident_service.notifications.models import OutboxMessage
from tests.alerts.conftest import TEAM, incident_ids, mark_breach_received, reactivate_many, start_alerts

WORKERS = 4


@pytest.mark.real_commits  # the workers are threads, each with its own connection
@pytest.mark.settings(SECURITY_TEAM_ADDRESSES=TEAM)
def test_concurrent_runs_send_each_alert_once(app, runner, tmp_path) -> None:  # type: ignore[no-untyped-def]
    start_alerts(app)
    reactivate_many(app, runner, tmp_path, 10)
    first, second, *_ = incident_ids(app)
    mark_breach_received(app, first, utcnow() - timedelta(hours=52))  # 20 hours left
    mark_breach_received(app, second, utcnow() - timedelta(hours=67))  # 5 hours left
    now = utcnow()
    start = threading.Barrier(WORKERS)
    results: list[list[tuple[str, int]]] = []
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            with app.app_context():
                start.wait()
                planned = collect_alerts(now=now, source="worker", actor="outbox-worker")
                db.session.commit()
                results.append([(alert.kind, alert.count) for alert in planned])
        except BaseException as error:  # noqa: BLE001 - reported below
            errors.append(error)

    threads = [threading.Thread(target=worker) for _ in range(WORKERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    sent = sorted(alert for run in results for alert in run)
    assert sent == [("breach_clock", 2), ("new_incidents", 10)]  # once each, across all the workers
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(StaffAlert)) == 2
        # 24 hours for the first incident; 24 and 6 for the second, seen past both at once.
        assert db.session.scalar(select(func.count()).select_from(BreachClockAlert)) == 3
        staff_emails = select(func.count()).select_from(OutboxMessage).where(OutboxMessage.template == "staff_alert")
        assert db.session.scalar(staff_emails) == 2 * len(TEAM)
        # And again, later: nothing more to say.
        assert collect_alerts(now=now + timedelta(minutes=30), source="worker") == []
        db.session.commit()


@pytest.mark.settings(SECURITY_TEAM_ADDRESSES=TEAM)
def test_a_cursor_moves_only_from_where_it_was_read(app_context) -> None:  # type: ignore[no-untyped-def]
    db.session.add(AlertCursor(name="new_incidents", position=5))
    db.session.flush()
    assert _advance("new_incidents", 5, 9, alerted_at=utcnow())
    assert not _advance("new_incidents", 5, 12, alerted_at=utcnow())  # another worker moved it first
    assert db.session.get(AlertCursor, "new_incidents", populate_existing=True).position == 9  # type: ignore[union-attr]
