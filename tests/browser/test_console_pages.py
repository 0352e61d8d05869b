"""The console in a real browser: enrol TOTP, find and open an incident, enter a phone report,
re-send a link; screenshots of the queue and an incident page in both languages for docs/console.md."""

from __future__ import annotations

import io
import re
from urllib.parse import parse_qs, urlsplit

import pyotp
import pytest
import zxingcpp
from PIL import Image

from incident_service.customers.models import Customer
from incident_service.extensions import db
from tests.browser.screens import shoot
from tests.browser.steps import staff_enters_report, staff_signs_in_and_enrols
from tests.console.conftest import STAFF_PASSWORD, make_staff
from tests.helpers import deliver, local_input, make_customer, submit

pytestmark = pytest.mark.browser


def scanned_totp_secret(png: bytes) -> str:
    """The secret in the otpauth:// URI a QR decoder (ZXing) reads from the image, as a phone would."""
    found = zxingcpp.read_barcodes(Image.open(io.BytesIO(png)))
    assert len(found) == 1, "one QR code should be readable in the image"
    uri = urlsplit(found[0].text)
    assert (uri.scheme, uri.netloc) == ("otpauth", "totp")
    return parse_qs(uri.query)["secret"][0]


@pytest.mark.settings(LINK_RESEND_WINDOW_SECONDS=0)
def test_support_works_an_incident(app, live_server, smtp_sink, browser_page) -> None:  # type: ignore[no-untyped-def]
    make_customer(app, "an@example.com", name="Nguyễn Văn An")
    make_customer(app, "binh@example.com", name="Trần Thị Bình")
    submit(
        app.test_client(),
        "/report",
        {
            "email": "an@example.com",
            "kind": "phished",
            "discovered_at": "2026-11-20T08:15",
            "details": "Tôi đã bấm vào thư giả mạo.",
        },
    )
    deliver(app)
    make_staff(app, "lan@ecc.example", "support")
    page = browser_page

    # Sign in: password, then enrol the authenticator from the QR page's key.
    page.goto(live_server + "/console/incidents")
    assert "/console/login" in page.url
    page.get_by_label("Địa chỉ email", exact=True).fill("lan@ecc.example")
    page.get_by_label("Mật khẩu", exact=True).fill(STAFF_PASSWORD)
    page.get_by_role("button", name="Tiếp tục").click()
    assert page.locator("h1").inner_text() == "Cài đặt ứng dụng xác thực"
    assert page.locator("figure.qr svg").count() == 1
    shoot(page, "console-enrol-vi")
    shown_key = page.locator("code.secret").inner_text()
    assert re.fullmatch(r"[A-Z2-7]{4}( [A-Z2-7]{4})*", shown_key)  # in groups of four
    secret = shown_key.replace(" ", "")
    # The code as drawn on the page scans: a real QR decoder reads the same key from its image.
    assert scanned_totp_secret(page.locator("figure.qr").screenshot()) == secret
    page.get_by_label("Mã 6 chữ số từ ứng dụng xác thực").fill(pyotp.TOTP(secret).now())
    page.get_by_role("button", name="Xác nhận và đăng nhập").click()
    assert page.locator("h1").inner_text() == "Hàng đợi"

    # Find the incident by reference and open it.
    reference = page.locator("table a").first.inner_text()
    # The reference reads whole, on one line (an inline element broken over lines has several boxes).
    assert page.locator("td.ref a").first.evaluate("link => link.getClientRects().length") == 1
    assert re.fullmatch(r"INC-\d{4}-\d{6}", reference)
    page.get_by_label("Mã hoặc địa chỉ").fill(reference)
    page.get_by_role("button", name="Lọc").click()
    assert "q=" + reference in page.url
    shoot(page, "console-queue-vi")
    page.get_by_role("link", name=reference).click()
    assert reference in page.locator("h1").inner_text()
    assert page.get_by_role("heading", name="Báo cáo").count() == 1
    assert page.get_by_role("heading", name="Diễn biến").count() == 1
    timeline = page.locator("ol.timeline").inner_text()
    assert "Đã mở sự cố · Biểu mẫu trên web · khách hàng" in timeline and "web:incident:opened" not in timeline
    shoot(page, "console-incident-vi")

    # Enter a phone report for another customer.
    page.get_by_role("link", name="Nhập báo cáo").click()
    staff_enters_report(
        page,
        email="binh@example.com",
        channel="phone",
        reached_at=local_input(4),
        kind="stolen",
        details="Khách gọi điện báo mất điện thoại.",
    )
    assert "mật khẩu của khách hàng đã bị vô hiệu hóa" in page.locator(".flash").inner_text()
    assert "mật khẩu đã bị khóa" in page.locator("dl.facts").first.inner_text()
    assert "binh@example.com" in page.locator("table").last.inner_text() or "binh@example.com" in page.content()
    with app.app_context():
        assert (
            db.session.execute(db.select(Customer).where(Customer.email == "binh@example.com")).scalar_one().is_locked
        )
    deliver(app)
    assert len(smtp_sink.to("binh@example.com")) == 1
    page.reload()
    assert "Đã gửi" in page.content()

    # Re-send a link.
    page.get_by_role("button", name="Gửi lại đường dẫn đặt lại mật khẩu").click()
    assert "Đã gửi đường dẫn mới" in page.locator(".flash").inner_text()
    deliver(app)
    assert len(smtp_sink.to("binh@example.com")) == 2

    # The same pages in English.
    page.get_by_role("button", name="English").click()
    assert "Re-send the reset link" in page.content()
    page.goto(live_server + "/console/incidents")
    shoot(page, "console-queue-en")
    page.get_by_role("link", name=reference).click()
    shoot(page, "console-incident-en")
    assert [p for p in page.problems if not p.startswith("Failed to load resource")] == []


