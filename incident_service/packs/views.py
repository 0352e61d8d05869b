"""`/console/incidents/<id>/evidence`: the printable evidence page and the downloadable archive."""

from __future__ import annotations

from flask import Blueprint, Response, abort, render_template
from flask.typing import ResponseReturnValue

from ..database import utcnow
from ..extensions import db
from ..incidents.models import Incident
from ..staff.access import current_staff, require, require_sign_in
from ..staff.permissions import VIEW_LEGAL
from .service import build_pack, pack_archive, timestamp_source_name

bp = Blueprint("packs", __name__, url_prefix="/console")
require_sign_in(bp)


@bp.get("/incidents/<int:incident_id>/evidence")
@require(VIEW_LEGAL)
def evidence(incident_id: int) -> ResponseReturnValue:
    incident = db.session.get(Incident, incident_id) or abort(404)
    # Built in the viewer's language (the archive is always English); the same files as the archive's.
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
    now = utcnow()
    data = pack_archive(incident, actor=current_staff().label, now=now)
    db.session.commit()
    response = Response(data, mimetype="application/zip")
    response.headers["Content-Disposition"] = f'attachment; filename="evidence-{incident.reference}.zip"'
    return response
