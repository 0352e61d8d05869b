"""Legal's console: the review queue, appended decisions, asking the customer, breaches, policy."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select, text

from incident_service.assessment.models import PolicyVersion, ReviewDecision
from incident_service.audit.models import AuditEvent
from incident_service.database import utcnow
from incident_service.extensions import db
from incident_service.incidents.models import Incident
from incident_service.notifications.models import OutboxMessage
from tests.console.conftest import post_form
from tests.helpers import submit

TAB_COUNTS = re.compile(r'<a href="/console/reviews\?show=\w+"[^>]*>[^<]+<span class="count">(\d+)</span>')


def late_incident(app) -> str:  # type: ignore[no-untyped-def]
    noticed = (utcnow() - timedelta(days=3)).astimezone().strftime("%Y-%m-%dT%H:%M")
    submit(app.test_client(), "/report", {"email": "an@example.com", "kind": "stolen", "discovered_at": noticed})
    with app.app_context():
        incident = db.session.execute(select(Incident)).scalar_one()
        assert incident.lateness == "late"
        return f"/console/incidents/{incident.id}"


def test_support_cannot_open_legal_pages_or_decide(app, staff_login, customer_id) -> None:  # type: ignore[no-untyped-def]
    page = late_incident(app)
    support = staff_login("support")
    for path in (
        "/console/reviews",
        "/console/reports/delay",
        "/console/reports/delay.csv",
        "/console/policy",
        page + "/evidence",
        page + "/evidence.zip",
    ):
        assert support.get(path).status_code == 403, path
    answer = post_form(support, page, page + "/review", {"decision": "exemption_asserted", "rationale": "late"})
    assert answer.status_code == 403
    assert post_form(support, page, page + "/breach", {}).status_code == 403


def test_review_decisions_are_appended(app, staff_login, customer_id) -> None:  # type: ignore[no-untyped-def]
    page = late_incident(app)
    legal = staff_login("legal", "luat@ecc.example")
    queue = legal.get("/console/reviews").get_data(as_text=True)
    assert "INC-" in queue
    assert TAB_COUNTS.findall(queue) == ["1", "1"]  # awaiting a decision, all late incidents
    post_form(
        legal, page, page + "/review", {"decision": "needs_information", "rationale": "Ask when.", "ask_customer": "y"}
    )
    # Asserting the exemption has legal effect: without the confirmation it is refused, the text kept.
    unconfirmed = post_form(
        legal, page, page + "/review", {"decision": "exemption_asserted", "rationale": "Three days late."}
    )
    assert unconfirmed.status_code == 400
    refused_page = unconfirmed.get_data(as_text=True)
    assert "Three days late." in refused_page and 'id="confirm_exemption-error"' in refused_page
    post_form(
        legal,
        page,
        page + "/review",
        {"decision": "exemption_asserted", "rationale": "Three days late.", "confirm_exemption": "y"},
    )
    no_reason = post_form(legal, page, page + "/review", {"decision": "exemption_waived", "rationale": ""})
    assert no_reason.status_code == 400 and 'id="rationale-error"' in no_reason.get_data(as_text=True)
    # No decision is chosen for legal: the page offers the three with none checked.
    blank = legal.get(page).get_data(as_text=True)
    assert blank.count('name="decision"') == 3 and "checked" not in blank.split('name="decision"', 1)[1][:400]
    assert post_form(legal, page, page + "/review", {"rationale": "Undecided"}).status_code == 400
    with app.app_context():
        decisions = db.session.execute(select(ReviewDecision).order_by(ReviewDecision.id)).scalars().all()
        assert [d.decision for d in decisions] == ["needs_information", "exemption_asserted"]  # no rationale: refused
        assert decisions[0].customer_asked and decisions[1].decided_by == "luat@ecc.example"
        assert db.session.execute(select(Incident)).scalar_one().review_decision == "exemption_asserted"
        asked = db.session.execute(
            select(OutboxMessage).where(OutboxMessage.template == "discovery_request")
        ).scalar_one()
        assert asked.to_address == "an@example.com"
    decided = legal.get("/console/reviews").get_data(as_text=True)
    assert "INC-" not in decided.split("<tbody>")[1] and TAB_COUNTS.findall(decided) == ["0", "1"]
    assert "INC-" in legal.get("/console/reviews?show=all").get_data(as_text=True).split("<tbody>")[1]


def test_breach_deadline_and_notification(app, staff_login, customer_id) -> None:  # type: ignore[no-untyped-def]
    page = late_incident(app)
    legal = staff_login("legal")
    # Marking a breach needs a reason and a confirmation.
    refused = post_form(legal, page, page + "/breach", {"breach_reason": "Leaked list of 3,000 customers"})
    assert refused.status_code == 400 and "Leaked list of 3,000 customers" in refused.get_data(as_text=True)
    assert post_form(legal, page, page + "/breach", {"breach_confirm": "y"}).status_code == 400
    with app.app_context():
        assert not db.session.execute(select(Incident)).scalar_one().personal_data_breach
    post_form(legal, page, page + "/breach", {"breach_reason": "Leaked list", "breach_confirm": "y"})
    # Marking it again changes nothing and says so, instead of claiming the clock started again.
    again = post_form(
        legal,
        page,
        page + "/breach",
        {"breach_reason": "Again", "breach_confirm": "y"},
        headers={"Accept-Language": "en"},
        follow_redirects=True,
    )
    assert "already marked as a personal-data breach" in again.get_data(as_text=True)
    with app.app_context():
        marked = db.session.execute(select(AuditEvent).where(AuditEvent.action == "console:breach:marked")).all()
        assert len(marked) == 1
    shown = legal.get(page, headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert "notify the authority (A05) by" in shown and "hours left" in shown
    # The reason given stays on the page beside the clock, with who marked it and when.
    assert re.search(r"Marked as a breach by [^<]+ at \d\d:\d\d:\d\d - [^<]+ Reason:\s+“Leaked list”", shown)
    assert re.search(r"72-hour notice: \d+ hours left", shown.split("</h1>")[0])  # in the header, prominent
    assert "Personal-data breaches awaiting" in legal.get(
        "/console/reviews", headers={"Accept-Language": "en"}
    ).get_data(as_text=True)
    post_form(legal, page, page + "/authority", {"notified_at": "2026-11-20T10:00", "how": "Công văn số 12/ECC"})
    with app.app_context():
        incident = db.session.execute(select(Incident)).scalar_one()
        assert incident.personal_data_breach and incident.authority_notification == "Công văn số 12/ECC"
        assert incident.authority_notified_at is not None


def test_admin_publishes_policy_legal_cannot(app, staff_login) -> None:  # type: ignore[no-untyped-def]
    future = (utcnow() + timedelta(days=1)).astimezone().strftime("%Y-%m-%dT%H:%M")
    legal = staff_login("legal")
    assert legal.get("/console/policy").status_code == 200
    assert (
        post_form(
            legal,
            "/console/policy",
            "/console/policy",
            {"threshold_hours": "12", "effective_from": future, "note": "x"},
        ).status_code
        == 403
    )
    admin = staff_login("admin")
    past = post_form(
        admin,
        "/console/policy",
        "/console/policy",
        {"threshold_hours": "12", "effective_from": "2020-01-01T00:00", "note": "backdated"},
        headers={"Accept-Language": "en"},
    )
    assert past.status_code == 400 and "cannot take effect in the past" in past.get_data(as_text=True)
    assert (
        post_form(
            admin,
            "/console/policy",
            "/console/policy",
            {"threshold_hours": "12", "effective_from": future, "note": "Board decision 3/2026"},
        ).status_code
        == 302
    )
    with app.app_context():
        assert db.session.execute(select(PolicyVersion.threshold_hours)).scalar_one() == 12


def test_the_breach_clock_speaks_in_plurals_as_people_do(app, staff_login, customer_id) -> None:  # type: ignore[no-untyped-def]
    """'1 hour left', not '1 hours left' (English plurals through ngettext; Vietnamese has one form)."""
    page = late_incident(app)
    legal = staff_login("legal")
    post_form(legal, page, page + "/breach", {"breach_reason": "Leaked list", "breach_confirm": "y"})
    with app.app_context():
        incident = db.session.execute(select(Incident)).scalar_one()
        incident.first_received_at = utcnow() - timedelta(hours=70, minutes=30)  # 1 h 30 min left
        db.session.commit()
    shown = legal.get(page, headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert "72-hour notice: 1 hour left" in shown and "1 hour left." in shown and "1 hours" not in shown
    assert "Còn 1 giờ." in legal.get(page, headers={"Accept-Language": "vi"}).get_data(as_text=True)


def test_late_incidents_come_a_page_at_a_time_oldest_first_with_bounded_counts(  # type: ignore[no-untyped-def]
    app, staff_login, monkeypatch
) -> None:
    """Issue 17: legal's review page listed every late incident (4 s and 4 MB at 100,000 incidents) and
    counted them all on every console page. It shows a page at a time, oldest first, each row with its
    customer; past COUNT_CAP the tabs and the console's badge say "more than", the pager numbers the page."""
    from incident_service.console import queries
    from incident_service.customers.service import add_customer
    from incident_service.incidents.service import ReportSubmission, receive_report

    monkeypatch.setattr(queries, "PAGE_SIZE", 2)
    now = utcnow()
    with app.app_context():
        for n in range(5):  # the first received is the oldest: n = 4
            address = f"late{n}@example.com"
            add_customer(address, name="", locale="vi", password=None, source="cli", actor="test", now=now)
            received = now - timedelta(minutes=10 * n)
            receive_report(
                ReportSubmission(
                    channel="web",
                    address=address,
                    kind="lost",
                    received_at=received,
                    discovered_at=received - timedelta(days=3),
                ),
                now=now,
            )
        db.session.commit()
        oldest_first = [
            incident.reference
            for incident in db.session.execute(select(Incident).order_by(Incident.first_received_at)).scalars()
        ]
        assert {incident.lateness for incident in db.session.execute(select(Incident)).scalars()} == {"late"}
    legal = staff_login("legal", "luat@ecc.example")
    english = {"Accept-Language": "en"}

    def listed(url: str) -> str:
        answer = legal.get(url, headers=english)
        assert answer.status_code == 200
        return answer.get_data(as_text=True)

    def rows(page: str) -> list[str]:
        return re.findall(r">(INC-\d{4}-\d{6})</a>", page.split("<tbody>")[1])

    first, second, third = (listed(f"/console/reviews?page={n}") for n in (1, 2, 3))
    assert rows(first) + rows(second) + rows(third) == oldest_first
    assert TAB_COUNTS.findall(first) == ["5", "5"] and "Page 1 of 3" in first and "page=2" in first
    assert "late0@example.com" in third and "Page 3 of 3" in third and "page=4" not in third
    assert "show=all&amp;page=2" in listed("/console/reviews?show=all")  # the pager keeps the tab
    beyond = listed("/console/reviews?page=9")
    assert rows(beyond) == [] and "Nothing here." in beyond and "page=8" in beyond  # Previous still there
    assert rows(listed("/console/reviews?page=x")) == oldest_first[:2]  # a malformed page: the first

    # Waiting for information still awaits a decision; a decision made takes it off that tab only.
    with app.app_context():
        for reference, decision in zip(oldest_first[:2], ("needs_information", "exemption_waived"), strict=True):
            db.session.execute(
                select(Incident).where(Incident.reference == reference)
            ).scalar_one().review_decision = decision
        db.session.commit()
    pending = listed("/console/reviews")
    assert TAB_COUNTS.findall(pending) == ["4", "5"] and rows(pending) == [oldest_first[0], oldest_first[2]]

    monkeypatch.setattr(queries, "COUNT_CAP", 3)
    capped = listed("/console/reviews")
    assert capped.count('<span class="count">more than 3</span>') == 3  # both tabs and the console's badge
    assert "Page 1</span>" in capped and "Page 1 of" not in capped and "page=2" in capped
    assert rows(listed("/console/reviews?show=all&page=3")) == oldest_first[4:]


