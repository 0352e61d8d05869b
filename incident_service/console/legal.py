"""Legal's pages: late incidents to review, decisions, personal-data breaches, and the policy versions."""

from __future__ import annotations

from datetime import timezone
from zoneinfo import ZoneInfo

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _

from ..assessment.service import (
    PolicyError,
    ReviewError,
    breach_clock,
    mark_breach,
    publish_policy,
    record_authority_notification,
    record_review_decision,
)
from ..database import utcnow
from ..extensions import db
from ..forms import add_error, entered, entered_time
from ..incidents.models import Incident
from ..staff.access import can, current_staff, require, require_sign_in
from ..staff.permissions import DECIDE_REVIEWS, MANAGE_POLICY, VIEW_LEGAL
from ..url_args import page_arg
from .forms import AuthorityForm, BreachForm, PolicyForm, ReviewForm
from .incident_page import render_incident_page
from .queries import breaches_to_notify, late_page, policy_versions
from .transactions import commit_on_success

bp = Blueprint("console_legal", __name__, url_prefix="/console")
require_sign_in(bp)


@bp.get("/reviews")
@require(VIEW_LEGAL)
def reviews() -> ResponseReturnValue:
    show = "all" if request.args.get("show") == "all" else "pending"
    now = utcnow()
    return render_template(
        "console/reviews.html",
        late=late_page(pending_only=show == "pending", page=page_arg(request.args)),
        show=show,
        breaches=[(incident, breach_clock(incident, now)) for incident in breaches_to_notify()],
    )


@bp.post("/incidents/<int:incident_id>/review")
@require(DECIDE_REVIEWS)
@commit_on_success
def decide(incident_id: int) -> ResponseReturnValue:
    incident = db.get_or_404(Incident, incident_id)
    form = ReviewForm()
    if not form.validate_on_submit():
        return render_incident_page(incident, status=400, review_form=form)
    record_review_decision(
        incident,
        decision=entered(form.decision),
        rationale=entered(form.rationale),
        actor=current_staff().label,
        now=utcnow(),
        ask_customer=bool(form.ask_customer.data),
    )
    flash(_("Decision recorded."), "success")
    return redirect(url_for("console.incident", incident_id=incident.id, _anchor="review"))


@bp.post("/incidents/<int:incident_id>/breach")
@require(DECIDE_REVIEWS)
@commit_on_success
def breach(incident_id: int) -> ResponseReturnValue:
    incident = db.get_or_404(Incident, incident_id)
    form = BreachForm()
    if incident.personal_data_breach:
        flash(_("This incident is already marked as a personal-data breach; nothing was changed."), "warning")
        return redirect(url_for("console.incident", incident_id=incident.id, _anchor="breach"))
    if not form.validate_on_submit():
        return render_incident_page(incident, status=400, breach_form=form)
    mark_breach(incident, reason=entered(form.breach_reason), actor=current_staff().label, now=utcnow())
    flash(_("Marked as a personal-data breach: the 72-hour clock is running."), "success")
    return redirect(url_for("console.incident", incident_id=incident.id, _anchor="breach"))


@bp.post("/incidents/<int:incident_id>/authority")
@require(DECIDE_REVIEWS)
@commit_on_success
def authority(incident_id: int) -> ResponseReturnValue:
    incident = db.get_or_404(Incident, incident_id)
    form = AuthorityForm()
    if form.validate_on_submit():
        try:
            record_authority_notification(
                incident,
                notified_at=form.notified_at.moment(),
                how=entered(form.how),
                actor=current_staff().label,
                now=utcnow(),
            )
        except ReviewError:
            abort(400)
        flash(_("Notification of the authority recorded."), "success")
        return redirect(url_for("console.incident", incident_id=incident.id, _anchor="breach"))
    return render_incident_page(incident, status=400, authority_form=form)


@bp.route("/policy", methods=["GET", "POST"])
@require(VIEW_LEGAL)
@commit_on_success
def policy() -> ResponseReturnValue:
    form = PolicyForm()
    status = 200
    if request.method == "POST":
        if not can(MANAGE_POLICY):
            abort(403)
        if form.validate_on_submit():
            zone = ZoneInfo(current_app.config["DISPLAY_TIMEZONE"])
            effective = entered_time(form.effective_from).replace(tzinfo=zone).astimezone(timezone.utc)
            try:
                publish_policy(
                    threshold_hours=int(entered(form.threshold_hours)),
                    effective_from=effective,
                    note=entered(form.note),
                    actor=current_staff().label,
                    now=utcnow(),
                )
            except PolicyError as exc:
                add_error(
                    form.effective_from,
                    {
                        "threshold_range": _("The threshold must be between 1 hour and a year."),
                        "in_the_past": _(
                            "A version cannot take effect in the past: earlier incidents are never re-judged."
                        ),
                        "clash": _("Another version takes effect at exactly that time."),
                    }[exc.code],
                )
                status = 400
            else:
                flash(_("Policy version published."), "success")
                return redirect(url_for("console_legal.policy"))
        else:
            status = 400
    return render_template(
        "console/policy.html",
        versions=policy_versions(),
        form=form,
        default_hours=current_app.config["LATE_REPORT_THRESHOLD_HOURS"],
    ), status
