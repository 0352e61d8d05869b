"""Issue 13 in the console: times typed as the pages show them (manual intake, discovery from a call, the
policy's start), and the day filters of the queue, the audit log and the delay report in DD/MM/YYYY."""

from __future__ import annotations

import html
import re
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from sqlalchemy import select

from incident_service.assessment.models import DiscoveryStatement, PolicyVersion
from incident_service.database import utcnow
from incident_service.extensions import db
from incident_service.incidents.models import Incident, Report
from tests.console.conftest import post_form
from tests.helpers import submit

HCM = ZoneInfo("Asia/Ho_Chi_Minh")
EN = {"Accept-Language": "en"}
HINT = "DD/MM/YYYY HH:MM, Vietnam time (GMT+7)"
DAY_HINT = "DD/MM/YYYY, Vietnam time (GMT+7)"


def input_of(page: str, name: str) -> dict[str, str]:
    tag = re.search(rf'<input[^>]*\bname="{name}"[^>]*>', page)
    assert tag is not None, f"no input named {name}"
    return dict(re.findall(r'([\w-]+)="([^"]*)"', tag.group(0)))


def hint_of(page: str, element_id: str) -> str:
    found = re.search(rf'<p class="hint" id="{element_id}">([^<]+)</p>', page)
    assert found is not None, f"no hint {element_id}"
    return found.group(1)


def today() -> date:
    return utcnow().astimezone(HCM).date()


def at(day: date, hours: int, minutes: int = 0) -> datetime:
    """`hours:minutes` on `day` in Vietnam, in UTC."""
    return datetime.combine(day, datetime.min.time(), HCM).replace(hour=hours, minute=minutes).astimezone(timezone.utc)


def one(app, model):  # type: ignore[no-untyped-def]
    with app.app_context():
        return db.session.execute(select(model)).scalar_one()


def test_manual_intake_takes_times_as_an_agent_types_them(app, staff_login, customer_id) -> None:  # type: ignore[no-untyped-def]
    client = staff_login("support")
    page = client.get("/console/intake/new", headers=EN).get_data(as_text=True)
    reached = input_of(page, "reached_at")
    assert reached["type"] == "text" and reached["autocomplete"] == "off" and "step" not in reached
    assert reached["aria-describedby"] == "reached_at-hint" and hint_of(page, "reached_at-hint") == HINT
    assert re.fullmatch(r"\d\d/\d\d/\d{4} \d\d:\d\d", reached["value"]), "now, as the pages write times"
    assert input_of(page, "discovered_at")["aria-describedby"] == "discovered_at-hint"
    day = today() - timedelta(days=9)
    answer = post_form(
        client,
        "/console/intake/new",
        "/console/intake/new",
        {
            "email": "an@example.com",
            "channel": "phone",
            "reached_at": f"{day.day}/{day.month}/{day.year} 9:30",
            "kind": "stolen",
            "discovered_at": f"08:00 - {day:%d/%m/%Y}",
        },
    )
    assert answer.status_code == 302
    assert one(app, Report).received_at == at(day, 9, 30)
    assert one(app, Incident).reporting_delay_seconds == 90 * 60


def test_manual_intake_says_why_a_time_cannot_be_read(app, staff_login, customer_id) -> None:  # type: ignore[no-untyped-def]
    client = staff_login("support")
    data = {"email": "an@example.com", "channel": "phone", "kind": "stolen", "details": "Khách gọi lúc sáng."}
    unreadable = post_form(
        client, "/console/intake/new", "/console/intake/new", {**data, "reached_at": "sáng nay 9 giờ"}, headers=EN
    )
    page = unreadable.get_data(as_text=True)
    assert unreadable.status_code == 400
    # Required, yet not "enter when it reached us": the agent did, in a form the field cannot read.
    assert (
        '<p class="error" id="reached_at-error">Enter the date and time as DD/MM/YYYY HH:MM, for example '
        "31/01/2026 14:30.</p>" in page
    )
    field = input_of(page, "reached_at")
    assert html.unescape(field["value"]) == "sáng nay 9 giờ" and field["aria-invalid"] == "true"
    assert field["aria-describedby"] == "reached_at-hint reached_at-error"
    assert "Khách gọi lúc sáng." in page
    empty = post_form(client, "/console/intake/new", "/console/intake/new", {**data, "reached_at": ""}, headers=EN)
    assert "Enter when the report reached us." in empty.get_data(as_text=True)
    month_first = post_form(
        client, "/console/intake/new", "/console/intake/new", {**data, "reached_at": "11/13/2026 09:30"}, headers=EN
    )
    assert "There is no such day: write the day, then the month" in month_first.get_data(as_text=True)
    with app.app_context():
        assert db.session.execute(select(Report)).first() is None


