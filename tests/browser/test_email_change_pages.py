"""Changing the address on record in a real browser at 390 px, in English and Vietnamese: the request
form (and its refusal), the "check both mailboxes" page, both confirmation pages, the result, the
cancellation, and the page that refuses during an open incident."""

from __future__ import annotations

import re

import pytest

from incident_service.database import utcnow
from incident_service.extensions import db
from incident_service.incidents.models import STATUS_REACTIVATED, Incident
from tests.browser.screens import shoot
from tests.helpers import PASSWORD, deliver, make_customer

pytestmark = pytest.mark.browser

CONFIRM = re.compile(r"http://127\.0\.0\.1:\d+/account/email/confirm/[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-.]+")
REPORT = re.compile(r"http://127\.0\.0\.1:\d+/r/[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-.]+")
OLD, NEW = "an@example.com", "an.moi@example.org"


def link_to(smtp_sink, address: str) -> str:  # type: ignore[no-untyped-def]
    text = smtp_sink.to(address)[-1].get_body(preferencelist=("plain",)).get_content()
    found = CONFIRM.search(text)
    assert found, text
    return found.group(0)


def signed_in(page, live_server: str, language: str) -> None:  # type: ignore[no-untyped-def]
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(live_server + "/login")
    if language == "en":
        page.get_by_role("button", name="English").click()
    page.locator("#email").fill(OLD)
    page.locator("#password").fill(PASSWORD)
    page.locator("main button[type=submit]").click()
    assert page.url == live_server + "/account"


@pytest.mark.parametrize("language", ["en", "vi"])
def test_change_confirmed_from_both_addresses(app, live_server, smtp_sink, browser_page, language) -> None:  # type: ignore[no-untyped-def]
    make_customer(app, OLD, locale=language, name="An")
    page = browser_page
    signed_in(page, live_server, language)
    page.locator("a[href='/account/email']").click()
    assert page.url == live_server + "/account/email"
    shoot(page, f"customer-email-change-{language}")

    page.locator("#new_email").fill(NEW)
    page.locator("#password").fill("not the password")
    page.locator("main form button[type=submit]").click()
    assert page.locator("#password").get_attribute("aria-invalid") == "true"
    assert page.locator("#new_email").input_value() == NEW  # nothing typed is lost but the password
    shoot(page, f"customer-email-change-wrong-password-{language}")

    page.locator("#password").fill(PASSWORD)
    page.locator("main form button[type=submit]").click()
    assert NEW in page.locator("main").inner_text()
    shoot(page, f"customer-email-change-sent-{language}")

    deliver(app)
    old_link, new_link = link_to(smtp_sink, OLD), link_to(smtp_sink, NEW)
    page.goto(old_link)
    assert page.url == live_server + "/account/email/confirm"  # the token left the address bar
    shoot(page, f"customer-email-change-confirm-old-{language}")
    page.locator("form[action='/account/email/confirm'] button").click()
    assert page.locator(".flash-success").count() == 1
    shoot(page, f"customer-email-change-confirmed-once-{language}")

    page.goto(new_link)
    shoot(page, f"customer-email-change-confirm-new-{language}")
    page.locator("form[action='/account/email/confirm'] button").click()
    assert page.url == live_server + "/account/email/result"
    assert page.locator("a.button[href='/login']").count() == 1
    if language == "en":  # signed out now: the page is in the browser's language until one is chosen
        page.get_by_role("button", name="English").click()
        assert page.url == live_server + "/account/email/result"
    shoot(page, f"customer-email-change-done-{language}")
    # No CSP violation and no script error (the refused form's 400 is an expected console line).
    assert [p for p in page.problems if not p.startswith("Failed to load resource")] == []


@pytest.mark.parametrize("language", ["en", "vi"])
def test_cancelled_from_the_old_address(app, live_server, smtp_sink, browser_page, language) -> None:  # type: ignore[no-untyped-def]
    make_customer(app, OLD, locale=language, name="An")
    page = browser_page
    signed_in(page, live_server, language)
    page.goto(live_server + "/account/email")
    page.locator("#new_email").fill(NEW)
    page.locator("#password").fill(PASSWORD)
    page.locator("main form button[type=submit]").click()
    deliver(app)
    page.goto(link_to(smtp_sink, OLD))
    page.locator("form[action='/account/email/cancel'] button").click()
    assert REPORT.fullmatch(page.locator("main a.button").get_attribute("href") or "")
    shoot(page, f"customer-email-change-cancelled-{language}")


@pytest.mark.parametrize("language", ["en", "vi"])
def test_refused_during_an_open_incident(app, live_server, browser_page, language) -> None:  # type: ignore[no-untyped-def]
    customer_id = make_customer(app, OLD, locale=language, name="An")
    page = browser_page
    signed_in(page, live_server, language)
    with app.app_context():
        now = utcnow()
        db.session.add(
            Incident(
                customer_id=customer_id,
                status=STATUS_REACTIVATED,
                opened_at=now,
                first_received_at=now,
                late_threshold_hours=24,
            )
        )
        db.session.commit()
    page.goto(live_server + "/account/email")
    assert page.locator("#new_email").count() == 0
    shoot(page, f"customer-email-change-refused-incident-{language}")


@pytest.mark.parametrize("language", ["en", "vi"])
def test_staff_see_previous_addresses(app, live_server, browser_page, language) -> None:  # type: ignore[no-untyped-def]
    from datetime import timedelta

    from sqlalchemy import select

    from incident_service.customers.models import Customer
    from incident_service.email_change.models import PreviousAddress
    from incident_service.intake.service import Envelope, record_message
    from tests.browser.steps import staff_signs_in_and_enrols
    from tests.console.conftest import STAFF_PASSWORD, make_staff

    customer_id = make_customer(app, OLD, name="Nguyễn Văn An")
    with app.app_context():
        now = utcnow()
        customer = db.session.get(Customer, customer_id)
        assert customer is not None
        customer.email = NEW
        db.session.add(
            PreviousAddress(
                customer_id=customer_id, address=OLD, recorded_since=now - timedelta(days=300), replaced_at=now
            )
        )
        db.session.commit()
        raw = (
            f"From: <{OLD}>\r\nTo: security@ecc.example\r\nSubject: mat khau bi lo\r\n"
            "Message-ID: <previous@example.com>\r\n\r\nMật khẩu của tôi bị lộ.\r\n"
        ).encode()
        record_message(raw, envelope=Envelope(mail_from=OLD, rcpt_tos=["security@ecc.example"]), via="smtp", now=now)
        incident_id = db.session.execute(select(Incident.id)).scalar_one()
    make_staff(app, "lan@ecc.example", "support")
    page = browser_page
    page.set_viewport_size({"width": 1280, "height": 900})
    url = f"{live_server}/console/incidents/{incident_id}"
    staff_signs_in_and_enrols(page, url, "lan@ecc.example", STAFF_PASSWORD)
    page.goto(url)
    if language == "en":
        page.get_by_role("button", name="English").click()
    assert OLD in page.locator("dl.facts").first.inner_text()
    assert page.locator("article.report .badge").count() == 1
    shoot(page, f"console-incident-previous-address-{language}")
