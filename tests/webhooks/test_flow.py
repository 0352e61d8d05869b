"""A real flow (a web report, legal's review and breach, support's close, the customer's reset, an email
that cannot be delivered) sends each webhook event once to a real receiver, signed so that the
`standardwebhooks` package verifies it, and carrying references, never a secret."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import select
from standardwebhooks import Webhook

from incident_service.database import utcnow
from incident_service.extensions import db
from incident_service.incidents.models import Incident
from incident_service.notifications.delivery import deliver_due
from incident_service.webhooks.delivery import deliver_due_webhooks
from incident_service.webhooks.models import EVENT_TYPES, WebhookDelivery
from tests.console.conftest import post_form
from tests.helpers import deliver, links_in, path_of, submit
from tests.webhooks.conftest import Receiver

NEW_PASSWORD = "mưa rơi trên phố cũ hà nội"
SECRET_RE = re.compile(r"^whsec_[A-Za-z0-9+/]+=*$", re.M)
RFC3339_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")

pytestmark = [pytest.mark.real_commits, pytest.mark.settings(WEBHOOK_ALLOW_PRIVATE_ADDRESSES=True)]


def subscribe(runner, url: str, *events: str) -> str:  # type: ignore[no-untyped-def]
    args = ["webhooks", "add", url]
    for event in events:
        args += ["--event", event]
    result = runner.invoke(args=args)
    assert result.exit_code == 0, result.output
    found = SECRET_RE.findall(result.output)
    assert len(found) == 1, result.output
    return found[0]


def send_webhooks(app) -> None:  # type: ignore[no-untyped-def]
    with app.app_context():
        deliver_due_webhooks()


def test_each_event_once_signed_and_without_secrets(
    app, runner, smtp_sink, monkeypatch, staff_login, customer_id, receiver: Receiver
):  # type: ignore[no-untyped-def]
    secret = subscribe(runner, receiver.url, *EVENT_TYPES)
    listed = runner.invoke(args=["webhooks", "list"]).output
    assert receiver.url in listed and "whsec_" not in listed  # the secret is shown once, at `add`

    # A late report through the web form: report.received, incident.opened.
    noticed = (utcnow() - timedelta(days=3)).astimezone().strftime("%Y-%m-%dT%H:%M")
    answer = submit(
        app.test_client(), "/report", {"email": "an@example.com", "kind": "stolen", "discovered_at": noticed}
    )
    assert answer.status_code in (302, 303)
    deliver(app)
    (ack,) = smtp_sink.to("an@example.com")
    reset_link = links_in(ack)["reset"]
    with app.app_context():
        incident = db.session.execute(select(Incident)).scalar_one()
        page, reference, customer_reference = (
            f"/console/incidents/{incident.id}",
            incident.reference,
            incident.customer_reference,
        )

    # Legal decides the review and marks a breach; support closes the incident.
    legal = staff_login("legal", "luat@ecc.example")
    decided = post_form(legal, page, page + "/review", {"decision": "exemption_waived", "rationale": "Khách báo trễ."})
    assert decided.status_code in (302, 303), decided.get_data(as_text=True)
    marked = post_form(legal, page, page + "/breach", {"breach_reason": "Danh sách rò rỉ", "breach_confirm": "y"})
    assert marked.status_code in (302, 303)
    support = staff_login("support", "lan@ecc.example")
    closed = post_form(support, page, page + "/close", {"category": "withdrawn", "close_reason": "Khách nhầm."})
    assert closed.status_code in (302, 303)

    # The customer still sets a new password with the link: password.reset.
    browser = app.test_client()
    assert browser.get(path_of(reset_link)).status_code == 302
    assert submit(browser, "/reset", {"password": NEW_PASSWORD, "password_confirm": NEW_PASSWORD}).status_code in (
        200,
        302,
        303,
    )

    # The relay refuses the "password changed" email for good (550): delivery.failed.
    async def refuse(server, session, envelope) -> str:  # type: ignore[no-untyped-def]
        return "550 5.1.1 mailbox unavailable"

    monkeypatch.setattr(smtp_sink.handler, "handle_DATA", refuse)
    with app.app_context():
        assert deliver_due().failed == 1

    send_webhooks(app)
    received = receiver.requests
    types = [request.json["type"] for request in received]
    assert sorted(types) == sorted(EVENT_TYPES), types  # each event once

    for request in received:
        # The receiver's side: the `standardwebhooks` package verifies the signature and timestamp.
        body = Webhook(secret).verify(request.body, request.headers)
        assert body == request.json
        assert request.headers["webhook-id"].startswith("msg_")
        assert request.headers["content-type"] == "application/json"
        assert set(body) == {"type", "timestamp", "data"} and RFC3339_UTC.match(body["timestamp"])
        # References, never a secret, token, link, password hash or email address.
        text = request.body.decode()
        for forbidden in ("whsec_", secret, "http", "/reset", "$argon2", "@", "an@example", NEW_PASSWORD, "Khách"):
            assert forbidden not in text, (forbidden, text)
        assert len({r.headers["webhook-id"] for r in received}) == len(received)

    by_type = {request.json["type"]: request.json["data"] for request in received}
    assert by_type["report.received"]["report"] == customer_reference
    assert by_type["report.received"]["channel"] == "web" and by_type["report.received"]["kind"] == "stolen"
    for kind in ("incident.opened", "incident.closed", "password.reset", "review.decided", "breach.marked"):
        assert by_type[kind]["incident"] == reference, kind
        assert by_type[kind]["customer_reference"] == customer_reference, kind
    assert by_type["review.decided"]["decision"] == "exemption_waived"
    assert by_type["incident.closed"]["category"] == "withdrawn"
    assert RFC3339_UTC.match(by_type["breach.marked"]["notify_authority_by"])
    failed = by_type["delivery.failed"]
    assert (
        failed["email"] == "password_changed" and failed["attempts"] == 1 and RFC3339_UTC.match(failed["failed_at"])
    ), failed

    # Delivered once: the worker has nothing more to send, and the log shows each 204.
    send_webhooks(app)
    assert len(receiver.requests) == len(EVENT_TYPES)
    with app.app_context():
        statuses = set(db.session.execute(select(WebhookDelivery.status)).scalars())
    assert statuses == {"delivered"}
