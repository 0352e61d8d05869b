"""Data requests in a real browser, in English and Vietnamese: the customer's pages at 390 px (their
requests, asking for a correction with a refusal shown, asking for an erasure) and the console's at
1280 px (the queue with an overdue request, a request's page with the decision form, staff entry of a
request that came by phone, refused and then recorded)."""

from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest

from incident_service.data_requests.models import DataRequest
from incident_service.database import utcnow
from incident_service.extensions import db
from tests.browser.screens import shoot
from tests.browser.steps import staff_signs_in_and_enrols
from tests.console.conftest import STAFF_PASSWORD, make_staff
from tests.data_requests.test_requests import ask, reported_customer, signed_in
from tests.helpers import PASSWORD

pytestmark = pytest.mark.browser


def customer_signs_in(page, live_server: str, language: str) -> None:  # type: ignore[no-untyped-def]
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(live_server + "/login")
    if language == "en":
        page.get_by_role("button", name="English").click()
    page.locator("#email").fill("an@example.com")
    page.locator("#password").fill(PASSWORD)
    page.locator("main button[type=submit]").click()
    assert page.url == live_server + "/account"


@pytest.mark.parametrize("language", ["en", "vi"])
def test_customer_asks_for_a_correction_and_an_erasure(app, live_server, smtp_sink, browser_page, language) -> None:  # type: ignore[no-untyped-def]
    reported_customer(app, "an@example.com", details="Tôi đã bấm vào một thư giả mạo.", locale=language)
    page = browser_page
    customer_signs_in(page, live_server, language)
    page.locator("a[href='/account/requests']").click()
    assert page.url == live_server + "/account/requests"
    shoot(page, f"customer-data-requests-empty-{language}")

    page.locator("a[href='/account/requests/new/name']").click()
    page.locator("#corrected_value").fill("Nguyễn Thị An")
    page.locator("main form button[type=submit]").click()
    assert page.locator("#reason").get_attribute("aria-invalid") == "true"
    assert page.locator("#corrected_value").input_value() == "Nguyễn Thị An"  # nothing typed is lost
    shoot(page, f"customer-data-request-name-refused-{language}")
    page.locator("#reason").fill("Tên của tôi bị viết sai.")
    page.locator("main form button[type=submit]").click()
    assert page.url == live_server + "/account/requests"
    assert page.locator("article.card").count() == 1

    page.locator("a[href='/account/requests/new/statement']").click()
    assert page.locator("input[name=statement]").count() == 2  # the time they noticed, and their text
    shoot(page, f"customer-data-request-statement-{language}")

    page.goto(live_server + "/account/requests/new/erasure")
    page.locator("#reason").fill("Tôi không dùng dịch vụ nữa.")
    page.locator("main form button[type=submit]").click()
    assert page.locator("article.card").count() == 2
    assert page.locator("article.card form button").count() == 2  # each can be withdrawn
    shoot(page, f"customer-data-requests-{language}")


@pytest.mark.parametrize("language", ["en", "vi"])
def test_console_queue_request_and_phone_entry(app, live_server, smtp_sink, browser_page, language) -> None:  # type: ignore[no-untyped-def]
    customer_id = reported_customer(app, "an@example.com")
    reported_customer(app, "binh@example.com")
    ask(signed_in(app, "an@example.com"), "erasure", {"scope": "", "reason": "I closed my account."})
    ask(signed_in(app, "binh@example.com"), "name", {"corrected_value": "Trần Thị Bình", "reason": "Misspelt."})
    with app.app_context():
        late = db.session.query(DataRequest).filter_by(customer_id=customer_id).one()
        late.received_at -= timedelta(days=5)
        late.due_at -= timedelta(days=5)
        late_id = late.id
        db.session.commit()
    make_staff(app, "mai@ecc.example", "legal")
    page = browser_page
    page.set_viewport_size({"width": 1280, "height": 900})
    staff_signs_in_and_enrols(page, live_server + "/console/data-requests", "mai@ecc.example", STAFF_PASSWORD)
    if language == "en":
        page.get_by_role("button", name="English").click()
    page.goto(live_server + "/console/data-requests")
    assert page.locator("tbody tr").count() == 2
    assert page.locator(".clock-overdue").count() == 1
    shoot(page, f"console-data-requests-{language}")

    page.goto(live_server + f"/console/data-requests/{late_id}")
    page.locator("input[name=decision][value=refused]").check()
    page.locator("main form.narrow button[type=submit]").click()
    assert page.locator("#reason").get_attribute("aria-invalid") == "true"
    shoot(page, f"console-data-request-{language}")

    page.goto(live_server + "/console/data-requests/new")
    page.locator("#customer").fill("an@example.com")
    page.locator("#channel").select_option("phone")
    page.locator("#received_at").fill("31/02/2026 09:00")
    page.locator("#kind").select_option("access")
    page.locator("#reason").fill("Muốn xem dữ liệu.")
    page.locator("main form button[type=submit]").click()
    assert page.locator("#received_at").get_attribute("aria-invalid") == "true"
    assert page.locator("#reason").input_value() == "Muốn xem dữ liệu."
    shoot(page, f"console-data-request-new-refused-{language}")
    yesterday = (utcnow() - timedelta(days=1)).astimezone(ZoneInfo("Asia/Ho_Chi_Minh"))
    page.locator("#received_at").fill(yesterday.strftime("%d/%m/%Y %H:%M"))
    page.locator("main form button[type=submit]").click()
    assert "/console/data-requests/" in page.url and page.url.rstrip("/").split("/")[-1].isdigit()
