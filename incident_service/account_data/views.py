"""`/account/data` (everything held about the signed-in customer), its JSON download, and the raw bytes of
the emails they sent us (only their own: any other id is not found)."""

from __future__ import annotations

import json

from flask import Blueprint, Response, abort, g, redirect, render_template, url_for
from flask.typing import ResponseReturnValue

from ..customers.models import Customer
from ..database import utcnow
from ..retention.models import SUBJECT_INBOUND_MESSAGE, SUBJECT_REPORT
from ..retention.service import tombstones_of
from .export import data_document
from .labels import report_source_label, stated_by_label
from .service import customer_data, own_message

bp = Blueprint("account_data", __name__)


def _signed_in() -> Customer | None:
    customer: Customer | None = g.get("customer")
    return customer


def _private(response: Response) -> Response:
    # Personal data: never kept by a shared cache or the browser's back-forward store.
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/account/data")
def data_page() -> ResponseReturnValue:
    customer = _signed_in()
    if customer is None:
        return redirect(url_for("customers.login"))
    data = customer_data(customer)
    return _private(
        Response(
            render_template(
                "account/data.html",
                customer=customer,
                data=data,
                report_source=report_source_label,
                stated_by=stated_by_label,
                # What retention or an erasure removed, said where it was (one query each).
                report_tombstones=tombstones_of(SUBJECT_REPORT, [report.id for report in data.reports]),
                message_tombstones=tombstones_of(SUBJECT_INBOUND_MESSAGE, [message.id for message in data.messages]),
            )
        )
    )


@bp.get("/account/data.json")
def data_download() -> ResponseReturnValue:
    customer = _signed_in()
    if customer is None:
        return redirect(url_for("customers.login"))
    document = data_document(
        customer_data(customer),
        now=utcnow(),
        message_url=lambda message_id: url_for("account_data.raw_email", message_id=message_id),
    )
    response = Response(json.dumps(document, ensure_ascii=False, indent=2), mimetype="application/json")
    response.headers["Content-Disposition"] = 'attachment; filename="my-data.json"'
    return _private(response)


@bp.get("/account/emails/<int:message_id>.eml")
def raw_email(message_id: int) -> ResponseReturnValue:
    customer = _signed_in()
    if customer is None:
        return redirect(url_for("customers.login"))
    if message_id > 2**31 - 1:
        abort(404)
    message = own_message(customer, message_id) or abort(404)
    if not message.raw:
        # Removed after its retention period or by an erasure: say so, rather than send an empty file.
        removed = tombstones_of(SUBJECT_INBOUND_MESSAGE, [message.id]).get(message.id, [])
        page = render_template("account/email_removed.html", customer=customer, message=message, tombstones=removed)
        return _private(Response(page, status=410))
    response = Response(message.raw, mimetype="message/rfc822")
    response.headers["Content-Disposition"] = f'attachment; filename="email-{message.id}.eml"'
    return _private(response)
