"""Who works an incident (issue 13): taken from the incident's header, given to another staff member who
can act, or unassigned; each change audited; refused for whoever cannot act, on a closed incident, and when
someone else changed it meanwhile."""

from __future__ import annotations

import json
import re
from datetime import timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select, update

from incident_service.audit.models import AuditEvent
from incident_service.database import utcnow
from incident_service.extensions import db
from incident_service.incidents.models import Incident
from incident_service.incidents.service import AssignmentRefused, assign_incident
from incident_service.staff.models import StaffUser
from incident_service.staff.service import set_active
from tests.console.conftest import make_staff, post_form
from tests.helpers import submit

EN = {"Accept-Language": "en"}


@pytest.fixture
def incident_id(app: Flask, customer_id: int) -> int:
    submit(app.test_client(), "/report", {"email": "an@example.com", "kind": "stolen"})
    with app.app_context():
        return db.session.execute(select(Incident.id)).scalar_one()


def staff_id(app: Flask, email: str) -> int:
    with app.app_context():
        return db.session.execute(select(StaffUser.id).where(StaffUser.email == email)).scalar_one()


def assignee_of(app: Flask, incident_id: int) -> int | None:
    with app.app_context():
        return db.session.get(Incident, incident_id).assignee_id


def assignment_events(app: Flask) -> list[tuple[str, str, dict[str, str | None]]]:
    with app.app_context():
        events = db.session.execute(
            select(AuditEvent).where(AuditEvent.action.like("console:incident:%assigned")).order_by(AuditEvent.id)
        ).scalars()
        return [(event.action, event.actor, json.loads(event.data)) for event in events]


def assign(client: FlaskClient, incident_id: int, assignee: int | str, seen: int | str = "", **kwargs):  # type: ignore[no-untyped-def]
    page = f"/console/incidents/{incident_id}"
    data = {"assignee": str(assignee), "seen_assignee": str(seen)}
    return post_form(client, page, page + "/assignee", data, headers=EN, **kwargs)


def test_support_takes_an_incident_from_its_header(app, staff_login, incident_id) -> None:  # type: ignore[no-untyped-def]
    client = staff_login("support", "lan@ecc.example")
    page = client.get(f"/console/incidents/{incident_id}", headers=EN).get_data(as_text=True)
    header = page.split("<h2>")[0]
    assert "Assignee" in header and "Nobody yet" in header
    assert "Assign to me" in header and "Unassign" not in header
    lan = staff_id(app, "lan@ecc.example")
    assert re.search(
        rf'name="assignee" value="{lan}">\s*<button type="submit" class="secondary small">Assign to me', header
    )

    taken = assign(client, incident_id, lan, follow_redirects=True)
    assert taken.status_code == 200
    shown = taken.get_data(as_text=True)
    assert "The incident is assigned to you." in shown
    header = shown.split("<h2>")[0]
    assert "<strong>lan</strong> · <code>lan@ecc.example</code>" in header
    assert "Assign to me" not in header and "Unassign" in header
    assert assignee_of(app, incident_id) == lan
    assert assignment_events(app) == [
        ("console:incident:assigned", "lan@ecc.example", {"assignee": "lan@ecc.example", "previous": None})
    ]
    # The timeline says it in words.
    assert "Incident assigned to a staff member · console · lan@ecc.example" in shown


def test_give_it_to_a_colleague_then_unassign(app, staff_login, incident_id) -> None:  # type: ignore[no-untyped-def]
    client = staff_login("support", "lan@ecc.example")
    binh = make_staff(app, "binh@ecc.example", "support")
    boss = make_staff(app, "boss@ecc.example", "admin")
    make_staff(app, "luat@ecc.example", "legal")
    gone = make_staff(app, "gone@ecc.example", "support")
    with app.app_context():
        set_active(db.session.get(StaffUser, gone), False, actor="test", now=utcnow())
        db.session.commit()
    page = client.get(f"/console/incidents/{incident_id}", headers=EN).get_data(as_text=True)
    # Offered: active support staff and administrators; not legal, not a deactivated account.
    offered = re.search(r'<select id="assignee" name="assignee">(.*?)</select>', page, re.S)
    assert offered is not None
    assert "binh@ecc.example" in offered.group(1) and "boss@ecc.example" in offered.group(1)
    assert "lan@ecc.example" in offered.group(1)
    assert "luat@ecc.example" not in offered.group(1) and "gone@ecc.example" not in offered.group(1)

    given = assign(client, incident_id, binh, follow_redirects=True)
    assert "The incident is assigned to binh." in given.get_data(as_text=True)
    assert assignee_of(app, incident_id) == binh
    to_admin = assign(client, incident_id, boss, seen=binh)
    assert to_admin.status_code == 302 and assignee_of(app, incident_id) == boss
    dropped = assign(client, incident_id, "", seen=boss, follow_redirects=True)
    assert "The incident is no longer assigned to anyone." in dropped.get_data(as_text=True)
    assert assignee_of(app, incident_id) is None
    assert assignment_events(app) == [
        ("console:incident:assigned", "lan@ecc.example", {"assignee": "binh@ecc.example", "previous": None}),
        (
            "console:incident:assigned",
            "lan@ecc.example",
            {"assignee": "boss@ecc.example", "previous": "binh@ecc.example"},
        ),
        ("console:incident:unassigned", "lan@ecc.example", {"assignee": None, "previous": "boss@ecc.example"}),
    ]


