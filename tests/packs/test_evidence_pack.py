"""Evidence packs: labelled timestamps, raw emails, audit events; verify-pack passes, and fails when tampered."""

from __future__ import annotations

import hashlib
import io
import json
import re
import zipfile
from pathlib import Path

from sqlalchemy import select

from incident_service.audit.checkpoint import service_public_key
from incident_service.database import utcnow
from incident_service.extensions import db
from incident_service.incidents.models import Incident
from incident_service.intake.service import Envelope, ingest_message
from tests.helpers import deliver, submit

CORPUS = Path(__file__).parent.parent / "intake" / "corpus"


def incident_with_email(app, smtp_sink) -> int:  # type: ignore[no-untyped-def]
    with app.app_context():
        ingest_message(
            (CORPUS / "plain.eml").read_bytes(),
            envelope=Envelope(mail_from="an@example.com", peer="127.0.0.1:40000"),
            via="lmtp",
            now=utcnow(),
        )
        db.session.commit()
    submit(
        app.test_client(), "/report", {"email": "an@example.com", "kind": "leaked", "discovered_at": "2026-11-20T08:00"}
    )
    deliver(app)
    with app.app_context():
        return db.session.execute(select(Incident.id)).scalar_one()


def rezip(data: bytes, change) -> bytes:  # type: ignore[no-untyped-def]
    source = zipfile.ZipFile(io.BytesIO(data))
    contents = {name: source.read(name) for name in source.namelist()}
    change(contents)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for name, body in contents.items():
            archive.writestr(name, body)
    return out.getvalue()


def test_pack_verifies_and_tampering_fails(app, staff_login, smtp_sink, customer_id, runner, tmp_path) -> None:  # type: ignore[no-untyped-def]
    incident_id = incident_with_email(app, smtp_sink)
    legal = staff_login("legal")
    data = legal.get(f"/console/incidents/{incident_id}/evidence.zip").data
    archive = zipfile.ZipFile(io.BytesIO(data))
    names = set(archive.namelist())
    assert {"evidence.json", "VERIFY.txt", "SHA256SUMS"} <= names
    emails = [name for name in names if name.startswith("messages/")]
    assert len(emails) == 1 and archive.read(emails[0]) == (CORPUS / "plain.eml").read_bytes()
    document = json.loads(archive.read("evidence.json"))
    sources = {t["source"] for t in document["timestamps"]}
    assert {
        "server_receipt",
        "date_header_claim",
        "company_mta",
        "customer_statement",
        "link_issued",
        "relay_acceptance",
    } <= sources
    assert all(t["gmt7"].endswith("(GMT+7)") for t in document["timestamps"])
    assert document["chain_head"]["hash"] and document["audit_events"]
    assert any(e["action"] == "email:message:received" for e in document["audit_events"])
    # Issue 18, item 1: every report is in the pack, the email one with its evidence.
    assert sorted(report["channel"] for report in document["reports"]) == ["email", "web"]
    emailed = next(report for report in document["reports"] if report["channel"] == "email")
    assert emailed["email"]["sha256"] == hashlib.sha256((CORPUS / "plain.eml").read_bytes()).hexdigest()
    assert emailed["email"]["envelope"]["via"] == "lmtp" and emailed["email"]["file"] == emails[0]
    assert emailed["email"]["authentication_results_trusted"] == [
        "mx.ecc.example; spf=pass smtp.mailfrom=example.com; dkim=pass header.d=example.com"
    ]

    with app.app_context():
        from incident_service.audit.models import AuditEvent

        export = db.session.execute(
            select(AuditEvent).where(AuditEvent.action == "console:evidence:exported")
        ).scalar_one()
        assert json.loads(export.data)["sha256"] == hashlib.sha256(data).hexdigest()  # what was handed out
    good = tmp_path / "pack.zip"
    good.write_bytes(data)
    result = runner.invoke(args=["audit", "verify-pack", str(good)])
    assert result.exit_code == 2 and "NOT PROVED: the checkpoint's signature was checked only" in result.output
    with app.app_context():
        published = service_public_key()
    result = runner.invoke(args=["audit", "verify-pack", "--public-key", published, str(good)])
    assert result.exit_code == 0 and "evidence pack proved" in result.output, result.output

    def swap_email(contents):  # type: ignore[no-untyped-def]
        contents[emails[0]] = contents[emails[0]].replace(b"Nguyen Van An", b"Nguyen Van Bo")

    def edit_event(contents):  # type: ignore[no-untyped-def]
        doc = json.loads(contents["evidence.json"])
        doc["audit_events"][0]["occurred_at"] = "2020-01-01T00:00:00.000000+00:00"
        contents["evidence.json"] = json.dumps(doc).encode()

    def swap_email_and_rebuild_sums(contents):  # type: ignore[no-untyped-def]
        # Issue 18, item 1: change the mail, then make every digest in the pack agree with the change.
        swap_email(contents)
        forged = hashlib.sha256(contents[emails[0]]).hexdigest()
        doc = json.loads(contents["evidence.json"])
        for report in doc["reports"]:
            if report.get("email"):
                report["email"]["sha256"] = forged
        contents["evidence.json"] = json.dumps(doc).encode()
        contents["SHA256SUMS"] = "".join(
            f"{hashlib.sha256(body).hexdigest()}  {name}\n"
            for name, body in sorted(contents.items())
            if name != "SHA256SUMS"
        ).encode()

    def drop_report(contents):  # type: ignore[no-untyped-def]
        doc = json.loads(contents["evidence.json"])
        doc["reports"] = [report for report in doc["reports"] if report["channel"] != "web"]
        contents["evidence.json"] = json.dumps(doc).encode()

    def drop_report_event(contents):  # type: ignore[no-untyped-def]
        doc = json.loads(contents["evidence.json"])
        doc["audit_events"] = [e for e in doc["audit_events"] if not e["action"].endswith(":report:received")]
        contents["evidence.json"] = json.dumps(doc).encode()

    for change, problem in (
        (swap_email, "SHA-256"),
        (edit_event, "do not match its hash"),
        (swap_email_and_rebuild_sums, "the audit log recorded at receipt"),
        (drop_report_event, "no audit event records its receipt"),
        (drop_report, "the report is not in the pack"),
    ):
        bad = tmp_path / "bad.zip"
        bad.write_bytes(rezip(data, change))
        failed = runner.invoke(args=["audit", "verify-pack", str(bad)])
        assert failed.exit_code == 1 and problem in failed.output

    not_a_pack = tmp_path / "x.zip"
    not_a_pack.write_bytes(b"not a zip")
    assert runner.invoke(args=["audit", "verify-pack", str(not_a_pack)]).exit_code == 1

    # A document that is JSON but not an object is named as such, not a traceback.
    list_pack = tmp_path / "list.zip"
    list_pack.write_bytes(rezip(data, lambda contents: contents.update({"evidence.json": b"[]"})))
    refused = runner.invoke(args=["audit", "verify-pack", str(list_pack)])
    assert refused.exit_code == 1 and "not an object" in refused.output and isinstance(refused.exception, SystemExit)


