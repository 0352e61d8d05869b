"""Receiving a report from any channel: store it, then open or join the customer's incident.

The web form, email intake, staff entry and the API all call `receive_report`, so every channel
gets the same reactivation: lock, stamp rotation, reset grant and acknowledgement, in one transaction.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from datetime import datetime
from functools import partial
from typing import Any, cast

from sqlalchemy import CursorResult, bindparam, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import make_transient_to_detached
from sqlalchemy.orm.attributes import set_committed_value

from ..assessment.models import SOURCE_REPORT_FORM
from ..assessment.service import (
    DiscoveryAfterReport,
    adopt_report_statements,
    policy_in_force,
    reassess_and_record,
    record_discovery_statement,
)
from ..audit.actions import Event, Source, tag
from ..audit.service import append_event
from ..customers.addresses import InvalidAddress, normalize_address
from ..customers.models import Customer
from ..customers.service import lock_customer, rotate_security_stamp
from ..database import holds_write_lock_from_begin, insert_values, table_of
from ..domain_errors import DomainError
from ..email_change.service import customer_of_previous_address, tell_previous_address
from ..extensions import core_execute, db
from ..notifications.emails import (
    report_in_hand_reply_sent_recently,
    send_acknowledgement_email,
    send_report_in_hand_email,
)
from ..reactivation.service import issue_reset_grant, link_sent_recently, lock_credential
from ..staff.models import StaffUser
from ..staff.permissions import ACT_ON_INCIDENTS, allowed
from .bulk import REPORT_COLUMNS, Opening, Reported, draw_ids, forget_session_copies, open_incidents, opening_to_lock
from .models import (
    CHANNELS,
    CLOSE_REASONS,
    KINDS,
    STATUS_CLOSED,
    STATUS_REACTIVATED,
    Incident,
    IncidentNote,
    Report,
    has_open_incident,
    open_incident_of,
    report_year,
)


class InvalidReport(DomainError):
    """A submission naming a channel or kind the service does not know (an API or a bug gave it)."""


@dataclass(frozen=True)
class ReportSubmission:
    """What a reporter gave us. `discovered_at` is their statement (aware UTC), never a receipt time."""

    channel: str
    address: str
    kind: str
    details: str = ""
    discovered_at: datetime | None = None
    client_ip: str | None = None
    user_agent: str | None = None
    entered_by: str = "customer"
    # Only trusted edges set these: the company MTA's own Received time for imported mail.
    received_at: datetime | None = None
    received_at_source: str = "server_clock"
    inbound_message_id: int | None = None


def _send_acknowledgement(
    customer: Customer, incident: Incident, report: Report, *, source: str, actor: str, now: datetime
) -> None:
    """Issue a fresh reset grant and queue the acknowledgement carrying it."""
    grant, reset_link = issue_reset_grant(customer, incident_id=incident.id, source=source, actor=actor, now=now)
    send_acknowledgement_email(customer, incident, report, grant, reset_link, source=source, actor=actor, now=now)
    incident.last_link_sent_at = now


# Built once. A report joining an open incident is attached with this one statement (the report's row is
# written already): the unit of work's flush of that one column cost five times the statement (issue 17).
_ATTACH_REPORT = (
    update(table_of(Report)).where(table_of(Report).c.id == bindparam("report")).values(incident_id=bindparam("to"))
)


def _written_report(report: Report) -> Report:
    """`report`, every column given, written by one Core INSERT and added to the session as if loaded: the
    unit of work's pass for a single new row cost more than SQLite's own work for it (issue 17). Later
    changes to it are flushed as the session's changes to any loaded row."""
    db.session.flush()  # what the session holds goes first, as its own flush would order it
    values = [getattr(report, name) for name in REPORT_COLUMNS]
    insert_values(db.session.connection(), table_of(Report), REPORT_COLUMNS, [values])
    make_transient_to_detached(report)
    db.session.add(report)
    return report


def _attach_report(report: Report, incident_id: int) -> None:
    """Set the written report's incident to `incident_id`, in the database and in the session's copy."""
    core_execute(_ATTACH_REPORT, {"report": report.id, "to": incident_id})  # after the report's own row
    set_committed_value(report, "incident_id", incident_id)


