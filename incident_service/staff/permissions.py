"""Who may do what in the console (docs/security.md S3). Checked on the server for every route and object."""

from __future__ import annotations

from .models import ROLE_ADMIN, ROLE_LEGAL, ROLE_SUPPORT

VIEW_INCIDENTS = "view_incidents"
ACT_ON_INCIDENTS = "act_on_incidents"  # enter reports, re-send links, close, attach: anything that resets
ADD_NOTES = "add_notes"
RECORD_DISCOVERY = "record_discovery"
HANDLE_QUARANTINE = "handle_quarantine"
VIEW_QUARANTINE = "view_quarantine"
VIEW_LEGAL = "view_legal"
DECIDE_REVIEWS = "decide_reviews"
VIEW_AUDIT = "view_audit"
MANAGE_STAFF = "manage_staff"
MANAGE_POLICY = "manage_policy"
MANAGE_WEBHOOKS = "manage_webhooks"  # subscriptions and their secrets: admins only
# Customers' data requests (incident_service/data_requests): everyone sees and enters them; support
# answers what concerns the account (access, name, language); a statement is evidence and an erasure
# removes evidence, so those are legal's to decide.
MANAGE_LEGAL_HOLDS = "manage_legal_holds"  # place and release holds that suspend retention
VIEW_DATA_REQUESTS = "view_data_requests"
DECIDE_ACCOUNT_REQUESTS = "decide_account_requests"
DECIDE_EVIDENCE_REQUESTS = "decide_evidence_requests"

GRANTS: dict[str, frozenset[str]] = {
    VIEW_INCIDENTS: frozenset({ROLE_SUPPORT, ROLE_LEGAL, ROLE_ADMIN}),
    ACT_ON_INCIDENTS: frozenset({ROLE_SUPPORT, ROLE_ADMIN}),
    ADD_NOTES: frozenset({ROLE_SUPPORT, ROLE_LEGAL, ROLE_ADMIN}),
    RECORD_DISCOVERY: frozenset({ROLE_SUPPORT, ROLE_ADMIN}),
    HANDLE_QUARANTINE: frozenset({ROLE_SUPPORT, ROLE_ADMIN}),
    VIEW_QUARANTINE: frozenset({ROLE_SUPPORT, ROLE_LEGAL, ROLE_ADMIN}),
    VIEW_LEGAL: frozenset({ROLE_LEGAL, ROLE_ADMIN}),
    DECIDE_REVIEWS: frozenset({ROLE_LEGAL}),
    VIEW_AUDIT: frozenset({ROLE_LEGAL, ROLE_ADMIN}),
    MANAGE_STAFF: frozenset({ROLE_ADMIN}),
    MANAGE_POLICY: frozenset({ROLE_ADMIN}),
    MANAGE_WEBHOOKS: frozenset({ROLE_ADMIN}),
    MANAGE_LEGAL_HOLDS: frozenset({ROLE_LEGAL}),
    VIEW_DATA_REQUESTS: frozenset({ROLE_SUPPORT, ROLE_LEGAL, ROLE_ADMIN}),
    DECIDE_ACCOUNT_REQUESTS: frozenset({ROLE_SUPPORT, ROLE_LEGAL, ROLE_ADMIN}),
    DECIDE_EVIDENCE_REQUESTS: frozenset({ROLE_LEGAL}),
}


def allowed(role: str, permission: str) -> bool:
    return role in GRANTS[permission]
