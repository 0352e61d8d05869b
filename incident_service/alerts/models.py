"""Alerts sent to the security team, the cursors over the audit log they are collected from, and the
breach-clock thresholds already alerted (one row each: the database, not a check, keeps them single)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from ..database import UTCDateTime
from ..extensions import Model

KIND_NEW_INCIDENTS = "new_incidents"
KIND_DELIVERY_FAILED = "delivery_failed"
KIND_QUARANTINED = "quarantined"
KIND_BREACH_CLOCK = "breach_clock"
KIND_WEBHOOK_DISABLED = "webhook_disabled"
KIND_LOG_REWRITTEN = "log_rewritten"  # a checkpoint refused: the audit log no longer extends the last one
KINDS = (
    KIND_NEW_INCIDENTS,
    KIND_DELIVERY_FAILED,
    KIND_QUARANTINED,
    KIND_BREACH_CLOCK,
    KIND_WEBHOOK_DISABLED,
    KIND_LOG_REWRITTEN,
)


class StaffAlert(Model):
    """One alert: what it was about, when, and the outbox messages (one per team address) carrying it."""

    __tablename__ = "staff_alerts"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(24))
    # What makes it this alert and no other (the cursor position it starts from, or the first breach
    # threshold it claims): a second worker that got as far would fail here rather than send it again.
    dedupe_key: Mapped[str] = mapped_column(String(80), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    item_count: Mapped[int] = mapped_column(Integer)
    # The first few items as shown in the email (references, message ids), for the console.
    listed: Mapped[list[Any]] = mapped_column(JSON, default=list)
    outbox_ids: Mapped[list[int]] = mapped_column(JSON, default=list)


class AlertCursor(Model):
    """How far into the audit log one kind of alert has looked, and when it last sent an alert. Moved
    only by a compare-and-set on `position`, so two workers never send the same events twice."""

    __tablename__ = "alert_cursors"

    name: Mapped[str] = mapped_column(String(24), primary_key=True)
    position: Mapped[int] = mapped_column(Integer)
    last_alert_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)


class BreachClockAlert(Model):
    """A breach-clock threshold (24 or 6 hours left) alerted for an incident: at most once, by the key."""

    __tablename__ = "breach_clock_alerts"

    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id"), primary_key=True)
    hours_left: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    alerted_at: Mapped[datetime] = mapped_column(UTCDateTime)
