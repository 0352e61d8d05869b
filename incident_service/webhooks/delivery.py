"""The webhook worker: claim due deliveries, POST each signed (Standard Webhooks) to an address checked
at that moment, record the attempt, retry with backoff and jitter, and disable a subscription that has
failed for long enough.

At least once: a delivery is marked delivered only after a 2xx, a worker that dies mid-send leaves a
lease that expires, and every retry carries the same `webhook-id` and body (re-signed with the time of
the attempt, as the specification's timestamp is). No redirect is followed: a 3xx is a failure."""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Callable

import urllib3
from flask import current_app
from sqlalchemy import or_, select
from standardwebhooks.webhooks import Webhook

from ..database import utcnow
from ..extensions import db
from .addresses import Resolver, Target, UnsafeTarget, check_target, system_resolver
from .models import (
    DELIVERY_DELIVERED,
    DELIVERY_FAILED,
    DELIVERY_QUEUED,
    SUBSCRIPTION_ACTIVE,
    WebhookAttempt,
    WebhookDelivery,
    WebhookSubscription,
)
from .service import DISABLED_BY_FAILURES, disable_subscription, signing_secrets, target_rules

BACKOFF_BASE_SECONDS = 5
BACKOFF_CEILING = timedelta(hours=12)
BATCH = 10
USER_AGENT = "incident_service-webhooks/1"

# Why an attempt failed, as codes kept in the log (pages translate them); an HTTP answer keeps its status.
ERROR_TIMEOUT = "timeout"
ERROR_CONNECTION = "connection"
ERROR_TLS = "tls"
ERROR_REDIRECT = "redirect"
ERROR_STATUS = "status"
ERROR_REFUSED_ADDRESS = "refused_address"


def backoff(attempts: int, rng: Callable[[], float] = random.random) -> timedelta:
    """5 s, 10 s, 20 s … doubling to at most 12 h, each drawn between half and all of that ("equal
    jitter"), so receivers coming back from an outage are not hit by every retry at once."""
    ceiling = min(BACKOFF_BASE_SECONDS * 2 ** max(attempts - 1, 0), BACKOFF_CEILING.total_seconds())
    return timedelta(seconds=ceiling / 2 + rng() * ceiling / 2)


@dataclass
class WebhookRun:
    delivered: int = 0
    retried: int = 0
    failed: int = 0
    disabled: int = 0

    @property
    def handled(self) -> int:
        return self.delivered + self.retried + self.failed


@dataclass(frozen=True)
class Outcome:
    status_code: int | None
    error: str | None
    duration_ms: int

    @property
    def ok(self) -> bool:
        return self.error is None


def deliver_due_webhooks(
    *, clock: Callable[[], datetime] = utcnow, resolve: Resolver = system_resolver, limit: int = BATCH
) -> WebhookRun:
    """Send every due delivery of an active subscription, up to `limit`; commits per delivery."""
    run = WebhookRun()
    for delivery_id in claim_due(clock(), limit):
        delivery = db.session.get(WebhookDelivery, delivery_id)
        subscription = db.session.get(WebhookSubscription, delivery.subscription_id) if delivery else None
        if delivery is None or subscription is None:  # removed meanwhile
            db.session.rollback()
            continue
        url, payload, message_id = subscription.url, delivery.payload, delivery.message_id
        secrets = signing_secrets(subscription, clock())
        db.session.rollback()  # no transaction held open across the network
        outcome = send(url, payload, message_id, secrets, now=clock(), resolve=resolve)
        record(delivery_id, outcome, now=clock(), run=run)
    return run


def claim_due(now: datetime, limit: int) -> list[int]:
    """Lease up to `limit` due deliveries of active subscriptions to this worker, and commit the lease."""
    config = current_app.config
    hold = timedelta(
        seconds=limit * (config["WEBHOOK_CONNECT_TIMEOUT_SECONDS"] + config["WEBHOOK_READ_TIMEOUT_SECONDS"]) + 60
    )
    query = (
        select(WebhookDelivery)
        .join(WebhookSubscription, WebhookSubscription.id == WebhookDelivery.subscription_id)
        .where(
            WebhookSubscription.status == SUBSCRIPTION_ACTIVE,
            WebhookDelivery.status == DELIVERY_QUEUED,
            WebhookDelivery.next_attempt_at <= now,
            or_(WebhookDelivery.leased_until.is_(None), WebhookDelivery.leased_until < now),
        )
        .order_by(WebhookDelivery.id)
        .limit(limit)
        .with_for_update(of=WebhookDelivery, skip_locked=True)
    )
    deliveries = db.session.execute(query).scalars().all()
    for delivery in deliveries:
        delivery.leased_until = now + hold
    ids = [delivery.id for delivery in deliveries]
    db.session.commit()
    return ids


def signed_headers(message_id: str, payload: str, secrets: list[str], now: datetime) -> dict[str, str]:
    """The Standard Webhooks headers: one `v1,` signature per secret in force, space-separated."""
    signatures = " ".join(Webhook(secret).sign(message_id, now, payload) for secret in secrets)
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": signatures,
        "content-type": "application/json",
        "user-agent": USER_AGENT,
    }


