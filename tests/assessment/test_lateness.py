"""Delay and lateness as pure functions: no database, no clock."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from incident_service.assessment.lateness import assess, effective_discovery

RECEIVED = datetime(2026, 3, 10, 9, 0, tzinfo=timezone.utc)


@dataclass
class S:
    discovered_at: datetime
    stated_at: datetime
    is_override: bool = False


def test_unknown_without_discovery() -> None:
    result = assess(RECEIVED, None, 24)
    assert result.lateness == "unknown" and result.delay is None


def test_exactly_at_threshold_is_on_time() -> None:
    assert assess(RECEIVED, RECEIVED - timedelta(hours=24), 24).lateness == "on_time"


def test_one_second_past_threshold_is_late() -> None:
    result = assess(RECEIVED, RECEIVED - timedelta(hours=24, seconds=1), 24)
    assert result.lateness == "late" and result.delay == timedelta(hours=24, seconds=1)


def test_time_zones_do_not_change_the_delay() -> None:
    # 08:00 in Ho Chi Minh City is 01:00 UTC: eight hours before a 09:00 UTC report.
    noticed_local = datetime(2026, 3, 10, 8, 0, tzinfo=ZoneInfo("Asia/Ho_Chi_Minh"))
    assert assess(RECEIVED, noticed_local, 24).delay == timedelta(hours=8)


def test_latest_customer_statement_wins() -> None:
    first = S(RECEIVED - timedelta(days=3), stated_at=RECEIVED)
    corrected = S(RECEIVED - timedelta(hours=2), stated_at=RECEIVED + timedelta(hours=1))
    assert effective_discovery([corrected, first]) == corrected.discovered_at


def test_override_beats_later_customer_statements() -> None:
    override = S(RECEIVED - timedelta(days=5), stated_at=RECEIVED + timedelta(hours=1), is_override=True)
    later = S(RECEIVED - timedelta(hours=1), stated_at=RECEIVED + timedelta(hours=2))
    assert effective_discovery([later, override]) == override.discovered_at


def test_no_statements() -> None:
    assert effective_discovery([]) is None
