"""The console's alerts page: what, when, to whom and whether delivered, in Vietnamese and English, for
staff who see the audit log or legal's lists; one screenshot at 1280 px in a real browser."""

from __future__ import annotations

import pytest

from incident_service.database import utcnow
from tests.alerts.conftest import TEAM, reactivate_many, run_alerts, start_alerts
from tests.browser.screens import shoot
from tests.browser.steps import staff_signs_in_and_enrols
from tests.console.conftest import STAFF_PASSWORD, make_staff
from tests.helpers import deliver, main_of

alerting = pytest.mark.settings(SECURITY_TEAM_ADDRESSES=TEAM)


@alerting
def test_alerts_page_lists_what_when_to_whom(app, runner, smtp_sink, tmp_path, staff_login) -> None:  # type: ignore[no-untyped-def]
    start_alerts(app)
    reactivate_many(app, runner, tmp_path, 3)
    assert run_alerts(app, utcnow()) == [("new_incidents", 3)]
    deliver(app)

    legal = staff_login("legal")
    english = legal.get("/console/alerts", headers={"Accept-Language": "en"})
    assert english.status_code == 200
    page = main_of(english.get_data(as_text=True))
    assert "New incidents" in page and "INC-2026-000001" in page
    for address in TEAM:
        assert address in page
    assert page.count(">Sent<") == len(TEAM)
    assert 'href="/console/alerts"' in english.get_data(as_text=True)  # in the console's tabs

    vietnamese = legal.get("/console/alerts", headers={"Accept-Language": "vi"})
    assert vietnamese.status_code == 200
    assert 'lang="vi"' in vietnamese.get_data(as_text=True)
    assert "Đã gửi" in main_of(vietnamese.get_data(as_text=True))  # the delivery status, translated

    admin = staff_login("admin")
    assert admin.get("/console/alerts").status_code == 200


def test_alerts_page_is_not_for_support(app, staff_login) -> None:  # type: ignore[no-untyped-def]
    support = staff_login("support")
    assert support.get("/console/alerts").status_code == 403
    assert 'href="/console/alerts"' not in support.get("/console/incidents").get_data(as_text=True)


def test_alerts_page_says_when_alerts_are_off(app, staff_login) -> None:  # type: ignore[no-untyped-def]
    page = staff_login("legal").get("/console/alerts", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert "Alerts are off" in page and "SECURITY_TEAM_ADDRESSES" in page


@pytest.mark.browser
@alerting
def test_alerts_page_in_a_browser(app, runner, tmp_path, live_server, browser_page) -> None:  # type: ignore[no-untyped-def]
    start_alerts(app)
    reactivate_many(app, runner, tmp_path, 30)
    assert run_alerts(app, utcnow()) == [("new_incidents", 30)]
    make_staff(app, "hoa@ecc.example", "legal")
    page = browser_page
    page.set_viewport_size({"width": 1280, "height": 800})
    staff_signs_in_and_enrols(page, live_server + "/console/alerts", "hoa@ecc.example", STAFF_PASSWORD)
    page.goto(live_server + "/console/alerts")
    page.get_by_role("button", name="English").click()
    assert page.locator("h1").inner_text() == "Staff alerts"
    assert page.locator("tbody tr").count() == 1 and page.locator("td .mail").count() == len(TEAM)
    shoot(page, "console-alerts-en")
    page.get_by_role("button", name="Tiếng Việt").click()
    # Until this page's new msgids are translated its Vietnamese still shows English, and shoot() fails
    # here naming each word: expected until translations/ catches up.
    shoot(page, "console-alerts-vi")