def test_discovery_from_a_call_is_typed_day_first(app, staff_login, customer_id) -> None:  # type: ignore[no-untyped-def]
    submit(app.test_client(), "/report", {"email": "an@example.com", "kind": "stolen"})
    client = staff_login("support")
    page = f"/console/incidents/{one(app, Incident).id}"
    shown = client.get(page, headers=EN).get_data(as_text=True)
    assert input_of(shown, "discovered_at")["aria-describedby"] == "discovered_at-hint"
    post_form(client, page, page + "/discovery", {"discovered_at": "01/12/2025 08:00"})
    assert one(app, DiscoveryStatement).discovered_at == datetime(2025, 12, 1, 1, 0, tzinfo=timezone.utc)


def test_a_policy_takes_effect_at_a_time_typed_day_first(app, staff_login) -> None:  # type: ignore[no-untyped-def]
    admin = staff_login("admin")
    page = admin.get("/console/policy", headers=EN).get_data(as_text=True)
    field = input_of(page, "effective_from")
    assert field["type"] == "text" and field["aria-describedby"] == "effective_from-hint"
    assert hint_of(page, "effective_from-hint") == HINT
    refused = post_form(
        admin,
        "/console/policy",
        "/console/policy",
        {"threshold_hours": "12", "effective_from": "next month", "note": "x"},
        headers=EN,
    )
    assert refused.status_code == 400 and "for example 31/01/2026 14:30" in refused.get_data(as_text=True)
    tomorrow = today() + timedelta(days=1)
    answer = post_form(
        admin,
        "/console/policy",
        "/console/policy",
        {"threshold_hours": "12", "effective_from": f"{tomorrow:%d/%m/%Y} 00:00", "note": "Board decision 3/2026"},
    )
    assert answer.status_code == 302
    assert one(app, PolicyVersion).effective_from == at(tomorrow, 0)


def test_queue_days_in_dd_mm_yyyy(app, staff_login, customer_id) -> None:  # type: ignore[no-untyped-def]
    submit(app.test_client(), "/report", {"email": "an@example.com", "kind": "stolen"})
    client = staff_login("support")
    day, reference = today(), one(app, Incident).reference
    page = client.get(f"/console/incidents?from={day:%d/%m/%Y}&to={day:%d/%m/%Y}", headers=EN).get_data(as_text=True)
    assert reference in page
    for name in ("from", "to"):
        field = input_of(page, name)
        assert field["type"] == "text" and field["value"] == f"{day:%d/%m/%Y}"
        assert field["aria-describedby"] == f"{name}-hint" and hint_of(page, f"{name}-hint") == DAY_HINT
    # The page's own links (tabs, sorts, pages) carry the days, as ISO, and read back the same.
    assert f"from={day.isoformat()}" in page
    later = day + timedelta(days=1)
    assert reference not in client.get(f"/console/incidents?from={later:%d/%m/%Y}").get_data(as_text=True)
    # Old links and bookmarks in ISO keep working, shown as the pages write days.
    old = client.get(f"/console/incidents?from={day.isoformat()}", headers=EN).get_data(as_text=True)
    assert reference in old and input_of(old, "from")["value"] == f"{day:%d/%m/%Y}"


