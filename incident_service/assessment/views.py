"""`/discovery/<token>`: the customer states when they noticed the loss, after reporting it."""

from __future__ import annotations

from flask import Blueprint, render_template, request
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _

from ..database import utcnow
from ..extensions import db, limiter
from ..forms import add_error
from ..i18n import format_local
from ..incidents.forms import viewer_zone
from ..limits import setting
from ..link_guessing import count_invalid_link
from ..tokens import TokenError
from .forms import DiscoveryForm
from .models import SOURCE_DISCOVERY_LINK
from .service import DiscoveryAfterReport, incident_of_discovery_link, record_discovery_statement

bp = Blueprint("assessment", __name__)


@bp.route("/discovery/<token>", methods=["GET", "POST"])
@limiter.limit(setting("LIMIT_LINK_PER_IP"))
def discovery(token: str) -> ResponseReturnValue:
    try:
        incident = incident_of_discovery_link(token)
    except TokenError:
        count_invalid_link("discovery")
        db.session.commit()
        return render_template("link_invalid.html", retry_endpoint=None), 400
    form = DiscoveryForm()
    if form.validate_on_submit():
        assert form.discovered_at.utc is not None
        try:
            record_discovery_statement(
                discovered_at=form.discovered_at.utc,
                source=SOURCE_DISCOVERY_LINK,
                actor="customer",
                now=utcnow(),
                incident=incident,
            )
        except DiscoveryAfterReport as exc:
            add_error(
                form.discovered_at,
                _(
                    "This is after we received your report (%(received)s). Enter when you first noticed "
                    "the problem, before you reported it.",
                    received=format_local(exc.received_at, viewer_zone()),
                ),
            )
        else:
            db.session.commit()
            return render_template(
                "discovery/recorded.html", incident=incident, discovered_at=form.discovered_at.utc, zone=viewer_zone()
            )
    status = 400 if request.method == "POST" else 200
    return render_template("discovery/form.html", form=form, incident=incident, zone=viewer_zone()), status
