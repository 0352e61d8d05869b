"""`/console/incidents/<id>/evidence`: the printable evidence page and the downloadable archive."""

from __future__ import annotations

from flask import Blueprint, Response, abort, current_app, render_template
from flask.typing import ResponseReturnValue

from ..audit.checkpoint import CheckpointInvalid
from ..audit.cli import checkpoint_address, checkpoint_and_email
from ..audit.sequencer import integrate
from ..database import utcnow
from ..extensions import db
from ..incidents.models import Incident
from ..staff.access import current_staff, require, require_sign_in
from ..staff.permissions import VIEW_LEGAL
from .service import build_pack, checkpoint_covers, pack_archive, timestamp_source_name

bp = Blueprint("packs", __name__, url_prefix="/console")
require_sign_in(bp)


@bp.get("/incidents/<int:incident_id>/evidence")
@require(VIEW_LEGAL)
def evidence(incident_id: int) -> ResponseReturnValue:
    incident = db.session.get(Incident, incident_id) or abort(404)
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
    )


@bp.get("/incidents/<int:incident_id>/evidence.zip")
@require(VIEW_LEGAL)
def archive(incident_id: int) -> ResponseReturnValue:
    incident = db.session.get(Incident, incident_id) or abort(404)
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
    data = pack_archive(incident, actor=actor, now=now)
    db.session.commit()
    response = Response(data, mimetype="application/zip")
    response.headers["Content-Disposition"] = f'attachment; filename="evidence-{incident.reference}.zip"'
    return response
