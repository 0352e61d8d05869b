"""`/console/disclosures`: the disclosure register, for legal and administrators."""

from __future__ import annotations

from flask import Blueprint, current_app, render_template, request
from flask.typing import ResponseReturnValue

from ..i18n import day_bounds
from ..staff.access import require, require_sign_in
from ..staff.permissions import VIEW_LEGAL
from ..url_args import day_arg
from .service import RegisterFilter, register_page

bp = Blueprint("console_disclosures", __name__, url_prefix="/console")
require_sign_in(bp)

FILTER_NAMES = ("customer", "recipient", "from", "to")


@bp.get("/disclosures")
@require(VIEW_LEGAL)
def register() -> ResponseReturnValue:
    args = request.args
    start, end = day_bounds(current_app.config["DISPLAY_TIMEZONE"], day_arg(args, "from"), day_arg(args, "to"))
    filters = RegisterFilter(
        customer=args.get("customer", "").strip()[:320],
        recipient=args.get("recipient", "").strip()[:320],
        start=start,
        end=end,
    )
    before = args.get("before", "")
    rows, more, named = register_page(filters, before=int(before) if before.isdigit() and int(before) < 2**31 else None)
    return render_template(
        "console/disclosures.html",
        disclosures=rows,
        more=more,
        named=named,
        filters={name: args[name] for name in FILTER_NAMES if args.get(name)},
    )
