"""The incident page, rendered by the page's own view and again by each action on it that was refused,
so the person sees their input kept and the error beside the field instead of a blank form."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask import render_template

from ..assessment.service import breach_clock
from ..audit.actions import Event, Source, tag
from ..audit.models import AuditEvent
from ..data_requests.models import report_corrections
from ..database import utcnow
from ..email_change.service import previous_addresses_of, reports_from_previous_addresses
from ..forms import Form
from ..incidents.models import Incident
from ..incidents.record import incident_record
from ..retention.models import SUBJECT_INBOUND_MESSAGE, SUBJECT_REPORT
from ..retention.service import holds_of, tombstones_of
from ..staff.access import can
from ..staff.permissions import ACT_ON_INCIDENTS
from .forms import (
    ActionForm,
    AssigneeForm,
    AuthorityForm,
    BreachForm,
    CloseForm,
    HoldForm,
    NoteForm,
    ReleaseForm,
    ReviewForm,
    StaffDiscoveryForm,
    decision_consequences,
)
from .queries import message_headers, staff_who_can_act


def render_incident_page(case: Incident, *, status: int = 200, **submitted: Form) -> tuple[str, int]:
    """The page for `case`; `submitted` replaces a blank form by the one just sent (e.g. review_form=)."""
    record = incident_record(case)
    forms: dict[str, Any] = {
        "note_form": NoteForm(formdata=None),
        "close_form": CloseForm(formdata=None),
        "discovery_form": StaffDiscoveryForm(formdata=None),
        "review_form": ReviewForm(formdata=None),
        "breach_form": BreachForm(formdata=None),
        "authority_form": AuthorityForm(formdata=None),
        "action_form": ActionForm(formdata=None),
        "assignee_form": AssigneeForm(formdata=None),
        "hold_form": HoldForm(formdata=None),
        "release_form": ReleaseForm(formdata=None),
        **submitted,
    }
    holds = holds_of(case.id)
    hold = next((h for h in holds if h.active), None)
    if hold is not None and not forms["release_form"].hold_id.data:
        forms["release_form"].hold_id.data = str(hold.id)
    message_ids = [report.inbound_message_id for report in record.reports if report.inbound_message_id is not None]
    if can(ACT_ON_INCIDENTS) and case.is_open:
        offer_assignees(forms["assignee_form"], case)
    page = render_template(
        "console/incident.html",
        incident=case,
        customer=case.customer,
        reports=record.reports,
        report_corrections=report_corrections([report.id for report in record.reports]),
        statements=record.statements,
        grants=record.grants,
        emails=record.emails,
        notes=record.notes,
        timeline=record.events,
        decisions=record.decisions,
        policy=record.policy,
        breach=breach_clock(case, utcnow()) if case.personal_data_breach else None,
        breach_marking=breach_marking(record.events) if case.personal_data_breach else None,
        headers=message_headers(report.inbound_message for report in record.reports),
        decision_notes=decision_consequences(),
        previous_addresses=previous_addresses_of(case.customer_id),
        from_previous_address=reports_from_previous_addresses(case.customer_id, record.reports),
        hold=hold,
        holds=holds,
        report_tombstones=tombstones_of(SUBJECT_REPORT, [report.id for report in record.reports]),
        message_tombstones=tombstones_of(SUBJECT_INBOUND_MESSAGE, message_ids),
        **forms,
    )
    return page, status


@dataclass(frozen=True)
class BreachMarking:
    actor: str
    at: datetime
    reason: str


def breach_marking(events: list[AuditEvent]) -> BreachMarking | None:
    """Who marked the incident as a personal-data breach, when, and the reason they gave (kept in the
    audit event that recorded it, so the page shows exactly what the evidence pack holds)."""
    for event in reversed(events):
        if event.action == tag(Source.CONSOLE, Event.BREACH_MARKED):
            reason = json.loads(event.data).get("reason", "")
            return BreachMarking(event.actor, event.occurred_at, reason if isinstance(reason, str) else "")
    return None


def offer_assignees(form: AssigneeForm, case: Incident) -> None:
    """The staff the incident can be given to, the current assignee chosen unless the person chose."""
    form.assignee.choices = [
        (str(staff.id), f"{staff.name} · {staff.email}" if staff.name else staff.email) for staff in staff_who_can_act()
    ]
    if not form.assignee.data:
        form.assignee.data = str(case.assignee_id or "")