def send(url: str, payload: str, message_id: str, secrets: list[str], *, now: datetime, resolve: Resolver) -> Outcome:
    """One POST. The host is resolved and every address checked now, and the connection goes to a
    checked address (TLS still verifies the name): a name that re-resolves to a private address
    between check and connect (DNS rebinding) cannot redirect it."""
    config = current_app.config
    started = time.monotonic()

    def outcome(status: int | None, error: str | None) -> Outcome:
        return Outcome(status, error, int((time.monotonic() - started) * 1000))

    try:
        target = check_target(url, resolve=resolve, **target_rules())
    except UnsafeTarget:
        return outcome(None, ERROR_REFUSED_ADDRESS)
    connect, read = config["WEBHOOK_CONNECT_TIMEOUT_SECONDS"], config["WEBHOOK_READ_TIMEOUT_SECONDS"]
    headers = {**signed_headers(message_id, payload, secrets, now), "host": _host_header(target)}
    pool = _pool(target, urllib3.Timeout(connect=connect, read=read, total=connect + read))
    try:
        response = pool.urlopen(
            "POST",
            target.path,
            body=payload.encode("utf-8"),
            headers=headers,
            redirect=False,
            retries=False,
            preload_content=False,
            assert_same_host=False,
        )
        try:
            response.read(64 * 1024)  # what the receiver says is not kept; read a little, so it can finish
        finally:
            response.release_conn()
    except urllib3.exceptions.NewConnectionError:  # refused or unreachable (a TimeoutError subclass in urllib3)
        return outcome(None, ERROR_CONNECTION)
    except (urllib3.exceptions.TimeoutError, TimeoutError):
        return outcome(None, ERROR_TIMEOUT)
    except urllib3.exceptions.SSLError:
        return outcome(None, ERROR_TLS)
    except (urllib3.exceptions.HTTPError, OSError):
        return outcome(None, ERROR_CONNECTION)
    finally:
        pool.close()
    if 200 <= response.status < 300:
        return outcome(response.status, None)
    return outcome(response.status, ERROR_REDIRECT if 300 <= response.status < 400 else ERROR_STATUS)


def _pool(target: Target, timeout: urllib3.Timeout) -> urllib3.HTTPConnectionPool:
    address = target.addresses[0]
    if target.scheme == "https":
        return urllib3.HTTPSConnectionPool(
            address,
            target.port,
            timeout=timeout,
            retries=False,
            maxsize=1,
            server_hostname=target.host,
            assert_hostname=target.host,
            cert_reqs="CERT_REQUIRED",
        )
    return urllib3.HTTPConnectionPool(address, target.port, timeout=timeout, retries=False, maxsize=1)


def _host_header(target: Target) -> str:
    host = f"[{target.host}]" if ":" in target.host else target.host
    default = 443 if target.scheme == "https" else 80
    return host if target.port == default else f"{host}:{target.port}"


def record(delivery_id: int, outcome: Outcome, *, now: datetime, run: WebhookRun) -> None:
    """Log the attempt; mark the delivery delivered, or due again after a backoff, or failed when its
    attempts ran out; count the subscription's failures and disable it after a long run of them."""
    config = current_app.config
    delivery = db.session.get(WebhookDelivery, delivery_id)
    if delivery is None:  # the subscription was removed while we sent
        db.session.rollback()
        return
    # FOR NO KEY UPDATE: deliveries being queued for it meanwhile (a foreign key's KEY SHARE) do not wait.
    subscription = db.session.execute(
        select(WebhookSubscription)
        .where(WebhookSubscription.id == delivery.subscription_id)
        .with_for_update(key_share=True)
    ).scalar_one()
    delivery.attempts += 1
    db.session.add(
        WebhookAttempt(
            delivery_id=delivery.id,
            subscription_id=subscription.id,
            attempted_at=now,
            number=delivery.attempts,
            status_code=outcome.status_code,
            error=outcome.error,
            duration_ms=outcome.duration_ms,
        )
    )
    delivery.leased_until = None
    if outcome.ok:
        delivery.status, delivery.delivered_at = DELIVERY_DELIVERED, now
        subscription.consecutive_failures, subscription.failing_since = 0, None
        run.delivered += 1
    else:
        if delivery.attempts >= config["WEBHOOK_MAX_ATTEMPTS"]:
            delivery.status = DELIVERY_FAILED
            run.failed += 1
        else:
            delivery.next_attempt_at = now + backoff(delivery.attempts)
            run.retried += 1
        subscription.consecutive_failures += 1
        subscription.failing_since = subscription.failing_since or now
        current_app.logger.warning(
            "webhooks: delivery %s to subscription %s failed (%s %s), attempt %d",
            delivery.message_id,
            subscription.id,
            outcome.error,
            outcome.status_code or "",
            delivery.attempts,
        )
        if _failing_for_long(subscription, now) and disable_subscription(
            subscription, reason=DISABLED_BY_FAILURES, source="worker", actor="outbox-worker", now=now
        ):
            run.disabled += 1
            current_app.logger.warning("webhooks: subscription %s disabled after failures", subscription.id)
    db.session.commit()


def _failing_for_long(subscription: WebhookSubscription, now: datetime) -> bool:
    """Failed at least WEBHOOK_DISABLE_AFTER_FAILURES times in a row, over at least
    WEBHOOK_DISABLE_AFTER_HOURS: a burst of events in a short outage does not disable it, nor does one
    failure a day."""
    config = current_app.config
    since = subscription.failing_since or now
    return subscription.consecutive_failures >= config["WEBHOOK_DISABLE_AFTER_FAILURES"] and now - since >= timedelta(
        hours=config["WEBHOOK_DISABLE_AFTER_HOURS"]
    )