def test_printable_page(app, staff_login, smtp_sink, customer_id) -> None:  # type: ignore[no-untyped-def]
    incident_id = incident_with_email(app, smtp_sink)
    page = (
        staff_login("legal")
        .get(f"/console/incidents/{incident_id}/evidence", headers={"Accept-Language": "en"})
        .get_data(as_text=True)
    )
    assert "Every timestamp, with its source" in page and "date_header_claim" in page and "verify-pack" in page
    assert "Sender&#39;s Date header (a claim)" in page and "Date header of RPT-" in page
    assert staff_login("support").get(f"/console/incidents/{incident_id}/evidence").status_code == 403


def test_printable_page_lists_the_archives_emails_in_the_viewers_language(
    app, staff_login, smtp_sink, customer_id
) -> None:  # type: ignore[no-untyped-def]
    """Issue 13: every raw email in the zip is listed on the page, and the page is Vietnamese for a
    Vietnamese viewer while the archive's evidence.json stays English, whoever exported it."""
    incident_id = incident_with_email(app, smtp_sink)
    legal = staff_login("legal")
    page = legal.get(f"/console/incidents/{incident_id}/evidence", headers={"Accept-Language": "vi"}).get_data(
        as_text=True
    )
    archive = legal.get(f"/console/incidents/{incident_id}/evidence.zip", headers={"Accept-Language": "vi"}).data
    with zipfile.ZipFile(io.BytesIO(archive)) as pack:
        emails = [name for name in pack.namelist() if name.startswith("messages/")]
        document = json.loads(pack.read("evidence.json"))
    listed = re.findall(r"<code>(messages/[^<]+)</code>", page)
    assert emails and listed == sorted(emails)
    assert "Tiêu đề Date của RPT-" in page and "Đồng hồ máy chủ của chúng tôi" in page
    assert "Date header of RPT-" not in page and "report:received" not in page.split("<pre")[0].replace("<code>", "")
    whats = [t["what"] for t in document["timestamps"]]
    assert any(what.startswith("Date header of RPT-") for what in whats), whats
    assert document["timestamp_sources"]["audit"] == "when an audit event was recorded"


FORGED_HOP = (
    b"Received: from mail-out.example.net (mail-out.example.net [203.0.113.5])\r\n"
    b"\tby mx.ecc.example (Postfix) with ESMTPS id 1; Tue, 24 Nov 2026 09:15:02 +0700\r\n"
    b"Received: from x by mx.ecc.example; Mon, 01 Jan 2001 00:00:00 +0000\r\n"
    b"From: an@example.com\r\nTo: security@ecc.example\r\nSubject: old\r\n"
    b"Message-ID: <forged-hop@example.net>\r\n\r\nleaked\r\n"
)


def test_only_the_company_mtas_own_hops_are_labelled_as_its_time(
    app, staff_login, customer_id, runner, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    """Issue 18, item 2: a sender's "Received: by mx.ecc.example; 2001" below the real hop is a claim."""
    mail = tmp_path / "forged.eml"
    mail.write_bytes(FORGED_HOP)
    assert runner.invoke(args=["intake", "import", str(mail)]).exit_code == 0
    with app.app_context():
        from incident_service.incidents.models import Report

        report = db.session.execute(select(Report)).scalar_one()
        assert report.received_at_source == "company_mta" and report.received_at.year == 2026  # not 2001
        incident_id = db.session.execute(select(Incident.id)).scalar_one()
    data = staff_login("legal").get(f"/console/incidents/{incident_id}/evidence.zip").data
    document = json.loads(zipfile.ZipFile(io.BytesIO(data)).read("evidence.json"))
    hops = {t["utc"][:4]: t["source"] for t in document["timestamps"] if t["what"].startswith("Received by")}
    assert hops == {"2026": "company_mta", "2001": "received_header"}
