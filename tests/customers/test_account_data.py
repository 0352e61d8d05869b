"""A customer's view of everything held about them (issue 16): /account, /account/data, the JSON download
and the raw emails, for their own data only; tested with two customers whose histories look alike."""

from __future__ import annotations

import json
from email.message import EmailMessage
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from incident_service.customers.models import CREDENTIAL_ACTIVE, Customer
from incident_service.customers.passwords import hashing
from incident_service.database import utcnow
from incident_service.extensions import db
from incident_service.i18n import format_local
from incident_service.incidents.models import Incident, Report
from incident_service.intake.models import InboundMessage
from incident_service.intake.service import Envelope, ingest_message
from incident_service.packs.service import build_pack
from tests.helpers import PASSWORD, local_input, make_customer, submit

EN = {"Accept-Language": "en"}


def email_from(sender: str, subject: str, body: str, message_id: str) -> bytes:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = "security@ecc.example"
    message["Subject"] = subject
    message["Date"] = "Mon, 30 Nov 2026 09:00:00 +0700"
    message["Message-ID"] = f"<{message_id}@example.com>"
    message.set_content(body)
    return message.as_bytes()


def active_again(app: Flask, *ids: int) -> None:
    """As if each customer had set a new password through the link (the report locked the old one)."""
    with app.app_context():
        for customer_id in ids:
            customer = db.session.get(Customer, customer_id)
            assert customer is not None
            customer.password_hash, customer.credential_state = hashing().hash(PASSWORD), CREDENTIAL_ACTIVE
        db.session.commit()


def alike_histories(app: Flask) -> tuple[int, int]:
    """An and Bình each report on the web form and by email; each email names the other's address."""
    an = make_customer(app, "an@example.com", name="An", locale="en")
    binh = make_customer(app, "binh@example.com", name="Bình", locale="en")
    client = app.test_client()
    for address, words in (("an@example.com", "An's own words"), ("binh@example.com", "Binh's own words")):
        answer = submit(
            client, "/report", {"email": address, "kind": "stolen", "details": words, "discovered_at": local_input(2)}
        )
        assert answer.status_code == 303
    with app.app_context():
        for raw in (
            email_from("an@example.com", "An writes", "Lock mine please; binh@example.com got one too.", "an-1"),
            email_from("binh@example.com", "Binh writes", "an@example.com sent me a strange link.", "binh-1"),
        ):
            ingest_message(raw, envelope=Envelope(), via="smtp", now=utcnow())
        db.session.commit()
    active_again(app, an, binh)
    return an, binh


def signed_in(app: Flask, address: str) -> FlaskClient:
    client = app.test_client()
    assert submit(client, "/login", {"email": address, "password": PASSWORD}).status_code == 302
    return client


def download(client: FlaskClient) -> dict[str, Any]:
    answer = client.get("/account/data.json", headers=EN)
    assert answer.status_code == 200 and answer.mimetype == "application/json"
    assert answer.headers["Content-Disposition"].startswith("attachment;")
    assert answer.headers["Cache-Control"] == "no-store"
    document: dict[str, Any] = json.loads(answer.data)
    return document


def test_the_download_holds_every_report_email_and_statement_of_theirs_and_nothing_of_the_other(app) -> None:  # type: ignore[no-untyped-def]
    an, binh = alike_histories(app)
    document = download(signed_in(app, "an@example.com"))
    text = json.dumps(document, ensure_ascii=False)
    with app.app_context():
        own = {r.reference for r in db.session.execute(select(Report).where(Report.customer_id == an)).scalars()}
        theirs = {r.reference for r in db.session.execute(select(Report).where(Report.customer_id == binh)).scalars()}
        own_messages = set(
            db.session.execute(
                select(InboundMessage.id)
                .join(Report, Report.inbound_message_id == InboundMessage.id)
                .where(Report.customer_id == an)
            ).scalars()
        )
        their_incident = db.session.execute(select(Incident).where(Incident.customer_id == binh)).scalar_one()
        their_refs = {their_incident.reference, their_incident.customer_reference}
    assert len(own) == len(theirs) == 2
    assert {report["reference"] for report in document["reports"]} == own
    assert {message["id"] for message in document["emails_received"]} == own_messages and len(own_messages) == 1
    assert document["emails_received"][0]["subject"] == "An writes"
    assert "binh@example.com got one too" in document["emails_received"][0]["text"]  # her own words, kept
    assert len(document["discovery_statements"]) == 1 and document["discovery_statements"][0]["source"] == (
        "customer_statement"
    )
    assert [incident["reference"] for incident in document["incidents"]] != []
    assert all(email["to"] == "an@example.com" for email in document["emails_sent"]) and document["emails_sent"]
    assert document["account"]["email"] == "an@example.com" and document["account"]["name"] == "An"
    assert "/reset/" not in text and "/discovery/" not in text  # never the links in the emails we sent
    # Nothing of Bình's: no reference, no words, no email, no incident.
    for needle in (*theirs, *their_refs, "Binh's own words", "Binh writes", "strange link", "Bình"):
        assert needle not in text, needle
    # And Bình's download is the mirror image.
    mirror = json.dumps(download(signed_in(app, "binh@example.com")), ensure_ascii=False)
    for needle in (*own, "An's own words", "An writes", "Lock mine"):
        assert needle not in mirror, needle


