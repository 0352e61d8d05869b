"""Policy versions: the one in force at the first report judges an incident, forever."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from incident_service.assessment.service import PolicyError, policy_in_force, publish_policy
from incident_service.database import utcnow
from incident_service.extensions import db
from incident_service.incidents.models import Incident
from incident_service.incidents.service import ReportSubmission, receive_report
from tests.helpers import make_customer


def test_default_then_published_version(app) -> None:  # type: ignore[no-untyped-def]
    now = utcnow()
    with app.app_context():
        assert policy_in_force(now) == (24, None)
        version = publish_policy(
            threshold_hours=12,
            effective_from=now + timedelta(hours=1),
            note="stricter",
            actor="admin@ecc.example",
            now=now,
        )
        assert policy_in_force(now) == (24, None)
        assert policy_in_force(now + timedelta(hours=2)) == (12, version.id)


def test_no_backdating_and_no_clash(app) -> None:  # type: ignore[no-untyped-def]
    now = utcnow()
    with app.app_context():
        with pytest.raises(PolicyError) as past:
            publish_policy(threshold_hours=12, effective_from=now - timedelta(days=1), note="", actor="a", now=now)
        assert past.value.code == "in_the_past"
        publish_policy(threshold_hours=12, effective_from=now + timedelta(hours=1), note="", actor="a", now=now)
        with pytest.raises(PolicyError) as clash:
            publish_policy(threshold_hours=6, effective_from=now + timedelta(hours=1), note="", actor="a", now=now)
        assert clash.value.code == "clash"
        with pytest.raises(PolicyError):
            publish_policy(threshold_hours=0, effective_from=now + timedelta(hours=2), note="", actor="a", now=now)


def test_a_policy_change_never_rejudges_earlier_incidents(app) -> None:  # type: ignore[no-untyped-def]
    make_customer(app, "an@example.com", password=None)
    make_customer(app, "binh@example.com", password=None)
    now = utcnow()
    with app.app_context():
        # Noticed 10 hours before reporting: on time under the default 24 hours.
        receive_report(
            ReportSubmission(
                channel="web", address="an@example.com", kind="lost", discovered_at=now - timedelta(hours=10)
            ),
            now=now,
        )
        publish_policy(threshold_hours=6, effective_from=now, note="six hours", actor="admin", now=now)
        later = now + timedelta(minutes=5)
        receive_report(
            ReportSubmission(
                channel="web", address="binh@example.com", kind="lost", discovered_at=later - timedelta(hours=10)
            ),
            now=later,
        )
        db.session.commit()
        first, second = db.session.execute(select(Incident).order_by(Incident.id)).scalars().all()
        assert (first.late_threshold_hours, first.policy_version_id, first.lateness) == (24, None, "on_time")
        assert (second.late_threshold_hours, second.lateness) == (6, "late") and second.policy_version_id is not None


def test_policy_cli(app, runner) -> None:  # type: ignore[no-untyped-def]
    published = runner.invoke(args=["policy", "publish", "--threshold-hours", "48", "--note", "Board decision"])
    assert published.exit_code == 0 and "late after 48 h" in published.output
    backdated = runner.invoke(
        args=["policy", "publish", "--threshold-hours", "12", "--effective-from", "2020-01-01T00:00", "--note", "x"]
    )
    assert backdated.exit_code == 1 and "in the past" in backdated.output
    garbage = runner.invoke(
        args=["policy", "publish", "--threshold-hours", "12", "--effective-from", "soon", "--note", "x"]
    )
    assert garbage.exit_code == 2 and "YYYY-MM-DDTHH:MM" in garbage.output
    listing = runner.invoke(args=["policy", "list"])
    assert "48 h" in listing.output and "1 versions" in listing.output