def test_spoofed_display_name_is_flagged_on_the_message_page(app, live_server, browser_page) -> None:  # type: ignore[no-untyped-def]
    """Issue 11, item 8: what staff see of a display name that reads as another address, with a bidi
    override in it, in both languages at 1280 px."""
    from incident_service.database import utcnow
    from incident_service.intake.service import Envelope, ingest_message

    raw = (
        'From: "security@ecc.example \u202eelif.exe" <spoof@evil.example>\r\nTo: security@ecc.example\r\n'
        "Subject: =?utf-8?q?Kh=C3=B3a_t=C3=A0i_kho=E1=BA=A3n?=\r\nContent-Type: text/plain; charset=utf-8\r\n"
        "\r\nMật khẩu của tôi bị lộ.\r\n"
    ).encode()
    with app.app_context():
        outcome = ingest_message(raw, envelope=Envelope(mail_from="spoof@evil.example"), via="smtp", now=utcnow())
        db.session.commit()
    make_staff(app, "lan@ecc.example", "support")
    page = browser_page
    page.set_viewport_size({"width": 1280, "height": 900})
    staff_signs_in_and_enrols(page, live_server + "/console/login", "lan@ecc.example", STAFF_PASSWORD)
    page.goto(f"{live_server}/console/messages/{outcome.message_id}")
    notes = page.get_by_role("note").all_inner_texts()
    assert any("trông như một địa chỉ khác" in note for note in notes)
    assert any("đảo chiều văn bản" in note for note in notes)
    assert "⟨U+202E⟩" in page.locator("section.evidence dl.verdicts").inner_text()
    shoot(page, "console-message-spoof-vi")
    page.get_by_role("button", name="English").click()
    assert any("reads like another address" in note for note in page.get_by_role("note").all_inner_texts())
    shoot(page, "console-message-spoof-en")


