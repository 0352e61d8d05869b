"""Changing the address on record (issue 16): re-authenticated, refused during an open incident,
confirmed from both addresses through single-use links read out of real mail, sessions ended, the old
address told with a working report link, and the old address still reporting afterwards."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from email.message import EmailMessage

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from incident_service.audit.models import AuditEvent
from incident_service.customers.models import Customer
from incident_service.database import utcnow
from incident_service.email_change.models import EmailChange, PreviousAddress
from incident_service.email_change.service import OPEN_INCIDENT, EmailChangeRefused, check_email_change
from incident_service.extensions import db
from incident_service.incidents.models import STATUS_REACTIVATED, Incident, Report
from incident_service.intake.service import Envelope, record_message
from incident_service.notifications.models import OutboxMessage
from tests.helpers import PASSWORD, csrf_from, deliver, links_in, main_of, make_customer, path_of, submit

OLD = "an@example.com"
NEW = "an.moi@example.org"
TIME_RE = re.compile(r"\d\d:\d\d:\d\d - \d\d/\d\d/\d{4}")
CONFIRM_RE = re.compile(r"https://security\.ecc\.example/account/email/confirm/[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-.]+")


@pytest.fixture(autouse=True)
def pages_in_english(app, monkeypatch):  # type: ignore[no-untyped-def]
    """The pages' words are read in English here (their Vietnamese is checked by the browser tests)."""
    make = app.test_client

    def client(*args, **kwargs):  # type: ignore[no-untyped-def]
        made = make(*args, **kwargs)
        made.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
        return made

    monkeypatch.setattr(app, "test_client", client)


def text_of(message: EmailMessage) -> str:
    body = message.get_body(preferencelist=("plain",))
    assert body is not None
    return str(body.get_content())


def confirm_link(message: EmailMessage) -> str:
    found = CONFIRM_RE.findall(text_of(message))
    assert len(found) == 1, text_of(message)
    return str(found[0])


def sign_in(client: FlaskClient, address: str = OLD, password: str = PASSWORD) -> None:
    answer = submit(client, "/login", {"email": address, "password": password})
    assert answer.status_code == 302, answer.get_data(as_text=True)


def ask(client: FlaskClient, new: str = NEW, password: str = PASSWORD):  # type: ignore[no-untyped-def]
    return submit(client, "/account/email", {"new_email": new, "password": password})


def open_link(app: Flask, url: str) -> tuple[FlaskClient, str]:
    """A fresh browser opening the link from the email: GET moves the token out of the URL (T4)."""
    browser = app.test_client()
    moved = browser.get(path_of(url))
    assert moved.status_code == 302 and moved.headers["Location"] == "/account/email/confirm"
    page = browser.get("/account/email/confirm")
    return browser, page.get_data(as_text=True)


def press(browser: FlaskClient, action: str):  # type: ignore[no-untyped-def]
    """POST the confirm or cancel button of the page the browser is on."""
    return submit(browser, f"/account/email/{action}", {}, form_url="/account/email/confirm")


def actions_of(app: Flask, customer_id: int) -> list[str]:
    with app.app_context():
        return list(
            db.session.execute(
                select(AuditEvent.action).where(AuditEvent.customer_id == customer_id).order_by(AuditEvent.id)
            ).scalars()
        )


def address_of(app: Flask, customer_id: int) -> str:
    with app.app_context():
        customer = db.session.get(Customer, customer_id)
        assert customer is not None
        return customer.email


@pytest.fixture
def an(app: Flask) -> int:
    return make_customer(app, OLD, locale="en", name="An")


def requested(app: Flask, smtp_sink, an: int) -> tuple[FlaskClient, str, str]:  # type: ignore[no-untyped-def]
    """Signed in, asked for the change; the two confirmation links read out of the delivered mail."""
    client = app.test_client()
    sign_in(client)
    answer = ask(client)
    assert answer.status_code == 200
    deliver(app)
    return client, confirm_link(smtp_sink.to(OLD)[-1]), confirm_link(smtp_sink.to(NEW)[-1])


