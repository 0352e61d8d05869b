"""Console sign-in: password, then a TOTP code; TOTP is enrolled with a QR code at first sign-in."""

from __future__ import annotations

from flask import Blueprint, g, redirect, render_template, request, session, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _

from ..customers.passwords import sign_in_check
from ..database import utcnow
from ..extensions import db, limiter
from ..forms import entered
from ..limits import account_key, setting
from ..redirects import local_path
from ..staff import session as staff_session
from ..staff.access import can
from ..staff.permissions import DECIDE_REVIEWS
from ..staff.service import (
    check_staff_password,
    enrol_totp,
    grouped_key,
    new_totp_secret,
    qr_svg,
    record_sign_in_step,
    totp_uri,
    verify_totp,
)
from .forms import ActionForm, StaffLoginForm, TotpForm

bp = Blueprint("console_auth", __name__, url_prefix="/console")

ENROL_SECRET = "staff_enrol_secret"


def _pending_key() -> str:
    pending = session.get(staff_session.PENDING)
    return f"staff-totp:{pending.get('id') if isinstance(pending, dict) else request.remote_addr}"


def landing_url() -> str:
    """Where a signed-in staff member starts: legal on the reviews awaiting their decision, everyone
    else on the queue."""
    return url_for("console_legal.reviews") if can(DECIDE_REVIEWS) else url_for("console.queue")


def _safe_next() -> str:
    return local_path(request.args.get("next"), under="/console/") or landing_url()


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(setting("LIMIT_SIGN_IN_PER_IP"), methods=["POST"])
@limiter.limit("5 per minute;20 per hour", methods=["POST"], key_func=account_key("staff-sign-in"))
def login() -> ResponseReturnValue:
    if g.get("staff") is not None:
        return redirect(landing_url())
    form = StaffLoginForm()
    error = None
    if form.validate_on_submit():
        staff = sign_in_check(entered(form.email), entered(form.password), check_staff_password)
        now = utcnow()
        if staff is not None:
            staff_session.start_pending(staff, now)
            db.session.commit()  # a rehash, if any
            target = "console_auth.verify" if staff.totp_secret else "console_auth.enrol"
            return redirect(url_for(target, next=request.args.get("next")))
        record_sign_in_step("sign_in_failed", who=entered(form.email), ip=request.remote_addr, now=now)
        db.session.commit()
        error = _("The email address or password is not correct.")
    status = 400 if form.is_submitted() else 200
    return render_template("console/login.html", form=form, error=error), status


@bp.route("/enrol", methods=["GET", "POST"])
@limiter.limit("10 per minute", methods=["POST"], key_func=_pending_key)
def enrol() -> ResponseReturnValue:
    now = utcnow()
    staff = staff_session.pending_staff(now)
    if staff is None or staff.totp_secret is not None:
        return redirect(url_for("console_auth.login"))
    secret = session.get(ENROL_SECRET) or new_totp_secret()
    session[ENROL_SECRET] = secret
    form = TotpForm()
    error = None
    if form.validate_on_submit():
        if enrol_totp(staff, secret, entered(form.code), now=now):
            staff_session.complete_sign_in(staff, now)
            record_sign_in_step("signed_in", who=staff.label, ip=request.remote_addr, now=now)
            db.session.commit()
            return redirect(_safe_next())
        error = _("That code is not right. Check the time on your phone and try the newest code.")
    uri = totp_uri(staff, secret)
    status = 400 if form.is_submitted() else 200
    return render_template(
        "console/enrol.html", form=form, error=error, qr=qr_svg(uri), secret=grouped_key(secret), staff=staff
    ), status


@bp.route("/verify", methods=["GET", "POST"])
@limiter.limit("10 per minute", methods=["POST"], key_func=_pending_key)
def verify() -> ResponseReturnValue:
    now = utcnow()
    staff = staff_session.pending_staff(now)
    if staff is None or staff.totp_secret is None:
        return redirect(url_for("console_auth.login"))
    form = TotpForm()
    error = None
    if form.validate_on_submit():
        if verify_totp(staff, entered(form.code), now):
            staff_session.complete_sign_in(staff, now)
            record_sign_in_step("signed_in", who=staff.label, ip=request.remote_addr, now=now)
            db.session.commit()
            return redirect(_safe_next())
        record_sign_in_step("totp_failed", who=staff.label, ip=request.remote_addr, now=now)
        db.session.commit()
        error = _("That code is not right. Try the newest code from your authenticator app.")
    status = 400 if form.is_submitted() else 200
    return render_template("console/verify.html", form=form, error=error), status


@bp.post("/logout")
def logout() -> ResponseReturnValue:
    form = ActionForm()
    if form.validate_on_submit() and g.get("staff") is not None:
        record_sign_in_step("signed_out", who=g.staff.label, ip=request.remote_addr, now=utcnow())
        db.session.commit()
    staff_session.sign_out()
    return redirect(url_for("console_auth.login"))
