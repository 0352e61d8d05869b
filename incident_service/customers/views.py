"""`/login`, `POST /logout` and `/account`: customer sign-in and the customer's own reports."""

from __future__ import annotations

from flask import Blueprint, g, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from sqlalchemy import select

from ..database import utcnow
from ..extensions import db, limiter
from ..forms import entered
from ..incidents.models import Incident
from ..limits import account_key, setting
from ..tokens import discovery_link
from .forms import LoginForm
from .passwords import sign_in_check
from .service import check_password, record_sign_in
from .session import BINDING, sign_in, sign_out

bp = Blueprint("customers", __name__)


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(setting("LIMIT_SIGN_IN_PER_IP"), methods=["POST"])
@limiter.limit(setting("LIMIT_SIGN_IN_PER_ACCOUNT"), methods=["POST"], key_func=account_key("sign-in"))
def login() -> ResponseReturnValue:
    form = LoginForm()
    error = None
    if form.validate_on_submit():
        customer = sign_in_check(entered(form.email), entered(form.password), check_password)
        if customer is not None:
            now = utcnow()
            sign_in(customer, now)
            record_sign_in(customer, ip=request.remote_addr, now=now)
            db.session.commit()
            return redirect(url_for("customers.account"))
        db.session.rollback()
        error = _(
            "The email address or password is not correct. If you reported your password as "
            "exposed, use the link in our email to set a new one."
        )
    status = 400 if form.is_submitted() else 200
    ended = BINDING.ended_reason() if not form.is_submitted() else None
    return render_template("account/login.html", form=form, error=error, ended=ended), status


@bp.post("/logout")
def logout() -> ResponseReturnValue:
    sign_out()
    return redirect(url_for("site.index"))


@bp.get("/account")
def account() -> ResponseReturnValue:
    customer = g.get("customer")
    if customer is None:
        return redirect(url_for("customers.login"))
    incidents = (
        db.session.execute(select(Incident).where(Incident.customer_id == customer.id).order_by(Incident.id.desc()))
        .scalars()
        .all()
    )
    # A customer who has not said when they noticed can say it from here, as from our email's link.
    discovery_urls = {
        incident.id: discovery_link(customer.id, incident.id).url()
        for incident in incidents
        if incident.effective_discovered_at is None
    }
    return render_template(
        "account/overview.html", customer=customer, incidents=incidents, discovery_urls=discovery_urls
    )
