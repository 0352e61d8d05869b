"""`/reset/<token>` → `/reset`, and `/reset/new`: setting a new password from an emailed link.

GET never changes anything (mail scanners open links): the token moves into the session and the
browser is sent to a token-free URL; only the CSRF-protected POST uses the grant (T4).
"""

from __future__ import annotations

from flask import Blueprint, redirect, render_template, session, url_for
from flask.typing import ResponseReturnValue

from ..answer_floor import answer_floor
from ..customers import password_policy as policy
from ..customers.addresses import mask_address, normalize_address
from ..customers.password_messages import reason_message
from ..database import utcnow
from ..extensions import db, limiter
from ..forms import add_error, entered
from ..limits import account_key, link_key, setting
from ..link_guessing import count_invalid_link
from ..tokens import TokenError
from .forms import FreshLinkForm, NewPasswordForm
from .service import check_reset_password, complete_reset, load_reset_grant, send_fresh_link

bp = Blueprint("reactivation", __name__)

SESSION_KEY = "reset_token"


@bp.get("/reset/<token>")
@limiter.limit(setting("LIMIT_LINK_PER_IP"))
def reset_from_link(token: str) -> ResponseReturnValue:
    session[SESSION_KEY] = token
    return redirect(url_for("reactivation.reset"))


@bp.route("/reset", methods=["GET", "POST"])
@limiter.limit(setting("LIMIT_RESET_PER_IP"), methods=["POST"])
@limiter.limit(setting("LIMIT_RESET_PER_LINK"), methods=["POST"], key_func=link_key("reset"))
def reset() -> ResponseReturnValue:
    token = session.get(SESSION_KEY, "")
    now = utcnow()
    form = NewPasswordForm()
    try:
        customer, grant = load_reset_grant(token, now)
        if form.validate_on_submit():
            email, compromised_hash = customer.email, customer.password_hash
            db.session.rollback()  # hold nothing while argon2 works (SQLite: the write lock)
            checked = check_reset_password(
                entered(form.password), entered(form.password_confirm), email=email, compromised_hash=compromised_hash
            )
            outcome = complete_reset(token, checked, source="web", actor="customer", now=utcnow())
            db.session.commit()  # also keeps the audit of a refused attempt
            if outcome.ok:
                session.pop(SESSION_KEY, None)
                return render_template("reset/done.html")
            # Each refusal under the field it is about, tied to it for screen readers.
            target = form.password_confirm if outcome.reasons == [policy.MISMATCH] else form.password
            for reason in outcome.reasons:
                add_error(target, reason_message(reason))
    except TokenError:
        db.session.rollback()
        session.pop(SESSION_KEY, None)
        if token:  # a link was opened (not a page reloaded after the password was set)
            count_invalid_link("reset")
            db.session.commit()
        return render_template("link_invalid.html", retry_endpoint="reactivation.fresh_link"), 400
    status = 400 if form.is_submitted() else 200
    return render_template(
        "reset/form.html",
        form=form,
        address=customer.email,
        masked=mask_address(customer.email),
        expires_at=grant.expires_at,
        min_length=policy.MIN_LENGTH,
    ), status


@bp.route("/reset/new", methods=["GET", "POST"])
@limiter.limit(setting("LIMIT_FRESH_LINK_PER_IP"), methods=["POST"])
@limiter.limit(setting("LIMIT_FRESH_LINK_PER_ACCOUNT"), methods=["POST"], key_func=account_key("fresh-link"))
def fresh_link() -> ResponseReturnValue:
    form = FreshLinkForm()
    if form.validate_on_submit():
        db.session.commit()  # a signed-in customer's read holds no transaction while a turn is awaited
        floor = answer_floor("fresh_link")
        started = floor.start()
        with floor.turn():
            customer = send_fresh_link(
                normalize_address(entered(form.email)), source="web", actor="customer", now=utcnow()
            )
            db.session.commit()
        page = render_template("reset/link_sent.html")
        floor.hold(started, customer=customer)  # R3: as long for everyone
        return page
    status = 400 if form.is_submitted() else 200
    return render_template("reset/new.html", form=form), status
