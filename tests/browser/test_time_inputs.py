"""Issue 13 in a real browser: a time typed day first (DD/MM/YYYY HH:MM) into the public report form at
390 px and into the console's manual intake at 1280 px, in Vietnamese and English; the hint naming the
format and the zone is tied to its field; the day filters of the console's pages the same way."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from incident_service.assessment.models import DiscoveryStatement
from incident_service.customers.models import Customer
from incident_service.database import utcnow
from incident_service.extensions import db
from incident_service.incidents.models import Incident, Report
from tests.browser.screens import shoot
from tests.browser.steps import staff_signs_in_and_enrols
from tests.console.conftest import STAFF_PASSWORD, make_staff
from tests.helpers import make_customer

pytestmark = pytest.mark.browser

HCM = ZoneInfo("Asia/Ho_Chi_Minh")

# What each language calls the controls (the labels are the accessible names a person hears).
WORDS = {
    "vi": {
        "email": "Địa chỉ email của tài khoản",
        "kind": "Chuyện gì đã xảy ra?",
        "noticed": "Bạn phát hiện hoặc nghi ngờ vào lúc nào? (không bắt buộc)",
        "send": "Gửi thông báo ngay",
        "customer": "Địa chỉ email của khách hàng",
        "channel": "Kênh báo cáo",
        "reached": "Thời điểm báo cáo đến công ty",
        "said_noticed": "Thời điểm khách hàng nói đã phát hiện (không bắt buộc)",
        "record": "Ghi nhận báo cáo",
        "from": "Nhận từ ngày",
        "filter": "Lọc",
    },
    "en": {
        "email": "The email address of your account",
        "kind": "What happened?",
        "noticed": "When did you notice or suspect it? (optional)",
        "send": "Report now",
        "customer": "The customer's email address",
        "channel": "How the report reached us",
        "reached": "When the report reached the company",
        "said_noticed": "When the customer says they noticed (optional)",
        "record": "Record the report",
        "from": "Received from",
        "filter": "Filter",
    },
}


def local_day(days_ago: int) -> date:
    return (utcnow().astimezone(HCM) - timedelta(days=days_ago)).date()


def at(day: date, hours: int, minutes: int) -> datetime:
    return datetime(day.year, day.month, day.day, hours, minutes, tzinfo=HCM).astimezone(timezone.utc)


def choose_language(page: Any, language: str) -> None:
    if language == "en":
        page.get_by_role("button", name="English").click()


def assert_hint_tied(page: Any, field: Any, *, zone: str = "GMT+7") -> str:
    """The field names its hint with aria-describedby; the hint says the zone. Returns the hint's text."""
    described = (field.get_attribute("aria-describedby") or "").split()
    hint_id = field.get_attribute("id") + "-hint"
    assert hint_id in described
    hint = page.locator(f"#{hint_id}")
    assert hint.is_visible() and zone in hint.inner_text()
    return str(hint.inner_text())


@pytest.mark.parametrize("language", ["vi", "en"])
def test_customer_types_when_they_noticed_day_first_at_390(app, live_server, browser_page, language) -> None:  # type: ignore[no-untyped-def]
    words = WORDS[language]
    customer_id = make_customer(app, "an@example.com")
    page = browser_page
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(live_server + "/report")
    choose_language(page, language)
    page.get_by_label(words["email"]).fill("an@example.com")
    page.get_by_label(words["kind"]).select_option("stolen")
    noticed = page.get_by_label(words["noticed"])
    assert noticed.get_attribute("type") == "text"
    hint = assert_hint_tied(page, noticed)
    assert ("DD/MM/YYYY HH:MM" in hint) if language == "en" else ("Việt Nam" in hint)

    # Month first, as an American browser's date picker wrote it: refused, saying why, the text kept.
    noticed.press_sequentially("11/25/2026 08:30")
    page.get_by_role("button", name=words["send"]).click()
    noticed = page.get_by_label(words["noticed"])
    assert noticed.get_attribute("aria-invalid") == "true"
    assert noticed.get_attribute("aria-describedby") == "discovered_at-hint discovered_at-error"
    assert noticed.input_value() == "11/25/2026 08:30"
    assert "31/01/2026 14:30" in page.locator("#discovered_at-error").inner_text()
    assert page.get_by_label(words["email"]).input_value() == "an@example.com"
    shoot(page, f"time-input-report-refused-390-{language}")

    yesterday = local_day(1)
    noticed.fill("")
    noticed.press_sequentially(f"{yesterday:%d/%m/%Y} 08:30")
    shoot(page, f"time-input-report-390-{language}")
    page.get_by_role("button", name=words["send"]).click()
    assert page.locator("dd.reference").is_visible()
    with app.app_context():
        customer = db.session.get(Customer, customer_id)
        incident = db.session.execute(select(Incident).where(Incident.customer_id == customer.id)).scalar_one()
        statement = db.session.execute(
            select(DiscoveryStatement).where(DiscoveryStatement.incident_id == incident.id)
        ).scalar_one()
        assert statement.discovered_at == at(yesterday, 8, 30)


