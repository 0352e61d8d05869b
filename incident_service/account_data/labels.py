"""Where each of a customer's reports came from, in words the customer recognises."""

from __future__ import annotations

from flask_babel import gettext as _

from ..incidents.models import Report
from ..intake.models import InboundMessage


def report_source_label(report: Report, message: InboundMessage | None) -> str:
    """'Your email “Subject”, from you@example.com', 'The report form on our website', ..."""
    if report.channel == "email" and message is not None:
        if message.subject:
            return _(
                "Your email “%(subject)s”, from %(address)s",
                subject=message.subject,
                address=message.from_address or report.claimed_address,
            )
        return _("Your email from %(address)s", address=message.from_address or report.claimed_address)
    return {
        "email": _("Your email"),
        "web": _("The report form on our website"),
        "phone": _("Entered by our staff from your telephone call"),
        "fax": _("Entered by our staff from your fax"),
        "post": _("Entered by our staff from your letter"),
        "in_person": _("Entered by our staff when you came to us in person"),
        "api": _("Passed on by another of our company's systems"),
        "breach_list": _("Your address was on a list of leaked passwords that we checked"),
    }.get(report.channel, report.channel)


def entered_by_kind(entered_by: str) -> str:
    """Who entered a report, as a code for the download: never a staff member's own address."""
    if entered_by == "customer":
        return "customer"
    return "system" if entered_by.startswith("api:") or entered_by in ("system", "intake") else "staff"


def stated_by_label(source: str) -> str:
    """Who said when the customer noticed, told to the customer ("you", "our staff")."""
    return {
        "report_form": _("you, on the report form"),
        "discovery_link": _("you, through the link in our email"),
        "staff_call": _("our staff, from what you told us"),
        "staff_override": _("our staff, correcting it with a reason"),
        "correction": _("you, by a correction you asked for"),
    }.get(source, source)
