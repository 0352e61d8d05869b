"""`/console/reports/delay`: the delay report page, its CSV and JSON, and the incidents behind each number."""

from __future__ import annotations

from flask import Blueprint, Response, render_template, request
from flask.typing import ResponseReturnValue
from sqlalchemy import select

from ..assessment.models import PolicyVersion
from ..extensions import db
from ..staff.access import require, require_sign_in
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
    filters = DelayFilter.parse(request.args, strict=False)
    return _download(incidents_csv(incident_rows(filters, bin_index=_bin())), "text/csv", "delay-incidents.csv")