@pytest.mark.sqlite_only
def test_what_awaits_a_decision_is_read_from_its_own_index_whatever_the_schema_lists_first(  # type: ignore[no-untyped-def]
    app, staff_login, customer_id
) -> None:
    """SQLite without statistics costs ix_incidents_awaiting_review and ix_incidents_lateness_received alike
    and takes the one its schema lists first; with the other, legal's page and badge walked every late
    incident. The lateness index is made again here, so that it is listed first."""
    from sqlalchemy import event

    late_incident(app)
    legal = staff_login("legal")
    with app.app_context():
        db.session.execute(text("DROP INDEX ix_incidents_lateness_received"))
        db.session.execute(
            text("CREATE INDEX ix_incidents_lateness_received ON incidents (lateness, first_received_at)")
        )
        db.session.commit()
        engine = db.engine
    statements: list[tuple[str, Any]] = []

    def seen(_conn, _cursor, statement, parameters, _context, _many) -> None:  # type: ignore[no-untyped-def]
        if "review_decision IS NULL OR review_decision = 'needs_information'" in statement:
            statements.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", seen)
    try:
        for path in ("/console/reviews", "/console/reviews?show=all", "/console/incidents"):
            assert legal.get(path).status_code == 200
    finally:
        event.remove(engine, "before_cursor_execute", seen)
    assert len(statements) >= 4  # the page, its tab count, and the badge on each page
    with app.app_context():
        connection = db.session.connection()
        for statement, parameters in statements:
            plan = " ".join(
                row[-1] for row in connection.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters)
            )
            assert "ix_incidents_awaiting_review" in plan, (statement, plan)
