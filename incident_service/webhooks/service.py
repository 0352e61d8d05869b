"""Webhook subscriptions: add (the secret shown once), remove, disable and enable, rotate the secret with an
overlap. Each change is audited and flushed; the edge commits."""

from __future__ import annotations

import base64
import secrets
from datetime import datetime, timedelta
from urllib.parse import urlsplit, urlunsplit

from flask import current_app
from sqlalchemy import select, update

from ..audit.actions import Event, Source, tag
from ..audit.service import append_event
from ..domain_errors import DomainError
from ..extensions import db
from .addresses import Resolver, Target, check_target, system_resolver
from .models import (
    DELIVERY_QUEUED,
    EVENT_TYPES,
    SUBSCRIPTION_ACTIVE,
    SUBSCRIPTION_DISABLED,
    WebhookDelivery,
    WebhookSubscription,
)

SECRET_PREFIX = "whsec_"
SECRET_BYTES = 32  # Standard Webhooks: between 24 and 64 bytes
DISABLED_BY_STAFF = "staff"
DISABLED_BY_FAILURES = "failures"


class WebhookError(DomainError):
    """A subscription change the rules refuse."""


class UnknownEventType(WebhookError):
    pass


class NoEventTypes(WebhookError):
    pass


def new_secret() -> str:
    """A signing secret in the Standard Webhooks form: `whsec_` and base64 of random bytes."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode("ascii")


def checked_event_types(events: list[str] | tuple[str, ...]) -> str:
    """The event types, known ones only, in EVENT_TYPES order, space-separated."""
    unknown = sorted(set(events) - set(EVENT_TYPES))
    if unknown:
        raise UnknownEventType(", ".join(unknown))
    if not events:
        raise NoEventTypes("a subscription needs at least one event type")
    return " ".join(event for event in EVENT_TYPES if event in events)


def target_rules() -> dict[str, bool]:
    """https only in production; private addresses only when WEBHOOK_ALLOW_PRIVATE_ADDRESSES says so."""
    config = current_app.config
    return {
        "require_https": config["APP_ENV"] == "production",
        "allow_private": config["WEBHOOK_ALLOW_PRIVATE_ADDRESSES"],
    }


def check_url(url: str, resolve: Resolver = system_resolver) -> Target:
    """The URL checked against this setup's rules now (UnsafeTarget if refused)."""
    return check_target(url, resolve=resolve, **target_rules())


def add_subscription(
    url: str,
    events: list[str] | tuple[str, ...],
    *,
    source: str,
    actor: str,
    now: datetime,
    resolve: Resolver = system_resolver,
) -> tuple[WebhookSubscription, str]:
    """Subscribe `url` to `events` after checking where it points; returns the subscription and its
    secret, to show once. Audits `webhook:subscribed` (with the URL and events, never the secret)."""
    kinds = checked_event_types(events)
    check_url(url, resolve)
    secret = new_secret()
    subscription = WebhookSubscription(
        url=url.strip(),
        events=kinds,
        status=SUBSCRIPTION_ACTIVE,
        secret=secret,
        created_at=now,
        created_by=actor,
        consecutive_failures=0,
    )
    db.session.add(subscription)
    db.session.flush()
    _audit(Event.WEBHOOK_SUBSCRIBED, subscription, source=source, actor=actor, now=now, events=kinds)
    return subscription, secret


def remove_subscription(subscription: WebhookSubscription, *, source: str, actor: str, now: datetime) -> None:
    """Delete the subscription with its queued deliveries and their log. Audits `webhook:removed`."""
    _audit(Event.WEBHOOK_REMOVED, subscription, source=source, actor=actor, now=now)
    db.session.delete(subscription)
    db.session.flush()


def disable_subscription(
    subscription: WebhookSubscription, *, reason: str, source: str, actor: str, now: datetime
) -> bool:
    """Stop sending to it; queued deliveries wait, unsent, until it is enabled again. Audits
    `webhook:disabled` with the reason (`staff`, or `failures` when the worker gave up on it): staff
    alerts can watch for that action. False if it was disabled already."""
    if not subscription.active:
        return False
    subscription.status, subscription.disabled_at, subscription.disabled_reason = SUBSCRIPTION_DISABLED, now, reason
    _audit(
        Event.WEBHOOK_DISABLED,
        subscription,
        source=source,
        actor=actor,
        now=now,
        reason=reason,
        failures=subscription.consecutive_failures,
    )
    return True


def enable_subscription(subscription: WebhookSubscription, *, source: str, actor: str, now: datetime) -> bool:
    """Send to it again, starting with what waited while it was disabled, and count failures afresh.
    Audits `webhook:enabled`. False if it was active already."""
    if subscription.active:
        return False
    subscription.status, subscription.disabled_at, subscription.disabled_reason = SUBSCRIPTION_ACTIVE, None, None
    subscription.consecutive_failures, subscription.failing_since = 0, None
    db.session.execute(
        update(WebhookDelivery)
        .where(WebhookDelivery.subscription_id == subscription.id, WebhookDelivery.status == DELIVERY_QUEUED)
        .values(next_attempt_at=now, leased_until=None)
    )
    _audit(Event.WEBHOOK_ENABLED, subscription, source=source, actor=actor, now=now)
    return True


def rotate_secret(
    subscription: WebhookSubscription, *, overlap: timedelta, source: str, actor: str, now: datetime
) -> str:
    """A new secret, returned to show once. The old one keeps signing beside it (two signatures in
    `webhook-signature`) for `overlap`, so receivers can switch without dropping a message. Audits
    `webhook:secret_rotated`."""
    secret = new_secret()
    subscription.previous_secret, subscription.previous_secret_until = subscription.secret, now + overlap
    subscription.secret = secret
    _audit(
        Event.WEBHOOK_SECRET_ROTATED,
        subscription,
        source=source,
        actor=actor,
        now=now,
        overlap_until=subscription.previous_secret_until.isoformat(),
    )
    return secret


def signing_secrets(subscription: WebhookSubscription, now: datetime) -> list[str]:
    """The secrets that sign now: the current one, and the previous one during its overlap."""
    previous = subscription.previous_secret
    until = subscription.previous_secret_until
    if previous and until is not None and now < until:
        return [subscription.secret, previous]
    return [subscription.secret]


def disabled_by_failures(since: datetime) -> list[WebhookSubscription]:
    """Subscriptions the worker disabled after repeated failures at or after `since`: for staff alerts
    (each is also audited as `worker:webhook:disabled` with reason `failures`)."""
    return list(
        db.session.execute(
            select(WebhookSubscription)
            .where(
                WebhookSubscription.status == SUBSCRIPTION_DISABLED,
                WebhookSubscription.disabled_reason == DISABLED_BY_FAILURES,
                WebhookSubscription.disabled_at >= since,
            )
            .order_by(WebhookSubscription.disabled_at)
        ).scalars()
    )


def subscriptions() -> list[WebhookSubscription]:
    return list(db.session.execute(select(WebhookSubscription).order_by(WebhookSubscription.id)).scalars())


def _audit(
    event: Event, subscription: WebhookSubscription, *, source: str, actor: str, now: datetime, **details: object
) -> None:
    append_event(
        tag(Source(source), event),
        actor=actor,
        now=now,
        data={"subscription": subscription.id, "url": url_for_the_record(subscription.url), **details},
    )


def url_for_the_record(url: str) -> str:
    """The URL as the audit log keeps it: scheme, host, port and path; never a query, fragment or user
    info, where receivers often put a token (the subscription row keeps the whole URL)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))
