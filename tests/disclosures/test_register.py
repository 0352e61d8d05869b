"""The disclosure register (issue 16): every export and API read of customers' personal data is recorded,
one test per recording point, in the transaction of the disclosure; legal and admin see the register,
support does not; each customer sees their own entries, in words."""

from __future__ import annotations

import io
import json
import zipfile
from datetime import timedelta

import pytest
from flask import Flask
from sqlalchemy import func, select

from incident_service.api.service import create_api_key
from incident_service.audit.models import AuditEvent
from incident_service.audit.sequencer import integrate
from incident_service.customers.models import Customer
from incident_service.database import utcnow
from incident_service.disclosures.models import (
    BASIS_AUDITORS_LAWYERS,
    BASIS_SERVICE_PROVIDER,
    BASIS_STATE_AUTHORITY,
    Disclosure,
    DisclosureSubject,
)
from incident_service.disclosures.service import DisclosureError, record_disclosure
from incident_service.extensions import db
from incident_service.incidents.models import Incident
from incident_service.webhooks.service import add_subscription
from tests.console.conftest import post_form
from tests.customers.test_account_data import active_again, signed_in
from tests.helpers import local_input, make_customer, submit

EN = {"Accept-Language": "en"}
LOOPBACK = {"WEBHOOK_ALLOW_PRIVATE_ADDRESSES": True}


def report(app: Flask, address: str, days_ago: int = 3) -> int:
    """A report (late: noticed `days_ago` days before) from `address`; the customer's incident id."""
    answer = submit(
        app.test_client(), "/report", {"email": address, "kind": "stolen", "discovered_at": local_input(days_ago)}
    )
    assert answer.status_code == 303
    with app.app_context():
        customer = db.session.execute(select(Customer).where(Customer.email == address)).scalar_one()
        return db.session.execute(select(Incident.id).where(Incident.customer_id == customer.id)).scalar_one()


def disclosures(app: Flask) -> list[tuple[Disclosure, list[tuple[int, int | None]]]]:
    with app.app_context():
        rows = list(db.session.execute(select(Disclosure).order_by(Disclosure.id)).scalars())
        return [(d, [(s.customer_id, s.incident_id) for s in d.subjects]) for d in rows]


def customer_ids(app: Flask, *addresses: str) -> list[int]:
    with app.app_context():
        return [
            db.session.execute(select(Customer.id).where(Customer.email == address)).scalar_one()
            for address in addresses
        ]


# --- recording points ---------------------------------------------------------------------------------


def test_an_evidence_pack_export_is_recorded_with_who_it_is_for(app, staff_login) -> None:  # type: ignore[no-untyped-def]
    an, _binh = make_customer(app, "an@example.com"), make_customer(app, "binh@example.com")
    incident_id = report(app, "an@example.com")
    report(app, "binh@example.com")
    legal = staff_login("legal", "luat@ecc.example")
    page = f"/console/incidents/{incident_id}/evidence"
    form = legal.get(page, headers=EN).get_data(as_text=True)
    assert 'value="The company&#39;s lawyers"' in form and "Recorded in the disclosure register" in form

    # The plain download (links, scripts): for the company's lawyers.
    plain = legal.get(page + ".zip")
    assert plain.status_code == 200
    # The form: legal says who it is for, why and on what basis.
    stated = post_form(
        legal,
        page,
        page + ".zip",
        {"recipient": "Công an TP.HCM", "purpose": "Điều tra vụ lừa đảo", "legal_basis": BASIS_STATE_AUTHORITY},
    )
    assert stated.status_code == 200 and stated.mimetype == "application/zip"
    assert "evidence.json" in zipfile.ZipFile(io.BytesIO(stated.data)).namelist()
    # No recipient: refused beside the field, the rest kept, nothing recorded.
    refused = post_form(
        legal, page, page + ".zip", {"recipient": " ", "purpose": "Kept", "legal_basis": "x"}, headers=EN
    )
    assert refused.status_code == 400
    html = refused.get_data(as_text=True)
    assert 'id="recipient-error"' in html and 'value="Kept"' in html

    (default, subjects), (police, police_subjects) = disclosures(app)
    assert (default.kind, default.recipient, default.legal_basis) == (
        "evidence_pack",
        "company lawyers",
        BASIS_AUDITORS_LAWYERS,
    )
    assert default.actor.startswith("luat@ecc.example") or "luat@ecc.example" in default.actor
    assert subjects == [(an, incident_id)] and default.customer_count == 1
    assert (police.recipient, police.purpose, police.legal_basis) == (
        "Công an TP.HCM",
        "Điều tra vụ lừa đảo",
        BASIS_STATE_AUTHORITY,
    )
    assert police.reference.startswith("evidence-INC-") and "sha256:" in police.reference
    assert police_subjects == [(an, incident_id)]
    with app.app_context():  # the pack export was audited before; still once per download
        exported = db.session.scalar(
            select(func.count()).select_from(AuditEvent).where(AuditEvent.action == "console:evidence:exported")
        )
        assert exported == 2


