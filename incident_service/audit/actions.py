"""Every audit action the service writes, in one place (PyPI's warehouse `events/tags.py` is the model).

An action is `source:subject:verb`: where the change came from (`Source`: the channel or the part of
the service that acted) and what happened (`Event`). `tag(source, event)` spells one; `append_event`
refuses any other spelling, so a typo is an error where it is made, not a hole in the evidence.
"""

from __future__ import annotations

from enum import StrEnum


class Source(StrEnum):
    """Where a change came from: a report channel, a part of the service, or who ran a command."""

    WEB = "web"
    EMAIL = "email"
    PHONE = "phone"
    FAX = "fax"
    POST = "post"
    IN_PERSON = "in_person"
    API = "api"
    BREACH_LIST = "breach_list"
    CONSOLE = "console"
    CLI = "cli"
    DEV = "dev"
    WORKER = "worker"
    SYSTEM = "system"
    CUSTOMER = "customer"
    STAFF = "staff"


class Event(StrEnum):
    """What happened, `subject:verb`."""

    # Reports and incidents
    REPORT_RECEIVED = "report:received"
    REPORT_ATTACHED = "report:attached"
    REPORT_ASSIGNED = "report:assigned"
    INCIDENT_OPENED = "incident:opened"
    INCIDENT_RESOLVED = "incident:resolved"
    INCIDENT_CLOSED = "incident:closed"
    INCIDENT_NOTE_ADDED = "incident:note_added"
    INCIDENT_ASSIGNED = "incident:assigned"
    INCIDENT_UNASSIGNED = "incident:unassigned"
    INCIDENT_ASSESSED = "incident:assessed"
    DISCOVERY_STATED = "discovery:stated"
    # Reactivation
    CREDENTIAL_LOCKED = "credential:locked"
    SESSIONS_REVOKED = "sessions:revoked"
    RESET_GRANT_ISSUED = "reset_grant:issued"
    RESET_LINK_THROTTLED = "reset_link:throttled"
    RESET_LINK_UNKNOWN_ADDRESS = "reset_link:unknown_address"
    PASSWORD_RESET = "password:reset"
    PASSWORD_REFUSED = "password:refused"
    PASSWORD_REHASHED = "password:rehashed"
    LINK_GUESSING_SUSPECTED = "link:guessing_suspected"
    # Customers and staff
    CUSTOMER_CREATED = "customer:created"
    CUSTOMER_UPDATED = "customer:updated"
    CUSTOMER_SIGNED_IN = "customer:signed_in"
    # Changing the address on record (incident_service/email_change)
    EMAIL_CHANGE_REQUESTED = "email_change:requested"
    EMAIL_CHANGE_REFUSED = "email_change:refused"
    EMAIL_CHANGE_CONFIRMED = "email_change:confirmed"
    EMAIL_CHANGE_CANCELLED = "email_change:cancelled"
    EMAIL_CHANGE_COMPLETED = "email_change:completed"
    STAFF_CREATED = "staff:created"
    STAFF_TOTP_ENROLLED = "staff:totp_enrolled"
    STAFF_TOTP_RESET = "staff:totp_reset"
    STAFF_SIGNED_IN = "staff:signed_in"
    STAFF_SIGN_IN_FAILED = "staff:sign_in_failed"
    STAFF_TOTP_FAILED = "staff:totp_failed"
    STAFF_SIGNED_OUT = "staff:signed_out"
    STAFF_DEACTIVATED = "staff:deactivated"
    STAFF_ACTIVATED = "staff:activated"
    # Email in and out
    EMAIL_QUEUED = "email:queued"
    EMAIL_SENT = "email:sent"
    EMAIL_DEFERRED = "email:deferred"
    EMAIL_FAILED = "email:failed"
    MESSAGE_RECEIVED = "message:received"
    MESSAGE_ALREADY_STORED = "message:already_stored"
    MESSAGE_DUPLICATE = "message:duplicate"
    MESSAGE_NOT_A_REPORT = "message:not_a_report"
    MESSAGE_QUARANTINED = "message:quarantined"
    MESSAGE_ASSIGNED = "message:assigned"
    MESSAGE_DISMISSED = "message:dismissed"
    # Legal and evidence
    REVIEW_DECIDED = "review:decided"
    POLICY_PUBLISHED = "policy:published"
    BREACH_MARKED = "breach:marked"
    BREACH_AUTHORITY_NOTIFIED = "breach:authority_notified"
    EVIDENCE_EXPORTED = "evidence:exported"
    INCIDENTS_EXPORTED = "incidents:exported"  # the delay report's incident rows, as CSV (customers' addresses)
    AUDIT_ANCHORED = "audit:anchored"
    CHECKPOINT_REFUSED = "audit:checkpoint_refused"  # the tree does not extend the last checkpoint
    EVENTS_REDACTED = "audit:events_redacted"  # personal data removed from events in the tree (their leaves)
    # Retention (incident_service/retention)
    LEGAL_HOLD_PLACED = "legal_hold:placed"
    LEGAL_HOLD_RELEASED = "legal_hold:released"
    RETENTION_PURGED = "retention:purged"  # one rule's run: what it emptied
    CUSTOMER_ERASED = "customer:erased"
    # Webhook subscriptions (incident_service/webhooks)
    WEBHOOK_SUBSCRIBED = "webhook:subscribed"
    WEBHOOK_REMOVED = "webhook:removed"
    WEBHOOK_SECRET_ROTATED = "webhook:secret_rotated"
    WEBHOOK_DISABLED = "webhook:disabled"
    WEBHOOK_ENABLED = "webhook:enabled"
    # The JSON API (source `api`, actor `api:<key name>`) and its keys
    API_KEY_CREATED = "api_key:created"
    API_KEY_REVOKED = "api_key:revoked"
    REPORT_LINK_ISSUED = "report_link:issued"
    INCIDENTS_LISTED = "incidents:listed"
    INCIDENT_VIEWED = "incident:viewed"
    AUDIT_EVENTS_READ = "audit_events:read"
    DELAY_REPORT_READ = "delay_report:read"
    # Customers' data requests (incident_service/data_requests)
    DATA_REQUEST_RECEIVED = "data_request:received"
    DATA_REQUEST_STARTED = "data_request:started"
    DATA_REQUEST_ANSWERED = "data_request:answered"
    DATA_REQUEST_WITHDRAWN = "data_request:withdrawn"
    STATEMENT_CORRECTED = "statement:corrected"


def tag(source: str, event: Event) -> str:
    """The action `source:subject:verb`; `source` may be a report channel given as a plain string."""
    return f"{Source(source)}:{event}"


KNOWN = frozenset(f"{source}:{event}" for source in Source for event in Event)


class UnknownAuditAction(Exception):
    """An action spelled outside this module: a programming error, caught where it is made."""


def checked(action: str) -> str:
    if action not in KNOWN:
        raise UnknownAuditAction(f"{action!r} is not source:event from incident_service.audit.actions")
    return action
