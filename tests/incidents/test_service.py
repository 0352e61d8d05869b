"""incidents.service called directly: every channel opens or joins one incident the same way, unknown
addresses are kept and answered alike, and staff casework (notes, closing, attaching) is refused when
the state does not allow it."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, inspect, select
from sqlalchemy.exc import IntegrityError

from incident_service.assessment.models import DiscoveryStatement
from incident_service.assessment.service import DiscoveryAfterReport, incident_of_discovery_link, publish_policy
from incident_service.audit.models import AuditEvent
from incident_service.customers.models import Customer
from incident_service.customers.service import add_customer
from incident_service.extensions import db
from incident_service.incidents.models import CHANNELS, Incident, IncidentNote, Report
from incident_service.incidents.service import (
    CaseworkError,
    InvalidReport,
    ReportSubmission,
    add_note,
    attach_report_to_customer,
    close_incident,
    receive_report,
)
from incident_service.notifications.delivery import deliver_due
from incident_service.notifications.models import OutboxMessage
from incident_service.reactivation.models import ResetGrant
from incident_service.reactivation.service import load_reset_grant
from tests.helpers import SmtpSink, links_in

NOW = datetime(2026, 3, 10, 2, 0, tzinfo=UTC)
STAFF = "support@ecc.example"


# One app context, so one session: each test sees what the service flushed, as the edge would.
pytestmark = pytest.mark.usefixtures("app_context")


def customer(address: str = "an@example.com") -> Customer:
    return add_customer(address, name="An", locale="vi", password=None, source="cli", actor="test", now=NOW)


def report(address: str = "an@example.com", *, now: datetime = NOW, **fields: Any) -> Report:
    submission = ReportSubmission(**{"channel": "web", "kind": "lost", "address": address, **fields})
    return receive_report(submission, now=now)


def count(model: Any, *where: Any) -> int:
    return db.session.scalar(select(func.count()).select_from(model).where(*where)) or 0


def actions(*where: Any) -> list[str]:
    """The audit trail after the customers were created, in chain order."""
    query = select(AuditEvent.action).where(AuditEvent.action != "cli:customer:created", *where)
    return list(db.session.scalars(query.order_by(AuditEvent.id)))


@pytest.mark.parametrize("channel", CHANNELS)
def test_every_channel_opens_an_incident_with_the_same_reactivation(channel: str) -> None:
    an = customer()
    stamp = an.security_stamp
    received = receive_report(
        ReportSubmission(channel=channel, address="an@example.com", kind="stolen", entered_by=STAFF),
        now=NOW,
        actor=STAFF,
    )
    incident = received.incident
    assert incident is not None and incident.reference == f"INC-2026-{incident.id:06d}"
    assert received.reference == f"RPT-2026-{received.id:06d}" and received.channel == channel
    assert (incident.status, incident.first_channel, incident.first_received_at) == ("reactivated", channel, NOW)
    assert an.credential_state == "locked" and an.security_stamp != stamp
    assert db.session.scalars(select(ResetGrant)).one().incident_id == incident.id
    assert db.session.scalars(select(OutboxMessage.template)).all() == ["acknowledgement"]
    assert actions() == [
        f"{channel}:report:received",
        f"{channel}:incident:opened",
        f"{channel}:credential:locked",
        f"{channel}:sessions:revoked",
        f"{channel}:reset_grant:issued",
        f"{channel}:email:queued",
    ]
    events = db.session.scalars(select(AuditEvent).where(AuditEvent.action != "cli:customer:created")).all()
    assert {event.actor for event in events} == {STAFF}


def test_received_at_is_the_server_clock_and_the_stated_time_only_a_statement() -> None:
    customer()
    noticed = NOW - timedelta(hours=3)
    received = report(discovered_at=noticed)
    assert received.received_at == NOW and received.recorded_at == NOW
    assert received.received_at_source == "server_clock"
    statement = db.session.scalars(select(DiscoveryStatement)).one()
    assert (statement.discovered_at, statement.incident_id, statement.report_id) == (
        noticed,
        received.incident_id,
        received.id,
    )
    assert received.incident is not None and received.incident.reporting_delay_seconds == 3 * 3600


def test_a_trusted_edge_may_give_the_company_mta_time() -> None:
    customer()
    mta_time = NOW - timedelta(minutes=7)
    received = report(channel="email", received_at=mta_time, received_at_source="mta_received")
    assert (received.received_at, received.recorded_at, received.received_at_source) == (
        mta_time,
        NOW,
        "mta_received",
    )
    assert received.incident is not None and received.incident.first_received_at == mta_time


def test_references_carry_the_year_in_the_display_zone() -> None:
    customer()
    new_year_in_hanoi = datetime(2026, 12, 31, 17, 30, tzinfo=UTC)  # 00:30 on 1 January 2027, UTC+7
    received = report(now=new_year_in_hanoi)
    assert received.reference is not None and received.reference.startswith("RPT-2027-")
    assert received.incident is not None and received.incident.reference.startswith("INC-2027-")


def test_the_address_is_matched_whatever_its_case_and_spacing() -> None:
    an = customer()
    received = report("  An@EXAMPLE.com ")
    assert received.customer_id == an.id and received.address_normalized == "an@example.com"
    assert received.claimed_address == "  An@EXAMPLE.com "  # evidence: kept as the reporter typed it


def test_an_unknown_address_is_kept_unmatched_and_changes_nothing_else() -> None:
    received = report("Nobody@Example.com", discovered_at=NOW - timedelta(hours=1))
    assert (received.customer_id, received.incident_id, received.address_normalized) == (
        None,
        None,
        "nobody@example.com",
    )
    assert count(Incident) == count(ResetGrant) == count(OutboxMessage) == 0
    assert db.session.scalars(select(DiscoveryStatement.report_id)).all() == [received.id]
    assert actions() == ["web:report:received", "customer:discovery:stated"]


def test_an_invalid_address_is_kept_as_claimed() -> None:
    received = report("not an address <at> all")
    assert received.address_normalized is None and received.customer_id is None
    data = db.session.scalars(select(AuditEvent.data).where(AuditEvent.action == "web:report:received")).one()
    assert '"address":"not an address <at> all"' in data


@pytest.mark.parametrize("field,value", [("channel", "carrier_pigeon"), ("kind", "forgotten")])
def test_an_unknown_channel_or_kind_is_refused_before_anything_is_written(field: str, value: str) -> None:
    customer()
    with pytest.raises(InvalidReport):
        report(**{field: value})
    assert count(Report) == 0 and actions() == []


def test_a_discovery_after_the_report_is_refused_before_anything_is_written() -> None:
    an = customer()
    with pytest.raises(DiscoveryAfterReport) as refused:
        report(discovered_at=NOW + timedelta(minutes=1))
    assert (refused.value.discovered_at, refused.value.received_at) == (NOW + timedelta(minutes=1), NOW)
    assert count(Report) == count(Incident) == 0 and actions() == []
    assert an.credential_state == "active"


def test_a_second_report_joins_the_open_incident_without_a_second_link() -> None:
    an = customer()
    first = report()
    stamp = an.security_stamp
    second = report(channel="phone", now=NOW + timedelta(minutes=5))
    assert second.incident_id == first.incident_id and count(Incident) == 1
    assert an.security_stamp == stamp  # the earlier link still works: not rotated again
    assert count(ResetGrant) == 1 and count(OutboxMessage) == 1
    assert actions(AuditEvent.report_id == second.id) == ["phone:report:received", "phone:report:attached"]
    assert actions().count("web:credential:locked") == 1 and "phone:credential:locked" not in actions()


def test_a_report_after_the_resend_window_sends_a_fresh_link(app: Flask) -> None:
    customer()
    first = report()
    later = NOW + timedelta(seconds=app.config["LINK_RESEND_WINDOW_SECONDS"])
    second = report(now=later)
    assert second.incident_id == first.incident_id
    old, new = db.session.scalars(select(ResetGrant).order_by(ResetGrant.id)).all()
    assert old.revoked_at == later and new.revoked_at is None and new.incident_id == first.incident_id
    assert count(OutboxMessage, OutboxMessage.template == "acknowledgement") == 2
    assert first.incident is not None and first.incident.last_link_sent_at == later


def test_an_older_report_becomes_the_first_and_brings_its_own_policy() -> None:
    customer()
    publish_policy(
        threshold_hours=6, effective_from=NOW - timedelta(hours=1), note="", actor=STAFF, now=NOW - timedelta(hours=2)
    )
    first = report(discovered_at=NOW - timedelta(hours=30))
    incident = first.incident
    assert incident is not None and (incident.late_threshold_hours, incident.lateness) == (6, "late")

    imported_at = NOW - timedelta(hours=20)  # an email that reached the company MTA earlier, imported now
    report(channel="email", received_at=imported_at, received_at_source="mta_received", now=NOW + timedelta(hours=1))
    assert (incident.first_received_at, incident.first_channel) == (imported_at, "email")
    assert (incident.late_threshold_hours, incident.policy_version_id) == (24, None)  # the default, before the 6 h
    assert (incident.reporting_delay_seconds, incident.lateness) == (10 * 3600, "on_time")
    # The change of lateness is on the record, as when a statement changes it.
    assessed = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "system:incident:assessed")).all()
    assert assessed and json.loads(assessed[-1].data)["lateness"] == "on_time"


def test_a_stated_time_after_the_first_report_stays_with_its_own_report() -> None:
    customer()
    first = report()
    # Noticed after the first report but before this one: true for this report, not for the incident.
    second = report(now=NOW + timedelta(hours=2), discovered_at=NOW + timedelta(hours=1))
    statement = db.session.scalars(select(DiscoveryStatement)).one()
    assert (statement.incident_id, statement.report_id) == (None, second.id)
    assert first.incident is not None and first.incident.lateness == "unknown"


def test_after_an_incident_is_closed_the_next_report_opens_a_new_one() -> None:
    customer()
    first = report()
    assert first.incident is not None
    close_incident(first.incident, category="duplicate", reason="same as by phone", actor=STAFF, now=NOW)
    second = report(now=NOW + timedelta(days=1))
    assert second.incident_id != first.incident_id and count(Incident) == 2
    assert second.incident is not None and second.incident.is_open


def test_the_acknowledgement_goes_to_the_address_on_record_with_working_links(smtp_sink: SmtpSink) -> None:
    an = customer()
    received = report("AN@Example.com")
    db.session.commit()
    deliver_due()
    [(_sender, recipients, message)] = smtp_sink.messages
    assert recipients == ["an@example.com"]
    links = links_in(message)
    # One reference for the customer: the report's, which the page showed; not the incident's own.
    body = message.get_body(("plain",)).get_content()
    assert received.reference is not None and received.reference in body and "INC-" not in body
    assert received.reference in message["Subject"]
    reset_customer, grant = load_reset_grant(links["reset"].rsplit("/", 1)[1], NOW)
    assert reset_customer.id == an.id and grant.incident_id == received.incident_id
    assert incident_of_discovery_link(links["discovery"].rsplit("/", 1)[1]).id == received.incident_id


def test_a_note_is_appended_and_audited() -> None:
    customer()
    incident = report().incident
    assert incident is not None
    note = add_note(incident, "  Called the customer back.  ", actor=STAFF, now=NOW + timedelta(minutes=3))
    assert (note.incident_id, note.author, note.text, note.created_at) == (
        incident.id,
        STAFF,
        "Called the customer back.",
        NOW + timedelta(minutes=3),
    )
    event = db.session.scalars(select(AuditEvent).order_by(AuditEvent.id.desc()).limit(1)).one()
    assert (event.action, event.actor, event.incident_id, event.data) == (
        "console:incident:note_added",
        STAFF,
        incident.id,
        f'{{"note":{note.id}}}',
    )
    assert count(IncidentNote) == 1


def test_closing_keeps_the_password_locked_and_the_link_live() -> None:
    an = customer()
    incident = report().incident
    assert incident is not None
    close_incident(incident, category="withdrawn", reason=" customer withdrew by phone ", actor=STAFF, now=NOW)
    assert (incident.status, incident.closed_at, incident.close_reason) == (
        "closed",
        NOW,
        "withdrawn: customer withdrew by phone",
    )
    assert an.credential_state == "locked"
    assert db.session.scalars(select(ResetGrant)).one().is_live(NOW)
    assert actions()[-1] == "console:incident:closed"


def test_closing_needs_a_known_reason_and_an_open_incident() -> None:
    customer()
    incident = report().incident
    assert incident is not None
    with pytest.raises(CaseworkError):
        close_incident(incident, category="bored", reason="", actor=STAFF, now=NOW)
    assert incident.is_open
    close_incident(incident, category="spam", reason="", actor=STAFF, now=NOW)
    with pytest.raises(CaseworkError):
        close_incident(incident, category="duplicate", reason="again", actor=STAFF, now=NOW)
    assert incident.close_reason == "spam: " and actions().count("console:incident:closed") == 1


def test_attaching_an_unmatched_report_reactivates_the_customer_staff_named() -> None:
    unmatched = report("an.old.address@example.net")
    an = customer()
    incident = attach_report_to_customer(unmatched, an, actor=STAFF, now=NOW + timedelta(hours=1))
    assert unmatched.customer_id == an.id and unmatched.incident_id == incident.id
    assert incident.first_received_at == NOW  # the report's own receipt, not the time staff attached it
    assert an.credential_state == "locked"
    assert db.session.scalars(select(OutboxMessage.to_address)).all() == ["an@example.com"]
    assert actions()[:3] == ["web:report:received", "console:report:assigned", "console:incident:opened"]


def test_attaching_brings_the_discovery_time_stated_on_the_report() -> None:
    unmatched = report("an.old.address@example.net", discovered_at=NOW - timedelta(hours=2))
    an = customer()
    incident = attach_report_to_customer(unmatched, an, actor=STAFF, now=NOW + timedelta(hours=1))
    statement = db.session.scalars(select(DiscoveryStatement)).one()
    assert (statement.incident_id, statement.report_id) == (incident.id, unmatched.id)
    assert (incident.reporting_delay_seconds, incident.lateness) == (2 * 3600, "on_time")
    assert "system:incident:assessed" in actions()


def test_the_reference_the_customer_quotes_stays_that_of_the_opening_report() -> None:
    """An older report attached later changes what the incident measures from, never the reference the
    customer was given (on the receipt page and in the acknowledgement)."""
    older = report("an.old.address@example.net", now=NOW - timedelta(hours=2))
    an = customer()
    opening = report()
    incident = opening.incident
    assert incident is not None and incident.customer_reference == opening.reference
    attach_report_to_customer(older, an, actor=STAFF, now=NOW + timedelta(minutes=5))
    assert incident.first_received_at == older.received_at  # measured from the older report now
    assert incident.customer_reference == opening.reference  # but quoted as before


def test_attaching_joins_the_customer_s_open_incident() -> None:
    an = customer()
    incident = report().incident
    unmatched = report("an.old.address@example.net", now=NOW + timedelta(minutes=1))
    assert attach_report_to_customer(unmatched, an, actor=STAFF, now=NOW + timedelta(minutes=2)) is incident
    assert count(Incident) == 1 and count(OutboxMessage) == 1  # within the resend window


def test_a_report_that_has_a_customer_cannot_be_attached_again() -> None:
    customer()
    binh = customer("binh@example.com")
    matched = report()
    with pytest.raises(CaseworkError):
        attach_report_to_customer(matched, binh, actor=STAFF, now=NOW)
    assert matched.customer_id != binh.id and binh.credential_state == "active"


def test_a_report_opening_an_incident_keeps_all_the_reporter_gave() -> None:
    """The opening is written by incidents.bulk's statements (issue 17): every field of the submission
    is stored, and an imported message's own time picks the year and the policy then in force."""
    customer()
    publish_policy(threshold_hours=6, effective_from=NOW, note="", actor=STAFF, now=NOW - timedelta(minutes=1))
    imported_at = datetime(2025, 12, 31, 16, 0, tzinfo=UTC)  # 23:00 on 31 December 2025 in Hanoi
    received = report(
        " An@Example.COM ",
        channel="email",
        details="Tôi làm mất điện thoại",
        client_ip="203.0.113.9",
        user_agent="x" * 600,
        entered_by="support@ecc.example",
        received_at=imported_at,
        received_at_source="mta_received",
    )
    assert (received.claimed_address, received.address_normalized) == (" An@Example.COM ", "an@example.com")
    assert (received.details, received.client_ip, received.entered_by) == (
        "Tôi làm mất điện thoại",
        "203.0.113.9",
        "support@ecc.example",
    )
    assert received.user_agent == "x" * 512
    assert (received.received_at, received.received_at_source, received.recorded_at) == (
        imported_at,
        "mta_received",
        NOW,
    )
    incident = received.incident
    assert incident is not None and received.reference is not None
    assert received.reference.startswith("RPT-2025-") and incident.reference.startswith("INC-2025-")
    assert (incident.opened_at, incident.first_received_at, incident.customer_reference) == (
        NOW,
        imported_at,
        received.reference,
    )
    assert (incident.late_threshold_hours, incident.policy_version_id) == (24, None)  # the 6 h came later
    data = json.loads(
        db.session.scalars(select(AuditEvent.data).where(AuditEvent.action == "email:report:received")).one()
    )
    assert data == {"reference": received.reference, "kind": "lost", "address": "an@example.com"}
    an = db.session.scalars(select(Customer)).one()
    assert an.credential_state == "locked"  # the session's copy is not stale after the statements