def test_the_incidents_csv_is_recorded_for_every_customer_in_it(app, staff_login) -> None:  # type: ignore[no-untyped-def]
    make_customer(app, "an@example.com"), make_customer(app, "binh@example.com")
    first, second = report(app, "an@example.com"), report(app, "binh@example.com")
    legal = staff_login("legal", "luat@ecc.example")
    numbers = legal.get("/console/reports/delay.csv")  # numbers only: no one's data
    assert numbers.status_code == 200 and disclosures(app) == []
    answer = legal.get("/console/reports/delay/incidents.csv?lateness=late")
    assert answer.status_code == 200 and "an@example.com" in answer.get_data(as_text=True)
    [(disclosure, subjects)] = disclosures(app)
    an, binh = customer_ids(app, "an@example.com", "binh@example.com")
    assert disclosure.kind == "incidents_csv" and disclosure.recipient == "company lawyers"
    assert disclosure.reference == "delay-incidents.csv?lateness=late"
    assert sorted(subjects) == sorted([(an, first), (binh, second)]) and disclosure.customer_count == 2
    with app.app_context():
        event = db.session.execute(
            select(AuditEvent).where(AuditEvent.action == "console:incidents:exported")
        ).scalar_one()
        assert json.loads(event.data)["rows"] == 2 and event.actor == disclosure.actor


def api_key(app: Flask, name: str, **stated: str) -> dict[str, str]:
    with app.app_context():
        made = create_api_key(
            name,
            scopes=["incidents:read", "events:read", "customers:write"],
            expires_at=None,
            source="cli",
            actor="test",
            now=utcnow(),
            purpose=stated.get("purpose"),
            legal_basis=stated.get("basis"),
        )
        db.session.commit()
        return {"Authorization": f"Bearer {made.secret}"}


def test_api_reads_of_incidents_are_recorded_with_the_keys_purpose(app) -> None:  # type: ignore[no-untyped-def]
    make_customer(app, "an@example.com"), make_customer(app, "binh@example.com")
    first, second = report(app, "an@example.com"), report(app, "binh@example.com")
    an, binh = customer_ids(app, "an@example.com", "binh@example.com")
    crm = api_key(app, "crm-sync", purpose="Customer care follow-up", basis=BASIS_SERVICE_PROVIDER)
    client = app.test_client()
    listed = client.get("/api/v1/incidents?limit=1", headers=crm)
    assert listed.status_code == 200 and len(listed.json["items"]) == 1
    reference = listed.json["items"][0]["reference"]
    assert client.get(f"/api/v1/incidents/{reference}", headers=crm).status_code == 200
    empty = client.get("/api/v1/incidents?email=nobody@example.com", headers=crm)
    assert empty.status_code == 200 and empty.json["items"] == []  # no one's data: nothing to record

    recorded = disclosures(app)
    assert [d.reference for d, _s in recorded] == ["GET /api/v1/incidents", f"GET /api/v1/incidents/{reference}"]
    for disclosure, subjects in recorded:
        assert (disclosure.kind, disclosure.recipient, disclosure.actor) == ("api_read", "crm-sync", "api:crm-sync")
        assert (disclosure.purpose, disclosure.legal_basis) == ("Customer care follow-up", BASIS_SERVICE_PROVIDER)
        assert subjects == [(binh, second)]  # newest first: Bình's incident only, never An's
    assert all((an, first) not in subjects for _d, subjects in recorded)


