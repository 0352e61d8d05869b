"""The console's reading pages: the queue, an incident, a report."""

from __future__ import annotations

from flask import Blueprint, abort, current_app, redirect, render_template, request, url_for
from sqlalchemy import func, select

from ..audit.models import AuditEvent
from ..extensions import db
from ..incidents.models import CHANNELS, STATUSES, Incident, Report
from ..incidents.record import incident_record
from ..staff.permissions import VIEW_INCIDENTS
from ..staff.access import require, require_sign_in
from .forms import ActionForm, AssignForm, AuthorityForm, CloseForm, NoteForm, ReviewForm, StaffDiscoveryForm
from .queries import (PAGE_SIZE, UNMATCHED, QueueFilter, incidents_query, status_counts, undelivered_emails,
                      unmatched_count, unmatched_query)

bp = Blueprint("console", __name__, url_prefix="/console")
require_sign_in(bp)


@bp.get("/")
def home():  # type: ignore[no-untyped-def]
    return redirect(url_for("console.queue"))


@bp.get("/incidents")
@require(VIEW_INCIDENTS)
def queue():  # type: ignore[no-untyped-def]
    filters = QueueFilter.from_args(request.args)
    zone = current_app.config["DISPLAY_TIMEZONE"]
    query = unmatched_query(filters, zone) if filters.status == UNMATCHED else incidents_query(filters, zone)
    total = db.session.scalar(select(func.count()).select_from(query.order_by(None).subquery()))
    rows = db.session.execute(query.limit(PAGE_SIZE).offset((filters.page - 1) * PAGE_SIZE)).scalars().all()
    counts = dict(db.session.execute(status_counts()).all())
    counts[UNMATCHED] = db.session.scalar(unmatched_count())
    pages = max(1, -(-total // PAGE_SIZE))
    # E1: an email that could not be delivered is put in front of staff, not only in the metrics.
    undelivered = db.session.execute(undelivered_emails()).all()
    return render_template("console/queue.html", filters=filters, rows=rows, total=total, pages=pages,
                           counts=counts, statuses=(*STATUSES, UNMATCHED), channels=CHANNELS,
                           unmatched=filters.status == UNMATCHED, undelivered=undelivered)


@bp.get("/incidents/<int:incident_id>")
@require(VIEW_INCIDENTS)
def incident(incident_id: int):  # type: ignore[no-untyped-def]
    case = db.session.get(Incident, incident_id) or abort(404)
    record = incident_record(case)
    return render_template(
        "console/incident.html", incident=case, customer=case.customer, reports=record.reports,
        statements=record.statements, grants=record.grants, emails=record.emails, notes=record.notes,
        timeline=record.events, decisions=record.decisions, policy=record.policy,
        note_form=NoteForm(), close_form=CloseForm(), discovery_form=StaffDiscoveryForm(),
        review_form=ReviewForm(), authority_form=AuthorityForm(), action_form=ActionForm(),
    )


@bp.get("/reports/<int:report_id>")
@require(VIEW_INCIDENTS)
def report(report_id: int):  # type: ignore[no-untyped-def]
    item = db.session.get(Report, report_id) or abort(404)
    if item.incident_id is not None:
        return redirect(url_for("console.incident", incident_id=item.incident_id, _anchor=f"report-{item.id}"))
    events = db.session.execute(select(AuditEvent).where(AuditEvent.report_id == item.id)
                                .order_by(AuditEvent.id)).scalars().all()
    return render_template("console/report.html", report=item, timeline=events, assign_form=AssignForm())
