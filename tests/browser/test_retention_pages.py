"""Retention in a real browser: legal places a hold on the incident page and reads /console/retention (with
its preview) at 1280 px; the customer's data page after a purge, with what was removed, at 390 px; in
English and Vietnamese (the Vietnamese ones fail the "no English on a Vietnamese page" check until the
coordinator merges the translations)."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import select

from incident_service.audit.actions import Source
from incident_service.audit.sequencer import integrate_all
from incident_service.customers.models import Customer
from incident_service.database import utcnow
from incident_service.extensions import db
from incident_service.incidents.models import Incident
from incident_service.intake.service import Envelope, ingest_message
from incident_service.retention.service import place_hold, release_hold, run_retention
from tests.browser.screens import shoot
from tests.browser.steps import customer_signs_in, staff_signs_in_and_enrols
from tests.console.conftest import STAFF_PASSWORD, make_staff
from tests.customers.test_account_data import active_again
from tests.helpers import PASSWORD, local_input, make_customer, submit
from tests.retention.test_retention import age

pytestmark = pytest.mark.browser

AN = "nguyen.van.an.rat.dai@example.com"
BINH = "tran.thi.binh@example.com"


def history(app, address: str, name: str) -> int:  # type: ignore[no-untyped-def]
    """A customer who reported on the web form and by email; their incident id."""
    make_customer(app, address, name=name)
    submit(
        app.test_client(),
        "/report",
        {
            "email": address,
            "kind": "phished",
            "discovered_at": local_input(3),
            "details": "Tôi đã bấm vào một thư giả mạo ngân hàng và nhập mật khẩu.",
        },
    )
    raw = (
        f"From: {address}\r\nTo: security@ecc.example\r\nSubject: =?utf-8?b?TeG6rXQga2jhuql1IGLhu4sgbOG7mQ==?=\r\n"
        f"Message-ID: <{time.monotonic_ns()}@mail.example>\r\nDate: Mon, 30 Nov 2026 08:00:00 +0700\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n\r\nXin hãy khóa tài khoản của tôi ngay.\r\n"
    ).encode()
    with app.app_context():
        ingest_message(raw, envelope=Envelope(mail_from=address, peer="203.0.113.9:40000"), via="lmtp", now=utcnow())
        db.session.commit()
        return db.session.execute(
            select(Incident.id).join(Customer, Customer.id == Incident.customer_id).where(Customer.email == address)
        ).scalar_one()


def an_purged_binh_held(app) -> tuple[int, int]:  # type: ignore[no-untyped-def]
    """An's incident settled four years ago and purged; Bình's settled as long ago, held (a hold placed and
    released before it), so nothing of hers is removed."""
    an, binh = history(app, AN, "Nguyễn Văn An"), history(app, BINH, "Trần Thị Bình")
    age(app, an)
    age(app, binh)
    with app.app_context():
        integrate_all()
        incident = db.session.get(Incident, binh)
        assert incident is not None
        earlier = place_hold(
            incident, reason="Khách hàng khiếu nại lần đầu.", source=Source.CLI, actor="luat@ecc.example", now=utcnow()
        )
        release_hold(
            earlier, reason="Khiếu nại đã được giải quyết.", source=Source.CLI, actor="luat@ecc.example", now=utcnow()
        )
        place_hold(
            incident,
            reason="Vụ kiện số 117/2026 tại Tòa án TP. Hồ Chí Minh: giữ toàn bộ chứng cứ đến khi có phán quyết.",
            source=Source.CLI,
            actor="luat@ecc.example",
            now=utcnow(),
        )
        run_retention(source=Source.CLI, now=utcnow())
        db.session.commit()
    return an, binh


@pytest.mark.parametrize("language", ["en", "vi"])
def test_legal_places_a_hold_and_reads_the_retention_page(app, live_server, browser_page, language) -> None:  # type: ignore[no-untyped-def]
    an, binh = an_purged_binh_held(app)
    other = history(app, "le.van.cuong@example.com", "Lê Văn Cường")
    make_staff(app, "luat@ecc.example", "legal")
    page = browser_page
    page.set_viewport_size({"width": 1280, "height": 900})
    staff_signs_in_and_enrols(page, live_server + "/console/retention", "luat@ecc.example", STAFF_PASSWORD)
    page.goto(live_server + f"/console/incidents/{other}")
    if language == "en":
        page.get_by_role("button", name="English").click()
    hold = page.locator("#legal-hold")
    hold.locator("summary").click()
    hold.locator("button[type=submit]").click()  # no reason: refused, the form kept open with its message
    assert page.locator("#hold_reason-error").is_visible()
    shoot(page, f"console-legal-hold-refused-{language}")
    page.locator("#hold_reason").fill("Yêu cầu của luật sư khách hàng ngày 30/11: giữ toàn bộ dữ liệu.")
    page.locator("#legal-hold button[type=submit]").click()
    assert page.locator("h1 .badge-hold").is_visible()
    shoot(page, f"console-incident-held-{language}")
    page.goto(live_server + f"/console/incidents/{binh}")
    shoot(page, f"console-incident-held-released-before-{language}")
    page.goto(live_server + f"/console/incidents/{an}")
    page.locator("details.evidence-full summary").first.click()
    shoot(page, f"console-incident-purged-{language}")
    page.goto(live_server + "/console/retention")
    shoot(page, f"console-retention-{language}")
    page.locator("form[action$='/retention/preview'] button").click()
    assert page.locator(".preview").is_visible()
    shoot(page, f"console-retention-preview-{language}")
    page.goto(live_server + "/console/incidents")
    shoot(page, f"console-queue-held-{language}")
    assert [p for p in page.problems if not p.startswith("Failed to load resource")] == []  # type: ignore[attr-defined]


@pytest.mark.parametrize("language", ["en", "vi"])
def test_the_customer_sees_what_was_removed_from_their_data(app, live_server, browser_page, language) -> None:  # type: ignore[no-untyped-def]
    an, _binh = an_purged_binh_held(app)
    with app.app_context():
        customer_id = db.session.execute(select(Incident.customer_id).where(Incident.id == an)).scalar_one()
    active_again(app, customer_id)
    page = browser_page
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(live_server + "/login")
    customer_signs_in(page, AN, PASSWORD)
    if language == "en":
        page.get_by_role("button", name="English").click()
    page.goto(live_server + "/account/data")
    assert page.locator(".tombstone").count() >= 2
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    shoot(page, f"customer-data-removed-{language}")
    href = page.locator("a[href$='.eml']").count()
    assert href == 0, "no download of an email no longer kept"
    assert [p for p in page.problems if not p.startswith("Failed to load resource")] == []  # type: ignore[attr-defined]
