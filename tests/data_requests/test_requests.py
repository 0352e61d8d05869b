"""Customers' data requests through the real web: the customer asks at /account, staff answer in the console,
the customer's email arrives in the SMTP sink with the reply."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from email.message import EmailMessage

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from incident_service.assessment.models import DiscoveryStatement
from incident_service.audit.models import AuditEvent
from incident_service.customers.models import CREDENTIAL_ACTIVE, Customer
from incident_service.customers.passwords import hashing
from incident_service.data_requests.models import DataRequest, StatementCorrection
from incident_service.database import utcnow
from incident_service.extensions import db
from incident_service.incidents.models import STATUS_RESOLVED, Incident, Report
from incident_service.incidents.service import ReportSubmission, receive_report
from tests.helpers import PASSWORD, csrf_from, deliver, make_customer, submit


def reported_customer(
    app: Flask, address: str, *, details: str = "Tôi đã dán mật khẩu vào một trang giả.", locale: str = "en"
) -> int:
    """A customer who reported a password (details and a discovery time), then set a new one: signed in
    again, with statements of theirs on record."""
    customer_id = make_customer(app, address, locale=locale, name="An Nguyen")
    with app.app_context():
        now = utcnow()
        receive_report(
            ReportSubmission(
                channel="web",
                address=address,
                kind="phished",
                details=details,
                discovered_at=now - timedelta(days=3),
            ),
            now=now,
        )
        customer = db.session.get(Customer, customer_id)
        assert customer is not None
        # The reset itself is tested elsewhere: here the customer has set a new password.
        customer.credential_state, customer.password_hash = CREDENTIAL_ACTIVE, hashing().hash(PASSWORD)
        for incident in db.session.execute(select(Incident).where(Incident.customer_id == customer_id)).scalars():
            incident.status = STATUS_RESOLVED
        db.session.commit()
    return customer_id


def signed_in(app: Flask, address: str) -> FlaskClient:
    client = app.test_client()
    answer = submit(client, "/login", {"email": address, "password": PASSWORD}, headers={"Accept-Language": "en"})
    assert answer.status_code == 302, answer.get_data(as_text=True)
    return client


def ask(client: FlaskClient, what: str, data: dict[str, str]):  # type: ignore[no-untyped-def]
    return submit(client, f"/account/requests/new/{what}", data, headers={"Accept-Language": "en"})


def the_request(app: Flask, customer_id: int) -> DataRequest:
    with app.app_context():
        found = db.session.execute(
            select(DataRequest).where(DataRequest.customer_id == customer_id).order_by(DataRequest.id.desc())
        ).scalar_one()
        db.session.expunge(found)
        return found


def text_of(message: EmailMessage) -> str:
    body = message.get_body(preferencelist=("plain",))
    assert body is not None
    return str(body.get_content())


def mails(app: Flask, smtp_sink, address: str, subject_part: str) -> list[EmailMessage]:  # type: ignore[no-untyped-def]
    deliver(app)
    return [m for m in smtp_sink.to(address) if subject_part in str(m["Subject"])]


def decide(client: FlaskClient, request_id: int, decision: str, reason: str, reply: str, **more: str):  # type: ignore[no-untyped-def]
    page = client.get(f"/console/data-requests/{request_id}", headers={"Accept-Language": "en"})
    return client.post(
        f"/console/data-requests/{request_id}/answer",
        data={
            "decision": decision,
            "reason": reason,
            "reply": reply,
            "csrf_token": csrf_from(page.get_data(as_text=True)),
            **more,
        },
        headers={"Accept-Language": "en"},
    )


def actions_of(app: Flask, customer_id: int) -> list[str]:
    with app.app_context():
        return list(
            db.session.execute(
                select(AuditEvent.action).where(AuditEvent.customer_id == customer_id).order_by(AuditEvent.id)
            ).scalars()
        )


def test_name_correction_whole_life(app: Flask, smtp_sink, staff_login) -> None:  # type: ignore[no-untyped-def]
    customer_id = reported_customer(app, "an@example.com")
    client = signed_in(app, "an@example.com")
    answer = ask(client, "name", {"corrected_value": "Nguyễn Thị An", "reason": "My name is misspelt."})
    assert answer.status_code == 302
    listing = client.get("/account/requests", headers={"Accept-Language": "en"}).get_data(as_text=True)
    item = the_request(app, customer_id)
    assert item.reference and item.reference in listing
    assert "Received" in listing and "Answer due by" in listing
    assert item.due_at - item.received_at == timedelta(days=3)  # DATA_REQUEST_DUE_DAYS: Decree 13's 72 hours
    received = mails(app, smtp_sink, "an@example.com", item.reference)
    assert len(received) == 1 and "We received your request" in str(received[0]["Subject"])

    support = staff_login("support")
    queue = support.get("/console/data-requests", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert item.reference in queue
    answered = decide(support, item.id, "granted", "Identity checked on the phone.", "We have corrected your name.")
    assert answered.status_code == 302, answered.get_data(as_text=True)

    with app.app_context():
        customer = db.session.get(Customer, customer_id)
        assert customer is not None and customer.name == "Nguyễn Thị An"
    done = the_request(app, customer_id)
    assert (done.state, done.decision, done.decided_by) == ("answered", "granted", "support1@ecc.example")
    replies = mails(app, smtp_sink, "an@example.com", "Our answer")
    assert len(replies) == 1
    body = text_of(replies[0])
    assert "We have corrected your name." in body and "Granted" in body and "Hello Nguyễn Thị An" in body
    actions = actions_of(app, customer_id)
    assert actions.index("web:data_request:received") < actions.index("console:customer:updated")
    assert actions.index("console:customer:updated") < actions.index("console:data_request:answered")
    with app.app_context():
        event = db.session.execute(
            select(AuditEvent).where(AuditEvent.action == "console:data_request:answered")
        ).scalar_one()
        assert json.loads(event.data) == {
            "request": item.reference,
            "decision": "granted",
            "reason": "Identity checked on the phone.",
            "changed": "name",
            "before": "An Nguyen",
            "after": "Nguyễn Thị An",
        }


def test_language_correction_answer_comes_in_the_new_language(app: Flask, smtp_sink, staff_login) -> None:  # type: ignore[no-untyped-def]
    customer_id = reported_customer(app, "an@example.com")
    client = signed_in(app, "an@example.com")
    assert ask(client, "language", {"corrected_locale": "vi", "reason": "Tôi đọc tiếng Việt."}).status_code == 302
    item = the_request(app, customer_id)
    support = staff_login("support")
    assert decide(support, item.id, "granted", "Asked by the customer.", "Đã đổi ngôn ngữ.").status_code == 302
    with app.app_context():
        customer = db.session.get(Customer, customer_id)
        assert customer is not None and customer.locale == "vi"
    reply = mails(app, smtp_sink, "an@example.com", item.reference or "")[-1]
    assert "Đã đổi ngôn ngữ." in text_of(reply)
    # Rendered in the language just granted (the words themselves wait for the catalogs).
    html = reply.get_body(preferencelist=("html",))
    assert html is not None and '<html lang="vi"' in str(html.get_content())


def test_report_text_correction_keeps_the_original(app: Flask, smtp_sink, staff_login) -> None:  # type: ignore[no-untyped-def]
    customer_id = reported_customer(app, "an@example.com", details="I typed it on a fake page.")
    client = signed_in(app, "an@example.com")
    page = client.get("/account/requests/new/statement", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert "I typed it on a fake page." in page
    with app.app_context():
        report = db.session.execute(select(Report).where(Report.customer_id == customer_id)).scalar_one()
        report_id = report.id
    answer = ask(
        client,
        "statement",
        {
            "statement": f"report:{report_id}",
            "corrected_value": "I typed it on a fake page that looked like yours.",
            "reason": "My words were incomplete.",
        },
    )
    assert answer.status_code == 302, answer.get_data(as_text=True)
    item = the_request(app, customer_id)
    assert item.item == "report_details"

    # A statement is evidence: support cannot decide it, legal can.
    support = staff_login("support")
    refused = decide(support, item.id, "granted", "ok", "ok")
    assert refused.status_code == 403
    legal = staff_login("legal")
    assert (
        decide(
            legal, item.id, "granted", "Adds detail; the original stays.", "Your correction is recorded."
        ).status_code
        == 302
    )

    with app.app_context():
        report = db.session.get(Report, report_id)
        assert report is not None and report.details == "I typed it on a fake page."  # never overwritten
        correction = db.session.execute(select(StatementCorrection)).scalar_one()
        assert correction.report_id == report_id
        assert correction.corrected_text == "I typed it on a fake page that looked like yours."
        event = db.session.execute(
            select(AuditEvent).where(AuditEvent.action == "console:statement:corrected")
        ).scalar_one()
        data = json.loads(event.data)
        assert data["before"] == "I typed it on a fake page." and data["after"].endswith("looked like yours.")
    shown = legal.get(f"/console/data-requests/{item.id}", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert "I typed it on a fake page." in shown and "looked like yours." in shown
    # The incident page shows the correction under the original, which stays as evidence.
    with app.app_context():
        incident_id = db.session.get(Report, report_id).incident_id  # type: ignore[union-attr]
    case = support.get(f"/console/incidents/{incident_id}", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert case.index("I typed it on a fake page.") < case.index("Corrected by the customer")
    assert "looked like yours." in case and item.reference in case
    assert "Your correction is recorded." in text_of(mails(app, smtp_sink, "an@example.com", "Our answer")[-1])


def test_discovery_correction_adds_a_statement_and_reassesses(app: Flask, smtp_sink, staff_login) -> None:  # type: ignore[no-untyped-def]
    customer_id = reported_customer(app, "an@example.com")
    with app.app_context():
        statement = db.session.execute(select(DiscoveryStatement)).scalar_one()
        statement_id, original_time = statement.id, statement.discovered_at
        incident = db.session.execute(select(Incident).where(Incident.customer_id == customer_id)).scalar_one()
        first_received = incident.first_received_at
    client = signed_in(app, "an@example.com")
    # Two days before the report, Vietnam time, typed as the pages show times.
    from zoneinfo import ZoneInfo

    local = (first_received - timedelta(days=2)).astimezone(ZoneInfo("Asia/Ho_Chi_Minh"))
    typed = local.strftime("%d/%m/%Y %H:%M")
    answer = ask(
        client,
        "statement",
        {"statement": f"discovery:{statement_id}", "corrected_time": typed, "reason": "I remembered the day."},
    )
    assert answer.status_code == 302, answer.get_data(as_text=True)
    item = the_request(app, customer_id)
    legal = staff_login("legal")
    assert decide(legal, item.id, "granted", "Matches the call log.", "We recorded your correction.").status_code == 302
    with app.app_context():
        original = db.session.get(DiscoveryStatement, statement_id)
        assert original is not None and original.discovered_at == original_time  # untouched
        statements = db.session.execute(select(DiscoveryStatement).order_by(DiscoveryStatement.id)).scalars().all()
        assert [s.source for s in statements] == ["report_form", "correction"]
        incident = db.session.execute(select(Incident).where(Incident.customer_id == customer_id)).scalar_one()
        assert incident.effective_discovered_at == statements[1].discovered_at
        correction = db.session.execute(select(StatementCorrection)).scalar_one()
        assert correction.discovery_statement_id == statement_id
        assert correction.correcting_statement_id == statements[1].id


def test_erasure_whole_life(app: Flask, smtp_sink, staff_login) -> None:  # type: ignore[no-untyped-def]
    customer_id = reported_customer(app, "an@example.com")
    client = signed_in(app, "an@example.com")
    assert ask(client, "erasure", {"scope": "", "reason": "I closed my account."}).status_code == 302
    item = the_request(app, customer_id)
    support = staff_login("support")
    assert decide(support, item.id, "granted", "x", "y").status_code == 403  # erasure is legal's
    legal = staff_login("legal")
    answered = decide(
        legal, item.id, "granted", "No hold applies.", "We erased your data, as listed below.", confirm="y"
    )
    assert answered.status_code == 302, answered.get_data(as_text=True)
    done = the_request(app, customer_id)
    outcome = json.loads(done.outcome or "{}")
    assert outcome["erased"] and outcome["kept"]
    body = text_of(mails(app, smtp_sink, "an@example.com", "Our answer")[-1])
    assert "We erased your data, as listed below." in body
    assert all(line in body for line in outcome["erased"] + outcome["kept"])
    with app.app_context():
        report = db.session.execute(select(Report).where(Report.customer_id == customer_id)).scalar_one()
        assert report.details == "" and report.reference  # the text went; the proof of the report stays
        customer = db.session.get(Customer, customer_id)
        assert customer is not None and customer.name == "" and customer.email == "an@example.com"


def test_refused_erasure_erases_nothing_and_tells_why(app: Flask, smtp_sink, staff_login) -> None:  # type: ignore[no-untyped-def]
    customer_id = reported_customer(app, "an@example.com")
    client = signed_in(app, "an@example.com")
    assert ask(client, "erasure", {"scope": "Everything", "reason": "I want to leave."}).status_code == 302
    item = the_request(app, customer_id)
    legal = staff_login("legal")
    # Granting an erasure cannot be undone: without the tick it is refused, and nothing typed is lost.
    unconfirmed = decide(legal, item.id, "granted", "No hold.", "Reply kept")
    page = unconfirmed.get_data(as_text=True)
    assert unconfirmed.status_code == 400 and "Tick this box to confirm the erasure." in page and "Reply kept" in page
    assert the_request(app, customer_id).state == "received"
    answer = decide(
        legal, item.id, "refused", "Legal hold: dispute pending.", "We must keep your data while a dispute is open."
    )
    assert answer.status_code == 302
    with app.app_context():
        assert db.session.get(Customer, customer_id) is not None
        assert db.session.execute(select(Report).where(Report.customer_id == customer_id)).scalar_one().details
    body = text_of(mails(app, smtp_sink, "an@example.com", "Our answer")[-1])
    assert "Refused" in body and "dispute is open" in body


def test_withdraw_and_only_own_requests(app: Flask, smtp_sink) -> None:  # type: ignore[no-untyped-def]
    first = reported_customer(app, "an@example.com")
    reported_customer(app, "binh@example.com")
    an = signed_in(app, "an@example.com")
    assert ask(an, "name", {"corrected_value": "An N.", "reason": "Shorter."}).status_code == 302
    item = the_request(app, first)
    binh = signed_in(app, "binh@example.com")
    listing = binh.get("/account/requests", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert item.reference not in listing
    token = csrf_from(listing)
    assert binh.post(f"/account/requests/{item.id}/withdraw", data={"csrf_token": token}).status_code == 404
    assert the_request(app, first).state == "received"
    page = an.get("/account/requests", headers={"Accept-Language": "en"}).get_data(as_text=True)
    withdrawn = an.post(f"/account/requests/{item.id}/withdraw", data={"csrf_token": csrf_from(page)})
    assert withdrawn.status_code == 302
    assert the_request(app, first).state == "withdrawn"
    again = an.post(f"/account/requests/{item.id}/withdraw", data={"csrf_token": csrf_from(page)})
    assert again.status_code == 302 and the_request(app, first).state == "withdrawn"
    assert "web:data_request:withdrawn" in actions_of(app, first)


def test_signed_out_goes_to_login(client: FlaskClient) -> None:
    assert client.get("/account/requests").headers["Location"].endswith("/login")
    assert client.get("/account/requests/new/name").headers["Location"].endswith("/login")


def test_bad_input_keeps_what_was_typed(app: Flask) -> None:
    reported_customer(app, "an@example.com")
    other_id = reported_customer(app, "binh@example.com", details="Binh's own words")
    client = signed_in(app, "an@example.com")
    empty = ask(client, "name", {"corrected_value": "Nguyễn Thị An", "reason": "  "})
    html = empty.get_data(as_text=True)
    assert empty.status_code == 400
    assert "Tell us why you are asking." in html and "Nguyễn Thị An" in html

    with app.app_context():
        others = db.session.execute(select(Report).where(Report.customer_id == other_id)).scalar_one().id
    for key in (f"report:{others}", "report:999999", "discovery:999999", "nonsense"):
        answer = ask(client, "statement", {"statement": key, "corrected_value": "Kept text", "reason": "Because."})
        page = answer.get_data(as_text=True)
        assert answer.status_code == 400, key
        assert "Choose one of your own statements from the list." in page, key
        assert "Kept text" in page and "Because." in page
        assert "Binh&#39;s own words" not in page and "Binh's own words" not in page
    unchanged = ask(client, "name", {"corrected_value": "An Nguyen", "reason": "Same."})
    assert "nothing would change" in unchanged.get_data(as_text=True)
    with app.app_context():
        assert db.session.execute(select(DataRequest)).first() is None


def test_bad_decision_loses_nothing(app: Flask, staff_login) -> None:  # type: ignore[no-untyped-def]
    customer_id = reported_customer(app, "an@example.com")
    client = signed_in(app, "an@example.com")
    ask(client, "name", {"corrected_value": "An N.", "reason": "Shorter."})
    item = the_request(app, customer_id)
    support = staff_login("support")
    answer = decide(support, item.id, "granted", "", "Reply kept here")
    page = answer.get_data(as_text=True)
    assert answer.status_code == 400 and "Give the reason for the decision." in page and "Reply kept here" in page
    partly = decide(support, item.id, "partly_granted", "Half", "Reply")
    assert partly.status_code == 400 and "either granted or refused" in partly.get_data(as_text=True)
    assert the_request(app, customer_id).state == "received"


def test_overdue_filter_and_badge(app: Flask, staff_login) -> None:  # type: ignore[no-untyped-def]
    late_id = reported_customer(app, "an@example.com")
    fresh_id = reported_customer(app, "binh@example.com")
    for address in ("an@example.com", "binh@example.com"):
        ask(signed_in(app, address), "erasure", {"scope": "", "reason": "Please."})
    late = the_request(app, late_id)
    fresh = the_request(app, fresh_id)
    with app.app_context():
        row = db.session.get(DataRequest, late.id)
        assert row is not None
        row.received_at -= timedelta(days=5)
        row.due_at -= timedelta(days=5)
        db.session.commit()
    legal = staff_login("legal")
    overdue = legal.get("/console/data-requests?overdue=1", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert late.reference in overdue and fresh.reference not in overdue
    assert "clock-overdue" in overdue and "Overdue since" in overdue
    everything = legal.get("/console/data-requests?kind=erasure", headers={"Accept-Language": "en"}).get_data(
        as_text=True
    )
    assert late.reference in everything and fresh.reference in everything
    assert everything.index(late.reference or "") < everything.index(fresh.reference or "")  # most urgent first
    corrections = legal.get("/console/data-requests?kind=correction").get_data(as_text=True)
    assert late.reference not in corrections


def test_staff_enter_a_request_by_phone(app: Flask, smtp_sink, staff_login) -> None:  # type: ignore[no-untyped-def]
    customer_id = reported_customer(app, "an@example.com")
    with app.app_context():
        incident = db.session.execute(select(Incident).where(Incident.customer_id == customer_id)).scalar_one()
        reference = incident.customer_reference
    support = staff_login("support")
    form = {
        "customer": reference or "",
        "channel": "phone",
        "received_at": "32/13/2026 25:00",
        "kind": "access",
        "item": "",
        "corrected_locale": "",
        "scope": "A copy of everything",
        "reason": "Wants to see what we hold.",
    }
    bad = submit(support, "/console/data-requests/new", form, headers={"Accept-Language": "en"})
    page = bad.get_data(as_text=True)
    assert bad.status_code == 400 and "DD/MM/YYYY HH:MM" in page and "Wants to see what we hold." in page
    yesterday = (utcnow() - timedelta(days=1)).astimezone(__import__("zoneinfo").ZoneInfo("Asia/Ho_Chi_Minh"))
    form["received_at"] = yesterday.strftime("%d/%m/%Y %H:%M")
    done = submit(support, "/console/data-requests/new", form, headers={"Accept-Language": "en"})
    assert done.status_code == 302, done.get_data(as_text=True)
    item = the_request(app, customer_id)
    assert (item.channel, item.kind, item.entered_by) == ("phone", "access", "support1@ecc.example")
    assert abs((item.due_at - item.received_at) - timedelta(days=3)) < timedelta(seconds=1)
    assert item.received_at < item.recorded_at - timedelta(hours=20)
    assert mails(app, smtp_sink, "an@example.com", item.reference or "")
    unknown = submit(
        support,
        "/console/data-requests/new",
        {**form, "customer": "nobody@example.com"},
        headers={"Accept-Language": "en"},
    )
    assert unknown.status_code == 400 and "No customer has this address or reference." in unknown.get_data(as_text=True)
    assert "console:data_request:received" in actions_of(app, customer_id)


def test_start_then_answer_access(app: Flask, smtp_sink, staff_login) -> None:  # type: ignore[no-untyped-def]
    customer_id = reported_customer(app, "an@example.com")
    support = staff_login("support")
    submit(
        support,
        "/console/data-requests/new",
        {
            "customer": "an@example.com",
            "channel": "post",
            "received_at": (utcnow() - timedelta(hours=2))
            .astimezone(__import__("zoneinfo").ZoneInfo("Asia/Ho_Chi_Minh"))
            .strftime("%d/%m/%Y %H:%M"),
            "kind": "access",
            "reason": "Letter of 1 December.",
        },
    )
    item = the_request(app, customer_id)
    page = support.get(f"/console/data-requests/{item.id}").get_data(as_text=True)
    started = support.post(f"/console/data-requests/{item.id}/start", data={"csrf_token": csrf_from(page)})
    assert started.status_code == 302 and the_request(app, customer_id).state == "in_progress"
    answer = decide(support, item.id, "granted", "Identity checked.", "Download it all from your account.")
    assert answer.status_code == 302
    assert "Download it all from your account." in text_of(mails(app, smtp_sink, "an@example.com", "Our answer")[-1])
    actions = actions_of(app, customer_id)
    assert actions.index("console:data_request:started") < actions.index("console:data_request:answered")


def test_roles_see_the_queue_but_the_customer_never_does(app: Flask, staff_login) -> None:  # type: ignore[no-untyped-def]
    for role in ("support", "legal", "admin"):
        assert staff_login(role).get("/console/data-requests").status_code == 200
    assert app.test_client().get("/console/data-requests").status_code == 302
    assert re.search(r"/console/login", app.test_client().get("/console/data-requests").headers["Location"])


@pytest.mark.settings(RATELIMIT_ENABLED=True, LIMIT_REPORT_PER_IP="2 per minute")
def test_a_customer_cannot_flood_the_queue(app: Flask) -> None:
    """Each request emails the customer and gives staff a deadline: limited per customer, whatever the IP."""
    reported_customer(app, "an@example.com")
    client = signed_in(app, "an@example.com")
    statuses = []
    for number in range(3):
        page = client.get("/account/requests/new/name", headers={"Accept-Language": "en"}).get_data(as_text=True)
        answer = client.post(
            "/account/requests/new/name",
            data={"corrected_value": f"An {number}", "reason": "Typo", "csrf_token": csrf_from(page)},
            environ_base={"REMOTE_ADDR": f"10.0.2.{number}"},
        )
        statuses.append(answer.status_code)
    assert statuses[2] == 429 and statuses[:2] != [429, 429]