@pytest.mark.parametrize("language", ["vi", "en"])
def test_staff_type_a_phone_report_day_first_at_1280(app, live_server, browser_page, language) -> None:  # type: ignore[no-untyped-def]
    words = WORDS[language]
    make_customer(app, "binh@example.com", name="Trần Thị Bình")
    make_staff(app, "quan@ecc.example", "admin")
    page = browser_page
    page.set_viewport_size({"width": 1280, "height": 900})
    staff_signs_in_and_enrols(page, live_server + "/console/intake/new", "quan@ecc.example", STAFF_PASSWORD)
    page.goto(live_server + "/console/intake/new")
    choose_language(page, language)
    page.get_by_label(words["customer"]).fill("binh@example.com")
    page.get_by_label(words["channel"]).select_option("phone")
    reached = page.get_by_label(words["reached"], exact=True)
    assert reached.get_attribute("type") == "text"
    assert_hint_tied(page, reached)
    assert_hint_tied(page, page.get_by_label(words["said_noticed"]))

    day = local_day(2)
    reached.fill("")
    reached.press_sequentially(f"31/02/{day.year} 09:30")  # no such day: refused, saying why
    page.get_by_label(words["kind"]).select_option("stolen")
    page.get_by_role("button", name=words["record"]).click()
    reached = page.get_by_label(words["reached"], exact=True)
    assert reached.get_attribute("aria-invalid") == "true"
    assert "31/01/2026 14:30" in page.locator("#reached_at-error").inner_text()  # the example, day first
    shoot(page, f"time-input-intake-refused-1280-{language}")

    reached.fill("")
    reached.press_sequentially(f"{day:%d/%m/%Y} 09:30")
    page.get_by_label(words["said_noticed"]).press_sequentially(f"{day:%d/%m/%Y} 08:00")
    shoot(page, f"time-input-intake-1280-{language}")
    page.get_by_role("button", name=words["record"]).click()
    assert page.locator(".flash").first.is_visible()
    with app.app_context():
        report = db.session.execute(select(Report)).scalar_one()
        assert report.received_at == at(day, 9, 30)

    # The queue's day filter: typed day first, tied to its hint; the filter applied and shown as typed.
    page.goto(live_server + "/console/incidents")
    received_from = page.get_by_label(words["from"])
    assert_hint_tied(page, received_from)
    received_from.press_sequentially(f"{day:%d/%m/%Y}")
    page.get_by_role("button", name=words["filter"], exact=True).click()
    assert f"from={day:%d}%2F{day:%m}%2F{day.year}" in page.url
    assert page.get_by_label(words["from"]).input_value() == f"{day:%d/%m/%Y}"
    assert page.locator("td.ref").count() == 1
    shoot(page, f"time-input-queue-1280-{language}")
    page.goto(live_server + "/console/incidents?from=2026-02-30&to=03/02/2026")
    assert page.get_by_label(words["from"]).get_attribute("aria-invalid") == "true"
    shoot(page, f"time-input-queue-refused-1280-{language}")
    page.goto(live_server + f"/console/reports/delay?from={day:%d/%m/%Y}")
    assert_hint_tied(page, page.get_by_label(words["from"]))
    shoot(page, f"time-input-delay-report-1280-{language}")
    page.goto(live_server + f"/console/audit?from={day:%d/%m/%Y}&to=junk")
    assert page.locator("#to-error").is_visible()
    if language == "en":  # in Vietnamese the page's own example action (a code, "report:received") fails the check
        shoot(page, "time-input-audit-1280-en")
    page.goto(live_server + "/console/policy")
    assert_hint_tied(page, page.locator("#effective_from"))
    shoot(page, f"time-input-policy-1280-{language}")
