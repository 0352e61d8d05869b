"""Issue 13 on the customer's forms (`/report`, `/r/<token>`, `/discovery/<token>`): the time is typed as
the pages show times (DD/MM/YYYY), read in the viewer's zone, which the hint beside the field names."""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from incident_service.assessment.models import DiscoveryStatement
from incident_service.customers.models import Customer
from incident_service.database import utcnow
from incident_service.extensions import db
from incident_service.incidents.models import Incident, Report
from incident_service.notifications.service import customer_report_url
from incident_service.tokens import discovery_link
from tests.helpers import PASSWORD, path_of, submit

HCM = ZoneInfo("Asia/Ho_Chi_Minh")
EN = {"Accept-Language": "en"}


def input_of(page: str, name: str) -> dict[str, str]:
    """The attributes of the <input> named `name` on the page."""
    tag = re.search(rf'<input[^>]*\bname="{name}"[^>]*>', page)
    assert tag is not None, f"no input named {name}"
    return dict(re.findall(r'([\w-]+)="([^"]*)"', tag.group(0)))


def days_ago(days: int) -> date:
    return (utcnow().astimezone(HCM) - timedelta(days=days)).date()


def count(app, model) -> int:  # type: ignore[no-untyped-def]
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(model))


def statement(app) -> DiscoveryStatement:  # type: ignore[no-untyped-def]
    with app.app_context():
        return db.session.execute(select(DiscoveryStatement)).scalar_one()


def test_the_field_asks_for_the_day_first_and_names_the_zone(client) -> None:  # type: ignore[no-untyped-def]
    page = client.get("/report", headers=EN).get_data(as_text=True)
    field = input_of(page, "discovered_at")
    assert field["type"] == "text" and field["autocomplete"] == "off" and "step" not in field
    assert field["aria-describedby"] == "discovered_at-hint"
    assert '<p class="hint" id="discovered_at-hint">DD/MM/YYYY HH:MM, Vietnam time (GMT+7)</p>' in page
    assert "datetime-local" not in page


def test_the_hint_in_vietnamese_names_the_zone(client) -> None:  # type: ignore[no-untyped-def]
    page = client.get("/report", headers={"Accept-Language": "vi"}).get_data(as_text=True)
    hint = re.search(r'<p class="hint" id="discovered_at-hint">([^<]+)</p>', page)
    assert hint is not None and "Việt Nam" in hint.group(1) and "(GMT+7)" in hint.group(1)


@pytest.mark.parametrize(
    "typed",
    [
        "{d:%d/%m/%Y} 08:30",  # as the hint asks
        "08:30 - {d:%d/%m/%Y}",  # as the pages show times
        "{d.day}/{d.month}/{d.year} 8:30",
        "{d:%d/%m/%Y} - 08:30:00",
        "{d:%Y-%m-%d}T08:30",  # as the old form posted, and old bookmarked forms still do
    ],
)
def test_a_typed_time_is_the_statement(app, client, customer_id, typed: str) -> None:  # type: ignore[no-untyped-def]
    yesterday = days_ago(1)
    answer = submit(
        client, "/report", {"email": "an@example.com", "kind": "stolen", "discovered_at": typed.format(d=yesterday)}
    )
    assert answer.status_code == 303
    noticed = statement(app)
    assert noticed.discovered_at == datetime.combine(yesterday, datetime.min.time(), timezone.utc) + timedelta(
        hours=1, minutes=30
    )
    assert noticed.source == "report_form"


@pytest.mark.parametrize(
    "typed,message",
    [
        ("yesterday morning", "Enter the date and time as DD/MM/YYYY HH:MM, for example 31/01/2026 14:30."),
        (
            "12/25/2025 08:30",
            "There is no such day: write the day, then the month (DD/MM/YYYY), for example 31/01/2026 14:30.",
        ),
        ("25/11/2026", "Add the time after the date, for example 31/01/2026 14:30."),
        ("08:30", "Add the date before the time, for example 31/01/2026 14:30."),
        (
            "25/11/2026 8:75",
            "There is no such time: hours go from 00 to 23 and minutes from 00 to 59, for example 31/01/2026 14:30.",
        ),
    ],
)
def test_text_that_cannot_be_read_is_refused_saying_why_and_kept(
    app, client, customer_id, typed: str, message: str
) -> None:  # type: ignore[no-untyped-def]
    answer = submit(
        client, "/report", {"email": "an@example.com", "kind": "stolen", "discovered_at": typed}, headers=EN
    )
    page = answer.get_data(as_text=True)
    assert answer.status_code == 400
    assert f'<p class="error" id="discovered_at-error">{message}</p>' in page
    field = input_of(page, "discovered_at")
    assert field["value"] == typed and field["aria-invalid"] == "true"
    assert field["aria-describedby"] == "discovered_at-hint discovered_at-error"
    assert input_of(page, "email")["value"] == "an@example.com"
    assert count(app, Report) == 0


