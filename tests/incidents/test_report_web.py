"""`/report` and `/r/<token>`: stored before answered, identical for unknown addresses, one incident."""

from __future__ import annotations

import re
import threading
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from incident_service.assessment.models import DiscoveryStatement
from incident_service.customers.models import Customer
from incident_service.database import utcnow
from incident_service.extensions import db
from incident_service.incidents.models import Incident, Report
from incident_service.notifications.models import OutboxMessage
from incident_service.notifications.service import customer_report_url
from incident_service.reactivation.models import ResetGrant
from tests.helpers import csrf_from, make_customer, path_of, submit

VARIABLE = re.compile(r"RPT-\d{4}-\d{6}|\d\d:\d\d:\d\d - \d\d/\d\d/\d{4}")


def count(model) -> int:  # type: ignore[no-untyped-def]
    return db.session.scalar(select(func.count()).select_from(model))


def test_report_for_known_address_reactivates(app, client, customer_id) -> None:  # type: ignore[no-untyped-def]
    with app.app_context():
        stamp_before = db.session.get(Customer, customer_id).security_stamp
    answer = submit(client, "/report", {"email": "an@example.com", "kind": "phished"})
    # Post/redirect/get: the receipt is a page of its own, so reloading it does not report again.
    assert answer.status_code == 303 and answer.headers["Location"] == "/report/received"
    receipt = client.get("/report/received")
    assert receipt.status_code == 200 and "RPT-" in receipt.get_data(as_text=True)
    # The same receipt again; only the page's CSRF token may differ (it is signed with the second it was made).
    again = client.get("/report/received").get_data(as_text=True)
    first = receipt.get_data(as_text=True)
    assert again.replace(csrf_from(again), "") == first.replace(csrf_from(first), "")
    with app.app_context():
        customer = db.session.get(Customer, customer_id)
        assert customer.credential_state == "locked"
        assert customer.security_stamp != stamp_before
        incident = db.session.execute(select(Incident)).scalar_one()
        assert incident.status == "reactivated" and re.fullmatch(r"INC-\d{4}-\d{6}", incident.reference)
        report = db.session.execute(select(Report)).scalar_one()
        assert report.incident_id == incident.id and report.channel == "web" and report.kind == "phished"
        assert abs(report.received_at - utcnow()) < timedelta(seconds=5)
        assert count(ResetGrant) == 1
        message = db.session.execute(select(OutboxMessage)).scalar_one()
        assert message.to_address == "an@example.com" and message.template == "acknowledgement"


def test_known_and_unknown_answer_alike(app, customer_id) -> None:  # type: ignore[no-untyped-def]
    clients, redirects = [app.test_client(), app.test_client()], []
    for client, address in zip(clients, ("an@example.com", "nobody@example.com"), strict=True):
        redirects.append(submit(client, "/report", {"email": address, "kind": "lost", "details": "x"}))
    assert [answer.status_code for answer in redirects] == [303, 303]
    assert redirects[0].headers["Location"] == redirects[1].headers["Location"]
    # The session each carries holds the same things: a receipt, with nothing about the account.
    serializer = app.session_interface.get_signing_serializer(app)
    sessions = [serializer.loads(answer.headers["Set-Cookie"].split(";")[0].split("=", 1)[1]) for answer in redirects]
    assert (
        sessions[0].keys() == sessions[1].keys()
        and sessions[0]["report_receipt"].keys()
        == {
            "reference",
            "received_at",
        }
        == sessions[1]["report_receipt"].keys()
    )
    known, unknown = (client.get("/report/received") for client in clients)
    assert known.status_code == unknown.status_code == 200
    assert sorted(known.headers.keys()) == sorted(unknown.headers.keys())
    for name in ("Content-Type", "Content-Security-Policy", "Cache-Control", "Referrer-Policy"):
        assert known.headers[name] == unknown.headers[name]
    assert ("Set-Cookie" in known.headers) == ("Set-Cookie" in unknown.headers)
    body_known = VARIABLE.sub("#", known.get_data(as_text=True))
    body_unknown = VARIABLE.sub("#", unknown.get_data(as_text=True))
    # Identical apart from the reference and the time (and the per-session CSRF token in the page).
    strip_csrf = re.compile(r'name="csrf_token" value="[^"]+"')
    assert strip_csrf.sub("", body_known) == strip_csrf.sub("", body_unknown)
    with app.app_context():
        unmatched = db.session.execute(select(Report).where(Report.customer_id.is_(None))).scalar_one()
        assert unmatched.claimed_address == "nobody@example.com" and unmatched.incident_id is None
        assert count(OutboxMessage) == 1  # no email for the unknown address


def test_invalid_address_is_refused_with_a_reason(app, client) -> None:  # type: ignore[no-untyped-def]
    answer = submit(client, "/report", {"email": "not an address", "kind": "lost"})
    assert answer.status_code == 400
    assert 'aria-invalid="true"' in answer.get_data(as_text=True)
    with app.app_context():
        assert count(Report) == 0


