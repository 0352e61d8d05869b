"""`/console/reports/delay`: the delay report page, its CSV and JSON, and the incidents behind each number."""

from __future__ import annotations

from urllib.parse import urlencode

from flask import Blueprint, Response, render_template, request
from flask.typing import ResponseReturnValue
from sqlalchemy import select

from ..assessment.models import PolicyVersion
from ..audit.actions import Event, Source, tag
from ..audit.service import append_event
from ..database import utcnow
from ..disclosures.models import BASIS_AUDITORS_LAWYERS, KIND_INCIDENTS_CSV
from ..disclosures.service import DEFAULT_PACK_RECIPIENT, record_disclosure
from ..extensions import db
from ..staff.access import current_staff, require, require_sign_in
from ..staff.permissions import VIEW_LEGAL
from .chart import histogram_geometry
from .delay import BINS
from .export import incidents_csv, numbers_csv, report_json
from .service import DelayFilter, build_delay_report, incident_rows

bp = Blueprint("reports", __name__, url_prefix="/console/reports")
require_sign_in(bp)


def _download(body: str, mimetype: str, name: str) -> Response:
    response = Response(body.encode("utf-8"), mimetype=mimetype)
    response.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


@bp.get("/delay")
@require(VIEW_LEGAL)
def delay() -> ResponseReturnValue:
    filters = DelayFilter.parse(request.args, strict=False)
    report = build_delay_report(filters)
    thresholds = report["thresholds_hours"]
    chart = histogram_geometry(report["histogram"], thresholds[-1] if thresholds else None)
    return render_template(
        "console/delay_report.html",
        report=report,
        filters=filters,
        bins=BINS,
        chart=chart,
        policies=db.session.execute(select(PolicyVersion).order_by(PolicyVersion.id)).scalars().all(),
    )


@bp.get("/delay.csv")
@require(VIEW_LEGAL)
def delay_csv() -> ResponseReturnValue:
    filters = DelayFilter.parse(request.args, strict=False)
    return _download(numbers_csv(build_delay_report(filters)), "text/csv", "delay-report.csv")


@bp.get("/delay.json")
@require(VIEW_LEGAL)
def delay_json() -> ResponseReturnValue:
    filters = DelayFilter.parse(request.args, strict=False)
    return Response(report_json(build_delay_report(filters)), mimetype="application/json")


def _bin() -> int | None:
    value = request.args.get("bin", "")
    return int(value) if value.isdigit() and int(value) < len(BINS) else None


@bp.get("/delay/incidents")
@require(VIEW_LEGAL)
def delay_incidents() -> ResponseReturnValue:
    filters, bin_index = DelayFilter.parse(request.args, strict=False), _bin()
    rows = incident_rows(filters, bin_index=bin_index)
    return render_template(
        "console/delay_incidents.html",
        rows=rows,
        filters=filters,
        bin_index=bin_index,
        bin_label=BINS[bin_index][0] if bin_index is not None else None,
    )


@bp.get("/delay/incidents.csv")
@require(VIEW_LEGAL)
def delay_incidents_csv() -> ResponseReturnValue:
    filters, bin_index = DelayFilter.parse(request.args, strict=False), _bin()
    rows = incident_rows(filters, bin_index=bin_index)
    body = incidents_csv(rows)
    # The rows carry customers' addresses: the file leaves the service, so the register records it, and
    # the audit log says who took it (issue 16). Legal takes it for the company's own lawyers' work.
    described = {**filters.args(), **({"bin": str(bin_index)} if bin_index is not None else {})}
    reference = "delay-incidents.csv" + ("?" + urlencode(described) if described else "")
    actor, now = current_staff().label, utcnow()
    record_disclosure(
        kind=KIND_INCIDENTS_CSV,
        reference=reference,
        recipient=DEFAULT_PACK_RECIPIENT,
        purpose="",
        legal_basis=BASIS_AUDITORS_LAWYERS,
        subjects=[(row["customer_id"], row["id"]) for row in rows],
        actor=actor,
        now=now,
    )
    append_event(
        tag(Source.CONSOLE, Event.INCIDENTS_EXPORTED),
        actor=actor,
        now=now,
        data={"file": "delay-incidents.csv", "rows": len(rows), **described},
    )
    db.session.commit()
    return _download(body, "text/csv", "delay-incidents.csv")
