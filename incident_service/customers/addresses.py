"""Email address parsing and normalisation: one definition of "the same address" for every channel."""

from __future__ import annotations

import unicodedata

from email_validator import EmailNotValidError, validate_email

from ..domain_errors import DomainError


class InvalidAddress(DomainError):
    """The text is not a single valid email address."""


def normalize_address(raw: str) -> str:
    """Return the canonical form used for matching: NFC, lower-case, validated, no display name.

    Raises InvalidAddress for anything that is not exactly one plain address.
    """
    text = unicodedata.normalize("NFC", (raw or "").strip())
    if not text or len(text) > 320:
        raise InvalidAddress(raw)
    try:
        result = validate_email(text, check_deliverability=False, allow_smtputf8=True)
    except EmailNotValidError as exc:
        raise InvalidAddress(str(exc)) from None
    return result.normalized.lower()


def mask_address(address: str) -> str:
    """`a••••@example.com`: enough for its owner to recognise, too little for anyone else to learn."""
    local, _, domain = address.partition("@")
    return f"{local[:1]}{'•' * max(len(local) - 1, 1)}@{domain}"
