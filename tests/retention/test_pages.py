"""The pages of retention (issue 16): legal places and releases a hold from the incident page (support and
admin cannot), everyone who sees the incident sees it held; after a purge the console's evidence, the
incident page and the customer's data page say what was removed, when and under which rule, and the raw
downloads answer 410 with the explanation; /console/retention lists the rules, holds and runs, and its
preview changes nothing."""

from __future__ import annotations

import re

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from incident_service.audit.actions import Source
from incident_service.audit.models import AuditEvent
from incident_service.audit.sequencer import integrate_all
from incident_service.customers.models import Customer
from incident_service.database import utcnow
from incident_service.extensions import db
from incident_service.incidents.models import Incident, Report
from incident_service.intake.models import InboundMessage
from incident_service.retention.models import LegalHold, Tombstone
from incident_service.retention.service import run_retention
from tests.console.conftest import post_form
from tests.customers.test_account_data import active_again, signed_in
from tests.helpers import make_customer, submit
from tests.retention.test_retention import age, email_report

EN = {"Accept-Language": "en"}
REASON = "Claim 2026/117 from a lawyer: keep everything until the court decides."


def history(app: Flask, address: str) -> int:
    """An English-speaking customer who emailed a report and used the web form; their incident id."""
    make_customer(app, address, locale="en", name=address.split("@")[0])
    email_report(app, address, f"My password for {address} was stolen.")
    submit(app.test_client(), "/report", {"email": address, "kind": "stolen", "details": "Typed on a fake page."})
    with app.app_context():
        return db.session.execute(
            select(Incident.id).join(Customer, Customer.id == Incident.customer_id).where(Customer.email == address)
        ).scalar_one()


def purged(app: Flask, incident_id: int) -> None:
    """Age the incident four years (settled then) and apply the rules, as the daily run does."""
    age(app, incident_id)
    with app.app_context():
        integrate_all()
        run_retention(source=Source.CLI, now=utcnow())
        db.session.commit()


def incident_url(incident_id: int) -> str:
    return f"/console/incidents/{incident_id}"


def place(client: FlaskClient, incident_id: int, reason: str = REASON):  # type: ignore[no-untyped-def]
    url = incident_url(incident_id)
    return post_form(client, url, f"{url}/legal-hold", {"hold_reason": reason}, headers=EN)


def hold_id_in(page: str) -> str:
    found = re.search(r'name="hold_id" type="hidden" value="(\d+)"|value="(\d+)"[^>]*name="hold_id"', page)
    assert found, "the release form names the hold shown"
    return found.group(1) or found.group(2)


def text(answer) -> str:  # type: ignore[no-untyped-def]
    return str(answer.get_data(as_text=True))


def test_legal_places_and_releases_a_hold_and_everyone_who_sees_the_incident_sees_it(app, staff_login) -> None:  # type: ignore[no-untyped-def]
    incident_id = history(app, "an@example.com")
    legal, support = staff_login("legal", "luat@ecc.example"), staff_login("support")
    url = incident_url(incident_id)

    answer = place(legal, incident_id)
    assert answer.status_code == 302 and answer.headers["Location"].endswith(f"{url}#legal-hold")
    page = text(legal.get(url, headers=EN))
    assert "Legal hold placed" in page and 'class="badge badge-hold"' in page and REASON in page
    assert "Release the hold" in page and "Place a legal hold" not in page

    seen = text(support.get(url, headers=EN))
    assert 'class="badge badge-hold"' in seen and REASON in seen and "luat@ecc.example" in seen
    assert "Release the hold" not in seen, "support sees the hold, and no way to change it"
    queue = text(support.get("/console/incidents", headers=EN))
    assert queue.count("badge badge-hold flag") == 1, "the held incident is marked in the queue"

    release = post_form(
        legal,
        url,
        f"{url}/legal-hold/release",
        {"hold_id": hold_id_in(page), "release_reason": "The claim was withdrawn on 2 December."},
        headers=EN,
    )
    assert release.status_code == 302
    page = text(legal.get(url, headers=EN))
    assert 'class="badge badge-hold"' not in page and "Place a legal hold" in page
    assert "Released holds" in page and "The claim was withdrawn on 2 December." in page and REASON in page
    with app.app_context():
        hold = db.session.execute(select(LegalHold)).scalar_one()
        assert hold.released_by == "luat@ecc.example" and not hold.active
        actions = set(
            db.session.execute(select(AuditEvent.action).where(AuditEvent.incident_id == incident_id)).scalars()
        )
        assert {"console:legal_hold:placed", "console:legal_hold:released"} <= actions


