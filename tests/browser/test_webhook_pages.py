"""The console's webhook pages in a real browser at 1280 px, in English and Vietnamese: an admin adds a
subscription and sees its secret once, then reads its delivery log (incident_service/webhooks)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from incident_service.database import utcnow
from incident_service.extensions import db
from incident_service.webhooks.models import WebhookAttempt, WebhookDelivery, WebhookSubscription
from tests.browser.screens import shoot
from tests.browser.steps import staff_signs_in_and_enrols
from tests.console.conftest import STAFF_PASSWORD, make_staff

pytestmark = pytest.mark.browser


def seed_log(app, subscription_id: int) -> None:  # type: ignore[no-untyped-def]
    """Three deliveries: one accepted, one retried after a 500 and a timeout, one waiting."""
    now = utcnow()
    with app.app_context():
        for n, (event, status, answers) in enumerate(
            [
                ("incident.opened", "delivered", [(204, None)]),
                ("password.reset", "queued", [(500, "status"), (None, "timeout")]),
                ("breach.marked", "queued", []),
            ]
        ):
            delivery = WebhookDelivery(
                subscription_id=subscription_id,
                message_id=f"msg_0000000000000000000000000000000{n}",
                event_type=event,
                payload="{}",
                status=status,
                attempts=len(answers),
                created_at=now - timedelta(minutes=30 - n),
                next_attempt_at=now + timedelta(minutes=5),
            )
            db.session.add(delivery)
            db.session.flush()
            for number, (code, error) in enumerate(answers, start=1):
                db.session.add(
                    WebhookAttempt(
                        delivery_id=delivery.id,
                        subscription_id=subscription_id,
                        attempted_at=now - timedelta(minutes=20 - number),
                        number=number,
                        status_code=code,
                        error=error,
                        duration_ms=10_000 if error == "timeout" else 37,
                    )
                )
        db.session.commit()


def add_subscription_in_page(page, url: str, events: list[str], button: str) -> None:  # type: ignore[no-untyped-def]
    page.locator("#url").fill(url)
    for event in events:
        page.locator(f'input[name="events"][value="{event}"]').check()
    page.locator("form.narrow button[type=submit]").click()
    assert page.locator("code.secret").inner_text().startswith("whsec_")


@pytest.mark.settings(WEBHOOK_ALLOW_PRIVATE_ADDRESSES=True)
def test_admin_adds_a_subscription_and_reads_its_log(app, live_server, browser_page) -> None:  # type: ignore[no-untyped-def]
    make_staff(app, "quan@ecc.example", "admin")
    page = browser_page
    staff_signs_in_and_enrols(page, live_server + "/console/admin/webhooks", "quan@ecc.example", STAFF_PASSWORD)
    page.goto(live_server + "/console/admin/webhooks")

    page.get_by_role("button", name="English").click()
    add_subscription_in_page(
        page, "http://127.0.0.1:9/crm/hooks", ["incident.opened", "password.reset", "breach.marked"], "Add subscription"
    )
    shoot(page, "console-webhooks-secret-en")
    with app.app_context():
        subscription_id = db.session.query(WebhookSubscription.id).scalar()
    seed_log(app, subscription_id)
    page.goto(live_server + f"/console/admin/webhooks/{subscription_id}")
    shoot(page, "console-webhooks-log-en")
    page.goto(live_server + "/console/admin/webhooks")
    shoot(page, "console-webhooks-en")
    page.get_by_role("button", name="Remove").click()  # destructive: asked again, with what goes
    shoot(page, "console-webhooks-remove-en")
    page.get_by_role("link", name="Keep it").click()
    with app.app_context():
        assert db.session.get(WebhookSubscription, subscription_id) is not None

    # In Vietnamese (its check fails on any string not yet translated).
    page.get_by_role("button", name="Tiếng Việt").click()
    page.goto(live_server + f"/console/admin/webhooks/{subscription_id}")
    shoot(page, "console-webhooks-log-vi")
    page.goto(live_server + "/console/admin/webhooks")
    shoot(page, "console-webhooks-vi")
    assert page.problems == []  # type: ignore[attr-defined]
