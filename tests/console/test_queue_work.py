"""The queue as a worklist (issue 13): who has each incident and when it last moved, the 72-hour clock of
breaches still to notify, filters for "assigned to me", "unassigned" and "clock running", and a page that
costs the same number of queries whatever it holds."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import event, select

from incident_service.assessment.service import mark_breach, record_authority_notification
from incident_service.customers.service import add_customer
from incident_service.database import utcnow
from incident_service.extensions import db
from incident_service.i18n import format_local
from incident_service.incidents.models import Incident
from incident_service.incidents.service import ReportSubmission, add_note, assign_incident, receive_report
from incident_service.notifications.models import OUTBOX_FAILED, OutboxMessage
from incident_service.staff.models import StaffUser

EN = {"Accept-Language": "en"}


def open_incident(address: str, received: datetime) -> int:
    """An incident whose first report reached us at `received` (inside an app context)."""
    add_customer(address, name="", locale="vi", password=None, source="cli", actor="test", now=received)
    report = receive_report(ReportSubmission(channel="web", address=address, kind="lost"), now=received)
    db.session.commit()
    assert report.incident_id is not None
    return report.incident_id


def queue(client: FlaskClient, **args: str) -> str:
    return client.get("/console/incidents", query_string=args, headers=EN).get_data(as_text=True)


def row_of(page: str, reference: str) -> str:
    """The queue's table row for one incident."""
    found = re.search(rf"<tr><td class=\"ref\"><a [^>]*>{reference}</a>.*?</tr>", page, re.S)
    assert found is not None, f"{reference} is not in the queue"
    return found.group(0)


def reference_of(app: Flask, incident_id: int) -> str:
    with app.app_context():
        incident = db.session.get(Incident, incident_id)
        assert incident is not None and incident.reference is not None
        return incident.reference


def staff_id(email: str) -> int:
    return db.session.execute(select(StaffUser.id).where(StaffUser.email == email)).scalar_one()


def test_the_queue_shows_who_has_each_incident_and_when_it_last_moved(app, staff_login) -> None:  # type: ignore[no-untyped-def]
    client = staff_login("support", "lan@ecc.example")
    now = utcnow().replace(microsecond=0)
    with app.app_context():
        quiet = open_incident("quiet@example.com", now - timedelta(days=3))
        noted = open_incident("noted@example.com", now - timedelta(days=3))
        taken = open_incident("taken@example.com", now - timedelta(days=2))
        add_note(
            db.session.get(Incident, noted), "Khách gọi lại.", actor="lan@ecc.example", now=now - timedelta(hours=5)
        )
        assign_incident(
            db.session.get(Incident, taken),
            staff_id("lan@ecc.example"),
            seen_assignee_id=None,
            actor="lan@ecc.example",
            now=now - timedelta(hours=1),
        )
        db.session.commit()
    page = queue(client)
    assert re.search(
        r'<th scope="col">Assignee</th><th scope="col">Last activity <span class="muted">\(GMT\+7\)</span></th>', page
    )
    with app.test_request_context(headers=EN):
        expected = {
            quiet: format_local(now - timedelta(days=3), with_zone=False),  # opened, nothing since
            noted: format_local(now - timedelta(hours=5), with_zone=False),  # a note is activity
            taken: format_local(now - timedelta(hours=1), with_zone=False),  # so is taking it
        }
    for incident_id, moment in expected.items():
        row = row_of(page, reference_of(app, incident_id))
        cells = re.findall(r'<td class="time"><time [^>]*>([^<]+)</time>', row)
        assert cells[-1] == moment, (incident_id, cells)
        assert re.fullmatch(r"\d{2}:\d{2}:\d{2} - \d{2}/\d{2}/\d{4}", moment)  # the zone is in the heading
    assert '<td class="assignee"><span title="lan@ecc.example">lan</span></td>' in row_of(
        page, reference_of(app, taken)
    )
    assert '<td class="assignee"><span class="muted">—</span></td>' in row_of(page, reference_of(app, quiet))


def test_assigned_to_me_and_unassigned(app, staff_login) -> None:  # type: ignore[no-untyped-def]
    lan = staff_login("support", "lan@ecc.example")
    binh = staff_login("support", "binh@ecc.example")
    legal = staff_login("legal", "luat@ecc.example")
    now = utcnow()
    with app.app_context():
        mine = open_incident("mine@example.com", now - timedelta(days=1))
        theirs = open_incident("theirs@example.com", now - timedelta(days=1))
        nobody = open_incident("nobody@example.com", now - timedelta(days=1))
        for incident_id, who in ((mine, "lan@ecc.example"), (theirs, "binh@ecc.example")):
            incident = db.session.get(Incident, incident_id)
            assign_incident(incident, staff_id(who), seen_assignee_id=None, actor=who, now=now)
        db.session.commit()
    refs = {
        name: reference_of(app, incident_id)
        for name, incident_id in (("mine", mine), ("theirs", theirs), ("nobody", nobody))
    }

    for_lan = queue(lan, assignee="me")
    assert refs["mine"] in for_lan and refs["theirs"] not in for_lan and refs["nobody"] not in for_lan
    assert "1 found" in for_lan
    assert '<option value="me" selected>Assigned to me</option>' in for_lan  # the filter shows what it does
    for_binh = queue(binh, assignee="me")  # the same link means whoever opens it
    assert refs["theirs"] in for_binh and refs["mine"] not in for_binh
    assert "0 found" in queue(legal, assignee="me")
    unassigned = queue(lan, assignee="none")
    assert refs["nobody"] in unassigned and refs["mine"] not in unassigned and refs["theirs"] not in unassigned
    # The filter travels with the tabs and the pages.
    assert "assignee=none" in unassigned.split('<nav class="tabs"')[1].split("</nav>")[0]
    # Unknown values are ignored, as every queue filter's are.
    assert "3 found" in queue(lan, assignee="everyone")