def test_the_change_needs_both_addresses_then_ends_sessions_and_tells_the_old_one(app, smtp_sink, an) -> None:  # type: ignore[no-untyped-def]
    client, old_link, new_link = requested(app, smtp_sink, an)
    page = main_of(client.get("/account/email").get_data(as_text=True))
    assert "waiting for confirmation" in page  # the pending change is shown

    # The current address's mail shows the new address masked, never in full.
    old_mail = text_of(smtp_sink.to(OLD)[-1])
    assert NEW not in old_mail and "a•••••@example.org" in old_mail
    assert "This was not me" in old_mail

    # New side first: nothing changes yet.
    browser_new, shown = open_link(app, new_link)
    assert NEW in shown and OLD not in shown  # its own address in full, the other masked
    assert press(browser_new, "confirm").status_code == 302
    assert address_of(app, an) == OLD
    assert "Confirmed from this address" in browser_new.get("/account/email/confirm").get_data(as_text=True)

    # Old side: now it is made.
    browser_old, shown = open_link(app, old_link)
    done = press(browser_old, "confirm")
    assert done.status_code == 302 and done.headers["Location"] == "/account/email/result"
    assert "Your email address has been changed" in browser_old.get("/account/email/result").get_data(as_text=True)
    assert address_of(app, an) == NEW

    # Every session ended: the one that asked is signed out.
    assert client.get("/account").headers["Location"].endswith("/login")
    sign_in(app.test_client(), NEW)

    with app.app_context():
        previous = db.session.execute(select(PreviousAddress)).scalar_one()
        assert (previous.customer_id, previous.address) == (an, OLD)
        change = db.session.execute(select(EmailChange)).scalar_one()
        assert change.state == "done" and change.confirmed_old_at and change.confirmed_new_at
    actions = actions_of(app, an)
    assert actions.count("web:email_change:confirmed") == 2
    for action in ("web:email_change:requested", "web:email_change:completed", "web:sessions:revoked"):
        assert action in actions

    # Both addresses told; the old one with the customer's report link, which still works.
    deliver(app)
    told_old = smtp_sink.to(OLD)[-1]
    assert "was changed" in told_old["Subject"] and NEW not in text_of(told_old)
    report_url = links_in(told_old)["r"]
    assert app.test_client().get(path_of(report_url)).status_code == 200
    told_new = smtp_sink.to(NEW)[-1]
    assert "now the email address" in told_new["Subject"]
    assert not CONFIRM_RE.search(text_of(told_new))

    # Each link works once: both are dead now.
    for link in (old_link, new_link):
        browser = app.test_client()
        browser.get(path_of(link))
        assert browser.get("/account/email/confirm").status_code == 400


