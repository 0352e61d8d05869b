"""The incident page, rendered by the page's own view and again by each action on it that was refused,
so the person sees their input kept and the error beside the field instead of a blank form."""

from __future__ import annotations

from typing import Any

from flask import render_template

from ..assessment.service import breach_clock
from ..database import utcnow
from ..forms import Form
from ..incidents.models import Incident
from ..incidents.record import incident_record
from .forms import (
    ActionForm,
    AuthorityForm,
    BreachForm,
    CloseForm,
    NoteForm,
    ReviewForm,
    StaffDiscoveryForm,
    decision_consequences,
)
from .queries import message_headers


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
        **submitted,
    }
    page = render_template(
        "console/incident.html",
        incident=case,
        customer=case.customer,
        reports=record.reports,
        statements=record.statements,
        grants=record.grants,
        emails=record.emails,
        notes=record.notes,
        timeline=record.events,
        decisions=record.decisions,
        policy=record.policy,
        breach=breach_clock(case, utcnow()) if case.personal_data_breach else None,
        headers=message_headers(report.inbound_message for report in record.reports),
        decision_notes=decision_consequences(),
        **forms,
    )
    return page, status
