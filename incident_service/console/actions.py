"""Console actions: each a CSRF-protected POST through the same service code as every other channel,
audited with who did it and when."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from werkzeug.wrappers import Response

from ..assessment.models import SOURCE_STAFF_CALL, SOURCE_STAFF_OVERRIDE
from ..assessment.service import DiscoveryAfterReport, record_discovery_statement
from ..database import utcnow
from ..extensions import db
from ..forms import add_error, entered
from ..i18n import format_local
from ..incidents.forms import viewer_zone
from ..incidents.models import Incident, Report
from ..incidents.service import (
    AssignmentRefused,
    CaseworkError,
    ReportSubmission,
    add_note,
    assign_incident,
    attach_report_to_customer,
    close_incident,
    receive_report,
)
from ..reactivation.service import next_link_allowed_at, send_reset_link
from ..staff.access import current_staff, require, require_sign_in
from ..staff.permissions import ACT_ON_INCIDENTS, ADD_NOTES, RECORD_DISCOVERY
from .forms import (
    ActionForm,
    AssigneeForm,
    AssignForm,
    CloseForm,
    NoteForm,
    StaffDiscoveryForm,
    StaffReportForm,
    customer_to_assign,
)
from .incident_page import render_incident_page
from .transactions import commit_on_success

bp = Blueprint("console_actions", __name__, url_prefix="/console")
require_sign_in(bp)


def _back(incident: Incident) -> Response:
    return redirect(url_for("console.incident", incident_id=incident.id))


@bp.route("/intake/new", methods=["GET", "POST"])
@require(ACT_ON_INCIDENTS)
@commit_on_success
def enter_report() -> ResponseReturnValue:
    """A report that came by phone, fax, post or in person, entered by staff."""
    form = StaffReportForm()
    if form.validate_on_submit():
        staff, now = current_staff(), utcnow()
        # The form has checked the two times together (StaffReportForm.validate), as the service does.
        report = receive_report(
            ReportSubmission(
                channel=form.channel.data,
                address=entered(form.email),
                kind=form.kind.data,
                details=(form.details.data or "").strip(),
                discovered_at=form.discovered_at.utc,
                received_at=form.reached_at.utc,
                received_at_source="staff_statement",
                entered_by=staff.label,
            ),
            now=now,
            actor=staff.label,
        )
        if report.incident_id is None:
            flash(
                _(
                    "Report %(reference)s recorded. No customer has this address: it is kept as an unmatched "
                    "report and nothing was sent.",
                    reference=report.reference,
                ),
                "warning",
            )
            return redirect(url_for("console.report", report_id=report.id))
        flash(
            _(
                "Report %(reference)s recorded: the customer's password is deactivated and the link is sent "
                "to the address on record.",
                reference=report.reference,
            ),
            "success",
        )
        return redirect(url_for("console.incident", incident_id=report.incident_id))
    if not form.is_submitted():
        # Most reports are entered as they come in: "when it reached us" starts at now, in the viewer's zone.
        zone = ZoneInfo(viewer_zone())
        form.reached_at.data = utcnow().astimezone(zone).replace(tzinfo=None, second=0, microsecond=0)
    status = 400 if form.is_submitted() else 200
    return render_template("console/enter_report.html", form=form), status


@bp.post("/incidents/<int:incident_id>/resend")
@require(ACT_ON_INCIDENTS)
@commit_on_success
def resend(incident_id: int) -> ResponseReturnValue:
    incident = db.get_or_404(Incident, incident_id)
    if not ActionForm().validate_on_submit():
        abort(400)
    if not incident.is_open:
        # The page offers no re-send once the incident is resolved or closed; a stale page may still ask.
        flash(_("This incident is no longer open: its customer has set a new password or it was closed."), "error")
        return _back(incident)
    if send_reset_link(incident.customer, source="console", actor=current_staff().label, now=utcnow()):
        flash(_("A new link was sent to the address on record."), "success")
    else:
        allowed_at = next_link_allowed_at(incident.customer_id)
        flash(
            _(
                "A link was sent a few minutes ago and still works. To prevent floods, another can be sent "
                "from %(time)s.",
                time=format_local(allowed_at),
            ),
            "warning",
        )
    return _back(incident)


@bp.post("/incidents/<int:incident_id>/discovery")
@require(RECORD_DISCOVERY)
@commit_on_success
def discovery(incident_id: int) -> ResponseReturnValue:
    incident = db.get_or_404(Incident, incident_id)
    form = StaffDiscoveryForm()
    if not form.validate_on_submit():
        return render_incident_page(incident, status=400, discovery_form=form)
    override = bool(form.override.data)
    try:
        record_discovery_statement(
            discovered_at=form.discovered_at.moment(),
            source=SOURCE_STAFF_OVERRIDE if override else SOURCE_STAFF_CALL,
            actor=current_staff().label,
            now=utcnow(),
            incident=incident,
            is_override=override,
            reason=(form.override_reason.data or "").strip() or None,
        )
    except DiscoveryAfterReport as exc:
        add_error(
            form.discovered_at,
            _(
                "That time is after the first report was received (%(received)s).",
                received=format_local(exc.received_at),
            ),
        )
        return render_incident_page(incident, status=400, discovery_form=form)
    flash(_("Discovery time recorded."), "success")
    return _back(incident)


@bp.post("/incidents/<int:incident_id>/notes")
@require(ADD_NOTES)
@commit_on_success
def note(incident_id: int) -> ResponseReturnValue:
    incident = db.get_or_404(Incident, incident_id)
    form = NoteForm()
    if not form.validate_on_submit():
        return render_incident_page(incident, status=400, note_form=form)
    add_note(incident, entered(form.text), actor=current_staff().label, now=utcnow())
    flash(_("Note added."), "success")
    return _back(incident)


@bp.post("/incidents/<int:incident_id>/close")
@require(ACT_ON_INCIDENTS)
@commit_on_success
def close(incident_id: int) -> ResponseReturnValue:
    incident = db.get_or_404(Incident, incident_id)
    form = CloseForm()
    if not form.validate_on_submit():
        return render_incident_page(incident, status=400, close_form=form)
    try:
        close_incident(
            incident,
            category=entered(form.category),
            reason=entered(form.close_reason),
            actor=current_staff().label,
            now=utcnow(),
        )
    except CaseworkError:
        flash(_("Only an open incident can be closed."), "error")
        return _back(incident)
    flash(_("Incident closed."), "success")
    return _back(incident)


@bp.post("/reports/<int:report_id>/assign")
@require(ACT_ON_INCIDENTS)
@commit_on_success
def assign(report_id: int) -> ResponseReturnValue:
    report = db.get_or_404(Report, report_id)
    customer = customer_to_assign(AssignForm())
    if customer is None:
        return redirect(url_for("console.report", report_id=report.id))
    try:
        incident = attach_report_to_customer(report, customer, actor=current_staff().label, now=utcnow())
    except CaseworkError:
        flash(_("This report already belongs to a customer."), "error")
        return redirect(url_for("console.report", report_id=report.id))
    flash(_("Report assigned to %(address)s.", address=customer.email), "success")
    return redirect(url_for("console.incident", incident_id=incident.id))


@bp.post("/incidents/<int:incident_id>/assignee")
@require(ACT_ON_INCIDENTS)
@commit_on_success
def assignee(incident_id: int) -> ResponseReturnValue:
    """Take the incident ("Assign to me"), give it to another staff member who can act, or unassign it."""
    incident = db.get_or_404(Incident, incident_id)
    form = AssigneeForm()
    if not form.validate_on_submit():
        return render_incident_page(incident, status=400, assignee_form=form)
    me = current_staff()
    wanted = form.staff_id(form.assignee)
    try:
        changed = assign_incident(
            incident, wanted, seen_assignee_id=form.staff_id(form.seen_assignee), actor=me.label, now=utcnow()
        )
    except AssignmentRefused as exc:
        flash(
            {
                "not_open": _("Only an open incident can be assigned: this one is resolved or closed."),
                "cannot_act": _(
                    "That staff member cannot be given incidents: only active support staff and "
                    "administrators work them."
                ),
                "changed": _(
                    "Someone else changed who has this incident while you were on the page. Here it is "
                    "as it is now: choose again if you still want to change it."
                ),
            }[exc.code],
            "error",
        )
        return render_incident_page(incident, status=400)
    if not changed:
        flash(_("Nothing changed: the incident was already assigned that way."), "warning")
    elif incident.assignee is None:
        flash(_("The incident is no longer assigned to anyone."), "success")
    elif incident.assignee_id == me.id:
        flash(_("The incident is assigned to you."), "success")
    else:
        flash(
            _(
                "The incident is assigned to %(who)s.",
                who=incident.assignee.name or incident.assignee.email,
            ),
            "success",
        )
    return _back(incident)
