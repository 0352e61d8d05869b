"""Admin pages: staff accounts (admin only) and the audit log (admin and legal)."""

from __future__ import annotations

from typing import Callable

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from werkzeug.wrappers import Response

from ..audit.actions import Event
from ..audit.checkpoint import service_public_key
from ..audit.service import NO_INCIDENT, search_events
from ..audit.tree_verification import verify_log
from ..customers.password_messages import reason_message
from ..database import utcnow
from ..extensions import db
from ..forms import add_error, entered
from ..i18n import day_bounds
from ..incidents.labels import event_label
from ..staff.access import current_staff, require, require_sign_in
from ..staff.models import StaffUser
from ..staff.permissions import MANAGE_STAFF, VIEW_AUDIT
from ..staff.service import StaffExists, StaffPasswordRefused, create_staff, reset_totp, set_active
from ..url_args import day_arg, page_arg
from .forms import ActionForm, StaffCreateForm
from .queries import incident_id_of, staff_users
from .transactions import commit_on_success

bp = Blueprint("console_admin", __name__, url_prefix="/console")
require_sign_in(bp)
AUDIT_PAGE = 100


@bp.route("/admin/staff", methods=["GET", "POST"])
@require(MANAGE_STAFF)
@commit_on_success
def staff() -> ResponseReturnValue:
    form = StaffCreateForm()
    status = 200
    if form.validate_on_submit():
        try:
            created = create_staff(
                entered(form.email),
                role=form.role.data,
                name=form.name.data or "",
                password=entered(form.password),
                source="console",
                actor=current_staff().label,
                now=utcnow(),
            )
        except StaffExists:
            add_error(form.email, _("A staff user with this address already exists."))
            status = 400
        except StaffPasswordRefused as refused:
            for reason in refused.reasons:
                add_error(form.password, reason_message(reason))
            status = 400
        else:
            flash(
                _("%(address)s can now sign in and will set up their authenticator app.", address=created.email),
                "success",
            )
            return redirect(url_for("console_admin.staff"))
    elif form.is_submitted():
        status = 400
    users = staff_users()
    return render_template("console/staff.html", users=users, form=form, action_form=ActionForm()), status


def _staff_action(staff_id: int, change: Callable[[StaffUser], object]) -> Response:
    user = db.get_or_404(StaffUser, staff_id)
    if not ActionForm().validate_on_submit():
        abort(400)
    if user.id == current_staff().id:
        flash(_("You cannot change your own account here; ask another administrator."), "error")
        return redirect(url_for("console_admin.staff"))
    change(user)
    return redirect(url_for("console_admin.staff"))


@bp.post("/admin/staff/<int:staff_id>/deactivate")
@require(MANAGE_STAFF)
@commit_on_success
def deactivate(staff_id: int) -> ResponseReturnValue:
    return _staff_action(staff_id, lambda user: set_active(user, False, actor=current_staff().label, now=utcnow()))


@bp.post("/admin/staff/<int:staff_id>/activate")
@require(MANAGE_STAFF)
@commit_on_success
def activate(staff_id: int) -> ResponseReturnValue:
    return _staff_action(staff_id, lambda user: set_active(user, True, actor=current_staff().label, now=utcnow()))


@bp.post("/admin/staff/<int:staff_id>/reset-totp")
@require(MANAGE_STAFF)
@commit_on_success
def totp_reset(staff_id: int) -> ResponseReturnValue:
    return _staff_action(staff_id, lambda user: reset_totp(user, actor=current_staff().label, now=utcnow()))


@bp.get("/audit")
@require(VIEW_AUDIT)
def audit() -> ResponseReturnValue:
    args = request.args
    page = page_arg(args)
    start, end = day_bounds(current_app.config["DISPLAY_TIMEZONE"], day_arg(args, "from"), day_arg(args, "to"))
    reference = args.get("incident", "").strip()[:32]
    incident_id = (incident_id_of(reference) or NO_INCIDENT) if reference else None
    events, total = search_events(
        action=args.get("action", "").strip()[:80],
        actor=args.get("actor", "").strip()[:320],
        incident_id=incident_id,
        start=start,
        end=end,
        page=page,
        page_size=AUDIT_PAGE,
    )
    verification = verify_log([service_public_key()]) if args.get("verify") == "1" else None
    return render_template(
        "console/audit.html",
        events=events,
        total=total,
        page=page,
        pages=max(1, -(-total // AUDIT_PAGE)),
        verification=verification,
        filters={k: v for k, v in args.items() if k not in ("page", "verify")},
        event_choices=sorted(((event.value, event_label(event.value)) for event in Event), key=lambda c: c[1]),
    )
