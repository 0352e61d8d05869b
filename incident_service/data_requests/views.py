"""Data request pages: the customer's (`/account/requests…`) and the console's (`/console/data-requests…`)."""

from __future__ import annotations

import json
from typing import Any
from zoneinfo import ZoneInfo

from flask import Blueprint, abort, flash, g, redirect, render_template, request, session, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from sqlalchemy import select

from ..console.transactions import commit_on_success
from ..customers.models import Customer
from ..database import utcnow
from ..extensions import db, limiter
from ..forms import add_error, entered
from ..incidents.forms import viewer_zone
from ..incidents.models import Incident, Report
from ..limits import setting
from ..staff.access import can, current_staff, require, require_sign_in
from ..staff.permissions import VIEW_DATA_REQUESTS, VIEW_LEGAL
from .forms import (
    ActionForm,
    CustomerRequestForm,
    DecisionForm,
    ErasureDecisionForm,
    StaffRequestForm,
    error_message,
)
from .labels import LABELS
from .models import (
    CHANNEL_WEB,
    DECISION_REFUSED,
    DECISIONS,
    ITEM_DISCOVERY,
    ITEM_LOCALE,
    ITEM_NAME,
    ITEM_REPORT_DETAILS,
    KIND_CORRECTION,
    KIND_ERASURE,
    KINDS,
    STATES,
    DataRequest,
)
from .queries import (
    QueueFilter,
    corrections_of,
    customer_by_address_or_reference,
    customer_statements,
    queue_query,
    requests_of,
    statement_key,
)
from .service import (
    DataRequestError,
    RequestSubmission,
    answer_data_request,
    decision_permission,
    receive_data_request,
    start_data_request,
    withdraw_data_request,
)

account_bp = Blueprint("data_requests", __name__)
console_bp = Blueprint("console_data_requests", __name__, url_prefix="/console")
require_sign_in(console_bp)


@account_bp.app_context_processor
def _labels() -> dict[str, Any]:
    # Emails are rendered by the worker too, in an app context: the labels are globals of every template.
    return dict(LABELS)


# What a customer can ask, from /account/requests: each has its own short page.
CUSTOMER_ASKS = {
    "name": (KIND_CORRECTION, ITEM_NAME),
    "language": (KIND_CORRECTION, ITEM_LOCALE),
    "statement": (KIND_CORRECTION, "statement"),
    "erasure": (KIND_ERASURE, None),
}


def _signed_in_customer() -> Customer | None:
    customer: Customer | None = g.get("customer")
    return customer


@account_bp.get("/account/requests")
def my_requests() -> ResponseReturnValue:
    customer = _signed_in_customer()
    if customer is None:
        return redirect(url_for("customers.login"))
    return render_template(
        "account/requests.html",
        customer=customer,
        requests=requests_of(customer.id),
        now=utcnow(),
        withdraw_form=ActionForm(),
    )


def _customer_key() -> str:
    """The signed-in customer: each request sends them an email and gives staff a deadline."""
    return f"data-request:{session.get('customer_id')}"


@account_bp.route("/account/requests/new/<what>", methods=["GET", "POST"])
@limiter.limit(setting("LIMIT_REPORT_PER_IP"), methods=["POST"], key_func=_customer_key)
def ask(what: str) -> ResponseReturnValue:
    customer = _signed_in_customer()
    if customer is None:
        return redirect(url_for("customers.login"))
    if what not in CUSTOMER_ASKS:
        abort(404)
    kind, item = CUSTOMER_ASKS[what]
    statements = customer_statements(customer.id) if what == "statement" else []
    form = CustomerRequestForm()
    form.statement.choices = [(choice.key, choice.key) for choice in statements]
    if form.validate_on_submit():
        now = utcnow()
        submission = RequestSubmission(
            kind=kind,
            reason=entered(form.reason),
            channel=CHANNEL_WEB,
            item=item,
            statement=form.statement.data if what == "statement" else None,
            corrected_value=form.corrected_locale.data if what == "language" else entered(form.corrected_value),
            corrected_time=form.corrected_time.utc,
            scope=entered(form.scope),
        )
        try:
            created = receive_data_request(customer, submission, actor="customer", now=now)
        except DataRequestError as error:
            db.session.rollback()
            _show(form, error, staff=False)
        else:
            db.session.commit()
            flash(
                _(
                    "Your request %(reference)s is received. We will answer by %(due)s; we have sent you an "
                    "email about it.",
                    reference=created.reference,
                    due=_due_text(created, customer),
                ),
                "success",
            )
            return redirect(url_for("data_requests.my_requests"))
    status = 400 if form.is_submitted() else 200
    return render_template(
        "account/request_new.html",
        customer=customer,
        form=form,
        what=what,
        statements=statements,
    ), status