def test_an_unusual_reach_time_is_asked_about(app, live_server, browser_page) -> None:  # type: ignore[no-untyped-def]
    """Issue 18, item 3, as the agent sees it: the times stay as typed, the field says what looks wrong,
    and one box confirms it; screenshots in both languages at 1280 px."""
    make_customer(app, "binh@example.com", name="Trần Thị Bình")
    make_staff(app, "lan@ecc.example", "support")
    page = browser_page
    page.set_viewport_size({"width": 1280, "height": 900})
    staff_signs_in_and_enrols(page, live_server + "/console/intake/new", "lan@ecc.example", STAFF_PASSWORD)
    page.goto(live_server + "/console/intake/new")
    staff_enters_report(
        page,
        email="binh@example.com",
        channel="post",
        reached_at=local_input(400),
        kind="stolen",
        details="Thư gửi qua bưu điện, đến chậm.",
    )
    assert "hơn 30 ngày" in page.locator(".field.has-error").inner_text()
    assert page.get_by_label("Khách hàng cho biết").input_value() == "Thư gửi qua bưu điện, đến chậm."
    shoot(page, "console-enter-report-confirm-vi")
    page.get_by_role("button", name="English").click()  # a fresh form, in English
    page.get_by_label("The customer's email address").fill("binh@example.com")
    page.get_by_label("How the report reached us").select_option("post")
    page.get_by_label("When the report reached the company").fill(local_input(400))
    page.get_by_label("What happened?").select_option("stolen")
    page.get_by_role("button", name="Record the report").click()
    assert "more than 30 days ago" in page.locator(".field.has-error").inner_text()
    shoot(page, "console-enter-report-confirm-en")
    page.get_by_label("These times are right, although unusual").check()
    page.get_by_role("button", name="Record the report").click()
    assert "Report RPT-" in page.locator(".flash").inner_text()


def test_legal_decides_a_late_report_with_its_consequences_in_view(app, live_server, browser_page) -> None:  # type: ignore[no-untyped-def]
    """Legal's decision as the lawyer sees it: nothing chosen beforehand, what each choice does written
    under it, and asserting the exemption refused until confirmed, with the reasons kept; then a breach
    marked only with a reason and a confirmation. Screenshots in both languages at 1280 px."""
    make_customer(app, "an@example.com", name="Nguyễn Văn An")
    submit(app.test_client(), "/report", {"email": "an@example.com", "kind": "stolen", "discovered_at": local_input(3)})
    make_staff(app, "luat@ecc.example", "legal")
    page = browser_page
    page.set_viewport_size({"width": 1280, "height": 900})
    staff_signs_in_and_enrols(page, live_server + "/console/reviews", "luat@ecc.example", STAFF_PASSWORD)
    page.goto(live_server + "/console/reviews")
    page.locator("table a").first.click()
    decision = page.get_by_role("group", name="Quyết định")
    assert decision.get_by_role("radio").count() == 3
    assert not any(radio.is_checked() for radio in decision.get_by_role("radio").all())
    assert "không nhận email" in decision.inner_text()  # what each choice does, in words

    decision.get_by_role("radio", name="Áp dụng miễn trừ (báo cáo trễ)").check()
    page.get_by_label("Lý do", exact=True).fill("Báo cáo sau 3 ngày; chính sách cho phép 24 giờ.")
    page.get_by_role("button", name="Lưu quyết định").click()
    assert "hệ quả pháp lý" in page.locator(".field.check.has-error").inner_text()
    assert page.get_by_label("Lý do", exact=True).input_value() == "Báo cáo sau 3 ngày; chính sách cho phép 24 giờ."
    shoot(page, "console-decision-refused-vi")
    page.get_by_label("Tôi xác nhận công ty áp dụng miễn trừ").check()
    page.get_by_role("button", name="Lưu quyết định").click()
    assert "Đã ghi nhận quyết định." in page.locator(".flash").first.inner_text()

    page.get_by_text("Đánh dấu là vi phạm dữ liệu cá nhân (thông báo A05 trong 72 giờ)").click()
    page.get_by_label("Lý do đây là vi phạm dữ liệu cá nhân").fill("Danh sách mật khẩu bị lộ trên diễn đàn.")
    page.get_by_role("button", name="Đánh dấu là vi phạm dữ liệu cá nhân", exact=True).click()
    assert "Hãy đánh dấu ô để xác nhận." in page.locator(".field.check.has-error").inner_text()
    page.get_by_label("Tôi xác nhận: việc này bắt đầu thời hạn 72 giờ").check()
    page.get_by_role("button", name="Đánh dấu là vi phạm dữ liệu cá nhân", exact=True).click()
    assert "thời hạn 72 giờ đang được tính" in page.locator(".flash").first.inner_text()
    shoot(page, "console-legal-vi")
    page.get_by_role("button", name="English").click()
    assert "Personal-data breach: notify the authority (A05)" in page.content()
    shoot(page, "console-legal-en")
    page.goto(live_server + "/console/reports/delay")
    assert "late after 24 hours" in page.content()
    shoot(page, "console-delay-report-en")
    page.get_by_role("button", name="Tiếng Việt").click()
    assert "trễ sau 24 giờ" in page.content()
    assert page.evaluate("document.documentElement.scrollWidth") <= 1280
    shoot(page, "console-delay-report-vi")
    # The printable evidence page, as the lawyer reads it before handing the archive over.
    page.goto(live_server + "/console/reviews?show=all")
    page.locator("table a").first.click()
    page.get_by_role("link", name="Gói bằng chứng (bản in)").click()
    assert "Mọi mốc thời gian, kèm nguồn" in page.content()
    assert "Đồng hồ máy chủ của chúng tôi" in page.content()
    shoot(page, "console-evidence-pack-vi")
    page.get_by_role("button", name="English").click()
    page.wait_for_function("document.documentElement.lang === 'en'")
    assert "Our server's clock" in page.content()
    shoot(page, "console-evidence-pack-en")


