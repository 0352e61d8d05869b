"""The whole customer flow through real parts: the web app, the outbox worker and a real SMTP server."""

from __future__ import annotations

import re

from sqlalchemy import func, select

from incident_service.audit.service import verify_chain
from incident_service.extensions import db
from incident_service.incidents.models import Incident
from incident_service.reactivation.models import ResetGrant
from tests.helpers import PASSWORD, deliver, links_in, path_of, submit

NEW_PASSWORD = "mưa rơi trên phố cũ hà nội"


def sign_in(client, address: str, password: str):  # type: ignore[no-untyped-def]
    return submit(client, "/login", {"email": address, "password": password})


def test_report_reactivate_notify_reset(app, client, smtp_sink, customer_id):  # type: ignore[no-untyped-def]
    # A signed-in customer.
    assert sign_in(client, "an@example.com", PASSWORD).status_code == 302
    assert client.get("/account").status_code == 200

    # The customer reports from another browser, giving an address in another case.
    reporter = app.test_client()
    answer = submit(
        reporter,
        "/report",
        {"email": "AN@Example.com", "kind": "stolen", "details": "laptop stolen"},
        follow_redirects=True,
    )
    assert answer.status_code == 200 and answer.request.path == "/report/received"
    page = answer.get_data(as_text=True)
    reference = re.search(r"RPT-\d{4}-\d{6}", page).group(0)  # type: ignore[union-attr]
    shown_time = re.search(r"\d\d:\d\d:\d\d - \d\d/\d\d/\d{4} \(GMT\+7\)", page)
    assert shown_time, "the receipt shows the received time in GMT+7"

    # The earlier session is refused, and the old password no longer signs in.
    assert client.get("/account").headers["Location"].endswith("/login")
    assert sign_in(app.test_client(), "an@example.com", PASSWORD).status_code == 400

    # The acknowledgement arrives at the address on record, through a real SMTP server.
    deliver(app)
    messages = smtp_sink.to("an@example.com")
    assert len(messages) == 1
    ack = messages[0]
    text = ack.get_body(preferencelist=("plain",)).get_content()  # type: ignore[union-attr]
    # One reference to quote: the page's, in the email's subject and body; the incident's own is for staff.
    assert reference in text and reference in ack["Subject"] and "INC-" not in text
    assert shown_time.group(0) in text  # same received time, in GMT+7
    links = links_in(ack)
    assert {"reset", "discovery", "r"} <= set(links)

    # A mail scanner opens the link three times: nothing changes.
    browser = app.test_client()
    for _ in range(3):
        scanner = app.test_client()
        opened = scanner.get(path_of(links["reset"]))
        assert opened.status_code == 302 and opened.headers["Location"] == "/reset"
        assert scanner.get("/reset").status_code == 200
    with app.app_context():
        grant = db.session.execute(select(ResetGrant)).scalar_one()
        assert grant.used_at is None and grant.revoked_at is None

    # The customer resets.
    assert browser.get(path_of(links["reset"])).status_code == 302
    done = submit(browser, "/reset", {"password": NEW_PASSWORD, "password_confirm": NEW_PASSWORD})
    assert done.status_code == 200, done.get_data(as_text=True)
    # No automatic sign-in.
    assert browser.get("/account").status_code == 302

    # The new password signs in; the old one still does not.
    assert sign_in(app.test_client(), "an@example.com", NEW_PASSWORD).status_code == 302
    assert sign_in(app.test_client(), "an@example.com", PASSWORD).status_code == 400

    # The link now fails, with the generic refusal.
    again = app.test_client()
    again.get(path_of(links["reset"]))
    refused = again.get("/reset")
    assert refused.status_code == 400

    # The "password changed" email arrives, with no password and no reset token.
    deliver(app)
    messages = smtp_sink.to("an@example.com")
    assert len(messages) == 2
    changed = messages[1]
    changed_text = changed.get_body(preferencelist=("plain",)).get_content()  # type: ignore[union-attr]
    assert NEW_PASSWORD not in changed.as_string() and "/reset/" not in changed.as_string()
    assert "/r/" in changed_text  # a way to dispute: the report link

    with app.app_context():
        incident = db.session.execute(select(Incident)).scalar_one()
        assert incident.status == "resolved"
        assert db.session.scalar(select(func.count()).select_from(ResetGrant)) == 1
        assert verify_chain().ok