def _due_text(item: DataRequest, customer: Customer) -> str:
    from ..i18n import format_local

    return format_local(item.due_at, customer.time_zone)


@account_bp.post("/account/requests/<int:request_id>/withdraw")
def withdraw(request_id: int) -> ResponseReturnValue:
    customer = _signed_in_customer()
    if customer is None:
        return redirect(url_for("customers.login"))
    item = db.session.get(DataRequest, request_id)
    # Someone else's request answers as one that does not exist.
    if item is None or item.customer_id != customer.id:
        abort(404)
    if not ActionForm().validate_on_submit():
        abort(400)
    try:
        withdraw_data_request(item, customer, now=utcnow())
    except DataRequestError:
        db.session.rollback()
        flash(_("This request is already answered or withdrawn."), "error")
    else:
        db.session.commit()
        flash(_("Your request %(reference)s is withdrawn.", reference=item.reference), "success")
    return redirect(url_for("data_requests.my_requests"))


def _show(form: Any, error: DataRequestError, *, staff: bool) -> None:
    """The service's refusal beside its field (or, with none, the first field it may concern)."""
    field = getattr(form, error.field, None) if error.field else None
    if field is None:
        field = form.reason
    add_error(field, error_message(error, staff=staff))


# The console


@console_bp.get("/data-requests")
@require(VIEW_DATA_REQUESTS)
def queue() -> ResponseReturnValue:
    args = request.args
    state = args.get("state", "open")
    filters = QueueFilter(
        state=state if state in ("open", "all", *STATES) else "open",
        kind=args.get("kind", "") if args.get("kind", "") in KINDS else "",
        overdue=args.get("overdue") == "1",
    )
    now = utcnow()
    rows = db.session.execute(queue_query(filters, now).limit(200)).scalars().all()
    return render_template(
        "console/data_requests.html",
        filters=filters,
        rows=rows,
        now=now,
        states=STATES,
        kinds=KINDS,
    )


def _statement_reference(customer: Customer, text: str) -> str | None:
    """The statement staff mean by a reference: a report's (its text) or an incident's (the discovery
    statement in effect), as a key for the service; None when the reference is not the customer's."""
    key = text.strip().upper()
    if not key:
        return None
    report = db.session.execute(
        select(Report).where(Report.reference == key, Report.customer_id == customer.id)
    ).scalar_one_or_none()
    if report is not None:
        return statement_key(ITEM_REPORT_DETAILS, report.id)
    incident = db.session.execute(
        select(Incident).where(
            Incident.customer_id == customer.id,
            (Incident.reference == key) | (Incident.customer_reference == key),
        )
    ).scalar_one_or_none()
    if incident is not None:
        for choice in reversed(customer_statements(customer.id)):
            if choice.item == ITEM_DISCOVERY and choice.reference == incident.customer_reference:
                return choice.key
    return "report:0"  # names nothing: the service says so on the field


