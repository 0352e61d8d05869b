"""Console actions, each audited with the staff member and time, through the shared service code."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from incident_service.assessment.models import DiscoveryStatement
from incident_service.audit.models import AuditEvent
from incident_service.customers.models import Customer
from incident_service.database import utcnow
from incident_service.extensions import db
from incident_service.i18n import format_local
from incident_service.incidents.models import Incident, IncidentNote, Report
from incident_service.intake.models import InboundMessage
from incident_service.intake.service import Envelope, ingest_message
from incident_service.notifications.models import OutboxMessage
from tests.console.conftest import post_form
from tests.helpers import local_input, make_customer, submit

CORPUS = Path(__file__).parent.parent / "intake" / "corpus"


def one(app, model):  # type: ignore[no-untyped-def]
    with app.app_context():
        row = db.session.execute(select(model).order_by(model.id.desc()).limit(1)).scalar_one()
        db.session.expunge(row)
        return row


def count(app, model) -> int:  # type: ignore[no-untyped-def]
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(model))


def actions_by(app, actor: str) -> list[str]:  # type: ignore[no-untyped-def]
    with app.app_context():
        return list(db.session.execute(select(AuditEvent.action).where(AuditEvent.actor == actor)).scalars())


def test_phone_report_reactivates_like_any_channel(app, staff_login, customer_id) -> None:  # type: ignore[no-untyped-def]
    client = staff_login("support", "lan@ecc.example")
    reached = local_input(9)
    answer = post_form(
        client,
        "/console/intake/new",
        "/console/intake/new",
        {
            "email": "AN@example.com",
            "channel": "phone",
            "reached_at": reached,
            "kind": "stolen",
            "discovered_at": local_input(9, "08:00"),
            "details": "Khách gọi lúc 9 giờ 30.",
        },
    )
    assert answer.status_code == 302 and answer.headers["Location"].startswith("/console/incidents/")
    report = one(app, Report)
    assert report.channel == "phone" and report.entered_by == "lan@ecc.example"
    assert report.received_at.isoformat() == f"{reached[:10]}T02:30:00+00:00"  # 09:30 GMT+7, stated by staff
    assert report.received_at_source == "staff_statement"
    assert abs((report.recorded_at - utcnow()).total_seconds()) < 60  # the server's time, kept beside it
    with app.app_context():
        assert db.session.get(Customer, customer_id).credential_state == "locked"
        assert db.session.execute(select(OutboxMessage.to_address)).scalar_one() == "an@example.com"
        incident = db.session.execute(select(Incident)).scalar_one()
        assert incident.reporting_delay_seconds == 90 * 60 and incident.lateness == "on_time"
    assert "phone:report:received" in actions_by(app, "lan@ecc.example")


def test_phone_report_for_unknown_address_is_unmatched(app, staff_login) -> None:  # type: ignore[no-untyped-def]
    client = staff_login("support")
    answer = post_form(
        client,
        "/console/intake/new",
        "/console/intake/new",
        {"email": "nobody@example.com", "channel": "fax", "reached_at": local_input(9), "kind": "lost"},
    )
    assert answer.headers["Location"].startswith("/console/reports/")


def test_phone_report_form_errors(app, staff_login) -> None:  # type: ignore[no-untyped-def]
    client = staff_login("support")
    answer = post_form(
        client,
        "/console/intake/new",
        "/console/intake/new",
        {"email": "nope", "channel": "web", "reached_at": "2999-01-01T00:00", "kind": "lost"},
        headers={"Accept-Language": "en"},
    )
    page = answer.get_data(as_text=True)
    assert answer.status_code == 400
    assert "Enter a valid email address" in page and "Not a valid choice" in page and "in the future" in page


def test_discovery_after_the_report_is_a_field_error_and_nothing_is_lost(app, staff_login, customer_id) -> None:  # type: ignore[no-untyped-def]
    """Issue 18, item 3: this answered 500 and the agent had to type the whole report again."""
    client = staff_login("support")
    answer = post_form(
        client,
        "/console/intake/new",
        "/console/intake/new",
        {
            "email": "an@example.com",
            "channel": "phone",
            "reached_at": local_input(2, "09:30"),
            "kind": "stolen",
            "discovered_at": local_input(2, "10:15"),
            "details": "Khách gọi báo mất điện thoại.",
        },
        headers={"Accept-Language": "en"},
    )
    page = answer.get_data(as_text=True)
    assert answer.status_code == 400 and "cannot have noticed after the report reached us" in page
    assert 'value="an@example.com"' in page and "Khách gọi báo mất điện thoại." in page  # kept for the retry
    assert count(app, Report) == 0


def test_times_long_ago_need_a_confirmation(app, staff_login, customer_id) -> None:  # type: ignore[no-untyped-def]
    """Issue 18, item 3: a year typed wrong (decades ago) is asked about, not silently made evidence."""
    client = staff_login("support")
    data = {"email": "an@example.com", "channel": "post", "reached_at": local_input(365 * 20), "kind": "lost"}
    answer = post_form(client, "/console/intake/new", "/console/intake/new", data, headers={"Accept-Language": "en"})
    page = answer.get_data(as_text=True)
    assert answer.status_code == 400 and "more than 30 days ago" in page and 'name="times_confirmed"' in page
    assert count(app, Report) == 0
    confirmed = post_form(client, "/console/intake/new", "/console/intake/new", {**data, "times_confirmed": "y"})
    assert confirmed.status_code == 302 and count(app, Report) == 1


def test_resend_is_throttled(app, staff_login, customer_id) -> None:  # type: ignore[no-untyped-def]
    submit(app.test_client(), "/report", {"email": "an@example.com", "kind": "stolen"})
    client = staff_login("support", "lan@ecc.example")
    page = f"/console/incidents/{one(app, Incident).id}"
    with app.app_context():
        from incident_service.reactivation.models import ResetGrant

        for grant in db.session.execute(select(ResetGrant)).scalars():
            grant.issued_at = grant.issued_at.replace(year=2020)
        db.session.commit()
    post_form(client, page, page + "/resend", {})
    refused = post_form(client, page, page + "/resend", {}, headers={"Accept-Language": "en"}, follow_redirects=True)
    with app.app_context():
        templates = list(db.session.execute(select(OutboxMessage.template).order_by(OutboxMessage.id)).scalars())
        last = db.session.execute(select(ResetGrant).order_by(ResetGrant.id.desc())).scalars().first()
        assert last is not None
        allowed_at = format_local(last.issued_at + timedelta(seconds=app.config["LINK_RESEND_WINDOW_SECONDS"]))
    assert templates == ["acknowledgement", "reset_link"]
    # The agent is told from when another can go, not just to wait.
    assert f"another can be sent from {allowed_at}" in refused.get_data(as_text=True)
    assert "console:reset_grant:issued" in actions_by(app, "lan@ecc.example")
    assert "console:reset_link:throttled" in actions_by(app, "lan@ecc.example")


@pytest.mark.settings(LINK_RESEND_WINDOW_SECONDS=0)
def test_a_link_staff_send_says_what_happened(app, staff_login, smtp_sink, customer_id) -> None:  # type: ignore[no-untyped-def]
    """Issue 18, item 6: the customer did not ask for it, and their password is disabled."""
    from tests.helpers import deliver

    submit(app.test_client(), "/report", {"email": "an@example.com", "kind": "stolen"})
    client = staff_login("support")
    page = f"/console/incidents/{one(app, Incident).id}"
    post_form(client, page, page + "/resend", {})
    submit(app.test_client(), "/reset/new", {"email": "an@example.com"})  # and one the customer asks for
    deliver(app)  # in the customer's language, Vietnamese
    staff_sent, asked = [message.get_body(("plain",)).get_content() for message in smtp_sink.to("an@example.com")[1:]]
    assert "Bộ phận hỗ trợ của chúng tôi đã gửi cho bạn một đường dẫn mới" in staff_sent
    assert "Mật khẩu cũ của bạn không còn dùng được" in staff_sent and "security@ecc.example" in staff_sent
    asked_line, ignore_line = "Bạn đã yêu cầu", "bỏ qua email này"
    assert asked_line not in staff_sent and ignore_line not in staff_sent
    assert asked_line in asked and ignore_line in asked


def test_discovery_from_a_call_and_override(app, staff_login, customer_id) -> None:  # type: ignore[no-untyped-def]
    submit(app.test_client(), "/report", {"email": "an@example.com", "kind": "stolen"})
    client = staff_login("support", "lan@ecc.example")
    page = f"/console/incidents/{one(app, Incident).id}"
    post_form(client, page, page + "/discovery", {"discovered_at": "2026-01-01T08:00"})
    assert one(app, DiscoveryStatement).source == "staff_call"
    no_reason = post_form(client, page, page + "/discovery", {"discovered_at": "2025-12-01T08:00", "override": "y"})
    # Refused on the page itself: the error beside the reason, the time kept (written as the pages write it).
    assert no_reason.status_code == 400 and 'id="override_reason-error"' in no_reason.get_data(as_text=True)
    assert 'value="01/12/2025 08:00"' in no_reason.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(DiscoveryStatement)) == 1  # refused: no reason
    post_form(
        client,
        page,
        page + "/discovery",
        {"discovered_at": "2025-12-01T08:00", "override": "y", "override_reason": "Bank statement shows earlier use."},
    )
    statement = one(app, DiscoveryStatement)
    assert statement.is_override and statement.source == "staff_override" and statement.actor == "lan@ecc.example"
    incident = one(app, Incident)
    assert incident.effective_discovered_at == statement.discovered_at and incident.lateness == "late"
    assert "staff:discovery:stated" in actions_by(app, "lan@ecc.example")


def test_note_and_close(app, staff_login, customer_id) -> None:  # type: ignore[no-untyped-def]
    submit(app.test_client(), "/report", {"email": "an@example.com", "kind": "stolen"})
    client = staff_login("support", "lan@ecc.example")
    page = f"/console/incidents/{one(app, Incident).id}"
    post_form(client, page, page + "/notes", {"text": "Khách xác nhận qua điện thoại."})
    assert one(app, IncidentNote).author == "lan@ecc.example"
    refused = post_form(client, page, page + "/close", {"category": "spam", "close_reason": ""})
    assert one(app, Incident).status == "reactivated"  # a reason is required
    # Refused: the page again, the form open with its error under the field and the choice kept.
    assert refused.status_code == 400
    shown = refused.get_data(as_text=True)
    assert 'id="close_reason-error"' in shown and '<option selected value="spam">' in shown
    post_form(
        client, page, page + "/close", {"category": "withdrawn", "close_reason": "The customer found it was a mistake."}
    )
    closed = one(app, Incident)
    assert closed.status == "closed" and closed.close_reason.startswith("withdrawn:")
    assert {"console:incident:note_added", "console:incident:closed"} <= set(actions_by(app, "lan@ecc.example"))
    # Closed: no re-send offered, and a stale page asking for one is refused with a reason.
    after = client.get(page, headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert "Re-send the reset link" not in after and "Close the incident" not in after
    stale = post_form(client, page, page + "/resend", {}, headers={"Accept-Language": "en"}, follow_redirects=True)
    assert "no longer open" in stale.get_data(as_text=True)
    assert "console:reset_grant:issued" not in actions_by(app, "lan@ecc.example")


def test_assign_unmatched_report(app, staff_login) -> None:  # type: ignore[no-untyped-def]
    make_customer(app, "an@example.com")
    submit(app.test_client(), "/report", {"email": "an.old.address@example.com", "kind": "stolen"})
    client = staff_login("support", "lan@ecc.example")
    report = one(app, Report)
    page = f"/console/reports/{report.id}"
    answer = post_form(client, page, page + "/assign", {"email": "an@example.com"})
    assert answer.headers["Location"].startswith("/console/incidents/")
    with app.app_context():
        assert db.session.get(Report, report.id).customer_id is not None
        assert db.session.execute(select(Customer)).scalar_one().credential_state == "locked"
        assert db.session.execute(select(OutboxMessage.to_address)).scalar_one() == "an@example.com"
    assert "console:report:assigned" in actions_by(app, "lan@ecc.example")


def report_id_of_nobody(app) -> int:  # type: ignore[no-untyped-def]
    """An unmatched report (made once), to try the report page's assign form on."""
    with app.app_context():
        found = db.session.execute(select(Report.id).where(Report.customer_id.is_(None))).scalar()
    if found is None:
        submit(app.test_client(), "/report", {"email": "nobody.known@example.com", "kind": "lost"})
        with app.app_context():
            found = db.session.execute(select(Report.id).where(Report.customer_id.is_(None))).scalar_one()
    return found


