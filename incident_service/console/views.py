"""The console's reading pages: the queue, an incident, a report."""

from __future__ import annotations

from flask import Blueprint, current_app, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from ..assessment.service import breach_clock
from ..database import utcnow
from ..extensions import db
from ..incidents.models import CHANNELS, STATUSES, Incident, Report
from ..retention.models import SUBJECT_INBOUND_MESSAGE
from ..retention.service import tombstones_of
from ..staff.access import current_staff, require, require_sign_in
from ..staff.permissions import VIEW_INCIDENTS
from .auth import landing_url
from .forms import AssignForm
from .incident_page import render_incident_page
from .queries import (
    ASSIGNED_TO_ME,
    BREACH_CLOCK_RUNNING,
    UNASSIGNED,
    UNMATCHED,
    QueueFilter,
    held_incidents,
    message_headers,
    queue_page,
    report_events,
    undelivered_emails,
)

bp = Blueprint("console", __name__, url_prefix="/console")
require_sign_in(bp)


@bp.get("/")
def home() -> ResponseReturnValue:
    return redirect(landing_url())


@bp.get("/incidents")
@require(VIEW_INCIDENTS)
def queue() -> ResponseReturnValue:
    filters = QueueFilter.from_args(request.args)
    found = queue_page(filters, current_app.config["DISPLAY_TIMEZONE"], viewer_id=current_staff().id)
    # E1: an email that could not be delivered is put in front of staff, not only in the metrics.
    undelivered = undelivered_emails()
    now = utcnow()
    unmatched = filters.status == UNMATCHED
    return render_template(
        "console/queue.html",
        filters=filters,
        rows=found.rows,
        total=found.total,
        capped=found.capped,
        count_cap=found.count_cap,
        pages=found.pages,
        has_next=found.has_next,
        counts=found.counts,
        last_activity=found.last_activity,
        held=set() if unmatched else held_incidents([incident.id for incident in found.rows]),
        # The 72-hour clock of each breach on the page whose authority notice is not recorded yet.
        clocks={
            incident.id: breach_clock(incident, now)
            for incident in ([] if unmatched else found.rows)
            if incident.personal_data_breach and incident.authority_notified_at is None
        },
        statuses=(*STATUSES, UNMATCHED),
        channels=CHANNELS,
        assigned_to_me=ASSIGNED_TO_ME,
        unassigned=UNASSIGNED,
        breach_running=BREACH_CLOCK_RUNNING,
        unmatched=unmatched,
        undelivered=undelivered,
    )


@bp.get("/incidents/<int:incident_id>")
@require(VIEW_INCIDENTS)
def incident(incident_id: int) -> ResponseReturnValue:
    return render_incident_page(db.get_or_404(Incident, incident_id))


@bp.get("/reports/<int:report_id>")
@require(VIEW_INCIDENTS)
def report(report_id: int) -> ResponseReturnValue:
    item = db.get_or_404(Report, report_id)
    if item.incident_id is not None:
        return redirect(url_for("console.incident", incident_id=item.incident_id, _anchor=f"report-{item.id}"))
    return render_template(
        "console/report.html",
        report=item,
        timeline=report_events(item.id),
        headers=message_headers([item.inbound_message]),
        message_tombstones=tombstones_of(
            SUBJECT_INBOUND_MESSAGE, [item.inbound_message_id] if item.inbound_message_id else []
        ),
        assign_form=AssignForm(),
    )