def test_support_and_admin_cannot_place_or_release_a_hold(app, staff_login) -> None:  # type: ignore[no-untyped-def]
    incident_id = history(app, "an@example.com")
    url = incident_url(incident_id)
    legal = staff_login("legal")
    assert place(legal, incident_id).status_code == 302
    for role in ("support", "admin"):
        client = staff_login(role)
        assert place(client, incident_id).status_code == 403
        release = post_form(client, url, f"{url}/legal-hold/release", {"release_reason": "no"}, headers=EN)
        assert release.status_code == 403
    with app.app_context():
        assert db.session.execute(select(LegalHold.released_at)).scalar_one() is None


def test_a_hold_without_a_reason_is_refused_with_a_precise_message_and_the_text_kept(app, staff_login) -> None:  # type: ignore[no-untyped-def]
    incident_id = history(app, "an@example.com")
    legal = staff_login("legal")
    answer = place(legal, incident_id, reason="   ")
    page = text(answer)
    assert answer.status_code == 400
    assert "Give the reason for the hold" in page and 'aria-invalid="true"' in page
    assert re.search(r"<details open><summary>Place a legal hold", page), "the form stays open on its error"
    too_long = "x" * 2001
    answer = place(legal, incident_id, reason=too_long)
    assert answer.status_code == 400 and too_long in text(answer), "what was typed is kept"

    url = incident_url(incident_id)
    assert place(legal, incident_id).status_code == 302
    answer = post_form(
        legal,
        url,
        f"{url}/legal-hold/release",
        {"hold_id": hold_id_in(text(legal.get(url))), "release_reason": ""},
        headers=EN,
    )
    assert answer.status_code == 400 and "Give the reason for releasing the hold" in text(answer)
    stale = post_form(
        legal, url, f"{url}/legal-hold/release", {"hold_id": "999", "release_reason": "Settled."}, headers=EN
    )
    assert stale.status_code == 409 and "Settled." in text(stale)
    with app.app_context():
        assert db.session.execute(select(func.count()).select_from(LegalHold)).scalar() == 1
        assert db.session.execute(select(LegalHold.released_at)).scalar_one() is None


def test_after_a_purge_the_pages_say_what_was_removed_when_and_why(app, staff_login) -> None:  # type: ignore[no-untyped-def]
    incident_id = history(app, "an@example.com")
    purged(app, incident_id)
    with app.app_context():
        message_id = db.session.execute(
            select(Report.inbound_message_id).where(Report.incident_id == incident_id, Report.channel == "email")
        ).scalar_one()
        customer_id = db.session.execute(select(Incident.customer_id).where(Incident.id == incident_id)).scalar_one()
        assert db.session.execute(select(func.count()).select_from(Tombstone)).scalar()
    support = staff_login("support")

    page = text(support.get(incident_url(incident_id), headers=EN))
    assert "Removed on " in page and "under the time limit for keeping emails as they were received" in page
    assert "the email as received" in page, "the fields are named in words"
    assert "under the time limit for keeping written text: the details written in the report." in page
    assert "Typed on a fake page." not in page and "Download the raw message (.eml)" not in page

    page = text(support.get(f"/console/messages/{message_id}", headers=EN))
    assert "under the time limit for keeping written text: the subject and the text." in page
    raw = support.get(f"/console/messages/{message_id}/raw", headers=EN)
    assert raw.status_code == 410 and raw.mimetype == "text/html"
    assert "The raw message is no longer kept" in text(raw) and "Removed on " in text(raw)

    active_again(app, customer_id)
    customer = signed_in(app, "an@example.com")
    page = text(customer.get("/account/data", headers=EN))
    assert page.count("Removed on ") >= 2 and "the time limit for keeping written text" in page
    assert "We no longer keep this email as it was received" in page
    assert f"/account/emails/{message_id}.eml" not in page
    raw = customer.get(f"/account/emails/{message_id}.eml", headers=EN)
    assert raw.status_code == 410 and "This email is no longer kept" in text(raw)
    assert raw.headers["Cache-Control"] == "no-store"