def _open_or_join(
    customer: Customer, report: Report, *, source: str, actor: str, now: datetime, locked: bool = False
) -> Incident:
    # Reports for one customer take turns from here, each reading what the last one committed: a report
    # that loaded the customer before another locked the credential would record the lock again.
    # `locked`: the caller locked the row and then loaded it (receive_report).
    if not locked:
        lock_customer(customer)
    incident = open_incident_of(customer.id, for_update=True)
    if incident is None:
        try:
            # R2: the unique index on open incidents decides a race; the loser joins the winner's.
            threshold_hours, version_id = policy_in_force(report.received_at)
            with db.session.begin_nested():
                incident = Incident(
                    customer_id=customer.id,
                    status=STATUS_REACTIVATED,
                    opened_at=now,
                    first_received_at=report.received_at,
                    first_channel=report.channel,
                    late_threshold_hours=threshold_hours,
                    policy_version_id=version_id,
                )
                db.session.add(incident)
                db.session.flush()
        except IntegrityError:
            incident = open_incident_of(customer.id, for_update=True)
            if incident is None:
                raise
        else:
            incident.reference = f"INC-{report_year(report.received_at)}-{incident.id:06d}"
            incident.customer_reference = report.reference
            report.incident_id = incident.id
            append_event(
                tag(source, Event.INCIDENT_OPENED),
                actor=actor,
                now=now,
                customer_id=customer.id,
                incident_id=incident.id,
                report_id=report.id,
                data={"reference": incident.reference},
            )
            lock_credential(customer, source=source, actor=actor, now=now, incident_id=incident.id)
            rotate_security_stamp(customer, source=source, actor=actor, now=now, incident_id=incident.id)
            _send_acknowledgement(customer, incident, report, source=source, actor=actor, now=now)
            return incident

    _attach_report(report, incident.id)
    append_event(
        tag(source, Event.REPORT_ATTACHED),
        actor=actor,
        now=now,
        customer_id=customer.id,
        incident_id=incident.id,
        report_id=report.id,
    )
    if report.received_at < incident.first_received_at:
        # An older report (e.g. imported mail) is now the first: the delay is measured from it, under
        # the policy that was in force then.
        incident.first_received_at, incident.first_channel = report.received_at, report.channel
        incident.late_threshold_hours, incident.policy_version_id = policy_in_force(report.received_at)
        reassess_and_record(incident, now=now)
    lock_credential(customer, source=source, actor=actor, now=now, incident_id=incident.id)
    if not link_sent_recently(customer.id, now):
        _send_acknowledgement(customer, incident, report, source=source, actor=actor, now=now)
    elif (
        source == Source.EMAIL
        and report.received_at_source == "server_clock"  # live mail, not an import of old mail
        and actor == "customer"  # not quarantined mail staff assigned later
        and not report_in_hand_reply_sent_recently(customer.id, now)
    ):
        # Someone who emailed in distress hears back, even when no new link is due.
        send_report_in_hand_email(customer, incident, report, source=source, actor=actor, now=now)
    return incident