def test_a_time_in_the_future_is_refused_and_shown_as_the_pages_write_times(app, client, customer_id) -> None:  # type: ignore[no-untyped-def]
    later = days_ago(-2)
    answer = submit(
        client,
        "/report",
        {"email": "an@example.com", "kind": "stolen", "discovered_at": f"{later:%Y-%m-%d}T08:30"},
        headers=EN,
    )
    page = answer.get_data(as_text=True)
    assert answer.status_code == 400 and "This time is in the future." in page
    assert input_of(page, "discovered_at")["value"] == f"{later:%d/%m/%Y} 08:30"
    assert count(app, Report) == 0


def test_a_time_before_2000_is_refused(app, client, customer_id) -> None:  # type: ignore[no-untyped-def]
    answer = submit(
        client,
        "/report",
        {"email": "an@example.com", "kind": "stolen", "discovered_at": "31/12/1999 23:00"},
        headers=EN,
    )
    assert answer.status_code == 400 and "too far in the past" in answer.get_data(as_text=True)


def test_left_empty_it_stays_optional(app, client, customer_id) -> None:  # type: ignore[no-untyped-def]
    answer = submit(client, "/report", {"email": "an@example.com", "kind": "stolen", "discovered_at": "  "})
    assert answer.status_code == 303 and count(app, DiscoveryStatement) == 0


def test_the_report_link_form_reads_it_the_same_way(app, client, customer_id) -> None:  # type: ignore[no-untyped-def]
    with app.test_request_context():
        link = path_of(customer_report_url(db.session.get(Customer, customer_id)))
    page = client.get(link, headers=EN).get_data(as_text=True)
    assert input_of(page, "discovered_at")["aria-describedby"] == "discovered_at-hint"
    two_days_ago = days_ago(2)
    answer = submit(client, link, {"kind": "lost", "discovered_at": f"21:15 - {two_days_ago:%d/%m/%Y}"})
    assert answer.status_code in (302, 303)
    assert statement(app).discovered_at == datetime.combine(
        two_days_ago, datetime.min.time(), timezone.utc
    ) + timedelta(hours=14, minutes=15)


def test_the_discovery_link_form_reads_it_the_same_way(app, client, customer_id) -> None:  # type: ignore[no-untyped-def]
    submit(app.test_client(), "/report", {"email": "an@example.com", "kind": "leaked"})
    with app.test_request_context():
        incident = db.session.execute(select(Incident)).scalar_one()
        path = path_of(discovery_link(customer_id, incident.id).url())
    page = client.get(path, headers=EN).get_data(as_text=True)
    field = input_of(page, "discovered_at")
    assert field["aria-describedby"] == "discovered_at-hint" and field["type"] == "text"
    empty = submit(client, path, {"discovered_at": ""}, headers=EN).get_data(as_text=True)
    assert "Enter the date and time you noticed it." in empty
    # Required, yet a text that cannot be read says why rather than that the field is empty.
    unreadable = submit(client, path, {"discovered_at": "last Monday"}, headers=EN).get_data(as_text=True)
    assert "for example 31/01/2026 14:30" in unreadable and "you noticed it." not in unreadable
    three_days_ago = days_ago(3)
    answer = submit(client, path, {"discovered_at": f"{three_days_ago:%d/%m/%Y} 07:00"})
    assert answer.status_code == 200
    assert statement(app).discovered_at == datetime.combine(three_days_ago, datetime.min.time(), timezone.utc)


def test_a_customer_in_another_zone_is_told_it_and_read_in_it(app, client, customer_id) -> None:  # type: ignore[no-untyped-def]
    """Customers may pick their zone: the hint says it, and the time typed is read in it (Berlin is GMT+2
    in July)."""
    with app.app_context():
        customer = db.session.get(Customer, customer_id)
        customer.time_zone, customer.locale = "Europe/Berlin", "en"  # a signed-in customer's locale wins
        db.session.commit()
    assert submit(client, "/login", {"email": "an@example.com", "password": PASSWORD}).status_code == 302
    page = client.get("/report", headers=EN).get_data(as_text=True)
    hint = re.search(r'<p class="hint" id="discovered_at-hint">([^<]+)</p>', page)
    assert hint is not None and hint.group(1) in (
        "DD/MM/YYYY HH:MM, Berlin time (GMT+1)",
        "DD/MM/YYYY HH:MM, Berlin time (GMT+2)",  # today's offset
    )
    answer = submit(client, "/report", {"email": "an@example.com", "kind": "lost", "discovered_at": "15/07/2026 12:00"})
    assert answer.status_code == 303
    assert statement(app).discovered_at == datetime(2026, 7, 15, 10, 0, tzinfo=timezone.utc)
