"""The customer flow in a real browser: report in Vietnamese, follow the emailed link, reset, sign in."""

from __future__ import annotations

import re

import pytest

from incident_service.customers.models import Customer
from incident_service.extensions import db
from incident_service.notifications.service import customer_report_url
from tests.browser.screens import shoot
from tests.browser.steps import customer_sets_new_password, customer_signs_in
from tests.helpers import PASSWORD, deliver, make_customer

pytestmark = pytest.mark.browser

NEW_PASSWORD = "bầu trời hôm nay xanh ngắt"
LINK = re.compile(r"http://127\.0\.0\.1:\d+/(reset|discovery|r)/[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-.]+")


def test_customer_reports_resets_and_signs_in(app, live_server, smtp_sink, browser_page, tmp_path) -> None:  # type: ignore[no-untyped-def]
    make_customer(app, "an@example.com")
    page = browser_page
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(live_server + "/report")
    assert page.locator("h1").inner_text() == "Thông báo mật khẩu bị lộ"
    page.get_by_label("Địa chỉ email của tài khoản").fill("an@example.com")
    page.get_by_label("Chuyện gì đã xảy ra?").select_option("phished")
    page.get_by_role("button", name="Gửi thông báo ngay").click()
    assert page.locator("h1").inner_text() == "Chúng tôi đã nhận được báo cáo của bạn"
    reference = page.locator("dd.reference").inner_text()
    assert re.fullmatch(r"RPT-\d{4}-\d{6}", reference)
    assert re.fullmatch(r"\d\d:\d\d:\d\d - \d\d/\d\d/\d{4} \(GMT\+7\)", page.locator("dd.received-at").inner_text())
    page.screenshot(path=str(tmp_path / "receipt.png"))

    deliver(app)
    text = smtp_sink.to("an@example.com")[0].get_body(preferencelist=("plain",)).get_content()
    links = {match.group(1): match.group(0) for match in LINK.finditer(text)}
    assert reference in text

    page.goto(links["reset"])
    assert page.url == live_server + "/reset"  # the token left the address bar
    page.get_by_label("Mật khẩu mới", exact=True).fill("quá ngắn")
    page.get_by_label("Nhập lại mật khẩu mới").fill("quá ngắn")
    page.get_by_role("button", name="Lưu mật khẩu mới").click()
    # The refusal is under the field it is about, tied to it, with the focus there; the rules were shown
    # before the first try; the passwords can be shown (a script from our own origin, no inline code).
    password = page.get_by_label("Mật khẩu mới", exact=True)
    assert "Hãy dùng ít nhất 15 ký tự" in page.locator("#password-error").inner_text()
    assert password.get_attribute("aria-invalid") == "true"
    assert password.get_attribute("aria-describedby") == "password-rules password-error"
    assert page.evaluate("document.activeElement.id") == "password"
    assert "có ít nhất 15 ký tự" in page.locator("#password-rules").inner_text()
    assert "Đường dẫn này chỉ dùng được một lần và hết hạn lúc" in page.content()
    page.get_by_role("button", name="Hiện mật khẩu").click()
    assert password.get_attribute("type") == "text"
    assert page.evaluate("document.documentElement.scrollWidth") <= page.viewport_size["width"]
    shoot(page, "customer-reset-refused-vi")
    page.get_by_role("button", name="Ẩn mật khẩu").click()
    assert password.get_attribute("type") == "password"
    customer_sets_new_password(page, NEW_PASSWORD)
    assert page.locator("h1").inner_text() == "Mật khẩu mới của bạn đã được lưu"

    page.get_by_role("link", name="Đăng nhập bằng mật khẩu mới").click()
    page.get_by_label("Địa chỉ email", exact=True).fill("an@example.com")
    page.get_by_label("Mật khẩu", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Đăng nhập").click()
    assert "không đúng" in page.locator("[role=alert]").inner_text()
    page.get_by_label("Mật khẩu", exact=True).fill(NEW_PASSWORD)
    page.get_by_role("button", name="Đăng nhập").click()
    assert page.locator("h1").inner_text() == "Tài khoản của tôi"
    assert reference in page.content()
    assert "Đã giải quyết" in page.content()

    page.get_by_role("button", name="English").click()
    assert page.locator("h1").inner_text() == "My account"
    page.set_viewport_size({"width": 390, "height": 844})
    shoot(page, "customer-account-en")
    # No CSP violation and no script error (400 answers to refused forms are expected console lines).
    assert [p for p in page.problems if not p.startswith("Failed to load resource")] == []


def test_a_signed_in_customer_reports_through_their_link_and_is_told_what_happened(
    app, live_server, browser_page
) -> None:  # type: ignore[no-untyped-def]
    """At 390 px, in Vietnamese then English: the customer, signed in, opens the report link from one of
    our emails. The receipt names the masked address the link went to and until when it works (no
    hedging: the link is theirs), says what to do if the email does not come or the mailbox itself may
    be in other hands; the next page they open says why they were signed out."""
    customer_id = make_customer(app, "an@example.com")
    with app.test_request_context():
        link = customer_report_url(db.session.get(Customer, customer_id))
    page = browser_page
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(live_server + "/login")
    customer_signs_in(page, "an@example.com", PASSWORD)
    assert page.locator("h1").inner_text() == "Tài khoản của tôi"

    page.goto(link)  # PUBLIC_BASE_URL is the live server here
    page.get_by_label("Chuyện gì đã xảy ra?").select_option("stolen")
    page.get_by_role("button", name="Gửi thông báo ngay").click()
    assert page.locator("h1").inner_text() == "Chúng tôi đã nhận được báo cáo của bạn"
    done = page.get_by_role("region", name="Những việc chúng tôi đã làm").inner_text()
    assert "a•@example.com" in done and "Đường dẫn chỉ dùng được một lần và hết hạn lúc" in done
    assert "Nếu địa chỉ bạn nhập" not in page.content()
    assert page.evaluate("document.documentElement.scrollWidth") <= 390  # nothing wider than the phone
    shoot(page, "customer-receipt-vi")
    page.get_by_role("button", name="English").click()
    assert page.locator("h1").inner_text() == "We have received your report"
    shoot(page, "customer-receipt-en")

    page.goto(live_server + "/account")
    assert page.url.endswith("/login")
    assert "signed out on every device" in page.get_by_role("status").inner_text()
    shoot(page, "customer-signed-out-en")

    # The link again, while the incident is open: the report is in hand, and a fresh link is one button.
    page.goto(link)
    assert page.locator("h1").inner_text() == "Your report is already in hand"
    shoot(page, "customer-in-hand-en")
    page.get_by_role("button", name="Tiếng Việt").click()
    assert page.locator("h1").inner_text() == "Báo cáo của bạn đang được xử lý"
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    shoot(page, "customer-in-hand-vi")