def receive_report(submission: ReportSubmission, *, now: datetime, actor: str = "customer") -> Report:
    """Store the report stamped `now` (the server clock, unless a trusted edge gives the company MTA's
    time in the submission); for a known address open or join the incident.

    Flushes, never commits: the edge commits once, before it tells the reporter anything (docs/interface.md, first
    invariant). Audits `<channel>:report:received` and everything reactivation does. Raises
    DiscoveryAfterReport, having written nothing, when the stated discovery is after the report.
    """
    if submission.channel not in CHANNELS:
        raise InvalidReport(f"unknown channel {submission.channel!r}")
    if submission.kind not in KINDS:
        raise InvalidReport(f"unknown kind {submission.kind!r}")
    try:
        address: str | None = normalize_address(submission.address)
    except InvalidAddress:
        address = None  # kept as claimed; it matches nobody
    source = submission.channel
    received_at = submission.received_at or now
    if submission.discovered_at is not None and submission.discovered_at > received_at:
        # Refused before anything is written; the edges check it first and say so on the field.
        raise DiscoveryAfterReport(submission.discovered_at, received_at)
    # What the reporter gave, as stored whichever way the report goes (bounded as the columns are).
    given = Reported(
        claimed_address=submission.address[:320],
        address_normalized=address,
        details=submission.details,
        received_at=received_at,
        received_at_source=submission.received_at_source,
        inbound_message_id=submission.inbound_message_id,
        client_ip=submission.client_ip,
        user_agent=(submission.user_agent or "")[:512] or None,
        entered_by=submission.entered_by,
    )
    # The customer at this address, their row locked: reports for one customer take turns from here.
    opening = opening_to_lock(address) if address else None
    if opening is not None and not has_open_incident(opening.customer_id):
        opened = _open(replace(opening, reported=given), submission, now=now, actor=actor)
        if opened is not None:
            return opened
    # The customer's row is locked already (opening_to_lock): loaded as the last writer left it, in one
    # statement, so that _open_or_join need not lock and read it again (issue 17).
    customer = db.session.get(Customer, opening.customer_id, populate_existing=True) if opening is not None else None
    locked = customer is not None
    from_previous = False
    if customer is None and address:
        # An address the customer changed away from still reports as theirs for PREVIOUS_ADDRESS_DAYS;
        # the link still goes only to the address on record (the reporting address is told so).
        customer = customer_of_previous_address(address, received_at)
        from_previous = customer is not None
    # Its id drawn first, so that it is written once, reference and all.
    [[report_id]] = draw_ids((Report,), 1)
    report = _written_report(
        Report(
            id=report_id,
            reference=f"RPT-{report_year(received_at)}-{report_id:06d}",
            channel=submission.channel,
            kind=submission.kind,
            recorded_at=now,
            customer_id=customer.id if customer is not None else None,
            incident_id=None,
            **asdict(given),
        )
    )
    append_event(
        tag(source, Event.REPORT_RECEIVED),
        actor=actor,
        now=now,
        customer_id=report.customer_id,
        report_id=report.id,
        data={
            "reference": report.reference,
            "kind": report.kind,
            "address": address or submission.address[:320],
            **({"previous_address": True} if from_previous else {}),
        },
    )

    # An unknown address gets the same answer and renders nothing, as a known one does not (the worker
    # renders the acknowledgement later): R3.
    incident = (
        _open_or_join(customer, report, source=source, actor=actor, now=now, locked=locked)
        if customer is not None
        else None
    )
    if from_previous and customer is not None:
        tell_previous_address(customer, report, now=now)

    if submission.discovered_at is not None:
        try:
            record_discovery_statement(
                discovered_at=submission.discovered_at,
                source=SOURCE_REPORT_FORM,
                actor=actor,
                now=now,
                incident=incident,
                report=report,
            )
        except DiscoveryAfterReport:
            # Later than this incident's first report: keep it as the report's own statement only.
            record_discovery_statement(
                discovered_at=submission.discovered_at, source=SOURCE_REPORT_FORM, actor=actor, now=now, report=report
            )
    return report


def _open(opening: Opening, submission: ReportSubmission, *, now: datetime, actor: str) -> Report | None:
    """A customer with no open incident (`opening`, with what they reported): the report and everything
    reactivation writes, as a handful of statements (incidents.bulk, the set-based path a mass
    reactivation takes: issue 17) instead of a flush per row. On PostgreSQL: None, having written
    nothing, if a concurrent mass reactivation opened their incident first (R2: the unique index on open
    incidents decides); the caller then joins it.

    On SQLite that race cannot happen: the transaction has held the database's one write lock since its
    first statement (database.holds_write_lock_from_begin), before the caller saw no open incident. There
    the statements go without the savepoint that would undo them, which with reading the report back was
    a third of that lock's hold a report (issue 17), and an IntegrityError is a fault: it is raised, with
    what went before it still in the transaction, which the caller must roll back (every edge does)."""
    opened = partial(
        open_incidents,
        [opening],
        channel=submission.channel,
        kind=submission.kind,
        details=submission.details,
        actor=actor,
        now=now,
        year=report_year(now),
    )
    if holds_write_lock_from_begin(db.session.connection()):
        [row] = opened()
    else:
        try:
            with db.session.begin_nested():
                [row] = opened()
        except IntegrityError:
            return None
    forget_session_copies({opening.customer_id})  # the statements went past the session's copies
    # The row as written, added to the session as if loaded (as _written_report does): reading it back
    # cost a tenth of the write lock's hold (issue 17).
    report = Report(**dict(zip(REPORT_COLUMNS, row, strict=True)))
    make_transient_to_detached(report)
    db.session.add(report)
    if submission.discovered_at is not None:
        record_discovery_statement(
            discovered_at=submission.discovered_at,
            source=SOURCE_REPORT_FORM,
            actor=actor,
            now=now,
            incident=db.session.get(Incident, report.incident_id),
            report=report,
        )
    return report


class CaseworkError(DomainError):
    """A staff action that cannot be done in the incident's or report's current state."""


def add_note(incident: Incident, text: str, *, actor: str, now: datetime) -> IncidentNote:
    """Append a staff note to the incident. Audits `console:incident:note_added`."""
    note = IncidentNote(incident_id=incident.id, author=actor, created_at=now, text=text.strip())
    db.session.add(note)
    db.session.flush()
    append_event(
        tag(Source.CONSOLE, Event.INCIDENT_NOTE_ADDED),
        actor=actor,
        now=now,
        customer_id=incident.customer_id,
        incident_id=incident.id,
        data={"note": note.id},
    )
    return note


