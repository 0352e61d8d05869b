"""Translated labels for stored codes (status, channel, role, lateness…), for templates."""

from __future__ import annotations

from flask_babel import gettext as _

from ..audit.actions import Event, Source


def status_label(status: str) -> str:
    return {
        "reactivated": _("Password deactivated, waiting for a new password"),
        "resolved": _("Resolved: new password set"),
        "closed": _("Closed"),
    }.get(status, status)


def status_short_label(status: str) -> str:
    """The status in a few words, for the queue's rows and tabs (the incident page says it in full)."""
    return {
        "reactivated": _("Awaiting a new password"),
        "resolved": _("New password set"),
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
        "correction": _("customer, by a granted correction request"),
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


def email_label(template: str) -> str:
    """Which email it is, for staff (an email not rendered yet has no subject to show)."""
    labels = {
        "acknowledgement": _("Acknowledgement with the reset link"),
        "reset_link": _("New reset link"),
        "discovery_request": _("Question: when did you notice?"),
        "password_changed": _("Password changed"),
        "report_in_hand": _("Report already in hand"),
        "email_change_confirm_old": _("Change of email address: confirm from the current address"),
        "email_change_confirm_new": _("Change of email address: confirm from the new address"),
        "email_change_address_taken": _("Change of email address: this address already has an account"),
        "email_change_done_old": _("Email address changed: notice to the previous address"),
        "email_change_done_new": _("Email address changed: confirmation to the new address"),
        "previous_address_report": _("Report from a previous address: where the link went"),
        "audit_anchor": _("Audit log anchor"),
        "data_request_received": _("Data request received"),
        "data_request_answered": _("Answer to a data request"),
    }
    return labels.get(template, template)


def bin_label(index: int) -> str:
    """The delay report's bins (reports.delay.BINS, whose own labels stay fixed for the exports)."""
    labels = (
        _("up to 1 hour"),
        _("1 to 6 hours"),
        _("6 to 24 hours"),
        _("1 to 3 days"),
        _("3 to 7 days"),
        _("7 to 30 days"),
        _("over 30 days"),
    )
    return labels[index]


def event_label(event: str) -> str:
    """What an audit event records, in words (`subject:verb`, see audit.actions.Event)."""
    labels: dict[str, str] = {
        Event.REPORT_RECEIVED: _("Report received"),
        Event.REPORT_ATTACHED: _("Report joined the open incident"),
        Event.REPORT_ASSIGNED: _("Report assigned to the customer"),
        Event.INCIDENT_OPENED: _("Incident opened"),
        Event.INCIDENT_RESOLVED: _("Incident resolved: new password set"),
        Event.INCIDENT_CLOSED: _("Incident closed"),
        Event.INCIDENT_NOTE_ADDED: _("Note added"),
        Event.INCIDENT_ASSIGNED: _("Incident assigned to a staff member"),
        Event.INCIDENT_UNASSIGNED: _("Incident no longer assigned"),
        Event.INCIDENT_ASSESSED: _("Lateness reassessed"),
        Event.DISCOVERY_STATED: _("Discovery time stated"),
        Event.CREDENTIAL_LOCKED: _("Password deactivated"),
        Event.SESSIONS_REVOKED: _("Every session ended"),
        Event.RESET_GRANT_ISSUED: _("Reset link issued"),
        Event.RESET_LINK_THROTTLED: _("Reset link not re-sent (sent a few minutes ago)"),
        Event.RESET_LINK_UNKNOWN_ADDRESS: _("Reset link asked for an unknown address"),
        Event.PASSWORD_RESET: _("New password set"),
        Event.PASSWORD_REFUSED: _("New password refused"),
        Event.PASSWORD_REHASHED: _("Password storage upgraded (same password)"),
        Event.LINK_GUESSING_SUSPECTED: _("Link guessing suspected"),
        Event.CUSTOMER_CREATED: _("Customer created"),
        Event.CUSTOMER_UPDATED: _("Customer details updated"),
        Event.CUSTOMER_SIGNED_IN: _("Customer signed in"),
        Event.EMAIL_CHANGE_REQUESTED: _("Change of email address asked for"),
        Event.EMAIL_CHANGE_REFUSED: _("Change of email address refused"),
        Event.EMAIL_CHANGE_CONFIRMED: _("Change of email address confirmed from one address"),
        Event.EMAIL_CHANGE_CANCELLED: _("Change of email address cancelled"),
        Event.EMAIL_CHANGE_COMPLETED: _("Email address on record changed"),
        Event.STAFF_CREATED: _("Staff user created"),
        Event.STAFF_TOTP_ENROLLED: _("Authenticator set up"),
        Event.STAFF_TOTP_RESET: _("Authenticator reset"),
        Event.STAFF_SIGNED_IN: _("Staff signed in"),
        Event.STAFF_SIGN_IN_FAILED: _("Staff sign-in failed"),
        Event.STAFF_TOTP_FAILED: _("Wrong authenticator code"),
        Event.STAFF_SIGNED_OUT: _("Staff signed out"),
        Event.STAFF_DEACTIVATED: _("Staff user deactivated"),
        Event.STAFF_ACTIVATED: _("Staff user activated"),
        Event.EMAIL_QUEUED: _("Email queued"),
        Event.EMAIL_SENT: _("Email sent"),
        Event.EMAIL_DEFERRED: _("Email delayed, will retry"),
        Event.EMAIL_FAILED: _("Email could not be delivered"),
        Event.MESSAGE_RECEIVED: _("Email received"),
        Event.MESSAGE_ALREADY_STORED: _("Email already stored"),
        Event.MESSAGE_DUPLICATE: _("Duplicate email"),
        Event.MESSAGE_NOT_A_REPORT: _("Email is not a report"),
        Event.MESSAGE_QUARANTINED: _("Email quarantined"),
        Event.MESSAGE_ASSIGNED: _("Email assigned to a customer"),
        Event.MESSAGE_DISMISSED: _("Email dismissed"),
        Event.REVIEW_DECIDED: _("Legal decision recorded"),
        Event.POLICY_PUBLISHED: _("Policy published"),
        Event.BREACH_MARKED: _("Marked as a personal-data breach"),
        Event.BREACH_AUTHORITY_NOTIFIED: _("Authority notified"),
        Event.EVIDENCE_EXPORTED: _("Evidence pack exported"),
        Event.INCIDENTS_EXPORTED: _("Incident list exported (spreadsheet)"),
        Event.AUDIT_ANCHORED: _("Audit log anchored"),
        Event.CHECKPOINT_REFUSED: _("Audit log checkpoint refused: the log was rewritten"),
        Event.EVENTS_REDACTED: _("Personal data removed from audit events"),
        Event.LEGAL_HOLD_PLACED: _("Legal hold placed"),
        Event.LEGAL_HOLD_RELEASED: _("Legal hold released"),
        Event.RETENTION_PURGED: _("Personal data removed after its retention period"),
        Event.CUSTOMER_ERASED: _("Customer's data erased on request"),
        Event.WEBHOOK_SUBSCRIBED: _("Webhook subscription added"),
        Event.WEBHOOK_REMOVED: _("Webhook subscription removed"),
        Event.WEBHOOK_SECRET_ROTATED: _("Webhook signing secret rotated"),
        Event.WEBHOOK_DISABLED: _("Webhook subscription disabled"),
        Event.WEBHOOK_ENABLED: _("Webhook subscription enabled"),
        Event.API_KEY_CREATED: _("API key created"),
        Event.API_KEY_REVOKED: _("API key revoked"),
        Event.REPORT_LINK_ISSUED: _("Report link given to another system"),
        Event.INCIDENTS_LISTED: _("Incidents listed"),
        Event.INCIDENT_VIEWED: _("Incident read"),
        Event.AUDIT_EVENTS_READ: _("Audit events read"),
        Event.DELAY_REPORT_READ: _("Delay report read"),
        Event.DATA_REQUEST_RECEIVED: _("Data request received"),
        Event.DATA_REQUEST_STARTED: _("Data request taken in hand"),
        Event.DATA_REQUEST_ANSWERED: _("Data request answered"),
        Event.DATA_REQUEST_WITHDRAWN: _("Data request withdrawn"),
        Event.STATEMENT_CORRECTED: _("Statement corrected (original kept)"),
    }
    return labels.get(event, event)


def source_label(source: str) -> str:
    """Where an audited change came from: a report channel or a part of the service."""
    labels: dict[str, str] = {
        Source.CONSOLE: _("console"),
        Source.CLI: _("command line"),
        Source.DEV: _("development setup"),
        Source.WORKER: _("background worker"),
        Source.SYSTEM: _("the service"),
        Source.CUSTOMER: _("the customer"),
        Source.STAFF: _("staff"),
    }
    return labels.get(source) or channel_label(source)


def action_label(action: str) -> str:
    """`web:report:received` as 'Report received · Web form'."""
    source, _sep, event = action.partition(":")
    return _("%(event)s · %(source)s", event=event_label(event), source=source_label(source))


def actor_label(actor: str) -> str:
    """Who acted: the customer, a part of the service, or a staff user's address as it is."""
    labels = {
        "customer": _("the customer"),
        "system": _("the service"),
        "outbox-worker": _("background worker"),
        "intake": _("email intake"),
        "cli": _("command line"),
        "dev-seed": _("development setup"),
    }
    if actor in labels:
        return labels[actor]
    if actor.startswith("api:"):  # another system, by its API key's name (api.auth)
        return _("system %(name)s (API key)", name=actor.removeprefix("api:"))
    return actor


def event_line(action: str, actor: str) -> str:
    """One line of a timeline: what happened, where from, and who did it when that adds something."""
    source = action.partition(":")[0]
    said = action_label(action)
    who = actor_label(actor)
    return said if who == source_label(source) else _("%(action)s · %(actor)s", action=said, actor=who)


def quarantine_reason_label(reason: str) -> str:
    return {
        "too_large": _("Too large to read safely"),
        "header_too_large": _("Headers too large to read safely"),
        "nul_bytes": _("Contains NUL bytes, which no valid email has"),
        "too_many_parts": _("Too many parts to read safely"),
        "too_deep": _("Parts nested too deeply to read safely"),
        "unparseable": _("Could not be read as an email"),
        "parse_time": _("Took too long to read"),
        "no_sender": _("No single valid sender address"),
        "processing_error": _("An error while it was being processed"),
    }.get(reason, _("Other reason"))


def not_a_report_label(reason: str) -> str:
    return {
        "null_sender": _("No return address (a bounce or system message)"),
        "delivery_report": _("A delivery report"),
        "auto_submitted": _("An automatic reply or message"),
        "mailing_list": _("Mail from a mailing list"),
        "precedence_bulk": _("Bulk mail"),
        "precedence_list": _("Mail from a mailing list"),
        "precedence_junk": _("Marked as junk by its sender"),
    }.get(reason, _("Other reason"))


def via_label(via: str) -> str:
    return {
        "smtp": _("received by our SMTP listener"),
        "lmtp": _("handed over by our mail server (LMTP)"),
        "import": _("imported from a file"),
    }.get(via, _("Other route"))


def language_name(locale: str | None) -> str:
    """A customer's language by its name, in the viewer's language."""
    return {"vi": _("Vietnamese"), "en": _("English")}.get(locale or "", _("Not set"))
