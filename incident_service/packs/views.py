"""`/console/incidents/<id>/evidence`: the printable evidence page and the downloadable archive."""

from __future__ import annotations

from flask import Blueprint, Response, abort, current_app, render_template
from flask.typing import ResponseReturnValue

from ..audit.checkpoint import CheckpointInvalid
from ..audit.cli import checkpoint_address, checkpoint_and_email
from ..audit.sequencer import integrate
from ..database import utcnow
from ..disclosures.models import BASIS_AUDITORS_LAWYERS
from ..disclosures.service import DEFAULT_PACK_RECIPIENT
from ..extensions import db
from ..forms import entered
from ..incidents.models import Incident
from ..staff.access import current_staff, require, require_sign_in
from ..staff.permissions import VIEW_LEGAL
from .forms import PackExportForm
from .service import build_pack, checkpoint_covers, pack_archive
from .timestamps import timestamp_source_name

bp = Blueprint("packs", __name__, url_prefix="/console")
require_sign_in(bp)


@bp.get("/incidents/<int:incident_id>/evidence")
@require(VIEW_LEGAL)
def evidence(incident_id: int) -> ResponseReturnValue:
    incident = db.session.get(Incident, incident_id) or abort(404)
    return _evidence_page(incident, PackExportForm(), 200)


def _evidence_page(incident: Incident, form: PackExportForm, status: int) -> ResponseReturnValue:
    # Built in the viewer's language (the archive is always English); the same files as the archive's.
    # A page view writes nothing: its proofs are against the latest checkpoint as it stands, and the page
    # says which events it does not cover yet (the download makes a checkpoint for them).
    document, files = build_pack(incident, now=utcnow())
    return render_template(
        "console/evidence_pack.html",
        incident=incident,
        pack=document,
        files=sorted(files),
        source_name=timestamp_source_name,
        export_form=form,
    ), status


@bp.get("/incidents/<int:incident_id>/evidence.zip")
@require(VIEW_LEGAL)
def archive(incident_id: int) -> ResponseReturnValue:
    """The plain download (links, scripts): recorded in the disclosure register for the company's lawyers."""
    incident = db.session.get(Incident, incident_id) or abort(404)
    return _archive(incident, recipient=DEFAULT_PACK_RECIPIENT, purpose="", legal_basis=BASIS_AUDITORS_LAWYERS)


@bp.post("/incidents/<int:incident_id>/evidence.zip")
@require(VIEW_LEGAL)
def export(incident_id: int) -> ResponseReturnValue:
    """The export form: who the pack is for, why and on what basis, recorded in the disclosure register."""
    incident = db.session.get(Incident, incident_id) or abort(404)
    form = PackExportForm()
    if not form.validate_on_submit():
        return _evidence_page(incident, form, 400)
    return _archive(
        incident,
        recipient=form.stored_recipient(),
        purpose=entered(form.purpose),
        legal_basis=form.legal_basis.data or BASIS_AUDITORS_LAWYERS,
    )


def _archive(incident: Incident, *, recipient: str, purpose: str, legal_basis: str) -> ResponseReturnValue:
    actor = current_staff().label
    # The pack proves every event against one signed checkpoint: sequence what the worker has not yet,
    # and, if the latest checkpoint does not cover the incident's events, make one now and send it
    # outside as the worker does (committed, then time-stamped with no transaction open). Several commits
    # in one request, on purpose: each batch is committed as `flask audit sequence` does, so no lock is
    # held long, and no transaction is open while the time-stamping authority answers.
    while integrate():
        db.session.commit()
    if not checkpoint_covers(incident):
        try:
            checkpoint_and_email(email_to=checkpoint_address(None), source="console", actor=actor)
        except CheckpointInvalid as error:
            # Never sign a rewritten log. The pack is still made, with the events' leaves unproved, and
            # `flask audit verify-pack` names each of them.
            current_app.logger.error("audit: no checkpoint for the evidence pack of %s: %s", incident.reference, error)
    now = utcnow()
    data = pack_archive(incident, actor=actor, now=now, recipient=recipient, purpose=purpose, legal_basis=legal_basis)
    db.session.commit()
    response = Response(data, mimetype="application/zip")
    response.headers["Content-Disposition"] = f'attachment; filename="evidence-{incident.reference}.zip"'
    return response