def test_an_email_from_the_old_address_reaches_the_customer(app, smtp_sink, an) -> None:  # type: ignore[no-untyped-def]
    _client, old_link, new_link = requested(app, smtp_sink, an)
    for link in (old_link, new_link):
        browser, _page = open_link(app, link)
        press(browser, "confirm")
    deliver(app)
    before = len(smtp_sink.to(OLD))
    raw = (
        f"From: An <{OLD}>\r\nTo: security@ecc.example\r\nSubject: my password leaked\r\n"
        "Message-ID: <old-address-report@example.com>\r\nDate: Mon, 30 Nov 2026 09:00:00 +0700\r\n\r\n"
        "Someone has my password.\r\n"
    ).encode()
    with app.app_context():
        status = record_message(
            raw,
            envelope=Envelope(mail_from=OLD, rcpt_tos=["security@ecc.example"], peer="203.0.113.5:4000"),
            via="smtp",
            now=utcnow(),
        )
        assert status == "reported"
        report = db.session.execute(select(Report)).scalar_one()
        assert report.customer_id == an and report.incident_id is not None
        incident = db.session.get(Incident, report.incident_id)
        assert incident is not None and incident.status == STATUS_REACTIVATED
        event = db.session.execute(select(AuditEvent).where(AuditEvent.action == "email:report:received")).scalar_one()
        assert json.loads(event.data)["previous_address"] is True
        templates = {(row.template, row.to_address) for row in db.session.execute(select(OutboxMessage)).scalars()}
        assert ("acknowledgement", NEW) in templates  # the reset link: to the address on record only
        assert ("previous_address_report", OLD) in templates
    deliver(app)
    # The old address hears that its report arrived and where the link went, with no link at all.
    notice = smtp_sink.to(OLD)[before:]
    assert len(notice) == 1 and not links_in(notice[0]) and not CONFIRM_RE.search(text_of(notice[0]))
    assert "current email address of the account" in text_of(notice[0])
    assert "reset" in links_in(smtp_sink.to(NEW)[-1])

    # Staff see the previous address, and that the report came from it.
    with app.app_context():
        incident_id = db.session.execute(select(Incident.id)).scalar_one()
    staff_page = _staff_incident_page(app, incident_id)
    assert OLD in staff_page and "from a previous address" in staff_page and "Previous addresses" in staff_page


def _staff_incident_page(app: Flask, incident_id: int) -> str:
    from tests.console.conftest import enrol, make_staff

    make_staff(app, "support1@ecc.example", "support")
    staff = app.test_client()
    enrol(staff, "support1@ecc.example")
    return staff.get(f"/console/incidents/{incident_id}").get_data(as_text=True)


def test_the_report_form_matches_a_previous_address_for_a_while(app, an) -> None:  # type: ignore[no-untyped-def]
    with app.app_context():
        customer = db.session.get(Customer, an)
        assert customer is not None
        customer.email = NEW
        db.session.add(PreviousAddress(customer_id=an, address=OLD, recorded_since=utcnow(), replaced_at=utcnow()))
        db.session.add(
            PreviousAddress(
                customer_id=an,
                address="long.ago@example.com",
                recorded_since=utcnow() - timedelta(days=400),
                replaced_at=utcnow() - timedelta(days=91),  # PREVIOUS_ADDRESS_DAYS is 90
            )
        )
        db.session.commit()
    submit(app.test_client(), "/report", {"email": OLD.upper(), "kind": "lost"})
    submit(app.test_client(), "/report", {"email": "long.ago@example.com", "kind": "lost"})
    with app.app_context():
        matched = dict(db.session.execute(select(Report.address_normalized, Report.customer_id)).all())
    assert matched == {OLD: an, "long.ago@example.com": None}


def test_refused_while_an_incident_is_open(app, an) -> None:  # type: ignore[no-untyped-def]
    # A report locks the password and ends every session, so the customer cannot even get here ...
    client = app.test_client()
    sign_in(client)
    submit(app.test_client(), "/report", {"email": OLD, "kind": "stolen"})
    assert client.get("/account/email").headers["Location"].endswith("/login")
    with app.app_context():
        customer = db.session.get(Customer, an)
        assert customer is not None
        with pytest.raises(EmailChangeRefused) as refused:
            check_email_change(customer, NEW, PASSWORD)
        assert refused.value.code == OPEN_INCIDENT


def test_an_open_incident_found_at_the_page_is_explained(app, an) -> None:  # type: ignore[no-untyped-def]
    # ... and should an open incident coexist with a session (an incident opened by a path that did not
    # lock, e.g. data carried over from another system), the page refuses and says whom to contact.
    client = app.test_client()
    sign_in(client)
    with app.app_context():
        now = utcnow()
        db.session.add(
            Incident(
                customer_id=an, status=STATUS_REACTIVATED, opened_at=now, first_received_at=now, late_threshold_hours=24
            )
        )
        db.session.commit()
    page = client.get("/account/email")
    text = page.get_data(as_text=True)
    assert page.status_code == 200 and "cannot be changed now" in text and "security@ecc.example" in text
    assert 'name="new_email"' not in text
    answer = client.post("/account/email", data={"new_email": NEW, "password": PASSWORD, "csrf_token": _csrf(client)})
    assert answer.status_code == 409 and "cannot be changed now" in answer.get_data(as_text=True)
    assert "web:email_change:refused" in actions_of(app, an)
    with app.app_context():
        assert db.session.execute(select(EmailChange)).first() is None


