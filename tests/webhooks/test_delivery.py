"""The worker against a real receiver: retries keep their webhook-id, a hanging receiver times out,
redirects are not followed, a long run of failures disables the subscription, rotated secrets overlap."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from incident_service.audit.actions import Event, Source, tag
from incident_service.audit.models import AuditEvent
from incident_service.audit.service import append_event
from incident_service.database import utcnow
from incident_service.extensions import db
from incident_service.webhooks.delivery import backoff, deliver_due_webhooks
from incident_service.webhooks.models import WebhookAttempt, WebhookDelivery, WebhookSubscription
from incident_service.webhooks.service import (
    add_subscription,
    disabled_by_failures,
    enable_subscription,
    rotate_secret,
)
from tests.webhooks.conftest import Receiver

pytestmark = [pytest.mark.real_commits, pytest.mark.settings(WEBHOOK_ALLOW_PRIVATE_ADDRESSES=True)]


def subscribed(app, url: str, *events: str) -> tuple[int, str]:  # type: ignore[no-untyped-def]
    with app.app_context():
        subscription, secret = add_subscription(
            url, list(events or ["report.received"]), source="cli", actor="test", now=utcnow()
        )
        db.session.commit()
        return subscription.id, secret


def report_received(app, reference: str = "RPT-2026-000001") -> None:  # type: ignore[no-untyped-def]
    """What a report appends (the webhook reads only the audit event's facts): one report.received."""
    with app.app_context():
        append_event(
            tag(Source.WEB, Event.REPORT_RECEIVED),
            actor="customer",
            now=utcnow(),
            data={"reference": reference, "kind": "lost", "address": "an@example.com"},
        )
        db.session.commit()


def work(app, *, after: timedelta = timedelta(0)):  # type: ignore[no-untyped-def]
    with app.app_context():
        return deliver_due_webhooks(clock=lambda: utcnow() + after)


def attempts(app) -> list[tuple[int | None, str | None, int]]:  # type: ignore[no-untyped-def]
    with app.app_context():
        rows = db.session.execute(select(WebhookAttempt).order_by(WebhookAttempt.id)).scalars()
        return [(row.status_code, row.error, row.number) for row in rows]


def test_a_500_is_retried_later_with_the_same_webhook_id(app, receiver: Receiver) -> None:  # type: ignore[no-untyped-def]
    _id, secret = subscribed(app, receiver.url)
    receiver.answers = [500]
    report_received(app)
    first = work(app)
    assert first.retried == 1 and len(receiver.requests) == 1
    Webhook(secret).verify(receiver.requests[0].body, receiver.requests[0].headers)
    assert work(app).handled == 0  # not due yet: backoff
    second = work(app, after=timedelta(minutes=1))
    assert second.delivered == 1
    one, two = receiver.requests
    assert one.headers["webhook-id"] == two.headers["webhook-id"] and one.body == two.body
    assert attempts(app) == [(500, "status", 1), (204, None, 2)]
    assert work(app, after=timedelta(days=1)).handled == 0  # delivered: never again


@pytest.mark.settings(WEBHOOK_READ_TIMEOUT_SECONDS=1, WEBHOOK_CONNECT_TIMEOUT_SECONDS=1)
def test_a_receiver_that_hangs_times_out(app, receiver: Receiver) -> None:  # type: ignore[no-untyped-def]
    subscribed(app, receiver.url)
    receiver.answers = ["hang"]
    report_received(app)
    run = work(app)
    assert run.retried == 1
    ((status, error, number),) = attempts(app)
    assert (status, error, number) == (None, "timeout", 1)
    with app.app_context():
        delivery = db.session.execute(select(WebhookDelivery)).scalar_one()
        assert delivery.status == "queued" and delivery.next_attempt_at > utcnow()


def test_a_redirect_is_not_followed(app, receiver: Receiver) -> None:  # type: ignore[no-untyped-def]
    subscribed(app, receiver.url)
    receiver.answers = [307]
    report_received(app)
    assert work(app).retried == 1
    assert len(receiver.requests) == 1  # nothing went to the Location
    assert attempts(app) == [(307, "redirect", 1)]


def test_nothing_listening_is_a_connection_failure(app) -> None:  # type: ignore[no-untyped-def]
    from tests.helpers import free_port

    subscribed(app, f"http://127.0.0.1:{free_port()}/")
    report_received(app)
    assert work(app).retried == 1
    assert attempts(app)[0][1] == "connection"


@pytest.mark.settings(WEBHOOK_DISABLE_AFTER_FAILURES=3, WEBHOOK_DISABLE_AFTER_HOURS=1, WEBHOOK_MAX_ATTEMPTS=2)
def test_a_long_run_of_failures_disables_the_subscription_and_is_audited(app, receiver: Receiver) -> None:  # type: ignore[no-untyped-def]
    subscription_id, _secret = subscribed(app, receiver.url)
    receiver.answers = [500] * 10
    for n in range(3):
        report_received(app, f"RPT-2026-00000{n}")
    run = work(app)  # three failures in a row, but within the hour: still active
    assert run.retried == 3 and run.disabled == 0
    run = work(app, after=timedelta(hours=2))  # second attempts: out of attempts, and failing for 2 h
    assert run.failed == 3 and run.disabled == 1
    with app.app_context():
        subscription = db.session.get(WebhookSubscription, subscription_id)
        assert subscription is not None
        assert subscription.status == "disabled" and subscription.disabled_reason == "failures"
        assert [s.id for s in disabled_by_failures(utcnow() - timedelta(days=1))] == [subscription_id]
        (event,) = db.session.execute(
            select(AuditEvent).where(AuditEvent.action == "worker:webhook:disabled")
        ).scalars()
        assert f'"subscription":{subscription_id}' in event.data and '"reason":"failures"' in event.data
    # Disabled: new events queue nothing for it, and what waited is not sent.
    report_received(app, "RPT-2026-000009")
    sent = len(receiver.requests)
    assert work(app, after=timedelta(days=3)).handled == 0 and len(receiver.requests) == sent
    with app.app_context():
        assert db.session.query(WebhookDelivery).count() == 3
        subscription = db.session.get(WebhookSubscription, subscription_id)
        assert subscription is not None
        enable_subscription(subscription, source="cli", actor="test", now=utcnow())
        db.session.commit()
        assert subscription.consecutive_failures == 0


def test_after_rotation_both_secrets_sign_until_the_overlap_ends(app, receiver: Receiver) -> None:  # type: ignore[no-untyped-def]
    subscription_id, old = subscribed(app, receiver.url)
    with app.app_context():
        subscription = db.session.get(WebhookSubscription, subscription_id)
        assert subscription is not None
        new = rotate_secret(subscription, overlap=timedelta(hours=1), source="cli", actor="test", now=utcnow())
        db.session.commit()
    assert new != old and new.startswith("whsec_")
    report_received(app)
    work(app)
    (during,) = receiver.requests
    assert len(during.headers["webhook-signature"].split(" ")) == 2
    Webhook(old).verify(during.body, during.headers)  # receivers not yet switched
    Webhook(new).verify(during.body, during.headers)  # receivers already switched
    with app.app_context():  # the overlap ends
        subscription = db.session.get(WebhookSubscription, subscription_id)
        assert subscription is not None
        subscription.previous_secret_until = utcnow() - timedelta(seconds=1)
        db.session.commit()
    report_received(app, "RPT-2026-000002")
    work(app)
    after = receiver.requests[1]
    assert len(after.headers["webhook-signature"].split(" ")) == 1
    Webhook(new).verify(after.body, after.headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(old).verify(after.body, after.headers)


def test_backoff_doubles_with_jitter_up_to_a_ceiling() -> None:
    assert backoff(1, rng=lambda: 0.0) == timedelta(seconds=2.5)
    assert backoff(1, rng=lambda: 1.0) == timedelta(seconds=5)
    assert backoff(3, rng=lambda: 1.0) == timedelta(seconds=20)
    assert backoff(40, rng=lambda: 1.0) == timedelta(hours=12)


@pytest.mark.settings(WEBHOOK_ALLOW_PRIVATE_ADDRESSES=False)
def test_a_name_that_now_resolves_to_a_private_address_is_not_contacted(app, receiver: Receiver) -> None:  # type: ignore[no-untyped-def]
    url = f"http://hooks.example.com:{receiver.port}/hooks"
    with app.app_context():  # at subscription time the name was public
        add_subscription(
            url, ["report.received"], source="cli", actor="test", now=utcnow(), resolve=lambda h, p: ["93.184.215.14"]
        )
        db.session.commit()
    report_received(app)
    with app.app_context():  # DNS rebinding: now it points at loopback, where the receiver listens
        run = deliver_due_webhooks(resolve=lambda host, port: ["127.0.0.1"])
    assert run.retried == 1 and receiver.requests == []
    assert attempts(app) == [(None, "refused_address", 1)]


def test_the_outbox_worker_delivers_webhooks_too(app, runner, receiver: Receiver) -> None:  # type: ignore[no-untyped-def]
    subscribed(app, receiver.url)
    report_received(app)
    result = runner.invoke(args=["outbox", "work", "--once"])
    assert result.exit_code == 0, result.output
    assert "webhooks: delivered 1" in result.output and len(receiver.requests) == 1


def test_the_connection_goes_to_the_checked_address_with_the_name_as_host(app, receiver: Receiver) -> None:  # type: ignore[no-untyped-def]
    url = f"http://hooks.example.test:{receiver.port}/in?tenant=7"
    checked = lambda host, port: ["127.0.0.1"]  # noqa: E731 - the name resolves, once, to the receiver
    with app.app_context():
        add_subscription(url, ["report.received"], source="cli", actor="test", now=utcnow(), resolve=checked)
        db.session.commit()
    report_received(app)
    with app.app_context():
        assert deliver_due_webhooks(resolve=checked).delivered == 1
    (request,) = receiver.requests
    assert request.headers["host"] == f"hooks.example.test:{receiver.port}" and request.path == "/in?tenant=7"
