"""Webhook subscriptions, the deliveries queued for them with the change that caused each, and every attempt."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from ..database import UTCDateTime
from ..extensions import Model

# The events a subscription can ask for (DESIGN "Webhooks"); their order is the one pages and docs list.
EVENT_TYPES = (
    "report.received",
    "incident.opened",
    "incident.closed",
    "password.reset",
    "review.decided",
    "breach.marked",
    "delivery.failed",
)

SUBSCRIPTION_ACTIVE = "active"
SUBSCRIPTION_DISABLED = "disabled"

DELIVERY_QUEUED = "queued"
DELIVERY_DELIVERED = "delivered"
# Given up: the subscription was disabled or removed while it waited, or its attempts ran out.
DELIVERY_FAILED = "failed"


class WebhookSubscription(Model):
    __tablename__ = "webhook_subscriptions"

    id: Mapped[int] = mapped_column(primary_key=True)
    url: Mapped[str] = mapped_column(Text)
    # Event types, space-separated, in EVENT_TYPES order.
    events: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(10), default=SUBSCRIPTION_ACTIVE, index=True)
    # The signing secret, `whsec_` + base64 (Standard Webhooks). Kept as it is: the worker needs it to
    # sign, so it cannot be stored as a hash; it is shown once, when made, and never on a page after.
    secret: Mapped[str] = mapped_column(String(100))
    # The secret before the last rotation: it signs too (a second signature) until this time.
    previous_secret: Mapped[str | None] = mapped_column(String(100), default=None)
    previous_secret_until: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_by: Mapped[str] = mapped_column(String(320))
    # Failures in a row, and when the current run of them began; both cleared by a success.
    consecutive_failures: Mapped[int] = mapped_column(Integer, default=0)
    failing_since: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    disabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    # "failures" when the worker disabled it, "staff" when a person did.
    disabled_reason: Mapped[str | None] = mapped_column(String(20), default=None)

    @property
    def event_types(self) -> list[str]:
        return self.events.split()

    @property
    def active(self) -> bool:
        return self.status == SUBSCRIPTION_ACTIVE


class WebhookDelivery(Model):
    """One event for one subscription: its exact body, written in the transaction of the change."""

    __tablename__ = "webhook_deliveries"

    id: Mapped[int] = mapped_column(primary_key=True)
    subscription_id: Mapped[int] = mapped_column(ForeignKey("webhook_subscriptions.id", ondelete="CASCADE"), index=True)
    # The `webhook-id` header: the same on every retry, so receivers can drop duplicates.
    message_id: Mapped[str] = mapped_column(String(40), unique=True)
    event_type: Mapped[str] = mapped_column(String(40))
    # The JSON body, byte for byte what every attempt sends and signs.
    payload: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(10), default=DELIVERY_QUEUED, index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    # A worker's claim; one that dies leaves it to expire, and the delivery is tried again.
    leased_until: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)


class WebhookAttempt(Model):
    """One try at one delivery: when, what the receiver answered, or why there was no answer."""

    __tablename__ = "webhook_attempts"

    id: Mapped[int] = mapped_column(primary_key=True)
    delivery_id: Mapped[int] = mapped_column(ForeignKey("webhook_deliveries.id", ondelete="CASCADE"), index=True)
    # Denormalised from the delivery, so a subscription's log is one indexed read.
    subscription_id: Mapped[int] = mapped_column(ForeignKey("webhook_subscriptions.id", ondelete="CASCADE"), index=True)
    attempted_at: Mapped[datetime] = mapped_column(UTCDateTime)
    number: Mapped[int] = mapped_column(Integer)  # 1 for the delivery's first attempt
    status_code: Mapped[int | None] = mapped_column(Integer, default=None)
    # A code (see delivery.py ERRORS), never the receiver's body: pages translate it.
    error: Mapped[str | None] = mapped_column(String(40), default=None)
    duration_ms: Mapped[int] = mapped_column(Integer, default=0)