def _csrf(client: FlaskClient) -> str:
    return csrf_from(client.get("/account").get_data(as_text=True))


def test_a_report_during_a_pending_change_kills_its_links(app, smtp_sink, an) -> None:  # type: ignore[no-untyped-def]
    _client, old_link, _new_link = requested(app, smtp_sink, an)
    submit(app.test_client(), "/report", {"email": OLD, "kind": "stolen"})
    browser = app.test_client()
    browser.get(path_of(old_link))
    assert browser.get("/account/email/confirm").status_code == 400
    assert address_of(app, an) == OLD


def test_wrong_password_is_refused_precisely_and_keeps_the_address(app, smtp_sink, an) -> None:  # type: ignore[no-untyped-def]
    client = app.test_client()
    sign_in(client)
    answer = ask(client, password="not my password at all")
    page = answer.get_data(as_text=True)
    assert answer.status_code == 400
    assert "The password is not correct" in page and f'value="{NEW}"' in page
    assert "web:email_change:refused" in actions_of(app, an)
    deliver(app)
    assert smtp_sink.to(NEW) == [] and not any("Confirm" in m["Subject"] for m in smtp_sink.to(OLD))


@pytest.mark.settings(RATELIMIT_ENABLED=True, LIMIT_SIGN_IN_PER_ACCOUNT="3 per hour")
def test_wrong_passwords_are_limited_per_account_as_at_sign_in(app, an) -> None:  # type: ignore[no-untyped-def]
    client = app.test_client()
    sign_in(client)
    statuses = []
    for number in range(4):
        page = client.get("/account/email").get_data(as_text=True)
        answer = client.post(
            "/account/email",
            data={"new_email": NEW, "password": "guessing again", "csrf_token": csrf_from(page)},
            environ_base={"REMOTE_ADDR": f"10.0.1.{number}"},  # another IP each time: the bucket is the account
        )
        statuses.append(answer.status_code)
    assert statuses == [400, 400, 400, 429]


@pytest.mark.parametrize(
    ("typed", "message"),
    [("not an address", "Enter an email address"), (OLD.upper(), "already the email address of your account")],
)
def test_the_new_address_is_checked(app, an, typed: str, message: str) -> None:  # type: ignore[no-untyped-def]
    client = app.test_client()
    sign_in(client)
    answer = ask(client, new=typed)
    assert answer.status_code == 400 and message in answer.get_data(as_text=True)


def test_an_expired_link_is_refused(app, smtp_sink, an) -> None:  # type: ignore[no-untyped-def]
    _client, old_link, _new_link = requested(app, smtp_sink, an)
    with app.app_context():
        change = db.session.execute(select(EmailChange)).scalar_one()
        change.expires_at = utcnow() - timedelta(seconds=1)
        db.session.commit()
    browser = app.test_client()
    browser.get(path_of(old_link))
    assert browser.get("/account/email/confirm").status_code == 400


@pytest.mark.settings(EMAIL_CHANGE_LINK_MAX_AGE_SECONDS=60)
def test_links_carry_the_configured_expiry(app, smtp_sink, an) -> None:  # type: ignore[no-untyped-def]
    requested(app, smtp_sink, an)
    with app.app_context():
        change = db.session.execute(select(EmailChange)).scalar_one()
        assert change.expires_at - change.created_at == timedelta(seconds=60)


