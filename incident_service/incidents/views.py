"""`/report` and `/r/<token>`: the public report form and the report link from our emails."""

from __future__ import annotations

from datetime import datetime, timedelta

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, session, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _

from ..answer_floor import answer_floor
from ..customers.addresses import mask_address
from ..customers.service import customer_of_report_link
from ..database import utcnow
from ..extensions import db, limiter
from ..forms import entered
from ..i18n import format_local
from ..limits import account_key, link_key, setting
from ..link_guessing import count_invalid_link
from ..reactivation.service import live_grant, next_link_allowed_at, send_reset_link
from ..tokens import TokenError
from .forms import ReportForm, ReportLinkForm, ResendForm
from .models import open_incident_of
from .service import ReportSubmission, receive_report

bp = Blueprint("incidents", __name__)


def client_ip() -> str | None:
    # Proxy headers are trusted only through ProxyFix, configured from TRUSTED_PROXY_COUNT.
    return request.remote_addr


RECEIPT = "report_receipt"
RECEIPT_KEPT = timedelta(hours=1)


def _submit(form: ReportLinkForm, address: str, *, known: bool = False) -> ResponseReturnValue:
    """Store the report, commit, and only then answer (docs/interface.md: durable before answered), no
    sooner for an unknown address than for a customer's (R3). The answer sends the browser to the
    receipt (post/redirect/get: reloading it or changing its language does not report again), which the
    session holds. The public form's receipt is the same whatever the address; through a signed link
    (`known`) the account is the customer's own, so it says where the link went and until when."""
    # What was read first (the link's token, a signed-in customer) holds no transaction, and on SQLite no
    # writer turn, while a work turn is awaited (AnswerFloor.turn).
    db.session.commit()
    floor = answer_floor("report")
    started = floor.start()
    with floor.turn():
        receipt, customer_id = _store(form, address, known=known)
    session[RECEIPT] = receipt
    answer = redirect(url_for("incidents.received"), code=303)
    floor.hold(started, customer=customer_id)
    return answer


def _store(form: ReportLinkForm, address: str, *, known: bool) -> tuple[dict[str, str | bool | None], int | None]:
    """The report stored and committed: the receipt the session will hold, and the customer it named."""
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
    receipt: dict[str, str | bool | None] = {
        "reference": report.reference,
        "received_at": report.received_at.isoformat(),
    }  # kept for an hour (see received()): a shared browser does not show it to the next person
    # Read before the commit, which expires the report: read after it, it would be loaded again, in a new
    # transaction (on SQLite one that takes the write lock) held through the answer floor's sleep.
    customer_id = report.customer_id
    if known and report.customer_id is not None:
        grant = live_grant(report.customer_id, report.received_at)
        if grant is not None:
            receipt |= {
                "masked_address": mask_address(address),
                "link_issued_at": grant.issued_at.isoformat(),
                "link_expires_at": grant.expires_at.isoformat(),
                "link_sent_now": grant.issued_at >= report.received_at,
            }
    db.session.commit()
    return receipt, customer_id


@bp.get("/report/received")
def received() -> ResponseReturnValue:
    receipt = session.get(RECEIPT)
    if not isinstance(receipt, dict) or "reference" not in receipt:
        return redirect(url_for("incidents.report"))
    if utcnow() - datetime.fromisoformat(receipt["received_at"]) > RECEIPT_KEPT:
        session.pop(RECEIPT, None)
        return redirect(url_for("incidents.report"))
    link = None
    if "link_expires_at" in receipt:
        link = {
            "masked_address": receipt["masked_address"],
            "issued_at": datetime.fromisoformat(receipt["link_issued_at"]),
            "expires_at": datetime.fromisoformat(receipt["link_expires_at"]),
            "sent_now": receipt["link_sent_now"],
        }
    return render_template(
        "report/received.html",
        reference=receipt["reference"],
        received_at=datetime.fromisoformat(receipt["received_at"]),
        link=link,
        lifetime_minutes=current_app.config["RESET_LINK_MAX_AGE_SECONDS"] // 60,
    )


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
        return _submit(form, customer.email, known=True)
    incident = open_incident_of(customer.id)
    if incident is not None and request.method == "GET" and "more" not in request.args:
        # Already in hand: say so, and offer a fresh link rather than a blank form to fill again.
        return render_template(
            "report/in_hand.html",
            incident=incident,
            masked_address=mask_address(customer.email),
            link=live_grant(customer.id, utcnow()),
            resend_form=ResendForm(),
            token=token,
        )
    status = 400 if request.method == "POST" else 200
    return render_template("report/form.html", form=form, fixed_address=mask_address(customer.email)), status


@bp.post("/r/<token>/new-link")
@limiter.limit(setting("LIMIT_FRESH_LINK_PER_IP"))
@limiter.limit(setting("LIMIT_FRESH_LINK_PER_ACCOUNT"), key_func=link_key("report-link-resend"))
def resend_from_link(token: str) -> ResponseReturnValue:
    """A fresh reset link for the customer of a report link, throttled as every other way of asking."""
    try:
        customer = customer_of_report_link(token)
    except TokenError:
        count_invalid_link("report")
        db.session.commit()
        return render_template("link_invalid.html", retry_endpoint="incidents.report"), 400
    if not ResendForm().validate_on_submit():
        abort(400)
    now = utcnow()
    sent = send_reset_link(customer, source="web", actor="customer", now=now)
    db.session.commit()
    if sent:
        flash(_("A new link is on its way to %(address)s.", address=mask_address(customer.email)), "success")
    else:
        flash(
            _(
                "A link was sent a few minutes ago and still works: please use the newest email. If it does "
                "not arrive, you can ask for another from %(time)s.",
                time=format_local(next_link_allowed_at(customer.id)),
            ),
            "warning",
        )
    return redirect(url_for("incidents.report_link", token=token), code=303)
