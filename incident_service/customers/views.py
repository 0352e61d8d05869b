"""`/login`, `POST /logout` and `/account`: customer sign-in and the customer's own reports."""

from __future__ import annotations

from flask import Blueprint, g, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from sqlalchemy import select

from ..assessment.models import DiscoveryStatement
from ..database import utcnow
from ..extensions import db, limiter
from ..forms import entered
from ..incidents.models import Incident, Report
from ..limits import account_key, setting
from .forms import LoginForm
from .passwords import sign_in_check
from .service import check_password, record_sign_in
from .session import sign_in, sign_out

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
    return render_template("account/login.html", form=form, error=error), status


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
    reports = (
        db.session.execute(select(Report).where(Report.customer_id == customer.id).order_by(Report.id.desc()))
        .scalars()
        .all()
    )
    statements = (
        db.session.execute(
            select(DiscoveryStatement)
            .join(Incident, DiscoveryStatement.incident_id == Incident.id)
            .where(Incident.customer_id == customer.id)
            .order_by(DiscoveryStatement.id)
        )
        .scalars()
        .all()
    )
    return render_template(
        "account/overview.html", customer=customer, incidents=incidents, reports=reports, statements=statements
    )