def test_legal_pages_through_late_reports(app, live_server, browser_page, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Issue 17: legal's late reports come a page at a time, oldest first, with a pager; the lawyer moves
    from one page to the next without losing the tab they chose."""
    from incident_service.console import queries

    monkeypatch.setattr(queries, "PAGE_SIZE", 2)
    for n, (address, name) in enumerate(
        (("an@example.com", "Nguyễn Văn An"), ("binh@example.com", "Trần Thị Bình"), ("chi@example.com", "Lê Chí"))
    ):
        make_customer(app, address, name=name)
        submit(app.test_client(), "/report", {"email": address, "kind": "stolen", "discovered_at": local_input(3 + n)})
    make_staff(app, "luat@ecc.example", "legal")
    page = browser_page
    page.set_viewport_size({"width": 1280, "height": 900})
    staff_signs_in_and_enrols(page, live_server + "/console/reviews", "luat@ecc.example", STAFF_PASSWORD)
    page.goto(live_server + "/console/reviews?show=all")
    assert page.locator("tbody tr").count() == 2
    pager = page.locator("nav.pages")
    assert "Trang 1 / 2" in pager.inner_text() and "Sau" in pager.inner_text() and "Trước" not in pager.inner_text()
    assert "an@example.com" in page.locator("tbody").inner_text()  # the first received, first
    shoot(page, "console-reviews-pages-vi")
    pager.get_by_role("link").click()
    page.wait_for_url("**page=2**")
    assert "show=all" in page.url and page.locator("tbody tr").count() == 1
    assert "chi@example.com" in page.locator("tbody").inner_text()
    assert page.locator("nav.tabs [aria-current=page]").inner_text().startswith("Tất cả")
    page.get_by_role("button", name="English").click()
    page.wait_for_function("document.documentElement.lang === 'en'")
    assert (
        "Page 2 of 2" in page.locator("nav.pages").inner_text() and "Previous" in page.locator("nav.pages").inner_text()
    )
    assert page.evaluate("document.documentElement.scrollWidth") <= 1280
    shoot(page, "console-reviews-pages-en")
