"""An API report, an email report and a web report for one customer give one incident."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select

from incident_service.database import utcnow
from incident_service.extensions import db
from incident_service.incidents.models import Incident, Report
from incident_service.intake.service import Envelope, ingest_message
from tests.api.conftest import ApiClient
from tests.helpers import submit

CORPUS = Path(__file__).parent.parent / "intake" / "corpus"


def test_api_email_and_web_reports_join_one_incident(app, api: ApiClient, customer_id) -> None:  # type: ignore[no-untyped-def]
    by_api = api.post("/api/v1/reports", json={"email": "an@example.com", "kind": "phished", "channel": "phone"})
    assert by_api.status_code == 201 and by_api.get_json()["joined_open_incident"] is False
    with app.app_context():
        ingest_message(
            (CORPUS / "plain.eml").read_bytes(),
            envelope=Envelope(mail_from="an@example.com", rcpt_tos=["security@ecc.example"], peer="203.0.113.5:40000"),
            via="smtp",
            now=utcnow(),
        )
        db.session.commit()
    submit(app.test_client(), "/report", {"email": "an@example.com", "kind": "leaked"})
    with app.app_context():
        incidents = db.session.execute(select(Incident)).scalars().all()
        assert len(incidents) == 1
        reports = db.session.execute(select(Report).order_by(Report.id)).scalars().all()
        assert [report.channel for report in reports] == ["phone", "email", "web"]
        assert {report.incident_id for report in reports} == {incidents[0].id}
        assert incidents[0].customer_reference == by_api.get_json()["reference"]
