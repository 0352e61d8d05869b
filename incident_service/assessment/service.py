"""Recording discovery statements and keeping each incident's delay and lateness up to date."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import bindparam, select

from ..audit.actions import Event, Source, tag
from ..audit.service import append_event
from ..domain_errors import DomainError
from ..extensions import core_execute, db
from ..incidents.models import Incident, Report
from ..tokens import TokenInvalid, read_discovery_link
from .lateness import assess, effective_discovery
from .models import DECISION_NEEDS_INFORMATION, DECISIONS, DiscoveryStatement, PolicyVersion, ReviewDecision


class DiscoveryAfterReport(DomainError):
    """The stated discovery time is later than the report it explains; the message gives both."""

    def __init__(self, discovered_at: datetime, received_at: datetime) -> None:
        super().__init__(
            f"discovery {discovered_at.isoformat()} is after the report received {received_at.isoformat()}"
        )
        self.discovered_at = discovered_at
        self.received_at = received_at


def reassess(incident: Incident) -> None:
    """Recompute the effective discovery time, delay and lateness from all of the incident's statements."""
    statements = (
        db.session.execute(select(DiscoveryStatement).where(DiscoveryStatement.incident_id == incident.id))
        .scalars()
        .all()
    )
    result = assess(incident.first_received_at, effective_discovery(statements), incident.late_threshold_hours)
    incident.effective_discovered_at = result.discovered_at
    incident.reporting_delay_seconds = int(result.delay.total_seconds()) if result.delay is not None else None
    incident.lateness = result.lateness


def incident_of_discovery_link(token: str) -> Incident:
    """The incident a `/discovery/<token>` link was made for; TokenError if it is not such a link, or
    the incident is not that customer's."""
    link = read_discovery_link(token)
    incident = db.session.get(Incident, link.incident_id)
    if incident is None or incident.customer_id != link.customer_id:
        raise TokenInvalid("no such incident for this customer")
    return incident


def record_discovery_statement(
    *,
    discovered_at: datetime,
    source: str,
    actor: str,
    now: datetime,
    incident: Incident | None = None,
    report: Report | None = None,
    is_override: bool = False,
    reason: str | None = None,
) -> DiscoveryStatement:
    """Keep a statement of when the loss was noticed and reassess the incident it belongs to.

    Raises DiscoveryAfterReport when the time is after the first report (or the report) it explains.
    Audits `customer:discovery:stated` (or `staff:`) and, when lateness changes, `system:incident:assessed`.
    """
    customer_id: int | None
    if incident is not None:
        reference_time, customer_id = incident.first_received_at, incident.customer_id
    elif report is not None:
        reference_time, customer_id = report.received_at, report.customer_id
    else:
        raise TypeError("a discovery statement explains an incident or a report")
    if discovered_at > reference_time:
        raise DiscoveryAfterReport(discovered_at, reference_time)
    statement = DiscoveryStatement(
        incident_id=incident.id if incident is not None else None,
        report_id=report.id if report is not None else None,
        discovered_at=discovered_at,
        source=source,
        is_override=is_override,
        reason=reason,
        stated_at=now,
        actor=actor,
    )
    db.session.add(statement)
    db.session.flush()
    who = "staff" if source.startswith("staff") else "customer"
    append_event(
        tag(who, Event.DISCOVERY_STATED),
        actor=actor,
        now=now,
        customer_id=customer_id,
        incident_id=statement.incident_id,
        report_id=statement.report_id,
        data={"statement": statement.id, "discovered_at": discovered_at.isoformat(), "override": is_override},
    )
    if incident is not None:
        reassess_and_record(incident, now=now)
    return statement


def reassess_and_record(incident: Incident, *, now: datetime) -> None:
    """Reassess `incident` and, when its lateness changed, audit `system:incident:assessed`."""
    before = incident.lateness
    reassess(incident)
    if incident.lateness != before:
        append_event(
            tag(Source.SYSTEM, Event.INCIDENT_ASSESSED),
            actor="system",
            now=now,
            customer_id=incident.customer_id,
            incident_id=incident.id,
            data={
                "lateness": incident.lateness,
                "delay_seconds": incident.reporting_delay_seconds,
                "threshold_hours": incident.late_threshold_hours,
            },
        )


def adopt_report_statements(incident: Incident, report: Report, *, now: datetime) -> None:
    """The discovery times stated on `report` before it had a customer now speak for the incident it
    joined (those not after the incident's first report), and the incident is reassessed with them."""
    statements = db.session.execute(
        select(DiscoveryStatement).where(
            DiscoveryStatement.report_id == report.id,
            DiscoveryStatement.incident_id.is_(None),
            DiscoveryStatement.discovered_at <= incident.first_received_at,
        )
    ).scalars()
    for statement in statements:
        statement.incident_id = incident.id
    db.session.flush()
    reassess_and_record(incident, now=now)


