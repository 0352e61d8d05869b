"""A pack's times, each labelled with its source and what that source is worth (the same labels in the
customer's own data file: account_data.export)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask_babel import gettext as _

from ..i18n import format_local


def timestamp_sources() -> dict[str, str]:
    """What each timestamp source means, written into the pack so a reader needs nothing else."""
    return {
        "server_receipt": _("this service's clock when the report reached it (UTC, NTP-synchronised server)"),
        "company_mta": _("the Received header added by the company's own mail server"),
        "staff_statement": _(
            "the time a staff member stated the report reached the company (phone, fax, post, in person)"
        ),
        "date_header_claim": _("the Date header written by the sender's software: a claim, not evidence"),
        "customer_statement": _("when the customer said they noticed the loss"),
        "staff_discovery_statement": _("when staff recorded the customer noticed, or overrode it with a reason"),
        "link_issued": _("when a reset link was issued"),
        "link_used": _("when a reset link was used"),
        "relay_acceptance": _("when the mail relay accepted an email (its SMTP reply is given)"),
        "received_header": _(
            "a Received header below the company's own: written before the company's mail server had the "
            "message (by another server, or by the sender): a claim, not evidence"
        ),
        "audit": _("when an audit event was recorded"),
        "export": _("when this pack was made"),
    }


def timestamp_source_name(source: str) -> str:
    """A timestamp source's short name, for the printable page's table."""
    return {
        "server_receipt": _("Our server's clock"),
        "company_mta": _("Company mail server"),
        "staff_statement": _("Staff statement"),
        "date_header_claim": _("Sender's Date header (a claim)"),
        "customer_statement": _("Customer's statement"),
        "staff_discovery_statement": _("Staff record of discovery"),
        "link_issued": _("Reset link issued"),
        "link_used": _("Reset link used"),
        "relay_acceptance": _("Mail relay"),
        "received_header": _("Earlier server (a claim)"),
        "audit": _("Audit log"),
        "export": _("Pack export"),
    }.get(source, source)


REPORT_SOURCE = {
    "server_clock": "server_receipt",
    "company_mta": "company_mta",
    "import_time": "server_receipt",
    "staff_statement": "staff_statement",
}


def stamp(moment: datetime | None, source: str, what: str, **extra: Any) -> dict[str, Any] | None:
    if moment is None:
        return None
    return {
        "what": what,
        "utc": moment.isoformat(timespec="microseconds"),
        "gmt7": format_local(moment),
        "source": source,
        **extra,
    }