def test_the_breach_clock_in_the_queue_is_the_headers(app, staff_login) -> None:  # type: ignore[no-untyped-def]
    """A personal-data breach whose authority notice is not recorded shows its 72-hour clock in the queue,
    coloured as it runs down, with the same badge as the incident's header."""
    client = staff_login("support", "lan@ecc.example")
    now = utcnow()
    half = timedelta(minutes=30)  # the badge counts whole hours left; keep clear of the boundary
    with app.app_context():
        ages = {"running": 10, "soon": 30, "urgent": 60, "overdue": 80, "notified": 20}
        ids = {
            name: open_incident(f"{name}@example.com", now - timedelta(hours=hours) + half)
            for name, hours in ages.items()
        }
        ids["plain"] = open_incident("plain@example.com", now - timedelta(hours=5))
        for name in ages:
            mark_breach(db.session.get(Incident, ids[name]), reason="Lộ danh sách.", actor="luat@ecc.example", now=now)
        record_authority_notification(
            db.session.get(Incident, ids["notified"]),
            notified_at=now,
            how="Công văn số 12",
            actor="luat@ecc.example",
            now=now,
        )
        db.session.commit()
    page = queue(client)
    expected = {
        "running": ("running", "72-hour notice: 62 hours left"),
        "soon": ("soon", "72-hour notice: 42 hours left"),
        "urgent": ("urgent", "72-hour notice: 12 hours left"),
        "overdue": ("overdue", "72-hour notice: overdue"),
    }
    for name, (stage, words) in expected.items():
        row = row_of(page, reference_of(app, ids[name]))
        badge = re.search(
            r'<a href="([^"]+)" class="badge clock clock-(\w+) flag" title="deadline [^"]+">([^<]+)</a>', row
        )
        assert badge is not None, row
        assert badge.groups() == (f"/console/incidents/{ids[name]}#breach", stage, words)
        # The incident's header: the same badge, the same words and colour.
        header = client.get(f"/console/incidents/{ids[name]}", headers=EN).get_data(as_text=True).split("</h1>")[0]
        assert f'class="badge clock clock-{stage}" title="deadline ' in header and words in header
    for name in ("notified", "plain"):
        assert "clock" not in row_of(page, reference_of(app, ids[name]))

    running = queue(client, breach="running")
    assert "4 found" in running
    assert reference_of(app, ids["notified"]) not in running and reference_of(app, ids["plain"]) not in running


def test_a_page_of_the_queue_costs_the_same_queries_whatever_it_holds(app, staff_login) -> None:  # type: ignore[no-untyped-def]
    """Customer, assignee and last activity come with the page in a fixed number of statements (no query per
    row), so the queue stays fast at a million incidents: its cost follows the page size."""
    client = staff_login("support", "lan@ecc.example")
    now = utcnow()

    def statements_for_the_queue() -> int:
        seen: list[str] = []

        def count(_conn, _cursor, statement, *_args) -> None:  # type: ignore[no-untyped-def]
            seen.append(statement)

        with app.app_context():
            engine = db.engine
        event.listen(engine, "before_cursor_execute", count)
        try:
            assert client.get("/console/incidents").status_code == 200
        finally:
            event.remove(engine, "before_cursor_execute", count)
        return len(seen)

    with app.app_context():
        lan = staff_id("lan@ecc.example")
        for n in range(2):
            incident = db.session.get(Incident, open_incident(f"few{n}@example.com", now))
            assign_incident(incident, lan, seen_assignee_id=None, actor="lan@ecc.example", now=now)
        db.session.commit()
    few = statements_for_the_queue()
    with app.app_context():
        for n in range(20):
            incident = db.session.get(Incident, open_incident(f"many{n}@example.com", now))
            if n % 2:
                assign_incident(incident, lan, seen_assignee_id=None, actor="lan@ecc.example", now=now)
                add_note(incident, "Đã gọi.", actor="lan@ecc.example", now=now)
        db.session.commit()
    assert statements_for_the_queue() == few


def test_the_queue_tab_counts_undelivered_emails(app, staff_login) -> None:  # type: ignore[no-untyped-def]
    """Issue 13: beside quarantine and reviews (test_queue.py), the queue's own tab counts the emails that
    could not be delivered, in the colour of a problem."""
    client = staff_login("support", "lan@ecc.example")
    with app.app_context():
        open_incident("an@example.com", utcnow())
        for message in db.session.execute(select(OutboxMessage)).scalars():
            message.status = OUTBOX_FAILED
        db.session.commit()
    nav = client.get("/console/incidents", headers=EN).get_data(as_text=True).split("</nav>")[0]
    assert re.search(r'/console/incidents">Queue <span class="count count-bad" title="[^"]+">1</span>', nav)
