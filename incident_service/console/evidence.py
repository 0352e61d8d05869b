"""Email evidence for staff: the stored message read safely, its raw bytes, sanitised HTML in a
sandboxed frame, attachments as downloads, and the quarantine (docs/security.md M2, M3, M5)."""

from __future__ import annotations

from urllib.parse import quote

import nh3
from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _

from ..database import utcnow
from ..extensions import db
from ..forms import entered
from ..intake.models import STATUS_DISMISSED, STATUS_DUPLICATE, STATUS_NOT_A_REPORT, STATUS_QUARANTINED, InboundMessage
from ..intake.parsing import (
    NOT_READ,
    attachment_bytes,
    attachment_parts,
    html_part,
    read_stored,
    safe_filename,
)
from ..intake.service import MessageAlreadyHandled, attach_message_to_customer, dismiss_message
from ..retention.models import SUBJECT_INBOUND_MESSAGE
from ..retention.service import tombstones_of
from ..staff.access import current_staff, require, require_sign_in
from ..staff.permissions import HANDLE_QUARANTINE, VIEW_INCIDENTS, VIEW_QUARANTINE
from .forms import AssignForm, DismissForm, customer_to_assign
from .queries import message_counts, message_headers, messages_with_status
from .transactions import commit_on_success

bp = Blueprint("console_evidence", __name__, url_prefix="/console")
require_sign_in(bp)

LISTED = (STATUS_QUARANTINED, STATUS_NOT_A_REPORT, STATUS_DUPLICATE, STATUS_DISMISSED)
# The frame holding customer HTML: nothing loads, nothing runs, nothing navigates (M5).
FRAME_CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; font-src 'none'; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'self'; sandbox"
)


def readable(message: InboundMessage) -> InboundMessage:
    """`message` if its parts may be read for display; 404 for mail the parser must not see again."""
    if message.quarantine_reason in NOT_READ:
        abort(404)
    return message


@bp.get("/quarantine")
@require(VIEW_QUARANTINE)
def quarantine() -> ResponseReturnValue:
    status = request.args.get("status", STATUS_QUARANTINED)
    if status not in LISTED:
        status = STATUS_QUARANTINED
    messages, counts = messages_with_status(status), message_counts(LISTED)
    return render_template("console/quarantine.html", messages=messages, status=status, statuses=LISTED, counts=counts)


@bp.get("/messages/<int:message_id>")
@require(VIEW_QUARANTINE)
def message(message_id: int) -> ResponseReturnValue:
    item = db.get_or_404(InboundMessage, message_id)
    return render_template(
        "console/message.html",
        message=item,
        headers=message_headers([item]),
        message_tombstones=tombstones_of(SUBJECT_INBOUND_MESSAGE, [item.id]),
        assign_form=AssignForm(),
        dismiss_form=DismissForm(),
    )


@bp.get("/messages/<int:message_id>/raw")
@require(VIEW_INCIDENTS)
def raw(message_id: int) -> ResponseReturnValue:
    item = db.get_or_404(InboundMessage, message_id)
    if not item.raw:
        # Emptied by retention or an erasure: say so, never hand out an empty .eml as if it were the email.
        removed = tombstones_of(SUBJECT_INBOUND_MESSAGE, [item.id]).get(item.id, [])
        return render_template("console/message_removed.html", message=item, tombstones=removed), 410
    response = Response(item.raw, mimetype="message/rfc822")
    response.headers["Content-Disposition"] = f'attachment; filename="message-{item.id}.eml"'
    return response


@bp.get("/messages/<int:message_id>/html")
@require(VIEW_INCIDENTS)
def html(message_id: int) -> ResponseReturnValue:
    item = readable(db.get_or_404(InboundMessage, message_id))
    content = html_part(read_stored(item.raw))
    if content is None:
        abort(404)
    safe = nh3.clean(content, url_schemes={"http", "https", "mailto"}, link_rel="noopener noreferrer nofollow")
    page = f"<!doctype html><meta charset=utf-8><body>{safe}</body>"
    response = Response(page, mimetype="text/html")
    response.headers["Content-Security-Policy"] = FRAME_CSP
    response.headers["X-Frame-Options"] = "SAMEORIGIN"
    return response


@bp.get("/messages/<int:message_id>/attachments/<int:index>")
@require(VIEW_INCIDENTS)
def attachment(message_id: int, index: int) -> ResponseReturnValue:
    item = readable(db.get_or_404(InboundMessage, message_id))
    parts = attachment_parts(read_stored(item.raw))
    if not 0 <= index < len(parts):
        abort(404)
    part = parts[index]
    name = safe_filename(part.get_filename()) or f"attachment-{index + 1}"
    if part.get_content_type() == "message/rfc822" and not name.endswith(".eml"):
        name += ".eml"
    # Always a download of opaque bytes: the browser never renders customer files (M5).
    response = Response(attachment_bytes(part), mimetype="application/octet-stream")
    ascii_name = name.encode("ascii", "replace").decode().replace("?", "_").replace('"', "_")
    response.headers["Content-Disposition"] = f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(name)}"
    return response


@bp.post("/messages/<int:message_id>/assign")
@require(HANDLE_QUARANTINE)
@commit_on_success
def assign(message_id: int) -> ResponseReturnValue:
    item = db.get_or_404(InboundMessage, message_id)
    customer = customer_to_assign(AssignForm())
    if customer is None:
        return redirect(url_for("console_evidence.message", message_id=item.id))
    try:
        report = attach_message_to_customer(item, customer, actor=current_staff().label, now=utcnow())
    except MessageAlreadyHandled:
        flash(_("This message has already been handled."), "error")
        return redirect(url_for("console_evidence.message", message_id=item.id))
    flash(
        _(
            "The message is now report %(reference)s of %(address)s.",
            reference=report.reference,
            address=customer.email,
        ),
        "success",
    )
    return redirect(url_for("console.incident", incident_id=report.incident_id))


@bp.post("/messages/<int:message_id>/dismiss")
@require(HANDLE_QUARANTINE)
@commit_on_success
def dismiss(message_id: int) -> ResponseReturnValue:
    item = db.get_or_404(InboundMessage, message_id)
    form = DismissForm()
    if not form.validate_on_submit():
        flash(_("Say why the message is set aside."), "error")
        return redirect(url_for("console_evidence.message", message_id=item.id))
    try:
        dismiss_message(item, entered(form.reason), actor=current_staff().label, now=utcnow())
    except MessageAlreadyHandled:
        flash(_("This message has already been handled."), "error")
        return redirect(url_for("console_evidence.message", message_id=item.id))
    flash(_("Message set aside; its bytes are kept."), "success")
    return redirect(url_for("console_evidence.quarantine"))