def test_api_reads_of_audit_events_and_customer_records_are_recorded(app) -> None:  # type: ignore[no-untyped-def]
    make_customer(app, "an@example.com")
    incident_id = report(app, "an@example.com")
    [an] = customer_ids(app, "an@example.com")
    siem = api_key(app, "siem")  # no purpose or basis stated: the register says so
    with app.app_context():
        while integrate():
            db.session.commit()
    client = app.test_client()
    events = client.get("/api/v1/events?after=0&limit=100", headers=siem)
    assert events.status_code == 200 and events.json["items"]
    updated = client.put("/api/v1/customers/an@example.com", json={"locale": "en"}, headers=siem)
    assert updated.status_code == 200 and updated.json["name"]  # the stored name, read back
    created = client.put("/api/v1/customers/new@example.com", json={"name": "New"}, headers=siem)
    assert created.status_code == 201  # what the caller itself sent: nothing disclosed

    [(read, read_subjects), (upsert, upsert_subjects)] = disclosures(app)
    assert read.reference.startswith("GET /api/v1/events?after=0") and (an, incident_id) in read_subjects
    assert read.legal_basis is None and read.purpose == "" and read.recipient == "siem"
    assert upsert_subjects == [(an, None)] and upsert.reference.startswith("PUT /api/v1/customers/")
    assert "an@example.com" not in upsert.reference  # the register's reference names no address


def test_webhook_events_are_recorded_once_per_subscription_and_transaction(app, runner, tmp_path) -> None:  # type: ignore[no-untyped-def]
    app.config.update(LOOPBACK)
    addresses = [f"k{n}@example.com" for n in range(6)]
    for address in addresses:
        make_customer(app, address)
    with app.app_context():
        opened, _s = add_subscription(
            "http://127.0.0.1:9/hook?token=secret", ["incident.opened"], source="cli", actor="t", now=utcnow()
        )
        add_subscription("http://127.0.0.1:9/other", ["password.reset"], source="cli", actor="t", now=utcnow())
        db.session.commit()
        opened_id = opened.id
    report(app, addresses[0])  # one report: one disclosure to the subscriber of incident.opened
    leaked = tmp_path / "leaked.txt"
    leaked.write_text("\n".join(addresses[1:]) + "\nnobody@example.com\n", encoding="utf-8")
    assert runner.invoke(args=["incidents", "mass-reactivate", str(leaked)]).exit_code == 0

    recorded = disclosures(app)
    assert len(recorded) == 2  # the web report, then the whole breach list in one disclosure
    ids = customer_ids(app, *addresses)
    (single, single_subjects), (mass, mass_subjects) = recorded
    assert single.kind == mass.kind == "webhook" and single.webhook_subscription_id == opened_id
    assert single.recipient == f"webhook {opened_id} (127.0.0.1)" and "secret" not in single.recipient
    assert [customer for customer, _i in single_subjects] == [ids[0]]
    assert sorted(customer for customer, _i in mass_subjects) == sorted(ids[1:]) and mass.customer_count == 5
    assert mass.reference == "incident.opened ×5" and mass.actor == "system"


def test_recording_refuses_an_unknown_basis_or_no_recipient(app) -> None:  # type: ignore[no-untyped-def]
    customer = make_customer(app)
    with app.app_context():
        for recipient, basis in (("", BASIS_AUDITORS_LAWYERS), ("Someone", "friendship")):
            with pytest.raises(DisclosureError):
                record_disclosure(
                    kind="evidence_pack",
                    reference="x",
                    recipient=recipient,
                    purpose="",
                    legal_basis=basis,
                    subjects=[(customer, None)],
                    actor="t",
                    now=utcnow(),
                )
        assert db.session.scalar(select(func.count()).select_from(DisclosureSubject)) == 0


def test_api_key_purpose_and_basis_from_the_command_line(app, runner) -> None:  # type: ignore[no-untyped-def]
    made = runner.invoke(
        args=[
            "api-keys",
            "create",
            "crm",
            "--scope",
            "incidents:read",
            "--purpose",
            "Care",
            "--basis",
            "service_provider",
        ]
    )
    assert made.exit_code == 0, made.output
    wrong = runner.invoke(args=["api-keys", "create", "crm2", "--scope", "incidents:read", "--basis", "friendship"])
    assert wrong.exit_code != 0
    from incident_service.api.models import ApiKey

    with app.app_context():
        key = db.session.execute(select(ApiKey).where(ApiKey.name == "crm")).scalar_one()
        assert (key.purpose, key.legal_basis) == ("Care", BASIS_SERVICE_PROVIDER)