def test_cancel_from_the_old_address(app, smtp_sink, an) -> None:  # type: ignore[no-untyped-def]
    _client, old_link, new_link = requested(app, smtp_sink, an)
    browser, page = open_link(app, old_link)
    assert "This was not me" in page
    cancelled = press(browser, "cancel")
    text = cancelled.get_data(as_text=True)
    assert cancelled.status_code == 200 and "has been cancelled" in text
    assert re.search(r'href="https://security\.ecc\.example/r/[^"]+"', text)  # report the password
    assert "web:email_change:cancelled" in actions_of(app, an)
    # The new side can no longer confirm.
    browser_new = app.test_client()
    browser_new.get(path_of(new_link))
    assert browser_new.get("/account/email/confirm").status_code == 400
    assert address_of(app, an) == OLD


def test_cancel_still_works_after_the_old_side_confirmed(app, smtp_sink, an) -> None:  # type: ignore[no-untyped-def]
    # Someone with the password and the mailbox confirmed; the owner, reading the mail later, still can stop it.
    _client, old_link, new_link = requested(app, smtp_sink, an)
    browser, _page = open_link(app, old_link)
    press(browser, "confirm")
    assert press(browser, "confirm").status_code == 400  # a side confirms once
    owner, page = open_link(app, old_link)
    assert "Confirmed from this address" in page and 'action="/account/email/confirm"' not in page
    assert press(owner, "cancel").status_code == 200
    browser_new = app.test_client()
    browser_new.get(path_of(new_link))
    assert browser_new.get("/account/email/confirm").status_code == 400
    assert address_of(app, an) == OLD


def test_a_new_request_replaces_the_pending_one(app, smtp_sink, an) -> None:  # type: ignore[no-untyped-def]
    client, first_old, _first_new = requested(app, smtp_sink, an)
    assert ask(client, new="another@example.net").status_code == 200
    browser = app.test_client()
    browser.get(path_of(first_old))
    assert browser.get("/account/email/confirm").status_code == 400
    with app.app_context():
        states = sorted(db.session.execute(select(EmailChange.state)).scalars())
    assert states == ["pending", "replaced"]


def test_another_customers_address_is_not_revealed(app, smtp_sink, an) -> None:  # type: ignore[no-untyped-def]
    make_customer(app, "binh@example.com", locale="en", name="Bình")
    client = app.test_client()
    sign_in(client)
    free = ask(client, new="free@example.net")
    taken = ask(client, new="binh@example.com")

    # The requester sees the same answer, but for the address they typed (and the expiry's second).
    def shape(answer, typed: str) -> str:  # type: ignore[no-untyped-def]
        return TIME_RE.sub("T", main_of(answer.get_data(as_text=True)).replace(typed, "X"))

    assert free.status_code == taken.status_code == 200
    assert shape(free, "free@example.net") == shape(taken, "binh@example.com")
    deliver(app)
    # The current address gets its link, as always; the owner of the other address gets a notice, no link.
    old_link = confirm_link(smtp_sink.to(OLD)[-1])
    notice = smtp_sink.to("binh@example.com")
    assert len(notice) == 1 and "already has an account" in notice[0]["Subject"]
    assert not CONFIRM_RE.search(text_of(notice[0]))
    browser, _page = open_link(app, old_link)
    assert press(browser, "confirm").status_code == 302  # confirmed, waiting for a confirmation that never comes
    assert address_of(app, an) == OLD


def test_signed_out_customers_are_sent_to_sign_in(client) -> None:  # type: ignore[no-untyped-def]
    assert client.get("/account/email").headers["Location"].endswith("/login")


def test_confirmation_tokens_stay_out_of_logs() -> None:
    from incident_service.logging_redaction import redact

    line = redact("GET /account/email/confirm/eyJjIjoxfQ.secret-token-part HTTP/1.1")
    assert line == "GET /account/email/confirm/[redacted] HTTP/1.1"
