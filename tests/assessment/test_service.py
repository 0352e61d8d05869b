"""assessment.service called directly: discovery statements and the delay and lateness they give, the
policy version in force, legal's review decisions, and the personal-data breach clock."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from flask import Flask
from sqlalchemy import select

from incident_service.assessment.models import DiscoveryStatement, ReviewDecision
from incident_service.assessment.service import (
    DiscoveryAfterReport,
    PolicyError,
    ReviewError,
    breach_deadline,
    incident_of_discovery_link,
    mark_breach,
    policy_in_force,
    publish_policy,
    reassess,
    record_authority_notification,
    record_discovery_statement,
    record_review_decision,
)
from incident_service.audit.models import AuditEvent
from incident_service.customers.service import add_customer
from incident_service.extensions import db
from incident_service.incidents.models import Incident, Report
from incident_service.incidents.service import ReportSubmission, receive_report
from incident_service.notifications.delivery import deliver_due
from incident_service.notifications.models import OutboxMessage
from incident_service.tokens import DISCOVERY, REPORT, TokenInvalid, make_token
from tests.helpers import SmtpSink, links_in

NOW = datetime(2026, 3, 10, 2, 0, tzinfo=UTC)
LEGAL = "legal@ecc.example"


# One app context, so one session: each test sees what the service flushed, as the edge would.
pytestmark = pytest.mark.usefixtures("app_context")


def report(address: str = "an@example.com", *, now: datetime = NOW) -> Report:
    return receive_report(ReportSubmission(channel="web", address=address, kind="leaked"), now=now)


@pytest.fixture
def incident() -> Incident:
    """An's open incident, first reported at NOW under the default 24-hour threshold, nothing stated yet."""
    add_customer("an@example.com", name="An", locale="en", password=None, source="cli", actor="test", now=NOW)
    opened = report().incident
    assert opened is not None
    return opened


def state(
    incident: Incident,
    discovered_at: datetime,
    *,
    at: datetime = NOW,
    source: str = "discovery_link",
    actor: str = "customer",
    is_override: bool = False,
    reason: str | None = None,
) -> DiscoveryStatement:
    """Record that the loss was noticed at `discovered_at`, said at `at`."""
    return record_discovery_statement(
        discovered_at=discovered_at,
        source=source,
        actor=actor,
        now=at,
        incident=incident,
        is_override=is_override,
        reason=reason,
    )


def actions(incident: Incident) -> list[str]:
    query = select(AuditEvent.action).where(AuditEvent.incident_id == incident.id).order_by(AuditEvent.id)
    return list(db.session.scalars(query))


def last_event() -> AuditEvent:
    return db.session.scalars(select(AuditEvent).order_by(AuditEvent.id.desc()).limit(1)).one()


def test_a_statement_sets_delay_and_lateness_and_is_audited(incident: Incident) -> None:
    statement = state(incident, NOW - timedelta(hours=30), at=NOW + timedelta(days=1))
    assert (statement.incident_id, statement.stated_at, statement.source) == (
        incident.id,
        NOW + timedelta(days=1),
        "discovery_link",
    )
    assert incident.effective_discovered_at == NOW - timedelta(hours=30)
    assert (incident.reporting_delay_seconds, incident.lateness) == (30 * 3600, "late")
    assert actions(incident)[-2:] == ["customer:discovery:stated", "system:incident:assessed"]
    assert last_event().data == '{"delay_seconds":108000,"lateness":"late","threshold_hours":24}'


def test_exactly_at_the_threshold_is_on_time_one_second_more_is_late(incident: Incident) -> None:
    state(incident, NOW - timedelta(hours=24))
    assert incident.lateness == "on_time"
    state(incident, NOW - timedelta(hours=24, seconds=1), at=NOW + timedelta(minutes=1))
    assert incident.lateness == "late"


def test_a_statement_that_changes_no_lateness_writes_no_assessment_event(incident: Incident) -> None:
    state(incident, NOW - timedelta(hours=2))
    state(incident, NOW - timedelta(hours=3), at=NOW + timedelta(minutes=1))
    assert incident.reporting_delay_seconds == 3 * 3600
    assert actions(incident).count("system:incident:assessed") == 1


def test_the_latest_statement_counts_and_every_one_is_kept(incident: Incident) -> None:
    state(incident, NOW - timedelta(days=3), at=NOW + timedelta(hours=1))
    state(incident, NOW - timedelta(hours=1), at=NOW + timedelta(hours=2))
    assert (incident.effective_discovered_at, incident.lateness) == (NOW - timedelta(hours=1), "on_time")
    assert len(db.session.scalars(select(DiscoveryStatement)).all()) == 2


def test_a_staff_override_wins_over_later_customer_statements(incident: Incident) -> None:
    state(
        incident,
        NOW - timedelta(days=2),
        source="staff_override",
        actor=LEGAL,
        is_override=True,
        reason="email from the customer on 8 March",
    )
    assert last_event().action == "system:incident:assessed"
    assert actions(incident)[-2] == "staff:discovery:stated"
    state(incident, NOW - timedelta(hours=1), at=NOW + timedelta(hours=1))
    assert (incident.effective_discovered_at, incident.lateness) == (NOW - timedelta(days=2), "late")