@console_bp.route("/data-requests/new", methods=["GET", "POST"])
@require(VIEW_DATA_REQUESTS)
@commit_on_success
def enter() -> ResponseReturnValue:
    """A request that came by phone, post, email or in person, entered for the customer."""
    form = StaffRequestForm()
    if form.validate_on_submit():
        customer = customer_by_address_or_reference(entered(form.customer))
        if customer is None:
            add_error(form.customer, _("No customer has this address or reference."))
        else:
            item = form.item.data or None
            submission = RequestSubmission(
                kind=form.kind.data or "",
                reason=entered(form.reason),
                channel=form.channel.data or "",
                received_at=form.received_at.utc,
                item=item if form.kind.data == KIND_CORRECTION else None,
                statement=_statement_reference(customer, entered(form.statement)) if item == "statement" else None,
                corrected_value=form.corrected_locale.data if item == ITEM_LOCALE else entered(form.corrected_value),
                corrected_time=form.corrected_time.utc,
                scope=entered(form.scope),
            )
            try:
                created = receive_data_request(customer, submission, actor=current_staff().label, now=utcnow())
            except DataRequestError as error:
                db.session.rollback()
                if error.field == "item" or error.code == "unknown_item":
                    add_error(form.item, error_message(error, staff=True))
                else:
                    _show(form, error, staff=True)
            else:
                flash(_("Request %(reference)s recorded.", reference=created.reference), "success")
                return redirect(url_for("console_data_requests.page", request_id=created.id))
    if not form.is_submitted():
        zone = ZoneInfo(viewer_zone())
        form.received_at.data = utcnow().astimezone(zone).replace(tzinfo=None, second=0, microsecond=0)
    status = 400 if form.is_submitted() else 200
    return render_template("console/data_request_new.html", form=form), status


def _decision_form(item: DataRequest) -> DecisionForm:
    return ErasureDecisionForm() if item.kind == KIND_ERASURE else DecisionForm()


def _render_page(item: DataRequest, form: DecisionForm | None = None, status: int = 200) -> ResponseReturnValue:
    may_decide = can(decision_permission(item))
    return render_template(
        "console/data_request.html",
        item=item,
        now=utcnow(),
        form=form or _decision_form(item),
        start_form=ActionForm(),
        may_decide=may_decide,
        decisions=DECISIONS,
        outcome=json.loads(item.outcome) if item.outcome else None,
        corrections=[c for c in corrections_of(item.customer_id) if c.data_request_id == item.id],
        show_original=can(VIEW_LEGAL) or may_decide,
    ), status


@console_bp.get("/data-requests/<int:request_id>")
@require(VIEW_DATA_REQUESTS)
def page(request_id: int) -> ResponseReturnValue:
    return _render_page(db.get_or_404(DataRequest, request_id))


@console_bp.post("/data-requests/<int:request_id>/start")
@require(VIEW_DATA_REQUESTS)
@commit_on_success
def start(request_id: int) -> ResponseReturnValue:
    item = db.get_or_404(DataRequest, request_id)
    if not can(decision_permission(item)):
        abort(403)
    if not ActionForm().validate_on_submit():
        abort(400)
    try:
        start_data_request(item, actor=current_staff().label, now=utcnow())
    except DataRequestError as error:
        flash(error_message(error, staff=True), "error")
    else:
        flash(_("You have taken request %(reference)s in hand.", reference=item.reference), "success")
    return redirect(url_for("console_data_requests.page", request_id=item.id))


@console_bp.post("/data-requests/<int:request_id>/answer")
@require(VIEW_DATA_REQUESTS)
@commit_on_success
def answer(request_id: int) -> ResponseReturnValue:
    item = db.get_or_404(DataRequest, request_id)
    if not can(decision_permission(item)):
        abort(403)
    form = _decision_form(item)
    if form.validate_on_submit():
        if isinstance(form, ErasureDecisionForm) and form.decision.data != DECISION_REFUSED and not form.confirm.data:
            add_error(form.confirm, _("Tick this box to confirm the erasure."))
            return _render_page(item, form, 400)
        try:
            answer_data_request(
                item,
                decision=form.decision.data or "",
                reason=entered(form.reason),
                reply=entered(form.reply),
                actor=current_staff().label,
                now=utcnow(),
            )
        except DataRequestError as error:
            db.session.rollback()
            _show(form, error, staff=True)
        else:
            flash(
                _("Request %(reference)s answered; the reply is on its way to the customer.", reference=item.reference),
                "success",
            )
            return redirect(url_for("console_data_requests.page", request_id=item.id))
    return _render_page(db.get_or_404(DataRequest, request_id), form, 400)