def test_times_carry_the_evidence_packs_labels(app) -> None:  # type: ignore[no-untyped-def]
    an, _binh = alike_histories(app)
    document = download(signed_in(app, "an@example.com"))
    with app.test_request_context(headers=EN):
        incident = db.session.execute(select(Incident).where(Incident.customer_id == an)).scalar_one()
        pack, _files = build_pack(incident, now=utcnow())
        first = db.session.execute(select(Report).where(Report.customer_id == an).order_by(Report.id)).scalars().first()
        assert first is not None
        expected_local = format_local(first.received_at)
    ours = {report["reference"]: report["received_at"] for report in document["reports"]}
    for report in pack["reports"]:
        mine = ours[report["reference"]]
        assert set(mine) == {"what", "utc", "gmt7", "source"} == set(report["received_at"])
        assert mine == report["received_at"]  # the same stamp, word for word
    assert ours[first.reference]["gmt7"] == expected_local
    assert set(document["exported_at"]) == {"what", "utc", "gmt7", "source"}
    assert document["exported_at"]["source"] == "export" and "export" in document["timestamp_sources"]


def test_raw_emails_only_their_own(app) -> None:  # type: ignore[no-untyped-def]
    an, binh = alike_histories(app)
    with app.app_context():

        def message_of(customer_id: int) -> InboundMessage:
            return db.session.execute(
                select(InboundMessage)
                .join(Report, Report.inbound_message_id == InboundMessage.id)
                .where(Report.customer_id == customer_id)
            ).scalar_one()

        own, other = message_of(an), message_of(binh)
        own_id, own_raw, other_id = own.id, own.raw, other.id
    client = signed_in(app, "an@example.com")
    answer = client.get(f"/account/emails/{own_id}.eml")
    assert answer.status_code == 200 and answer.data == own_raw and answer.mimetype == "message/rfc822"
    assert answer.headers["Content-Disposition"].startswith("attachment;")
    assert client.get(f"/account/emails/{other_id}.eml").status_code == 404
    assert client.get("/account/emails/999999.eml").status_code == 404
    assert client.get(f"/account/emails/{2**40}.eml").status_code == 404
    stranger = app.test_client()
    for path in (f"/account/emails/{own_id}.eml", "/account/data", "/account/data.json"):
        assert stranger.get(path).headers["Location"].endswith("/login"), path


def test_the_pages_show_it_grouped_in_words(app) -> None:  # type: ignore[no-untyped-def]
    alike_histories(app)
    client = signed_in(app, "an@example.com")
    overview = client.get("/account", headers=EN).get_data(as_text=True)
    assert "Reporting delay" in overview and "threshold in force: 24 hours" in overview
    assert 'href="/account/data"' in overview and 'href="/account/data.json"' in overview
    page = client.get("/account/data", headers=EN)
    assert page.headers["Cache-Control"] == "no-store"
    html = page.get_data(as_text=True)
    for heading in (
        "Your account",
        "Your reports",
        "Emails you sent us",
        "When you noticed",
        "Your incidents",
        "Emails we sent you",
        "Who we gave your data to",
    ):
        assert f">{heading}</h2>" in html, heading
    assert "The report form on our website" in html and "Your email “An writes”, from an@example.com" in html
    assert "Acknowledgement with the reset link" in html and "you, on the report form" in html
    assert "We have not given your data to anyone." in html
    assert "Binh" not in html and "Bình" not in html
    vietnamese = client.get("/account/data", headers={"Accept-Language": "vi"})
    assert vietnamese.status_code == 200
