"""Customer email is shown inert: escaped text, sanitised HTML in a sandboxed frame, strict CSP (M5)."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select

from incident_service.database import utcnow
from incident_service.extensions import db
from incident_service.incidents.models import Incident
from incident_service.intake.service import Envelope, ingest_message

CORPUS = Path(__file__).parent.parent / "intake" / "corpus"


def test_hostile_email_is_inert(app, staff_login, customer_id) -> None:  # type: ignore[no-untyped-def]
    with app.app_context():
        ingest_message((CORPUS / "xss_html.eml").read_bytes(), envelope=Envelope(), via="smtp", now=utcnow())
        db.session.commit()
        incident_id = db.session.execute(select(Incident.id)).scalar_one()
    client = staff_login("support")
    page_response = client.get(f"/console/incidents/{incident_id}")
    page = page_response.get_data(as_text=True)
    assert "<script" not in page and "<img" not in page  # the tags arrive only as escaped text
    assert "&lt;script&gt;alert(&#39;plain&#39;)&lt;/script&gt;" in page  # shown, as text
    assert 'href="javascript:' not in page
    csp = page_response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "frame-ancestors 'none'" in csp
    assert '<iframe class="mailframe" sandbox src="/console/messages/1/html"' in page

    frame = client.get("/console/messages/1/html")
    body = frame.get_data(as_text=True)
    assert "<script" not in body and "onerror" not in body and "javascript:" not in body
    assert "<iframe" not in body and "<form" not in body and "<input" not in body
    assert '<a href="https://ecc.example/help" rel="noopener noreferrer nofollow">help</a>' in body
    frame_csp = frame.headers["Content-Security-Policy"]
    assert "default-src 'none'" in frame_csp and "sandbox" in frame_csp and "img-src data:" in frame_csp
    assert frame.headers["X-Frame-Options"] == "SAMEORIGIN"
