"""The console's list of staff alerts: what, when, to whom, and whether each email was delivered."""

from __future__ import annotations

from flask import Blueprint, abort, render_template
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _

from ..staff.access import can, require_sign_in
from ..staff.permissions import VIEW_AUDIT, VIEW_LEGAL
from .models import (
    KIND_BREACH_CLOCK,
    KIND_DELIVERY_FAILED,
    KIND_LOG_REWRITTEN,
    KIND_NEW_INCIDENTS,
    KIND_QUARANTINED,
    KIND_WEBHOOK_DISABLED,
)
from .service import recent_alerts, security_team

bp = Blueprint("console_alerts", __name__, url_prefix="/console")
require_sign_in(bp)


def alert_kind_label(kind: str) -> str:
    labels = {
        KIND_NEW_INCIDENTS: _("New incidents"),
        KIND_DELIVERY_FAILED: _("Emails not delivered"),
        KIND_QUARANTINED: _("Mail quarantined"),
        KIND_BREACH_CLOCK: _("72-hour notice near"),
        KIND_WEBHOOK_DISABLED: _("Webhook disabled"),
        KIND_LOG_REWRITTEN: _("Audit log rewritten"),
    }
    return labels.get(kind, kind)


@bp.get("/alerts")
def alerts() -> ResponseReturnValue:
    # Staff who see the audit log or legal's lists: what the alerts say is theirs to act on (S3).
    if not (can(VIEW_AUDIT) or can(VIEW_LEGAL)):
        abort(403)
    return render_template(
        "console/alerts.html",
        rows=recent_alerts(),
        team=security_team(),
        alert_kind_label=alert_kind_label,
    )
