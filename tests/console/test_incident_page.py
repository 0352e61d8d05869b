"""The incident page: reports with both times, email evidence, statements, grants, emails, timeline."""

from __future__ import annotations

import re
from pathlib import Path

from sqlalchemy import select

from incident_service.database import utcnow
from incident_service.extensions import db
from incident_service.incidents.models import Incident
from incident_service.intake.service import Envelope, ingest_message
from tests.helpers import deliver, submit

CORPUS = Path(__file__).parent.parent / "intake" / "corpus"


def ingest(app, name: str, **envelope) -> None:  # type: ignore[no-untyped-def]
    with app.app_context():
        ingest_message((CORPUS / name).read_bytes(), envelope=Envelope(**envelope), via="smtp", now=utcnow())
        db.session.commit()


def incident_url(app) -> str:  # type: ignore[no-untyped-def]
    with app.app_context():
        return f"/console/incidents/{db.session.execute(select(Incident.id)).scalar_one()}"


def test_web_and_email_reports_with_evidence(app, staff_login, smtp_sink, customer_id) -> None:  # type: ignore[no-untyped-def]
    ingest(
        app,
        "plain.eml",
        mail_from="an@example.com",
        rcpt_tos=["security@ecc.example"],
        peer="203.0.113.5:40000",
        helo="mail-out.example.net",
    )
    submit(app.test_client(), "/report", {"email": "an@example.com", "kind": "leaked"})
    deliver(app)
    page = staff_login("support").get(incident_url(app), headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert len(re.findall(r"RPT-\d{4}-\d{6}", page)) >= 2
    assert re.search(r"\d\d:\d\d:\d\d - \d\d/\d\d/\d{4} \(GMT\+7\)", page)
    assert re.search(r"\d\d:\d\d:\d\d - \d\d/\d\d/\d{4} \(UTC\)", page)  # UTC beside
    # The email's evidence: envelope, Received chain, our Authentication-Results, the body as text.
    for fact in (
        "203.0.113.5:40000",
        "mail-out.example.net",
        "by mx.ecc.example (Postfix)",
        "mx.ecc.example; spf=pass",
        "Tôi nghi mật khẩu của tôi đã bị lộ",
        "Download the raw message",
    ):
        assert fact in page, fact
    # Grants (no token), the acknowledgement's delivery, the timeline.
    assert "Reset links" in page and "/reset/" not in page
    assert "250 2.0.0 Ok: queued" in page
    # The timeline in words (the page is in English here), never as codes.
    for line in (
        "Email received · Email",
        "Report received · Email",
        "Incident opened · Email",
        "Report joined the open incident · Web form",
    ):
        assert line in page, line
    assert "email:incident:opened" not in page


def test_raw_download_is_the_stored_bytes(app, staff_login, customer_id) -> None:  # type: ignore[no-untyped-def]
    ingest(app, "attachments.eml")
    client = staff_login("support")
    raw = client.get("/console/messages/1/raw")
    assert raw.data == (CORPUS / "attachments.eml").read_bytes()
    assert raw.headers["Content-Disposition"].startswith("attachment;")
    pdf = client.get("/console/messages/1/attachments/0")
    assert pdf.data.startswith(b"%PDF-1.4") and pdf.headers["Content-Type"] == "application/octet-stream"
    assert 'filename="bao cao.pdf"' in pdf.headers["Content-Disposition"]
    png = client.get("/console/messages/1/attachments/1")
    assert (
        "etc_passwd" in png.headers["Content-Disposition"]
        and "/" not in png.headers["Content-Disposition"].split("filename=")[1]
    )
    assert png.headers["X-Content-Type-Options"] == "nosniff"
    assert client.get("/console/messages/1/attachments/9").status_code == 404


def test_evidence_summary_in_view_and_the_rest_folded(app, staff_login, customer_id) -> None:  # type: ignore[no-untyped-def]
    """Each email's sender, time and our mail server's verdicts are in view; the full evidence is folded
    on the incident page (one click away) and open on the message's own page."""
    with app.app_context():  # delivered by the company MTA over LMTP: its verdict above its hop is ours
        raw = (CORPUS / "forged_below_company_hop.eml").read_bytes()
        ingest_message(raw, envelope=Envelope(mail_from="an@example.com", peer="127.0.0.1:4"), via="lmtp", now=utcnow())
        db.session.commit()
    client = staff_login("support")
    page = client.get(incident_url(app), headers={"Accept-Language": "en"}).get_data(as_text=True)
    summary, folded = page.split('<details class="evidence-full">', 1)
    summary = summary[summary.index('aria-label="Email evidence"') :]
    assert '<span class="badge verdict-bad">DMARC: failed</span>' in summary
    assert '<span class="badge verdict-bad">SPF: failed</span>' in summary
    assert "1 not added by our mail server" in summary  # the forged one below the hop
    assert "an@example.com" in summary and "Our mail server's checks" in summary
    assert "Received chain" in folded and "Received chain" not in summary
    with app.app_context():
        from incident_service.intake.models import InboundMessage

        message_id = db.session.execute(select(InboundMessage.id)).scalar_one()
    vi = client.get(f"/console/messages/{message_id}", headers={"Accept-Language": "vi"}).get_data(as_text=True)
    assert '<details class="evidence-full" open>' in vi
    assert "SPF: không đạt" in vi