def test_the_opening_report_the_session_holds_is_the_row_as_written() -> None:
    """An opening's report is not read back (issue 17): the session holds the row's values as written,
    as a loaded row, clean. Each column must read as a fresh load of the row does."""
    customer()
    received = report(" An@Example.COM ", details="Mất mật khẩu", client_ip="203.0.113.9", user_agent="Firefox")
    assert inspect(received).persistent and received not in db.session.new
    assert not db.session.is_modified(received)
    held = {column: getattr(received, column) for column in Report.__table__.columns.keys()}
    db.session.expunge(received)
    loaded = db.session.get(Report, held["id"])
    assert loaded is not None and loaded is not received
    assert held == {column: getattr(loaded, column) for column in Report.__table__.columns.keys()}
    assert received.incident_id is not None and held["reference"].startswith("RPT-2026-")


@pytest.mark.real_commits
def test_an_opening_that_finds_an_incident_opened_meanwhile(monkeypatch: pytest.MonkeyPatch) -> None:
    """R2 on the opening path: the check saw no open incident, yet one is open when the opening writes
    (as if a mass reactivation had opened it in between). On PostgreSQL the savepoint undoes the opening
    and the report joins that incident. On SQLite the write lock, held since the transaction's first
    statement, rules that out, so there it is a fault: raised, and nothing of it kept once rolled back."""
    from incident_service.incidents import service

    customer()
    first = report()
    db.session.commit()
    incident_id, stamp = first.incident_id, db.session.scalars(select(Customer.security_stamp)).one()
    trail = actions()
    monkeypatch.setattr(service, "has_open_incident", lambda _customer_id: False)
    if db.session.get_bind().dialect.name == "sqlite":
        with pytest.raises(IntegrityError):
            report()
        db.session.rollback()
        assert count(Incident) == count(Report) == 1
        assert db.session.scalars(select(Customer.security_stamp)).one() == stamp and actions() == trail
    else:
        second = report()
        assert count(Incident) == 1 and second.incident_id == incident_id
        assert actions().count("web:report:attached") == 1
