"""Reporting delay and lateness as plain functions of their inputs: no database, no clock."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Iterable, Protocol

from ..incidents.models import LATENESS_LATE, LATENESS_ON_TIME, LATENESS_UNKNOWN


class Statement(Protocol):
    discovered_at: datetime
    stated_at: datetime
    is_override: bool


@dataclass(frozen=True)
class Assessment:
    discovered_at: datetime | None
    delay: timedelta | None
    lateness: str


def effective_discovery(statements: Iterable[Statement]) -> datetime | None:
    """The latest staff override if any, else the latest customer statement (by when it was stated)."""
    ordered = sorted(statements, key=lambda s: s.stated_at)
    overrides = [s for s in ordered if s.is_override]
    chosen = overrides or ordered
    return chosen[-1].discovered_at if chosen else None


def assess(first_received_at: datetime, discovered_at: datetime | None, threshold_hours: int) -> Assessment:
    """Delay = first report's received_at − discovery; exactly at the threshold is still on time."""
    if discovered_at is None:
        return Assessment(None, None, LATENESS_UNKNOWN)
    delay = first_received_at - discovered_at
    late = delay > timedelta(hours=threshold_hours)
    return Assessment(discovered_at, delay, LATENESS_LATE if late else LATENESS_ON_TIME)
