"""Legal holds placed and released from the incident page, and `/console/retention`: the rules as configured,
the incidents held now, the last runs, and a preview of what a run would remove now (rolled back)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask import Blueprint, current_app, flash, redirect, render_template, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from sqlalchemy import select

from ..audit.actions import Event, Source
from ..audit.models import AuditEvent
from ..audit.service import event_details
from ..console.forms import HoldForm, ReleaseForm
from ..console.incident_page import render_incident_page
from ..console.transactions import commit_on_success
from ..database import utcnow
from ..extensions import db
from ..forms import entered
from ..incidents.labels import source_label
from ..incidents.models import Incident
from ..staff.access import current_staff, require, require_sign_in
from ..staff.permissions import MANAGE_LEGAL_HOLDS, VIEW_LEGAL
from .forms import PreviewForm
from .labels import period_label, rule_removes, rule_title
from .models import RULE_CLOSED_INCIDENT, RULE_FREE_TEXT, RULE_IP_ADDRESS, RULE_RAW_EMAIL, LegalHold
from .service import (
    PERIOD_SETTINGS,
    HoldError,
    RetentionRun,
    active_hold,
    place_hold,
    release_hold,
    run_retention,
)

bp = Blueprint("console_retention", __name__, url_prefix="/console")
require_sign_in(bp)

# The rules as the page lists them: each kind of data, then the widest rule, which removes all of them.
SHOWN_ORDER = (RULE_RAW_EMAIL, RULE_FREE_TEXT, RULE_IP_ADDRESS, RULE_CLOSED_INCIDENT)
# How many past rule runs the page lists.
RUNS_SHOWN = 20


def _hold_error(exc: HoldError) -> str:
    return {
        "empty_reason": _("Give the reason: a legal hold is placed and released only with one."),
        "already_held": _("This incident is already under a legal hold (placed meanwhile): here it is as it is now."),
        "released": _("That hold was already released (meanwhile, by someone else): here it is as it is now."),
    }.get(exc.code, str(exc))


@bp.post("/incidents/<int:incident_id>/legal-hold")
@require(MANAGE_LEGAL_HOLDS)
@commit_on_success
def place(incident_id: int) -> ResponseReturnValue:
    """Hold the incident's data from retention and erasure, with legal's reason."""
    incident = db.get_or_404(Incident, incident_id)
    form = HoldForm()
    if not form.validate_on_submit():
        return render_incident_page(incident, status=400, hold_form=form)
    try:
        place_hold(
            incident, reason=entered(form.hold_reason), source=Source.CONSOLE, actor=current_staff().label, now=utcnow()
        )
    except HoldError as exc:
        flash(_hold_error(exc), "error")
        return render_incident_page(incident, status=409 if exc.code == "already_held" else 400, hold_form=form)
    flash(
        _("Legal hold placed: nothing of this incident is removed by retention or erasure until it is released."),
        "success",
    )
    return redirect(url_for("console.incident", incident_id=incident.id, _anchor="legal-hold"))


@bp.post("/incidents/<int:incident_id>/legal-hold/release")
@require(MANAGE_LEGAL_HOLDS)
@commit_on_success
def release(incident_id: int) -> ResponseReturnValue:
    """End the incident's hold (it stays on record with who released it and why)."""
    incident = db.get_or_404(Incident, incident_id)
    form = ReleaseForm()
    if not form.validate_on_submit():
        return render_incident_page(incident, status=400, release_form=form)
    hold = active_hold(incident.id)
    if hold is None or str(hold.id) != (form.hold_id.data or ""):
        flash(_("That hold was already released (meanwhile, by someone else): here it is as it is now."), "error")
        return render_incident_page(incident, status=409, release_form=form)
    try:
        release_hold(
            hold, reason=entered(form.release_reason), source=Source.CONSOLE, actor=current_staff().label, now=utcnow()
        )
    except HoldError as exc:
        flash(_hold_error(exc), "error")
        return render_incident_page(incident, status=400, release_form=form)
    flash(_("Legal hold released: retention applies to this incident again."), "success")
    return redirect(url_for("console.incident", incident_id=incident.id, _anchor="legal-hold"))


# ---- /console/retention --------------------------------------------------------------------------------


@dataclass(frozen=True)
class RuleSetting:
    rule: str
    days: int


@dataclass(frozen=True)
class PastRun:
    """One rule's run, read back from its `retention:purged` audit event."""

    at: datetime
    source: str
    rule: str
    days: int
    messages: int
    reports: int
    events: int


def rule_settings() -> list[RuleSetting]:
    return [RuleSetting(rule, int(current_app.config[PERIOD_SETTINGS[rule]])) for rule in SHOWN_ORDER]


def holds_now() -> list[tuple[LegalHold, Incident]]:
    """Every hold in force, newest first, with its incident."""
    query = (
        select(LegalHold, Incident)
        .join(Incident, Incident.id == LegalHold.incident_id)
        .where(LegalHold.released_at.is_(None))
        .order_by(LegalHold.placed_at.desc(), LegalHold.id.desc())
    )
    return [(hold, incident) for hold, incident in db.session.execute(query).all()]


def _count(data: dict[str, Any], key: str) -> int:
    value = data.get(key, 0)
    return value if isinstance(value, int) else 0


def past_runs(limit: int = RUNS_SHOWN) -> list[PastRun]:
    """The last rule runs that removed something, newest first (a run that found nothing is not audited)."""
    query = (
        select(AuditEvent)
        .where(AuditEvent.action.like(f"%:{Event.RETENTION_PURGED}"))
        .order_by(AuditEvent.id.desc())
        .limit(limit)
    )
    runs = []
    for event in db.session.execute(query).scalars():
        data = event_details(event.data)
        runs.append(
            PastRun(
                at=event.occurred_at,
                source=event.action.partition(":")[0],
                rule=str(data.get("rule", "")),
                days=_count(data, "days"),
                messages=_count(data, "messages"),
                reports=_count(data, "reports"),
                events=_count(data, "events"),
            )
        )
    return runs


def _retention_page(*, preview: RetentionRun | None = None, previewed_at: datetime | None = None) -> str:
    return render_template(
        "console/retention.html",
        settings=rule_settings(),
        holds=holds_now(),
        runs=past_runs(),
        preview=preview,
        previewed_at=previewed_at,
        preview_form=PreviewForm(formdata=None),
        rule_title=rule_title,
        rule_removes=rule_removes,
        period_label=period_label,
        source_label=source_label,
    )


@bp.get("/retention")
@require(VIEW_LEGAL)
def retention() -> ResponseReturnValue:
    return _retention_page()


@bp.post("/retention/preview")
@require(MANAGE_LEGAL_HOLDS)  # a whole run, rolled back: legal's, not every reader's
def preview() -> ResponseReturnValue:
    """What a run would remove now: the real run, inside a savepoint rolled back before the page is drawn
    (so the counts are exactly the run's, holds and open incidents included, and nothing changes)."""
    form = PreviewForm()
    if not form.validate_on_submit():
        flash(_("The page had expired: press the button again."), "error")
        return redirect(url_for("console_retention.retention"))
    now = utcnow()
    savepoint = db.session.begin_nested()
    try:
        run = run_retention(source=Source.CONSOLE, now=now)
    finally:
        savepoint.rollback()
    # Nothing of the request is kept either: the view never commits.
    db.session.rollback()
    return _retention_page(preview=run, previewed_at=now)
