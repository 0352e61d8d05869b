"""The console's webhook pages: admins only; the secret shown once; refusals explained under the field;
disable, enable, rotate and remove; each subscription's delivery log."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from incident_service.audit.models import AuditEvent
from incident_service.database import utcnow
from incident_service.extensions import db
from incident_service.webhooks.models import WebhookAttempt, WebhookDelivery, WebhookSubscription
from tests.console.conftest import post_form

PAGE = "/console/admin/webhooks"
SECRET = re.compile(r'<code class="secret">(whsec_[A-Za-z0-9+/=]+)</code>')
EN = {"Accept-Language": "en"}


def test_only_admins_reach_the_pages(app, staff_login) -> None:  # type: ignore[no-untyped-def]
    for role in ("support", "legal"):
        client = staff_login(role)
        assert client.get(PAGE).status_code == 403
        assert (
            post_form(
                client, "/console/incidents", PAGE, {"url": "https://a.example/", "events": "incident.opened"}
            ).status_code
            == 403
        )
        assert f'href="{PAGE}"' not in client.get("/console/incidents").get_data(as_text=True)
    assert app.test_client().get(PAGE).status_code == 302  # signed out: to the sign-in page
    admin = staff_login("admin")
    assert f'href="{PAGE}"' in admin.get(PAGE).get_data(as_text=True)


@pytest.mark.settings(WEBHOOK_ALLOW_PRIVATE_ADDRESSES=True)
def test_admin_adds_sees_the_secret_once_and_manages_it(app, staff_login) -> None:  # type: ignore[no-untyped-def]
    admin = staff_login("admin", "quan@ecc.example")
    missing = post_form(admin, PAGE, PAGE, {"url": "http://127.0.0.1:9/in"}, headers=EN)
    assert missing.status_code == 400 and "Choose at least one event." in missing.get_data(as_text=True)

    added = post_form(
        admin, PAGE, PAGE, {"url": "http://127.0.0.1:9/in", "events": ["incident.opened", "password.reset"]}, headers=EN
    )
    assert added.status_code == 200 and added.headers["Cache-Control"] == "no-store"
    secret = SECRET.search(added.get_data(as_text=True))
    assert secret is not None
    with app.app_context():
        subscription = db.session.execute(select(WebhookSubscription)).scalar_one()
        assert subscription.secret == secret.group(1) and subscription.events == "incident.opened password.reset"
        sid = subscription.id
    again = admin.get(PAGE, headers=EN).get_data(as_text=True)
    assert "whsec_" not in again and "http://127.0.0.1:9/in" in again and "active" in again

    post_form(admin, PAGE, f"{PAGE}/{sid}/disable", {})
    assert "disabled by staff" in admin.get(PAGE, headers=EN).get_data(as_text=True)
    post_form(admin, PAGE, f"{PAGE}/{sid}/enable", {})
    rotated = post_form(admin, PAGE, f"{PAGE}/{sid}/rotate", {}, headers=EN)
    new_secret = SECRET.search(rotated.get_data(as_text=True))
    assert new_secret is not None and new_secret.group(1) != secret.group(1)
    assert rotated.headers["Cache-Control"] == "no-store"

    # The delivery log: each attempt with its time, answer and how long it took.
    with app.app_context():
        delivery = WebhookDelivery(
            subscription_id=sid,
            message_id="msg_log",
            event_type="incident.opened",
            payload="{}",
            status="queued",
            attempts=1,
            created_at=utcnow(),
            next_attempt_at=utcnow(),
        )
        db.session.add(delivery)
        db.session.flush()
        db.session.add(
            WebhookAttempt(
                delivery_id=delivery.id,
                subscription_id=sid,
                attempted_at=utcnow(),
                number=1,
                status_code=503,
                error="status",
                duration_ms=42,
            )
        )
        db.session.commit()
    log = admin.get(f"{PAGE}/{sid}", headers=EN).get_data(as_text=True)
    assert "msg_log" in log and "HTTP 503" in log and "refused by the receiver" in log and "42 ms" in log
    assert "whsec_" not in log

    asked = post_form(admin, PAGE, f"{PAGE}/{sid}/remove", {}, headers=EN)  # first, what goes: asked again
    assert asked.status_code == 200 and "Remove it" in asked.get_data(as_text=True)
    with app.app_context():
        assert db.session.get(WebhookSubscription, sid) is not None
    post_form(admin, PAGE, f"{PAGE}/{sid}/remove", {"confirm": "y"})
    with app.app_context():
        assert db.session.execute(select(WebhookSubscription)).first() is None
        assert db.session.execute(select(WebhookAttempt)).first() is None
        actions = db.session.execute(
            select(AuditEvent.action).where(AuditEvent.actor == "quan@ecc.example", AuditEvent.action.like("%webhook%"))
        ).scalars()
        assert list(actions) == [
            "console:webhook:subscribed",
            "console:webhook:disabled",
            "console:webhook:enabled",
            "console:webhook:secret_rotated",
            "console:webhook:removed",
        ]
        data = " ".join(db.session.execute(select(AuditEvent.data)).scalars())
        assert "whsec_" not in data  # secrets are never audited


@pytest.mark.settings(APP_ENV="production", WEBHOOK_ALLOW_PRIVATE_ADDRESSES=False)
@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://10.0.0.1/", "Use an https:// address"),
        ("https://10.0.0.1/", "webhooks go only to public addresses"),
        ("https://[::1]/", "webhooks go only to public addresses"),
        ("https://169.254.169.254/", "webhooks go only to public addresses"),
    ],
)
def test_refused_addresses_are_explained_under_the_field(app, staff_login, url: str, message: str) -> None:  # type: ignore[no-untyped-def]
    admin = staff_login("admin")
    refused = post_form(admin, PAGE, PAGE, {"url": url, "events": "incident.opened"}, headers=EN)
    assert refused.status_code == 400
    page = refused.get_data(as_text=True)
    assert message in page and 'id="url-error"' in page and "whsec_" not in page
    with app.app_context():
        assert db.session.execute(select(WebhookSubscription)).first() is None
