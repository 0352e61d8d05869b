"""Staff-alert fixtures: the security team's addresses, customers and incidents made in bulk, breaches."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

from flask import Flask
from flask.testing import FlaskCliRunner

from incident_service.alerts.service import collect_alerts
from incident_service.audit.sequencer import integrate_all
from incident_service.customers.service import add_customer
from incident_service.database import utcnow
from incident_service.extensions import db
from incident_service.incidents.models import Incident

TEAM = ["security-team@ecc.example", "soc@ecc.example"]
# The browser tests' fixtures, for the console page's screenshot.
from tests.browser.conftest import browser_page, live_server  # noqa: E402,F401


def start_alerts(app: Flask, now: datetime | None = None) -> None:
    """A first run: the cursors start at the audit log's head (what came before is not news)."""
    with app.app_context():
        integrate_all()
        assert collect_alerts(now=now or utcnow(), source="cli") == []
        db.session.commit()


def run_alerts(app: Flask, now: datetime) -> list[tuple[str, int]]:
    with app.app_context():
        integrate_all()  # alerts read the log as far as the sequencer has put it in the tree
        planned = collect_alerts(now=now, source="cli")
        db.session.commit()
        return [(alert.kind, alert.count) for alert in planned]


def reactivate_many(app: Flask, runner: FlaskCliRunner, tmp_path: Path, count: int, prefix: str = "kh") -> None:
    """`count` customers on a leaked list, reactivated with `flask incidents mass-reactivate`."""
    with app.app_context():
        for number in range(count):
            add_customer(
                f"{prefix}{number:03d}@example.com",
                name=f"Khách {number}",
                locale="vi",
                password=None,
                source="cli",
                actor="test",
                now=utcnow(),
            )
        db.session.commit()
    leaked = tmp_path / f"{prefix}.txt"
    leaked.write_text("".join(f"{prefix}{number:03d}@example.com\n" for number in range(count)), encoding="utf-8")
    done = runner.invoke(args=["incidents", "mass-reactivate", str(leaked)])
    assert done.exit_code == 0 and f"reactivated {count}," in done.output, done.output
    with app.app_context():
        integrate_all()  # as the worker's sequencer would within seconds: alerts read the log up to it


def mark_breach_received(app: Flask, incident_id: int, received: datetime) -> None:
    """A personal-data breach whose first report came in at `received`, no notice to A05 recorded."""
    with app.app_context():
        incident = db.session.get(Incident, incident_id)
        assert incident is not None
        incident.first_received_at = received
        incident.personal_data_breach, incident.breach_marked_at, incident.breach_marked_by = True, received, "test"
        db.session.commit()


def incident_ids(app: Flask) -> list[int]:
    with app.app_context():
        return list(db.session.scalars(db.select(Incident.id).order_by(Incident.id)))


def later(minutes: int) -> datetime:
    return utcnow() + timedelta(minutes=minutes)
