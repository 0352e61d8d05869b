"""`/account/email` (signed in: ask to change the address on record) and the confirmation links'
`/account/email/confirm/<token>` → `/account/email/confirm` and `POST /account/email/cancel`.

As for reset links (T4), GET never changes anything: the token moves into the session and the browser
is sent to a token-free URL; only CSRF-protected POSTs confirm or cancel.
"""

from __future__ import annotations

from flask import Blueprint, g, redirect, render_template, request, session, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _

from ..customers.addresses import mask_address
from ..customers.models import Customer
from ..database import utcnow
from ..extensions import db, limiter
from ..forms import add_error, entered
from ..limits import setting
from ..link_guessing import count_invalid_link
from ..tokens import TokenError, report_link
from .forms import ChangeDecisionForm, EmailChangeForm
from .models import SIDE_OLD
from .service import (
    INVALID_ADDRESS,
    OPEN_INCIDENT,
    SAME_ADDRESS,
    WRONG_PASSWORD,
    EmailChangeRefused,
    cancel_email_change,
    check_email_change,
    confirm_email_change,
    has_open_incident,
    load_change_link,
    pending_change_of,
    record_refusal,
    request_email_change,
)

bp = Blueprint("email_change", __name__)

SESSION_KEY = "email_change_token"
OUTCOME_KEY = "email_change_outcome"


def _customer_key() -> str:
    """The signed-in customer: wrong passwords here are limited per account, as at sign-in."""
    return f"email-change:{session.get('customer_id')}"


def refusal_message(code: str) -> str:
    messages = {
        INVALID_ADDRESS: _("Enter an email address in the form name@example.com."),
        SAME_ADDRESS: _("This is already the email address of your account. Enter the new address."),
        WRONG_PASSWORD: _("The password is not correct. Enter the password you sign in with."),
    }
    return messages[code]


def _refused_for_incident(customer: Customer, status: int) -> ResponseReturnValue:
    return render_template("account/email_change_refused.html", customer=customer), status


@bp.route("/account/email", methods=["GET", "POST"])
@limiter.limit(setting("LIMIT_SIGN_IN_PER_IP"), methods=["POST"])
@limiter.limit(setting("LIMIT_SIGN_IN_PER_ACCOUNT"), methods=["POST"], key_func=_customer_key)
def change_email() -> ResponseReturnValue:
    customer: Customer | None = g.get("customer")
    if customer is None:
        return redirect(url_for("customers.login"))
    form = EmailChangeForm()
    if form.validate_on_submit():
        try:
            address = check_email_change(customer, entered(form.new_email), entered(form.password))
            change = request_email_change(customer, address, ip=request.remote_addr, now=utcnow())
            db.session.commit()
            return render_template("account/email_change_sent.html", customer=customer, change=change)
        except EmailChangeRefused as refused:
            db.session.rollback()
            if refused.code in (WRONG_PASSWORD, OPEN_INCIDENT):
                record_refusal(customer, refused.code, ip=request.remote_addr, now=utcnow())
                db.session.commit()
            if refused.code == OPEN_INCIDENT:
                return _refused_for_incident(customer, 409)
            target = form.password if refused.code == WRONG_PASSWORD else form.new_email
            add_error(target, refusal_message(refused.code))
    elif not form.is_submitted() and has_open_incident(customer):
        return _refused_for_incident(customer, 200)
    status = 400 if form.is_submitted() else 200
    pending = pending_change_of(customer.id, utcnow())
    return render_template("account/email_change.html", form=form, customer=customer, pending=pending), status


@bp.get("/account/email/confirm/<token>")
@limiter.limit(setting("LIMIT_LINK_PER_IP"))
def confirm_from_link(token: str) -> ResponseReturnValue:
    session[SESSION_KEY] = token
    return redirect(url_for("email_change.confirm"))


def _invalid_link(token: str) -> ResponseReturnValue:
    db.session.rollback()
    session.pop(SESSION_KEY, None)
    if token:
        count_invalid_link("email_change")
        db.session.commit()
    return render_template("link_invalid.html", retry_endpoint=None), 400


@bp.route("/account/email/confirm", methods=["GET", "POST"])
@limiter.limit(setting("LIMIT_RESET_PER_IP"), methods=["POST"])
def confirm() -> ResponseReturnValue:
    token = session.get(SESSION_KEY, "")
    form = ChangeDecisionForm()
    try:
        if form.validate_on_submit():
            outcome = confirm_email_change(token, now=utcnow())
            db.session.commit()
            if not (outcome.done or outcome.void):
                return redirect(url_for("email_change.confirm"))
            session.pop(SESSION_KEY, None)
            # Shown by the next request, in which this browser's session has ended with every other one
            # (the stamp rotated), so its header and language are those of a signed-out visitor.
            session[OUTCOME_KEY] = "done" if outcome.done else "void"
            return redirect(url_for("email_change.result"))
        linked = load_change_link(token, utcnow())
    except TokenError:
        return _invalid_link(token)
    change = linked.change
    return render_template(
        "account/email_change_confirm.html",
        linked=linked,
        form=form,
        # Each side sees its own address in full and the other one masked (see email_change.emails).
        old_address=change.old_address if linked.side == SIDE_OLD else mask_address(change.old_address),
        new_address=mask_address(change.new_address) if linked.side == SIDE_OLD else change.new_address,
    ), 400 if form.is_submitted() else 200


@bp.get("/account/email/result")
def result() -> ResponseReturnValue:
    # Kept (not popped), so that switching the language shows the same page again.
    outcome = session.get(OUTCOME_KEY)
    if outcome not in ("done", "void"):
        return redirect(url_for("customers.account"))
    return render_template("account/email_change_result.html", outcome=outcome)


@bp.post("/account/email/cancel")
@limiter.limit(setting("LIMIT_RESET_PER_IP"))
def cancel() -> ResponseReturnValue:
    token = session.get(SESSION_KEY, "")
    form = ChangeDecisionForm()
    if not form.validate_on_submit():
        return redirect(url_for("email_change.confirm"))
    try:
        linked = cancel_email_change(token, now=utcnow())
        db.session.commit()
    except TokenError:
        return _invalid_link(token)
    session.pop(SESSION_KEY, None)
    # The current address's owner, who says someone else asked: their password is known to that person.
    report_url = report_link(linked.customer.id).url() if linked.side == SIDE_OLD else None
    return render_template("account/email_change_result.html", outcome="cancelled", report_url=report_url)
