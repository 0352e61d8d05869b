"""Translated labels for stored codes (status, channel, role, lateness…), for templates."""

from __future__ import annotations

from flask_babel import gettext as _


def status_label(status: str) -> str:
    return {
        "reactivated": _("Password deactivated, waiting for a new password"),
        "resolved": _("Resolved: new password set"),
        "closed": _("Closed"),
    }.get(status, status)


def channel_label(channel: str) -> str:
    return {
        "web": _("Web form"),
        "email": _("Email"),
        "phone": _("Telephone"),
        "fax": _("Fax"),
        "post": _("Post"),
        "in_person": _("In person"),
        "api": _("API"),
        "breach_list": _("Breach list"),
    }.get(channel, channel)


def role_label(role: str) -> str:
    return {"support": _("Support"), "legal": _("Legal"), "admin": _("Administrator")}.get(role, role)


def lateness_label(lateness: str) -> str:
    return {"on_time": _("On time"), "late": _("Late"), "unknown": _("Unknown")}.get(lateness, lateness)


def kind_label(kind: str) -> str:
    return {
        "lost": _("Lost"),
        "stolen": _("Stolen"),
        "leaked": _("Leaked"),
        "phished": _("Phished"),
        "suspicious_activity": _("Suspicious activity"),
        "other": _("Other"),
    }.get(kind, kind)


def time_source_label(source: str) -> str:
    return {
        "server_clock": _("this server's clock"),
        "company_mta": _("the company mail server's Received header"),
        "import_time": _("time of import (no company Received header)"),
        "staff_statement": _("stated by staff"),
    }.get(source, source)


def statement_source_label(source: str) -> str:
    return {
        "report_form": _("customer, on the report form"),
        "discovery_link": _("customer, through the emailed link"),
        "staff_call": _("staff, from the customer's words"),
        "staff_override": _("staff override"),
    }.get(source, source)


def message_status_label(status: str) -> str:
    return {
        "reported": _("Became a report"),
        "quarantined": _("Quarantined"),
        "duplicate": _("Duplicate"),
        "not_a_report": _("Not a report (automatic mail)"),
        "dismissed": _("Dismissed"),
    }.get(status, status)


def outbox_status_label(status: str) -> str:
    return {"queued": _("Queued"), "sent": _("Sent"), "failed": _("Failed")}.get(status, status)


def decision_label(decision: str | None) -> str:
    return {
        "exemption_asserted": _("Exemption asserted (reported late)"),
        "exemption_waived": _("Exemption waived"),
        "needs_information": _("Needs information"),
        None: _("Awaiting a decision"),
    }.get(decision, decision or "")