def test_legal_sees_the_assignee_but_cannot_assign(app, staff_login, incident_id) -> None:  # type: ignore[no-untyped-def]
    support = staff_login("support", "lan@ecc.example")
    lan = staff_id(app, "lan@ecc.example")
    assign(support, incident_id, lan)
    legal = staff_login("legal", "luat@ecc.example")
    header = legal.get(f"/console/incidents/{incident_id}", headers=EN).get_data(as_text=True).split("<h2>")[0]
    assert "<strong>lan</strong>" in header
    assert "Assign to me" not in header and "Unassign" not in header and 'name="assignee"' not in header
    refused = assign(legal, incident_id, staff_id(app, "luat@ecc.example"), seen=lan)
    assert refused.status_code == 403
    assert assign(legal, incident_id, "", seen=lan).status_code == 403
    assert assignee_of(app, incident_id) == lan
    assert [actor for _action, actor, _data in assignment_events(app)] == ["lan@ecc.example"]


def test_only_staff_who_can_act_can_be_given_an_incident(app, staff_login, incident_id) -> None:  # type: ignore[no-untyped-def]
    client = staff_login("support", "lan@ecc.example")
    luat = make_staff(app, "luat@ecc.example", "legal")
    gone = make_staff(app, "gone@ecc.example", "support")
    with app.app_context():
        set_active(db.session.get(StaffUser, gone), False, actor="test", now=utcnow())
        db.session.commit()
    for who in (luat, gone, 999_999):
        refused = assign(client, incident_id, who)
        assert refused.status_code == 400
        shown = refused.get_data(as_text=True)
        assert "That staff member cannot be given incidents" in shown
        assert "<h1>Incident INC-" in shown  # the incident's page again, not an error page
    # Not a staff id at all: refused by the form, the error beside the field, the choice open.
    garbled = assign(client, incident_id, "lan@ecc.example")
    assert garbled.status_code == 400
    assert 'id="assignee-error"' in garbled.get_data(as_text=True)
    assert '<details class="assign-other" open>' in garbled.get_data(as_text=True)
    assert assignee_of(app, incident_id) is None and assignment_events(app) == []


def test_a_closed_incident_keeps_who_had_it(app, staff_login, incident_id) -> None:  # type: ignore[no-untyped-def]
    """Decision: only an open incident changes hands; once resolved or closed, the assignee stays as the
    person who had the case, and the header offers no change."""
    client = staff_login("support", "lan@ecc.example")
    lan = staff_id(app, "lan@ecc.example")
    assign(client, incident_id, lan)
    page = f"/console/incidents/{incident_id}"
    post_form(client, page, page + "/close", {"category": "spam", "close_reason": "Thư rác."})
    header = client.get(page, headers=EN).get_data(as_text=True).split("<h2>")[0]
    assert "<strong>lan</strong>" in header and "Unassign" not in header and 'name="assignee"' not in header
    for attempt in (
        assign(client, incident_id, "", seen=lan),
        assign(client, incident_id, make_staff(app, "b@ecc.example", "support"), seen=lan),
    ):
        assert attempt.status_code == 400
        assert "Only an open incident can be assigned" in attempt.get_data(as_text=True)
    assert assignee_of(app, incident_id) == lan
    assert len(assignment_events(app)) == 1