def test_the_retention_page_shows_rules_holds_and_runs_to_legal_and_admin_only(app, staff_login) -> None:  # type: ignore[no-untyped-def]
    held, other = history(app, "an@example.com"), history(app, "binh@example.com")
    legal = staff_login("legal", "luat@ecc.example")
    assert place(legal, held).status_code == 302
    app.config["RETENTION_IP_ADDRESS_DAYS"] = 0
    purged(app, other)

    page = text(legal.get("/console/retention", headers=EN))
    assert 'href="/console/retention"' in page, "the tab is in legal's navigation"
    assert "1095 days" in page and "kept for ever" in page and "1825 days" in page
    assert "Always kept" in page and "SHA-256" in page
    assert REASON in page and "luat@ecc.example" in page
    with app.app_context():
        reference = db.session.get(Incident, held).reference
    assert reference in page
    runs = page.split('class="runs"')[1]
    assert "Emails as received" in runs and "Written text" in runs and "command line" in runs
    assert "IP addresses" not in runs, "a rule kept for ever did not run"

    admin = staff_login("admin")
    assert admin.get("/console/retention", headers=EN).status_code == 200
    support = staff_login("support")
    assert support.get("/console/retention", headers=EN).status_code == 403
    assert 'href="/console/retention"' not in text(support.get("/console/incidents", headers=EN))


def snapshot(app: Flask) -> tuple[int, int, int, list[bytes], list[str]]:
    with app.app_context():
        return (
            db.session.execute(select(func.count()).select_from(Tombstone)).scalar_one(),
            db.session.execute(select(func.count()).select_from(AuditEvent)).scalar_one(),
            db.session.execute(select(func.count()).select_from(LegalHold)).scalar_one(),
            [
                bytes(raw)
                for raw in db.session.execute(select(InboundMessage.raw).order_by(InboundMessage.id)).scalars()
            ],
            list(db.session.execute(select(Report.details).order_by(Report.id)).scalars()),
        )


def test_the_preview_counts_what_is_due_and_changes_nothing(app, staff_login) -> None:  # type: ignore[no-untyped-def]
    incident_id = history(app, "an@example.com")
    age(app, incident_id)
    with app.app_context():
        integrate_all()
    before = snapshot(app)
    legal = staff_login("legal")
    after_sign_in = snapshot(app)
    answer = post_form(legal, "/console/retention", "/console/retention/preview", {}, headers=EN)
    page = text(answer)
    assert answer.status_code == 200
    assert "Preview only: nothing was removed." in page
    rows = dict(
        re.findall(
            r'<tr><th scope="row">([^<]+?)(?: <span[^>]*>[^<]*</span>)?</th>\s*<td class="number">(\d+)</td>', page
        )
    )
    assert rows["Emails as received"] == "1" and rows["Written text"] == "1"
    assert snapshot(app) == after_sign_in and before[0] == 0 and before[3:] == after_sign_in[3:]
    assert "The rules have not removed anything yet." in text(legal.get("/console/retention", headers=EN))

    refused = legal.post("/console/retention/preview", data={}, headers=EN)
    assert refused.status_code in (302, 400)
    assert snapshot(app) == after_sign_in