def test_quarantine_assign_and_dismiss(app, staff_login, customer_id) -> None:  # type: ignore[no-untyped-def]
    with app.app_context():
        for name in ("spoof_bidi.eml",):
            ingest_message((CORPUS / name).read_bytes(), envelope=Envelope(), via="smtp", now=utcnow())
        ingest_message(
            b"From: an@example.com\nSubject: nul\n\nbad\x00\n", envelope=Envelope(), via="smtp", now=utcnow()
        )
        db.session.commit()
    client = staff_login("support", "lan@ecc.example")
    listing = client.get("/console/quarantine", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert "no_sender" in listing and "nul_bytes" in listing
    # Both assign forms say why nothing happened: a malformed address, or nobody has it.
    for page in ("/console/messages/2", f"/console/reports/{report_id_of_nobody(app)}"):
        for typed, said in (
            ("not an address", "The customer&#39;s email address:"),
            ("nobody@example.com", "No customer has that address."),
        ):
            refused = post_form(client, page, page + "/assign", {"email": typed}, headers={"Accept-Language": "en"})
            assert refused.headers["Location"].endswith(page)
            assert said in client.get(page, headers={"Accept-Language": "en"}).get_data(as_text=True)
    assign = post_form(client, "/console/messages/2", "/console/messages/2/assign", {"email": "an@example.com"})
    assert assign.headers["Location"].startswith("/console/incidents/")
    with app.app_context():
        message = db.session.get(InboundMessage, 2)
        assert message.status == "reported" and message.handled_by == "lan@ecc.example"
        report = db.session.execute(select(Report).where(Report.inbound_message_id == 2)).scalar_one()
        assert report.inbound_message_id == 2 and report.received_at == message.received_at
    post_form(client, "/console/messages/1", "/console/messages/1/dismiss", {"reason": "Spoofing attempt."})
    with app.app_context():
        dismissed = db.session.get(InboundMessage, 1)
        assert dismissed.status == "dismissed" and dismissed.raw  # the bytes stay
    assert {"console:message:assigned", "console:message:dismissed"} <= set(actions_by(app, "lan@ecc.example"))


def test_admin_deactivates_and_resets_totp(app, staff_login) -> None:  # type: ignore[no-untyped-def]
    support = staff_login("support", "lan@ecc.example")
    admin = staff_login("admin", "boss@ecc.example")
    post_form(admin, "/console/admin/staff", "/console/admin/staff/1/reset-totp", {})
    assert support.get("/console/incidents").status_code == 302
    post_form(admin, "/console/admin/staff", "/console/admin/staff/1/deactivate", {})
    own = post_form(admin, "/console/admin/staff", "/console/admin/staff/2/deactivate", {})
    assert own.status_code == 302  # refused with a message: not one's own account
    with app.app_context():
        from incident_service.staff.models import StaffUser

        users = {u.email: u for u in db.session.execute(select(StaffUser)).scalars()}
        assert not users["lan@ecc.example"].active and users["lan@ecc.example"].totp_secret is None
        assert users["boss@ecc.example"].active
    assert {"console:staff:totp_reset", "console:staff:deactivated"} <= set(actions_by(app, "boss@ecc.example"))


def test_audit_viewer_filters_and_verifies(app, staff_login, customer_id) -> None:  # type: ignore[no-untyped-def]
    submit(app.test_client(), "/report", {"email": "an@example.com", "kind": "stolen"})
    legal = staff_login("legal")
    page = legal.get("/console/audit?action=credential&verify=1", headers={"Accept-Language": "en"}).get_data(
        as_text=True
    )
    assert "web:credential:locked" in page and "web:report:received" not in page
    assert "The audit log is intact" in page
    # What happened is chosen by its name in words; the kind chosen stays selected.
    chosen = legal.get("/console/audit?action=credential:locked", headers={"Accept-Language": "vi"}).get_data(
        as_text=True
    )
    assert '<option value="credential:locked" selected>Đã vô hiệu hóa mật khẩu</option>' in chosen
    assert "web:credential:locked" in chosen and "web:report:received" not in chosen
    assert "Có chứa “credential”" in page_in_vi(legal, "/console/audit?action=credential")


def page_in_vi(client, url: str) -> str:  # type: ignore[no-untyped-def]
    return client.get(url, headers={"Accept-Language": "vi"}).get_data(as_text=True)


def test_manual_intake_starts_at_now_and_speaks_of_the_customer(app, staff_login) -> None:  # type: ignore[no-untyped-def]
    """Issue 13: most reports are typed as they come in, so 'when it reached us' starts at now (Vietnam
    time, to the minute); the kinds are worded as the agent relays them, in the third person."""
    from zoneinfo import ZoneInfo

    client = staff_login("support", "lan@ecc.example")
    before = utcnow().astimezone(ZoneInfo("Asia/Ho_Chi_Minh")).replace(tzinfo=None, second=0, microsecond=0)
    page = client.get("/console/intake/new", headers={"Accept-Language": "en"}).get_data(as_text=True)
    shown = re.search(r'id="reached_at" name="reached_at"[^>]*value="([^"]+)"', page) or re.search(
        r'value="([^"]+)"[^>]*id="reached_at"', page
    )
    assert shown is not None, "the field has a value"
    value = datetime.strptime(shown.group(1), "%d/%m/%Y %H:%M")  # as the pages write times
    assert timedelta(0) <= value - before <= timedelta(minutes=1)
    assert "The customer typed it into a fake page or message" in page and "I typed it" not in page