def test_a_change_made_meanwhile_is_not_overwritten(app, staff_login, incident_id) -> None:  # type: ignore[no-untyped-def]
    """Two agents on the same page, both pressing "Assign to me": the second is told, and sees who has it."""
    first = staff_login("support", "lan@ecc.example")
    second = staff_login("support", "binh@ecc.example")
    lan, binh = staff_id(app, "lan@ecc.example"), staff_id(app, "binh@ecc.example")
    assert assign(first, incident_id, lan, seen="").status_code == 302
    late = assign(second, incident_id, binh, seen="")  # binh's page still showed nobody
    assert late.status_code == 400
    shown = late.get_data(as_text=True)
    assert "Someone else changed who has this incident" in shown
    assert "<strong>lan</strong>" in shown.split("<h2>")[0]  # the page as it is now
    assert f'name="seen_assignee" value="{lan}"' in shown  # so choosing again works
    assert assignee_of(app, incident_id) == lan
    # Pressing it twice (the page already says it is yours): nothing changes, nothing is audited.
    again = assign(first, incident_id, lan, seen="", follow_redirects=True)
    assert "Nothing changed" in again.get_data(as_text=True)
    assert len(assignment_events(app)) == 1


def test_the_service_compares_and_sets_in_one_statement(app, app_context, incident_id) -> None:  # type: ignore[no-untyped-def]
    """The row changed after the incident was read (another request committed in between): the update's own
    condition refuses it, whatever the object in memory says."""
    lan = make_staff(app, "lan@ecc.example", "support")
    binh = make_staff(app, "binh@ecc.example", "support")
    incident = db.session.get(Incident, incident_id)
    assert incident is not None and incident.assignee_id is None
    db.session.execute(
        update(Incident).where(Incident.id == incident_id).values(assignee_id=binh),
        execution_options={"synchronize_session": False},
    )
    with pytest.raises(AssignmentRefused) as refused:
        assign_incident(incident, lan, seen_assignee_id=None, actor="lan@ecc.example", now=utcnow())
    assert refused.value.code == "changed"
    assert incident.assignee_id == binh  # read again: the caller's page shows the truth
    assert db.session.scalar(select(AuditEvent.id).where(AuditEvent.action == "console:incident:assigned")) is None
    assert assign_incident(incident, lan, seen_assignee_id=binh, actor="lan@ecc.example", now=utcnow())


def test_legal_lands_on_the_reviews_and_support_on_the_queue(app, staff_login) -> None:  # type: ignore[no-untyped-def]
    """Issue 13: legal starts where their work is, the reviews (with their counts in the tabs)."""
    from tests.console.conftest import enrol, sign_in_again

    make_staff(app, "luat@ecc.example", "legal")
    legal = app.test_client()
    secret = enrol(legal, "luat@ecc.example")
    assert legal.get("/console/").headers["Location"] == "/console/reviews"
    assert legal.get("/console/login").headers["Location"] == "/console/reviews"
    signed_in = sign_in_again(app.test_client(), "luat@ecc.example", secret)
    assert signed_in.status_code == 302 and signed_in.headers["Location"] == "/console/reviews"
    make_staff(app, "lan@ecc.example", "support")
    support = app.test_client()
    enrol(support, "lan@ecc.example")
    assert support.get("/console/").headers["Location"] == "/console/incidents"
    assert support.get("/console/login").headers["Location"] == "/console/incidents"


def test_a_page_asked_for_before_signing_in_wins_over_the_landing_page(app) -> None:  # type: ignore[no-untyped-def]
    import pyotp

    from tests.console.conftest import STAFF_PASSWORD, enrol
    from tests.helpers import csrf_from

    make_staff(app, "luat@ecc.example", "legal")
    secret = enrol(app.test_client(), "luat@ecc.example")
    client = app.test_client()
    to_login = client.get("/console/incidents?status=closed").headers["Location"]
    assert to_login.startswith("/console/login?next=")
    form = client.get(to_login).get_data(as_text=True)
    to_verify = client.post(
        to_login, data={"email": "luat@ecc.example", "password": STAFF_PASSWORD, "csrf_token": csrf_from(form)}
    ).headers["Location"]
    verify = client.get(to_verify).get_data(as_text=True)
    code = pyotp.TOTP(secret).at(utcnow() + timedelta(seconds=30))  # the enrolment used the current one
    done = client.post(to_verify, data={"code": code, "csrf_token": csrf_from(verify)})
    assert done.status_code == 302 and done.headers["Location"] == "/console/incidents?status=closed"