def test_a_discovery_after_the_first_report_is_refused_with_both_times(incident: Incident) -> None:
    with pytest.raises(DiscoveryAfterReport) as refused:
        state(incident, NOW + timedelta(seconds=1))
    assert (refused.value.discovered_at, refused.value.received_at) == (NOW + timedelta(seconds=1), NOW)
    assert db.session.scalars(select(DiscoveryStatement)).first() is None
    assert "customer:discovery:stated" not in actions(incident) and incident.lateness == "unknown"


def test_a_statement_on_an_unmatched_report_is_checked_against_that_report() -> None:
    unmatched = report("nobody@example.com")
    statement = record_discovery_statement(
        discovered_at=NOW - timedelta(hours=1), source="staff_call", actor=LEGAL, now=NOW, report=unmatched
    )
    assert (statement.incident_id, statement.report_id) == (None, unmatched.id)
    assert last_event().action == "staff:discovery:stated"
    with pytest.raises(DiscoveryAfterReport):
        record_discovery_statement(
            discovered_at=NOW + timedelta(hours=1), source="staff_call", actor=LEGAL, now=NOW, report=unmatched
        )


def test_reassess_follows_a_changed_first_report_or_threshold(incident: Incident) -> None:
    state(incident, NOW - timedelta(hours=10))
    assert incident.lateness == "on_time"
    incident.late_threshold_hours = 6
    reassess(incident)
    assert (incident.reporting_delay_seconds, incident.lateness) == (10 * 3600, "late")
    incident.first_received_at = NOW - timedelta(hours=5)
    reassess(incident)
    assert (incident.reporting_delay_seconds, incident.lateness) == (5 * 3600, "on_time")


def test_reassess_without_statements_leaves_it_unknown(incident: Incident) -> None:
    reassess(incident)
    assert (incident.effective_discovered_at, incident.reporting_delay_seconds, incident.lateness) == (
        None,
        None,
        "unknown",
    )


def test_a_discovery_link_names_its_incident(incident: Incident) -> None:
    assert incident_of_discovery_link(make_token(DISCOVERY, {"c": incident.customer_id, "i": incident.id})) is incident


def test_a_discovery_link_for_another_customer_s_incident_is_invalid(incident: Incident) -> None:
    add_customer("binh@example.com", name="Bình", locale="vi", password=None, source="cli", actor="t", now=NOW)
    binh_incident = report("binh@example.com").incident
    assert binh_incident is not None
    for bad in (
        make_token(DISCOVERY, {"c": incident.customer_id, "i": binh_incident.id}),  # someone else's incident
        make_token(DISCOVERY, {"c": incident.customer_id, "i": 999_999}),  # no such incident
        make_token(REPORT, {"c": incident.customer_id, "i": incident.id}),  # another purpose
        make_token(DISCOVERY, {"c": incident.customer_id, "i": incident.id})[:-2] + "zz",  # tampered
    ):
        with pytest.raises(TokenInvalid):
            incident_of_discovery_link(bad)


def test_the_default_threshold_holds_until_a_version_takes_effect(app: Flask) -> None:
    assert policy_in_force(NOW) == (app.config["LATE_REPORT_THRESHOLD_HOURS"], None)
    starts = NOW + timedelta(days=1)
    version = publish_policy(threshold_hours=12, effective_from=starts, note="  stricter  ", actor=LEGAL, now=NOW)
    later = publish_policy(
        threshold_hours=48, effective_from=starts + timedelta(days=30), note="", actor=LEGAL, now=NOW
    )
    assert policy_in_force(starts - timedelta(microseconds=1))[1] is None
    assert policy_in_force(starts) == (12, version.id)  # in force from its very first moment
    assert policy_in_force(starts + timedelta(days=31)) == (48, later.id)
    assert (version.note, version.created_by, version.created_at) == ("stricter", LEGAL, NOW)
    events = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "console:policy:published")).all()
    assert [event.actor for event in events] == [LEGAL, LEGAL]


@pytest.mark.parametrize(
    "hours,starts,code",
    [
        (0, NOW, "threshold_range"),
        (24 * 365 + 1, NOW, "threshold_range"),
        (12, NOW - timedelta(minutes=2), "in_the_past"),
        (12, NOW + timedelta(days=1), "clash"),
    ],
)
def test_a_policy_version_is_refused_with_a_code(hours: int, starts: datetime, code: str) -> None:
    publish_policy(threshold_hours=6, effective_from=NOW + timedelta(days=1), note="", actor=LEGAL, now=NOW)
    with pytest.raises(PolicyError) as refused:
        publish_policy(threshold_hours=hours, effective_from=starts, note="", actor=LEGAL, now=NOW)
    assert refused.value.code == code
    assert policy_in_force(NOW + timedelta(days=2))[0] == 6


def test_a_policy_may_start_within_the_last_minute() -> None:
    version = publish_policy(
        threshold_hours=12, effective_from=NOW - timedelta(seconds=30), note="", actor=LEGAL, now=NOW
    )
    assert policy_in_force(NOW) == (12, version.id)


