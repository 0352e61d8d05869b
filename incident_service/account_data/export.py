"""A customer's data as one JSON document, with the evidence pack's time labels (packs.service.stamp):
each time as `{"what", "utc", "gmt7", "source"}`, the sources explained in `timestamp_sources`."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask_babel import gettext as _

from ..assessment.models import DiscoveryStatement
from ..disclosures.labels import basis_label, disclosure_kind_label, recipient_label
from ..incidents.labels import channel_label, email_label, lateness_label, statement_source_label
from ..packs.service import report_stamps
from ..packs.timestamps import REPORT_SOURCE, stamp
from ..packs.timestamps import timestamp_sources as pack_timestamp_sources
from .labels import entered_by_kind, report_source_label
from .service import CustomerData

FORMAT = "incident_service customer data 1"


# The evidence pack's sources, with its names and meanings, less those a customer's file never has.
NOT_IN_THIS_FILE = ("link_issued", "link_used", "received_header")


def timestamp_sources() -> dict[str, str]:
    """The sources this file's times come from, with the evidence pack's names and meanings."""
    sources = {name: meaning for name, meaning in pack_timestamp_sources().items() if name not in NOT_IN_THIS_FILE}
    sources["export"] = _("when this file was made")
    return sources


def data_document(data: CustomerData, *, now: datetime, message_url: Any) -> dict[str, Any]:
    """The whole download. `message_url(message_id)` is where the raw bytes of a sent email are."""
    customer = data.customer
    return {
        "format": FORMAT,
        "exported_at": stamp(now, "export", _("this file made")),
        "timestamp_sources": timestamp_sources(),
        "account": {
            "email": customer.email,
            "name": customer.name,
            "language": customer.locale,
            "time_zone": customer.time_zone,
            "created_at": stamp(customer.created_at, "audit", _("account created")),
            "password_changed_at": stamp(customer.password_changed_at, "audit", _("password last changed")),
            "password_deactivated": customer.is_locked,
        },
        "reports": [_report(data, report) for report in data.reports],
        "emails_received": [
            {
                "id": message.id,
                "from_address": message.from_address,
                "from_display_name": message.from_display_name,
                "subject": message.subject,
                "date_header": message.date_header,
                "date_claimed": stamp(message.date_claimed, "date_header_claim", _("Date header of your email")),
                "received_at": stamp(
                    message.received_at,
                    REPORT_SOURCE.get(message.received_at_source, "server_receipt"),
                    _("your email received"),
                ),
                "sha256": message.sha256,
                "size": message.size,
                "text": message.text_body,
                "attachments": [
                    {key: item.get(key) for key in ("filename", "content_type", "size")}
                    for item in message.attachments or []
                    if isinstance(item, dict)
                ],
                "raw_download": message_url(message.id),
            }
            for message in data.messages
        ],
        "discovery_statements": [_statement(statement) for statement in data.statements],
        "incidents": [
            {
                "reference": incident.customer_reference,
                "case_reference": incident.reference,
                "status": incident.status,
                "first_received_at": stamp(incident.first_received_at, "server_receipt", _("first report received")),
                "effective_discovered_at": incident.effective_discovered_at.isoformat(timespec="microseconds")
                if incident.effective_discovered_at
                else None,
                "reporting_delay_seconds": incident.reporting_delay_seconds,
                "lateness": incident.lateness,
                "lateness_in_words": lateness_label(incident.lateness),
                "threshold_hours": incident.late_threshold_hours,
                "policy_version": incident.policy_version_id,
                "resolved_at": stamp(incident.resolved_at, "audit", _("new password set")),
                "closed_at": stamp(incident.closed_at, "audit", _("incident closed")),
            }
            for incident in data.incidents
        ],
        "emails_sent": [
            {
                "kind": email.template,
                "kind_in_words": email_label(email.template),
                "to": email.to_address,
                "subject": email.subject,
                "status": email.status,
                "queued_at": stamp(email.created_at, "audit", _("email queued")),
                "accepted": stamp(
                    email.sent_at,
                    "relay_acceptance",
                    _("email “%(email)s” accepted by the relay", email=email_label(email.template)),
                ),
            }
            for email in data.emails_sent
        ],
        "disclosures": [
            {
                "disclosed_at": stamp(item.disclosure.disclosed_at, "audit", _("data disclosed")),
                "recipient": recipient_label(item.disclosure.recipient),
                "purpose": item.disclosure.purpose,
                "legal_basis": item.disclosure.legal_basis,
                "legal_basis_in_words": basis_label(item.disclosure.legal_basis),
                "what": item.disclosure.kind,
                "what_in_words": disclosure_kind_label(item.disclosure.kind),
                "incident": item.incident_reference,
            }
            for item in data.disclosures
        ],
    }


def _report(data: CustomerData, report: Any) -> dict[str, Any]:
    message = data.message_of(report)
    return {
        "reference": report.reference,
        "channel": report.channel,
        "channel_in_words": channel_label(report.channel),
        "source_in_words": report_source_label(report, message),
        "kind": report.kind,
        "claimed_address": report.claimed_address,
        "entered_by": entered_by_kind(report.entered_by),
        **report_stamps(report),
        "details": report.details,
        # No client IP or browser: anyone can type a customer's address on the report form, and those
        # would be that person's (or a partner system's, or our mail server's), not the customer's.
        "email": message.id if message is not None else None,
    }


def _statement(statement: DiscoveryStatement) -> dict[str, Any] | None:
    source = "staff_discovery_statement" if statement.source.startswith("staff") else "customer_statement"
    return stamp(
        statement.discovered_at,
        source,
        _("noticed (%(source)s)", source=statement_source_label(statement.source)),
        stated_at=statement.stated_at.isoformat(timespec="microseconds"),
        override=statement.is_override,
        reason=statement.reason,
    )
