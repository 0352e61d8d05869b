"""`/report` and `/r/<token>`: the public report form and the report link from our emails."""

from __future__ import annotations

from flask import Blueprint, render_template, request
from flask.typing import ResponseReturnValue

from ..answer_floor import answer_floor
from ..customers.addresses import mask_address
from ..customers.service import customer_of_report_link
from ..database import utcnow
from ..extensions import db, limiter
from ..forms import entered
from ..limits import account_key, link_key, setting
from ..link_guessing import count_invalid_link
from ..tokens import TokenError
from .forms import ReportForm, ReportLinkForm
from .service import ReportSubmission, receive_report

bp = Blueprint("incidents", __name__)


def client_ip() -> str | None:
    # Proxy headers are trusted only through ProxyFix, configured from TRUSTED_PROXY_COUNT.
    return request.remote_addr


def _submit(form: ReportLinkForm, address: str) -> str:
    """Store the report, commit, and only then show the receipt (docs/interface.md: durable before answered), no
    sooner for an unknown address than for a customer's (R3)."""
    floor = answer_floor("report")
    started = floor.start()
    report = receive_report(
        ReportSubmission(
            channel="web",
            address=address,
            kind=form.kind.data,
            details=(form.details.data or "").strip(),
            discovered_at=form.discovered_at.utc,
            client_ip=client_ip(),
            user_agent=request.user_agent.string,
        ),
        now=utcnow(),
    )
    reference, received_at = report.reference, report.received_at  # read before commit expires them
    customer_matched = report.customer_id is not None
    db.session.commit()
    page = render_template("report/received.html", reference=reference, received_at=received_at)
    floor.hold(started, slow_path=customer_matched)
    return page


@bp.route("/report", methods=["GET", "POST"])
@limiter.limit(setting("LIMIT_REPORT_PER_IP"), methods=["POST"])
@limiter.limit(setting("LIMIT_REPORT_PER_ACCOUNT"), methods=["POST"], key_func=account_key("report"))
def report() -> ResponseReturnValue:
    form = ReportForm()
    if form.validate_on_submit():
        return _submit(form, entered(form.email))
    status = 400 if request.method == "POST" else 200
    return render_template("report/form.html", form=form, fixed_address=None), status


@bp.route("/r/<token>", methods=["GET", "POST"])
@limiter.limit(setting("LIMIT_LINK_PER_IP"))
@limiter.limit(setting("LIMIT_REPORT_PER_IP"), methods=["POST"])
@limiter.limit(setting("LIMIT_REPORT_PER_ACCOUNT"), methods=["POST"], key_func=link_key("report-link"))
def report_link(token: str) -> ResponseReturnValue:
    try:
        customer = customer_of_report_link(token)
    except TokenError:
        count_invalid_link("report")
        db.session.commit()
        return render_template("link_invalid.html", retry_endpoint="incidents.report"), 400
    form = ReportLinkForm()
    if form.validate_on_submit():
        return _submit(form, customer.email)
    status = 400 if request.method == "POST" else 200
    return render_template("report/form.html", form=form, fixed_address=mask_address(customer.email)), status