def test_review_decisions_are_appended_and_the_latest_stands(incident: Incident) -> None:
    first = record_review_decision(incident, decision="exemption_asserted", rationale=" late ", actor=LEGAL, now=NOW)
    second = record_review_decision(
        incident, decision="exemption_waived", rationale="customer was abroad", actor=LEGAL, now=NOW + timedelta(days=1)
    )
    assert incident.review_decision == "exemption_waived"
    assert [row.id for row in db.session.scalars(select(ReviewDecision).order_by(ReviewDecision.id))] == [
        first.id,
        second.id,
    ]
    assert (first.rationale, first.decided_by, first.customer_asked) == ("late", LEGAL, False)
    assert actions(incident).count("console:review:decided") == 2


@pytest.mark.parametrize("decision,rationale", [("guilty", "because"), ("exemption_asserted", "   ")])
def test_a_review_decision_needs_a_known_decision_and_a_rationale(
    incident: Incident, decision: str, rationale: str
) -> None:
    with pytest.raises(ReviewError):
        record_review_decision(incident, decision=decision, rationale=rationale, actor=LEGAL, now=NOW)
    assert incident.review_decision is None and db.session.scalars(select(ReviewDecision)).first() is None


def test_asking_the_customer_sends_a_working_discovery_link(incident: Incident, smtp_sink: SmtpSink) -> None:
    entry = record_review_decision(
        incident, decision="needs_information", rationale="when?", actor=LEGAL, now=NOW, ask_customer=True
    )
    assert entry.customer_asked
    templates = db.session.scalars(select(OutboxMessage.template).order_by(OutboxMessage.id)).all()
    assert templates == ["acknowledgement", "discovery_request"]
    db.session.commit()
    deliver_due()
    [request] = [message for message in smtp_sink.to("an@example.com") if "reset" not in links_in(message)]
    reference = incident.customer_reference  # the opening report's, as the acknowledgement said
    assert reference is not None and reference.startswith("RPT-")
    assert reference in request.get_body(("plain",)).get_content() and reference in request["Subject"]
    token = links_in(request)["discovery"].rsplit("/", 1)[1]
    assert incident_of_discovery_link(token).id == incident.id


def test_only_needs_information_asks_the_customer(incident: Incident) -> None:
    entry = record_review_decision(
        incident, decision="exemption_asserted", rationale="late", actor=LEGAL, now=NOW, ask_customer=True
    )
    assert not entry.customer_asked
    templates = db.session.scalars(select(OutboxMessage.template)).all()
    assert "discovery_request" not in templates


def test_marking_a_breach_starts_the_72_hour_clock_once(incident: Incident) -> None:
    marked_at = NOW + timedelta(hours=5)
    mark_breach(incident, reason="Passwords of many customers exposed", actor=LEGAL, now=marked_at)
    mark_breach(incident, reason="again", actor="someone.else@ecc.example", now=marked_at + timedelta(hours=1))
    assert (incident.personal_data_breach, incident.breach_marked_at, incident.breach_marked_by) == (
        True,
        marked_at,
        LEGAL,
    )
    assert breach_deadline(incident) == NOW + timedelta(hours=72)  # from the first report, not from the marking
    assert actions(incident).count("console:breach:marked") == 1
    assert json.loads(last_event().data) == {
        "deadline": (NOW + timedelta(hours=72)).isoformat(),
        "reason": "Passwords of many customers exposed",
    }


def test_marking_a_breach_needs_a_reason(incident: Incident) -> None:
    with pytest.raises(ReviewError):
        mark_breach(incident, reason="  ", actor=LEGAL, now=NOW)
    assert not incident.personal_data_breach and "console:breach:marked" not in actions(incident)


def test_the_breach_deadline_follows_the_first_report() -> None:
    add_customer("an@example.com", name="An", locale="en", password=None, source="cli", actor="t", now=NOW)
    later = report(now=NOW + timedelta(days=1))
    earlier = receive_report(
        ReportSubmission(
            channel="email", address="an@example.com", kind="leaked", received_at=NOW, received_at_source="mta"
        ),
        now=NOW + timedelta(days=1, minutes=1),
    )
    assert later.incident is earlier.incident and later.incident is not None
    assert breach_deadline(later.incident) == NOW + timedelta(hours=72)


def test_the_authority_notification_needs_a_marked_breach(incident: Incident) -> None:
    with pytest.raises(ReviewError):
        record_authority_notification(incident, notified_at=NOW, how="portal", actor=LEGAL, now=NOW)
    assert incident.authority_notified_at is None
    mark_breach(incident, reason="Passwords of many customers exposed", actor=LEGAL, now=NOW)
    notified = NOW + timedelta(hours=40)
    record_authority_notification(
        incident, notified_at=notified, how=" A05 portal, receipt 123 ", actor=LEGAL, now=notified + timedelta(hours=1)
    )
    assert (incident.authority_notified_at, incident.authority_notification) == (notified, "A05 portal, receipt 123")
    event = last_event()
    assert (event.action, event.occurred_at) == ("console:breach:authority_notified", notified + timedelta(hours=1))
