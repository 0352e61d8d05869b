"""The queue as a worklist in a real browser at 1280 px (issue 13): assignee and last activity columns,
the 72-hour clock of breaches still to notify (the same badge as the incident's header), references on one
line, a table that fits the window; then taking an incident from its header. Screenshots in both languages."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import select

from incident_service.assessment.service import mark_breach
from incident_service.customers.service import add_customer
from incident_service.database import utcnow
from incident_service.extensions import db
from incident_service.incidents.models import Incident
from incident_service.incidents.service import ReportSubmission, add_note, assign_incident, receive_report
from incident_service.staff.models import StaffUser
from tests.browser.screens import shoot
from tests.browser.steps import staff_signs_in_and_enrols
from tests.console.conftest import STAFF_PASSWORD, make_staff

pytestmark = pytest.mark.browser

# Who reported, how many hours ago, whether legal marked it as a personal-data breach, and whether a
# colleague (Bình) has it.
CASES = [
    ("nguyen.van.an@example.com", "Nguyễn Văn An", 2, False, False),
    ("tran.thi.binh.ketoan.chinhanh.hanoi@example.com", "Trần Thị Bình", 10, True, True),
    ("le.minh.chau@example.com", "Lê Minh Châu", 31, True, True),
    ("pham.quoc.dung@example.com", "Phạm Quốc Dũng", 61, True, False),
    ("hoang.thu.ha@example.com", "Hoàng Thu Hà", 90, True, True),
    ("vo.thanh.long@example.com", "Võ Thành Long", 200, False, False),
]


def seed(app, now: datetime) -> dict[str, int]:  # type: ignore[no-untyped-def]
    make_staff(app, "lan@ecc.example", "support")
    make_staff(app, "binh.nguyen@ecc.example", "support")
    ids = {}
    with app.app_context():
        binh = db.session.execute(select(StaffUser).where(StaffUser.email == "binh.nguyen@ecc.example")).scalar_one()
        binh.name = "Nguyễn Thanh Bình"
        for address, name, hours, breach, taken in CASES:
            received = now - timedelta(hours=hours, minutes=-20)
            add_customer(address, name=name, locale="vi", password=None, source="cli", actor="test", now=received)
            report = receive_report(ReportSubmission(channel="web", address=address, kind="leaked"), now=received)
            incident = db.session.get(Incident, report.incident_id)
            assert incident is not None
            ids[address] = incident.id
            if breach:
                mark_breach(incident, reason="Danh sách bị lộ.", actor="luat@ecc.example", now=received)
            if taken:
                assign_incident(incident, binh.id, seen_assignee_id=None, actor=binh.email, now=received)
                add_note(incident, "Đã gọi cho khách.", actor=binh.email, now=received + timedelta(minutes=40))
        db.session.commit()
    return ids


def table_overflow(page) -> int:  # type: ignore[no-untyped-def]
    return page.evaluate(
        "() => { const w = document.querySelector('.table-wrap'); return w.scrollWidth - w.clientWidth; }"
    )


def test_the_queue_as_a_worklist_at_1280_px(app, live_server, browser_page) -> None:  # type: ignore[no-untyped-def]
    ids = seed(app, utcnow())
    page = browser_page
    page.set_viewport_size({"width": 1280, "height": 900})
    staff_signs_in_and_enrols(page, live_server + "/console/incidents", "lan@ecc.example", STAFF_PASSWORD)
    page.goto(live_server + "/console/incidents")

    assert page.locator("table tbody tr").count() == len(CASES)
    headers = page.locator("table thead th").all_inner_texts()
    assert len(headers) == 8
    # References read whole (one box each), and the table fits the window: nothing to scroll sideways.
    for reference in page.locator("td.ref a").all():
        assert reference.evaluate("link => link.getClientRects().length") == 1
    assert table_overflow(page) <= 0
    # Four breaches still to notify, each with its clock, coloured by how much time is left.
    stages = page.locator("td a.clock").evaluate_all("links => links.map((a) => a.className)")
    assert sorted(stage.split("clock-")[1].split()[0] for stage in stages) == ["overdue", "running", "soon", "urgent"]
    assert page.locator("td.assignee").filter(has_text="Nguyễn Thanh Bình").count() == 3
    shoot(page, "console-queue-work-vi")

    # The incident with the least time left: the header's badge is the queue's, and nobody has it yet.
    urgent = ids["pham.quoc.dung@example.com"]
    page.goto(f"{live_server}/console/incidents/{urgent}")
    assert "clock-urgent" in (page.locator("h1 a.clock").get_attribute("class") or "")
    assert page.locator("dd.assignment button:visible").count() == 1  # "assign to me"; nothing to unassign
    shoot(page, "console-incident-assignee-vi")

    page.get_by_role("button", name="English").click()
    page.get_by_role("button", name="Assign to me").click()
    assert "The incident is assigned to you." in page.locator(".flash").first.inner_text()
    assert page.locator("dd.assignment strong").inner_text() == "lan"
    page.get_by_text("Assign to someone else").click()
    page.get_by_label("Assign to").select_option(label="Nguyễn Thanh Bình · binh.nguyen@ecc.example")
    shoot(page, "console-incident-assignee-en")
    page.get_by_role("button", name="Assign", exact=True).click()
    assert "The incident is assigned to Nguyễn Thanh Bình." in page.locator(".flash").first.inner_text()

    page.goto(live_server + "/console/incidents")
    assert table_overflow(page) <= 0
    shoot(page, "console-queue-work-en")
    page.get_by_label("72-hour notice").select_option("running")
    page.get_by_label("Assignee").select_option("me")
    page.get_by_role("button", name="Filter").click()
    assert "4 found" not in page.content() and page.locator("table tbody tr").inner_text().startswith("Nothing")
    page.get_by_label("Assignee").select_option("none")
    page.get_by_role("button", name="Filter").click()
    assert page.locator("table tbody tr").count() == 1  # the other three breaches are Bình's
    assert [p for p in page.problems if not p.startswith("Failed to load resource")] == []


def test_the_console_navigation_fits_1280_px(app, live_server, browser_page) -> None:  # type: ignore[no-untyped-def]
    """Issue 13: an administrator has the most tabs, and Vietnamese the longest words: still the brand and
    the account on one row, every tab on the next, none broken over two lines."""
    page = browser_page
    page.set_viewport_size({"width": 1280, "height": 900})
    make_staff(app, "quan.tri@ecc.example", "admin")
    staff_signs_in_and_enrols(page, live_server + "/console/incidents", "quan.tri@ecc.example", STAFF_PASSWORD)
    rows = """() => {
      const top = (el) => Math.round(el.getBoundingClientRect().top);
      const tabs = [...document.querySelectorAll('header nav.work a')];
      return {
        first: [...new Set([top(document.querySelector('.brand')), ...[...document.querySelectorAll('header .account > *')].map(top)])].length,
        tabs: new Set(tabs.map(top)).size,
        broken: tabs.filter((a) => a.getClientRects().length > 1).map((a) => a.innerText),
        below: tabs.every((a) => top(a) > top(document.querySelector('.brand'))),
      };
    }"""
    for language in ("vi", "en"):
        page.goto(live_server + "/console/incidents")
        if language == "en":
            page.get_by_role("button", name="English").click()
            # The switch posts and redirects: measure the English page once it has loaded, styles and all.
            page.wait_for_function("document.documentElement.lang === 'en'")
            page.wait_for_load_state("load")
        assert page.locator("header nav.work a").count() >= 8  # every tab an administrator has
        assert page.evaluate(rows) == {"first": 1, "tabs": 1, "broken": [], "below": True}
        shoot(page, f"console-nav-admin-{language}")


def test_a_queue_past_a_thousand_says_so_in_words(app, live_server, browser_page) -> None:  # type: ignore[no-untyped-def]
    """Issue 17: counts stop past 1,000 (a million rows are not counted for a page of 25). The tab, the
    total and the pager say only what is known, in both languages."""
    from sqlalchemy import insert

    from incident_service.customers.models import Customer
    from incident_service.incidents.breach import mass_reactivate

    make_staff(app, "lan@ecc.example", "support")
    count = 1005
    with app.app_context():
        now = utcnow()
        rows = [
            {
                "email": f"ro.ri.{n}@example.com",
                "name": "",
                "locale": "vi",
                "security_stamp": f"s{n}",
                "created_at": now,
            }
            for n in range(count)
        ]
        db.session.execute(insert(Customer), rows)
        entries = [(n + 1, f"ro.ri.{n}@example.com") for n in range(count)]
        outcome = mass_reactivate(entries, key="Danh sách lộ", dry_run=False, actor="cli", now=utcnow())
        db.session.commit()
        assert len(outcome.reactivated) == count
    page = browser_page
    page.set_viewport_size({"width": 1280, "height": 900})
    staff_signs_in_and_enrols(page, live_server + "/console/incidents", "lan@ecc.example", STAFF_PASSWORD)
    page.goto(live_server + "/console/incidents")
    main = page.locator("main").inner_text()
    assert "Tìm thấy hơn 1.000" in main and "Chờ đặt mật khẩu mới hơn 1.000" in main  # the total and its tab alike
    assert page.locator("nav.pages").inner_text().split("\n")[0].strip().startswith("Trang 1")
    assert page.locator("nav.pages a[rel=next]").count() == 1
    shoot(page, "console-queue-past-1000-vi")
    page.get_by_role("button", name="English").click()
    page.wait_for_function("document.documentElement.lang === 'en'")
    assert "More than 1,000 found" in page.locator("main").inner_text()
    page.locator("nav.pages a[rel=next]").click()
    assert "Page 2" in page.locator("nav.pages").inner_text()
    shoot(page, "console-queue-past-1000-en")