def test_queue_says_when_a_day_is_not_applied(app, staff_login, customer_id) -> None:  # type: ignore[no-untyped-def]
    submit(app.test_client(), "/report", {"email": "an@example.com", "kind": "stolen"})
    client = staff_login("support")
    page = client.get("/console/incidents?from=02/30/2026", headers=EN).get_data(as_text=True)
    assert one(app, Incident).reference in page  # not applied: nothing is hidden by a day that does not exist
    field = input_of(page, "from")
    assert field["value"] == "02/30/2026" and field["aria-invalid"] == "true"
    assert field["aria-describedby"] == "from-hint from-error"
    assert '<p class="error" id="from-error">There is no such day' in page and "This filter was not applied." in page
    reversed_range = client.get("/console/incidents?from=10/02/2026&to=03/02/2026", headers=EN).get_data(as_text=True)
    assert "This day is before the start of the range, so nothing can match." in reversed_range
    assert input_of(reversed_range, "to")["aria-invalid"] == "true"


def test_audit_days_in_dd_mm_yyyy(app, staff_login, customer_id) -> None:  # type: ignore[no-untyped-def]
    submit(app.test_client(), "/report", {"email": "an@example.com", "kind": "stolen"})
    admin = staff_login("admin")
    day = today()
    page = admin.get(f"/console/audit?action=credential&from={day:%d/%m/%Y}", headers=EN).get_data(as_text=True)
    assert "web:credential:locked" in page and input_of(page, "from")["value"] == f"{day:%d/%m/%Y}"
    assert hint_of(page, "from-hint") == DAY_HINT
    # The page's link to itself (verify the chain) keeps the filter and reads it again.
    verify = re.search(r'href="(/console/audit\?[^"]*verify=1[^"]*)"', page)
    assert verify is not None
    again = admin.get(html.unescape(verify.group(1)), headers=EN).get_data(as_text=True)
    assert "web:credential:locked" in again and "The audit log is intact" in again
    later = day + timedelta(days=1)
    assert "web:credential:locked" not in admin.get(f"/console/audit?action=credential&from={later:%d/%m/%Y}").get_data(
        as_text=True
    )
    bad = admin.get("/console/audit?from=yesterday", headers=EN).get_data(as_text=True)
    assert "Enter a day as DD/MM/YYYY, for example 31/01/2026. This filter was not applied." in bad


def test_delay_report_days_in_dd_mm_yyyy_and_its_exports(app, staff_login, customer_id) -> None:  # type: ignore[no-untyped-def]
    submit(app.test_client(), "/report", {"email": "an@example.com", "kind": "stolen"})
    legal = staff_login("legal")
    day = today()
    page = legal.get(f"/console/reports/delay?from={day:%d/%m/%Y}&to={day:%d/%m/%Y}", headers=EN).get_data(as_text=True)
    assert input_of(page, "from")["value"] == f"{day:%d/%m/%Y}" and hint_of(page, "to-hint") == DAY_HINT
    assert re.search(r'<dd class="n-incidents"><a [^>]*>1</a>', page)
    # The exports are linked with the same days (ISO in the link) and count the same incident.
    csv_link = re.search(r'href="(/console/reports/delay\.csv\?[^"]+)"', page)
    assert csv_link is not None and f"from={day.isoformat()}" in html.unescape(csv_link.group(1))
    assert legal.get(html.unescape(csv_link.group(1))).status_code == 200
    json_link = re.search(r'href="(/console/reports/delay\.json\?[^"]+)"', page)
    assert json_link is not None
    assert legal.get(html.unescape(json_link.group(1))).get_json()["summary"]["incidents"] == 1
    later = day + timedelta(days=1)
    empty = legal.get(f"/console/reports/delay.json?from={later:%d/%m/%Y}").get_json()
    assert empty["summary"]["incidents"] == 0
    bad = legal.get("/console/reports/delay?from=31/02/2026&to=junk", headers=EN).get_data(as_text=True)
    assert bad.count("This filter was not applied.") == 2
    assert input_of(bad, "from")["aria-invalid"] == "true" and input_of(bad, "to")["value"] == "junk"
    backwards = legal.get(f"/console/reports/delay?from={later:%d/%m/%Y}&to={day:%d/%m/%Y}", headers=EN)
    assert "This day is before the start of the range, so nothing can match." in backwards.get_data(as_text=True)
