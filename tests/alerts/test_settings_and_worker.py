"""SECURITY_TEAM_ADDRESSES and ALERT_DIGEST_MINUTES are checked at start-up; the outbox worker collects
alerts every so often, and a failure to collect never stops delivery."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError

from incident_service.alerts import cli as alerts_cli
from incident_service.alerts.models import StaffAlert
from incident_service.extensions import db
from incident_service.settings import ConfigurationError, load_settings
from tests.alerts.conftest import TEAM, reactivate_many, start_alerts


def settings(**variables: str) -> dict[str, object]:
    return load_settings({"APP_ENV": "testing", **variables})


def test_team_addresses_are_read_and_checked() -> None:
    assert settings()["SECURITY_TEAM_ADDRESSES"] == []  # alerts off by default
    assert settings(SECURITY_TEAM_ADDRESSES=" sec@ecc.example, soc@ecc.example ,")["SECURITY_TEAM_ADDRESSES"] == [
        "sec@ecc.example",
        "soc@ecc.example",
    ]
    with pytest.raises(ConfigurationError, match="SECURITY_TEAM_ADDRESSES must be email addresses"):
        settings(SECURITY_TEAM_ADDRESSES="sec@ecc.example, security team")
    assert settings()["ALERT_DIGEST_MINUTES"] == 15
    with pytest.raises(ConfigurationError, match="ALERT_DIGEST_MINUTES"):
        settings(ALERT_DIGEST_MINUTES="0")


@pytest.mark.settings(SECURITY_TEAM_ADDRESSES=TEAM)
def test_worker_collects_when_due(app, runner, tmp_path) -> None:  # type: ignore[no-untyped-def]
    start_alerts(app)
    reactivate_many(app, runner, tmp_path, 2)
    with app.app_context():
        later = time.monotonic() + 1000
        assert alerts_cli.run_alerts_when_due(later) == later  # not yet: nothing collected
        assert db.session.scalar(select(func.count()).select_from(StaffAlert)) == 0
        after = alerts_cli.run_alerts_when_due(0.0)
        assert after >= time.monotonic() + alerts_cli.WORKER_POLL_SECONDS - 1
        assert db.session.scalar(select(func.count()).select_from(StaffAlert)) == 1


@pytest.mark.settings(SECURITY_TEAM_ADDRESSES=TEAM)
def test_worker_survives_a_failed_collection(app, monkeypatch, caplog) -> None:  # type: ignore[no-untyped-def]
    def broken(**_: object) -> None:
        raise OperationalError("SELECT 1", {}, Exception("database is locked"))

    monkeypatch.setattr(alerts_cli, "collect_alerts", broken)
    with app.app_context():
        assert alerts_cli.run_alerts_when_due(0.0) > time.monotonic()  # tried again later
    assert "collecting staff alerts failed" in caplog.text