class PolicyError(DomainError):
    """A policy version that cannot be published; `code` says why (threshold_range, in_the_past, clash)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def policy_in_force(at: datetime) -> tuple[int, int | None]:
    """The late threshold (hours) in force at `at` and the id of the policy version that sets it: the
    latest version effective by then, else the LATE_REPORT_THRESHOLD_HOURS setting (and no version)."""
    version = core_execute(_POLICY_IN_FORCE, {"at": at}).first()
    if version is None:
        return int(current_app.config["LATE_REPORT_THRESHOLD_HOURS"]), None
    return version.threshold_hours, version.id


# Built once: every report opening an incident runs it, and building it cost more than running it (issue 17).
_POLICY_IN_FORCE = (
    select(PolicyVersion.id, PolicyVersion.threshold_hours)
    .where(PolicyVersion.effective_from <= bindparam("at", type_=PolicyVersion.__table__.c.effective_from.type))
    .order_by(PolicyVersion.effective_from.desc())
    .limit(1)
)


def publish_policy(
    *, threshold_hours: int, effective_from: datetime, note: str, actor: str, now: datetime
) -> PolicyVersion:
    """Add a policy version. It cannot take effect in the past, so no earlier incident is re-judged.
    Audits `<actor>:policy:published`."""
    if not 1 <= threshold_hours <= 24 * 365:
        raise PolicyError("threshold_range", "the threshold must be between 1 hour and a year")
    if effective_from < now - timedelta(minutes=1):
        raise PolicyError("in_the_past", "a policy version cannot take effect in the past")
    clash = db.session.execute(select(PolicyVersion.id).where(PolicyVersion.effective_from == effective_from)).scalar()
    if clash is not None:
        raise PolicyError("clash", "another version takes effect at exactly that time")
    version = PolicyVersion(
        threshold_hours=threshold_hours,
        effective_from=effective_from,
        note=note.strip(),
        created_at=now,
        created_by=actor,
    )
    db.session.add(version)
    db.session.flush()
    append_event(
        tag(Source.CONSOLE, Event.POLICY_PUBLISHED),
        actor=actor,
        now=now,
        data={
            "version": version.id,
            "threshold_hours": threshold_hours,
            "effective_from": effective_from.isoformat(),
            "note": version.note,
        },
    )
    return version


class ReviewError(DomainError):
    """A review decision that cannot be recorded."""


def record_review_decision(
    incident: Incident, *, decision: str, rationale: str, actor: str, now: datetime, ask_customer: bool = False
) -> ReviewDecision:
    """Append legal's decision on a late incident; the latest stands. With `needs_information` it can
    ask the customer, by email to the address on record, when they noticed. Audits both."""
    if decision not in DECISIONS:
        raise ReviewError(f"unknown decision {decision!r}")
    if not rationale.strip():
        raise ReviewError("a decision needs a rationale")
    asked = ask_customer and decision == DECISION_NEEDS_INFORMATION
    entry = ReviewDecision(
        incident_id=incident.id,
        decision=decision,
        rationale=rationale.strip(),
        decided_by=actor,
        decided_at=now,
        customer_asked=asked,
    )
    db.session.add(entry)
    db.session.flush()
    incident.review_decision = decision
    append_event(
        tag(Source.CONSOLE, Event.REVIEW_DECIDED),
        actor=actor,
        now=now,
        customer_id=incident.customer_id,
        incident_id=incident.id,
        data={"decision": decision, "rationale": entry.rationale, "customer_asked": asked},
    )
    if asked:
        from ..notifications.emails import send_discovery_request_email

        send_discovery_request_email(incident, source="console", actor=actor, now=now)
    return entry


def mark_breach(incident: Incident, *, reason: str, actor: str, now: datetime) -> None:
    """Legal marks the incident as a personal-data breach, saying why: the 72-hour clock to notify A05
    shows. The reason is kept in the audit event."""
    if not reason.strip():
        raise ReviewError("marking a breach needs a reason")
    if incident.personal_data_breach:
        return
    incident.personal_data_breach, incident.breach_marked_at, incident.breach_marked_by = True, now, actor
    append_event(
        tag(Source.CONSOLE, Event.BREACH_MARKED),
        actor=actor,
        now=now,
        customer_id=incident.customer_id,
        incident_id=incident.id,
        data={"deadline": breach_deadline(incident).isoformat(), "reason": reason.strip()},
    )


def record_authority_notification(
    incident: Incident, *, notified_at: datetime, how: str, actor: str, now: datetime
) -> None:
    """Record when and how the authority (A05) was notified."""
    if not incident.personal_data_breach:
        raise ReviewError("the incident is not marked as a personal-data breach")
    incident.authority_notified_at, incident.authority_notification = notified_at, how.strip()
    append_event(
        tag(Source.CONSOLE, Event.BREACH_AUTHORITY_NOTIFIED),
        actor=actor,
        now=now,
        customer_id=incident.customer_id,
        incident_id=incident.id,
        data={"notified_at": notified_at.isoformat(), "how": how.strip()},
    )


BREACH_NOTICE = timedelta(hours=72)


def breach_deadline(incident: Incident) -> datetime:
    """72 hours from when the company learned of it: the first report's receipt."""
    return incident.first_received_at + BREACH_NOTICE


@dataclass(frozen=True)
class BreachClock:
    """Where an incident stands against the 72-hour notice to the authority, at one moment."""

    deadline: datetime
    now: datetime

    @property
    def passed(self) -> bool:
        return self.now >= self.deadline

    @property
    def hours_left(self) -> int:
        """Whole hours still left (0 in the last hour and after)."""
        return max(0, int((self.deadline - self.now).total_seconds() // 3600))


def breach_clock(incident: Incident, now: datetime) -> BreachClock:
    return BreachClock(breach_deadline(incident), now)