def close_incident(incident: Incident, *, category: str, reason: str, actor: str, now: datetime) -> None:
    """Close an open incident as a duplicate, spam or withdrawn. The password stays locked: the
    customer sets a new one with their link, which nothing takes away. Audits `console:incident:closed`."""
    if category not in CLOSE_REASONS:
        raise CaseworkError(f"unknown close reason {category!r}")
    if not incident.is_open:
        raise CaseworkError("the incident is not open")
    incident.status, incident.closed_at = STATUS_CLOSED, now
    incident.close_reason = f"{category}: {reason.strip()}"
    append_event(
        tag(Source.CONSOLE, Event.INCIDENT_CLOSED),
        actor=actor,
        now=now,
        customer_id=incident.customer_id,
        incident_id=incident.id,
        data={"category": category, "reason": reason.strip()},
    )


def attach_report_to_customer(report: Report, customer: Customer, *, actor: str, now: datetime) -> Incident:
    """Give an unmatched report to the customer staff identified: it opens or joins their incident
    exactly as a matched report would (lock, stamp, link to the address on record). Audits it."""
    if report.customer_id is not None:
        raise CaseworkError("the report already belongs to a customer")
    report.customer_id = customer.id
    append_event(
        tag(Source.CONSOLE, Event.REPORT_ASSIGNED),
        actor=actor,
        now=now,
        customer_id=customer.id,
        report_id=report.id,
        data={"claimed_address": report.claimed_address, "customer_address": customer.email},
    )
    incident = _open_or_join(customer, report, source="console", actor=actor, now=now)
    adopt_report_statements(incident, report, now=now)
    return incident


class AssignmentRefused(CaseworkError):
    """An assignment the rules refuse; `code` says which: `not_open` (the incident is resolved or closed),
    `cannot_act` (no such staff member, or one who is deactivated or whose role cannot act on incidents),
    `changed` (someone else changed the assignee after the person's page was shown)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def can_be_assigned(staff: StaffUser) -> bool:
    """Who may work an incident: an active staff member whose role acts on incidents (support, admin)."""
    return staff.active and allowed(staff.role, ACT_ON_INCIDENTS)


def assign_incident(
    incident: Incident, assignee_id: int | None, *, seen_assignee_id: int | None, actor: str, now: datetime
) -> bool:
    """Give the open incident to the staff member `assignee_id` (None: to nobody), provided it is still
    with `seen_assignee_id`, the assignee the person's page showed. Returns False, auditing nothing, when
    it already is with `assignee_id`. Audits `console:incident:assigned` or `console:incident:unassigned`
    with the addresses of both assignees. Raises AssignmentRefused.

    Only open incidents change hands: once resolved or closed, the assignee is kept as who had the case.
    """
    assignee = db.session.get(StaffUser, assignee_id) if assignee_id is not None else None
    if assignee_id is not None and (assignee is None or not can_be_assigned(assignee)):
        raise AssignmentRefused("cannot_act", f"staff {assignee_id} cannot be given incidents")
    if not incident.is_open:
        raise AssignmentRefused("not_open", "the incident is not open")
    previous = incident.assignee
    if incident.assignee_id == assignee_id:
        return False
    if incident.assignee_id != seen_assignee_id:
        raise AssignmentRefused("changed", "the assignee changed since the page was shown")
    # Compare and set in one statement: of two people taking the incident at once, one wins and the other
    # is told, on either database (PostgreSQL re-checks the condition on the row the winner committed).
    changed = cast(
        "CursorResult[Any]",  # an UPDATE's result, which counts its rows
        db.session.execute(
            update(Incident)
            .where(
                Incident.id == incident.id,
                Incident.status == STATUS_REACTIVATED,
                Incident.assignee_id.is_not_distinct_from(incident.assignee_id),
            )
            .values(assignee_id=assignee_id)
            .execution_options(synchronize_session=False)
        ),
    )
    db.session.expire(incident, ["assignee_id", "assignee", "status"])
    if changed.rowcount != 1:
        raise AssignmentRefused("changed", "the incident changed since it was read")
    append_event(
        tag(Source.CONSOLE, Event.INCIDENT_ASSIGNED if assignee is not None else Event.INCIDENT_UNASSIGNED),
        actor=actor,
        now=now,
        customer_id=incident.customer_id,
        incident_id=incident.id,
        data={
            "assignee": assignee.label if assignee is not None else None,
            "previous": previous.label if previous is not None else None,
        },
    )
    return True