def test_missing_csrf_is_refused(app, client, customer_id) -> None:  # type: ignore[no-untyped-def]
    answer = client.post("/report", data={"email": "an@example.com", "kind": "lost"})
    assert answer.status_code == 400
    with app.app_context():
        assert count(Report) == 0
        assert db.session.get(Customer, customer_id).credential_state == "active"


def test_client_cannot_set_received_at(app, client, customer_id) -> None:  # type: ignore[no-untyped-def]
    submit(client, "/report", {"email": "an@example.com", "kind": "lost", "received_at": "2020-01-01T00:00"})
    with app.app_context():
        report = db.session.execute(select(Report)).scalar_one()
        assert report.received_at.year == utcnow().year


def test_discovery_time_on_the_form_is_a_statement(app, client, customer_id) -> None:  # type: ignore[no-untyped-def]
    # 08:30 in Ho Chi Minh City yesterday = 01:30 UTC.
    yesterday = (utcnow() - timedelta(days=1)).date()
    submit(
        client,
        "/report",
        {"email": "an@example.com", "kind": "stolen", "discovered_at": f"{yesterday.isoformat()}T08:30"},
    )
    with app.app_context():
        statement = db.session.execute(select(DiscoveryStatement)).scalar_one()
        assert statement.discovered_at.hour == 1 and statement.discovered_at.minute == 30
        assert statement.source == "report_form"
        incident = db.session.execute(select(Incident)).scalar_one()
        assert incident.effective_discovered_at == statement.discovered_at
        assert incident.reporting_delay_seconds is not None
        assert incident.lateness in ("late", "on_time")


def test_discovery_in_the_future_is_refused(app, client, customer_id) -> None:  # type: ignore[no-untyped-def]
    tomorrow = (utcnow() + timedelta(days=2)).date()
    answer = submit(
        client,
        "/report",
        {"email": "an@example.com", "kind": "stolen", "discovered_at": f"{tomorrow.isoformat()}T08:30"},
    )
    assert answer.status_code == 400
    with app.app_context():
        assert count(Report) == 0


def test_report_link_fixes_the_address(app, client, customer_id) -> None:  # type: ignore[no-untyped-def]
    with app.test_request_context():
        link = path_of(customer_report_url(db.session.get(Customer, customer_id)))
    page = client.get(link)
    assert page.status_code == 200 and "an@example.com" not in page.get_data(as_text=True)
    answer = client.post(
        link,
        data={"kind": "suspicious_activity", "csrf_token": csrf_from(page.get_data(as_text=True))},
        headers={"Accept-Language": "en"},
        follow_redirects=True,
    )
    assert answer.status_code == 200 and answer.request.path == "/report/received"
    with app.app_context():
        assert db.session.execute(select(Report)).scalar_one().customer_id == customer_id
        grant = db.session.execute(select(ResetGrant)).scalar_one()
    # The customer's own link: no hedging. Where the link went (masked) and until when it works.
    receipt = answer.get_data(as_text=True)
    assert "If the address you gave belongs to an account" not in receipt
    assert "a•@example.com" in receipt and "an@example.com" not in receipt
    with app.test_request_context():
        from incident_service.i18n import format_local

        assert f"The link works once, until {format_local(grant.expires_at)}" in receipt.replace("&#39;", "'")
    # Reporting again within minutes: the earlier link is the one to use, and the page says so.
    again = client.post(
        link,
        data={"kind": "stolen", "csrf_token": csrf_from(client.get(link).get_data(as_text=True))},
        headers={"Accept-Language": "en"},
        follow_redirects=True,
    )
    assert "still works, so we did not send another" in again.get_data(as_text=True)


def test_bad_report_link_is_refused_plainly(client) -> None:  # type: ignore[no-untyped-def]
    assert client.get("/r/not-a-token").status_code == 400


def test_second_report_joins_the_open_incident_and_is_throttled(app, customer_id) -> None:  # type: ignore[no-untyped-def]
    for _ in range(3):
        submit(app.test_client(), "/report", {"email": "an@example.com", "kind": "lost"})
    with app.app_context():
        assert count(Incident) == 1 and count(Report) == 3
        assert count(OutboxMessage) == 1  # re-sent at most once per window
        assert (
            db.session.scalar(
                select(func.count())
                .select_from(ResetGrant)
                .where(ResetGrant.revoked_at.is_(None), ResetGrant.used_at.is_(None))
            )
            == 1
        )


def test_report_after_window_resends_a_fresh_link(app, customer_id) -> None:  # type: ignore[no-untyped-def]
    submit(app.test_client(), "/report", {"email": "an@example.com", "kind": "lost"})
    with app.app_context():  # the link went out longer ago than the resend window
        grant = db.session.execute(select(ResetGrant)).scalar_one()
        grant.issued_at = utcnow() - timedelta(seconds=app.config["LINK_RESEND_WINDOW_SECONDS"] + 1)
        db.session.commit()
    submit(app.test_client(), "/report", {"email": "an@example.com", "kind": "lost"})
    with app.app_context():
        assert count(OutboxMessage) == 2
        grants = db.session.execute(select(ResetGrant).order_by(ResetGrant.id)).scalars().all()
        assert len(grants) == 2 and grants[0].revoked_at is not None and grants[1].revoked_at is None


