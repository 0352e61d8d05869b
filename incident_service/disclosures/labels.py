"""The register's codes in words: what was handed out, and on what legal basis."""

from __future__ import annotations

from flask_babel import gettext as _

from .models import (
    BASIS_AUDITORS_LAWYERS,
    BASIS_CUSTOMER_CONSENT,
    BASIS_SERVICE_PROVIDER,
    BASIS_STATE_AUTHORITY,
    KIND_API_READ,
    KIND_EVIDENCE_PACK,
    KIND_INCIDENTS_CSV,
    KIND_WEBHOOK,
)
from .service import DEFAULT_PACK_RECIPIENT


def basis_label(basis: str | None) -> str:
    """The legal basis as the privacy policy names its categories."""
    return {
        BASIS_STATE_AUTHORITY: _("Required by a state agency or law enforcement"),
        BASIS_AUDITORS_LAWYERS: _("The company's auditors or lawyers"),
        BASIS_SERVICE_PROVIDER: _("A service provider under contract, bound to our security standards"),
        BASIS_CUSTOMER_CONSENT: _("With the customer's consent"),
        None: _("Not stated"),
    }.get(basis, basis or "")


def basis_choices() -> list[tuple[str, str]]:
    return [
        (basis, basis_label(basis))
        for basis in (BASIS_AUDITORS_LAWYERS, BASIS_STATE_AUTHORITY, BASIS_SERVICE_PROVIDER, BASIS_CUSTOMER_CONSENT)
    ]


def disclosure_kind_label(kind: str) -> str:
    """What was handed out, in words."""
    return {
        KIND_EVIDENCE_PACK: _("Evidence pack of an incident"),
        KIND_INCIDENTS_CSV: _("List of incidents (spreadsheet export)"),
        KIND_API_READ: _("Incident or audit records read by another system"),
        KIND_WEBHOOK: _("Event notices sent to another system (references and times)"),
    }.get(kind, kind)


def recipient_label(recipient: str) -> str:
    """A recipient as stored, except the default one, which is said in the reader's language."""
    return _("The company's lawyers") if recipient == DEFAULT_PACK_RECIPIENT else recipient