# --- the register page and the customer's view ----------------------------------------------------------


def test_the_register_is_for_legal_and_admin_with_filters(app, staff_login) -> None:  # type: ignore[no-untyped-def]
    make_customer(app, "an@example.com"), make_customer(app, "binh@example.com")
    first, _second = report(app, "an@example.com"), report(app, "binh@example.com")
    legal = staff_login("legal", "luat@ecc.example")
    legal.get("/console/reports/delay/incidents.csv")  # both customers
    page = f"/console/incidents/{first}/evidence"
    post_form(
        legal, page, page + ".zip", {"recipient": "KPMG Vietnam", "purpose": "Audit", "legal_basis": "auditors_lawyers"}
    )

    support = staff_login("support", "ho.tro@ecc.example")
    assert support.get("/console/disclosures").status_code == 403
    assert "/console/disclosures" not in support.get("/console", headers=EN).get_data(as_text=True)
    admin = staff_login("admin", "quan.tri@ecc.example")
    assert admin.get("/console/disclosures").status_code == 200

    html = legal.get("/console/disclosures", headers=EN).get_data(as_text=True)
    assert 'href="/console/disclosures"' in html  # in legal's navigation
    assert "KPMG Vietnam" in html and "The company&#39;s lawyers" in html
    assert "Evidence pack of an incident" in html and "List of incidents (spreadsheet export)" in html
    assert f'href="/console/incidents/{first}"' in html and "binh@example.com" in html  # whom, for a few

    def shown(**args: str) -> str:
        return legal.get("/console/disclosures", query_string=args, headers=EN).get_data(as_text=True)

    only_binh = shown(customer="binh@example.com")
    assert "KPMG Vietnam" not in only_binh and "List of incidents" in only_binh
    with app.app_context():
        reference = db.session.get(Incident, first).customer_reference
    assert "KPMG Vietnam" in shown(customer=reference.lower())
    assert "List of incidents" not in shown(recipient="kpmg") and "KPMG Vietnam" in shown(recipient="kpmg")
    tomorrow = (utcnow() + timedelta(days=2)).strftime("%d/%m/%Y")
    assert "No disclosure matches these filters." in shown(**{"from": tomorrow})
    assert "No disclosure matches these filters." in shown(customer="nobody@example.com")


def test_the_customer_sees_their_disclosures_in_words(app, staff_login) -> None:  # type: ignore[no-untyped-def]
    an, binh = make_customer(app, "an@example.com", locale="en"), make_customer(app, "binh@example.com", locale="en")
    first, _second = report(app, "an@example.com"), report(app, "binh@example.com")
    legal = staff_login("legal", "luat@ecc.example")
    page = f"/console/incidents/{first}/evidence"
    post_form(
        legal,
        page,
        page + ".zip",
        {"recipient": "KPMG Vietnam", "purpose": "Yearly audit", "legal_basis": "auditors_lawyers"},
    )
    active_again(app, an, binh)

    html = signed_in(app, "an@example.com").get("/account/data", headers=EN).get_data(as_text=True)
    assert "KPMG Vietnam" in html and "Purpose: Yearly audit" in html
    assert "Legal basis: The company&#39;s auditors or lawyers" in html and "Evidence pack of an incident" in html
    assert "auditors_lawyers" not in html and "evidence_pack" not in html  # words, not codes
    document = json.loads(signed_in(app, "an@example.com").get("/account/data.json").data)
    [entry] = document["disclosures"]
    assert entry["recipient"] == "KPMG Vietnam" and entry["legal_basis"] == "auditors_lawyers"
    assert set(entry["disclosed_at"]) == {"what", "utc", "gmt7", "source"}
    other = signed_in(app, "binh@example.com").get("/account/data", headers=EN).get_data(as_text=True)
    assert "KPMG Vietnam" not in other and "We have not given your data to anyone." in other