@pytest.mark.real_commits  # twenty requests race in threads, each on its own connection
def test_concurrent_reports_give_one_incident(app, customer_id) -> None:  # type: ignore[no-untyped-def]
    clients = [app.test_client() for _ in range(20)]
    tokens = [csrf_from(c.get("/report").get_data(as_text=True)) for c in clients]
    barrier = threading.Barrier(20)
    statuses: list[int] = []

    def send(client, token) -> None:  # type: ignore[no-untyped-def]
        barrier.wait()
        statuses.append(
            client.post("/report", data={"email": "an@example.com", "kind": "stolen", "csrf_token": token}).status_code
        )

    threads = [threading.Thread(target=send, args=pair) for pair in zip(clients, tokens, strict=False)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert statuses == [303] * 20
    with app.app_context():
        assert count(Report) == 20
        assert count(Incident) == 1
        assert (
            db.session.scalar(
                select(func.count())
                .select_from(ResetGrant)
                .where(ResetGrant.revoked_at.is_(None), ResetGrant.used_at.is_(None))
            )
            == 1
        )
        assert count(OutboxMessage) == 1
        assert db.session.scalar(select(func.count()).select_from(Report).where(Report.incident_id.is_not(None))) == 20


def test_other_customers_are_untouched(app, client, customer_id) -> None:  # type: ignore[no-untyped-def]
    other = make_customer(app, "binh@example.com")
    submit(client, "/report", {"email": "an@example.com", "kind": "lost"})
    with app.app_context():
        assert db.session.get(Customer, other).credential_state == "active"


@pytest.mark.settings(LINK_RESEND_WINDOW_SECONDS=600)
def test_report_link_while_the_incident_is_open_says_it_is_in_hand(app, client, customer_id) -> None:  # type: ignore[no-untyped-def]
    """Issue 13: opening the report link again while the incident is open does not offer a blank form;
    it says the report is in hand and offers a fresh link, throttled as every other way of asking."""
    with app.test_request_context():
        link = path_of(customer_report_url(db.session.get(Customer, customer_id)))
    english = {"Accept-Language": "en"}
    submit(client, link, {"kind": "stolen"})
    page = client.get(link, headers=english).get_data(as_text=True)
    assert "Your report is already in hand" in page and "a•@example.com" in page and 'name="kind"' not in page
    with app.app_context():
        report = db.session.execute(select(Report)).scalar_one()
    assert report.reference in page

    # Within the resend window: no second email, and the page says to use the newest one.
    resend = link + "/new-link"
    answer = client.post(resend, data={"csrf_token": csrf_from(page)}, headers=english, follow_redirects=True)
    assert "still works: please use the newest email" in answer.get_data(as_text=True)
    assert "you can ask for another from" in answer.get_data(as_text=True)
    with app.app_context():
        assert count(ResetGrant) == 1

    # Something new to add: the form is still one click away.
    assert 'name="kind"' in client.get(link + "?more=1").get_data(as_text=True)


@pytest.mark.settings(LINK_RESEND_WINDOW_SECONDS=0)
def test_a_fresh_link_from_the_in_hand_page(app, client, customer_id) -> None:  # type: ignore[no-untyped-def]
    with app.test_request_context():
        link = path_of(customer_report_url(db.session.get(Customer, customer_id)))
    submit(client, link, {"kind": "stolen"})
    page = client.get(link).get_data(as_text=True)
    answer = client.post(
        link + "/new-link",
        data={"csrf_token": csrf_from(page)},
        headers={"Accept-Language": "en"},
        follow_redirects=True,
    )
    assert "A new link is on its way to a•@example.com" in answer.get_data(as_text=True)
    with app.app_context():
        grants = db.session.execute(select(ResetGrant).order_by(ResetGrant.id)).scalars().all()
        assert len(grants) == 2 and grants[0].revoked_at is not None  # the earlier link no longer works
    assert client.post(link + "/new-link", data={}).status_code == 400  # a button, with its CSRF token


def test_the_receipt_is_kept_for_an_hour_only(app, client, customer_id) -> None:  # type: ignore[no-untyped-def]
    """On a shared browser the next person does not find the last report's receipt."""
    submit(client, "/report", {"email": "an@example.com", "kind": "lost"})
    assert client.get("/report/received").status_code == 200
    with client.session_transaction() as session:
        receipt = session["report_receipt"]
        receipt["received_at"] = (utcnow() - timedelta(hours=2)).isoformat()
        session["report_receipt"] = receipt
    stale = client.get("/report/received")
    assert stale.status_code == 302 and stale.headers["Location"] == "/report"
