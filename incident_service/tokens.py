"""Signed links, all of them here: one salt and one maximum age per purpose (docs/security.md T1–T3), the
payload of each purpose as a type, signing, reading back, and the URL built from PUBLIC_BASE_URL.

Payloads carry ids and the security stamp only, never an address or other personal data (T2). On the
wire they keep their short keys ("c", "g", "s", "i"): links already in customers' mailboxes must go
on working; only this module spells them.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any, NamedTuple

from flask import current_app
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from .domain_errors import DomainError

REPORT = "report-link"
RESET = "reset-link"
DISCOVERY = "discovery-link"
EMAIL_CHANGE = "email-change-link"


class TokenError(DomainError):
    """Base for every token refusal; views answer all of them with the same generic page."""


class TokenInvalid(TokenError):
    """Tampered, malformed, signed for another purpose, or bound to a stale stamp or grant."""


class TokenExpired(TokenError):
    """Older than the purpose's maximum age."""


def max_age(purpose: str) -> int:
    config = current_app.config
    if purpose == RESET:
        return int(config["RESET_LINK_MAX_AGE_SECONDS"])
    if purpose == REPORT:
        return int(config["REPORT_LINK_MAX_AGE_DAYS"]) * 86400
    if purpose == DISCOVERY:
        return int(config["DISCOVERY_LINK_MAX_AGE_DAYS"]) * 86400
    if purpose == EMAIL_CHANGE:
        return int(config["EMAIL_CHANGE_LINK_MAX_AGE_SECONDS"])
    raise ValueError(f"unknown token purpose {purpose!r}")


def _serializer(purpose: str) -> URLSafeTimedSerializer:
    config = current_app.config
    # itsdangerous signs with the last key and verifies with all: fallbacks first, current key last,
    # so keys can rotate without breaking links already sent.
    keys = [*config.get("SECRET_KEY_FALLBACKS", []), config["SECRET_KEY"]]
    return URLSafeTimedSerializer(keys, salt=purpose, signer_kwargs={"digest_method": hashlib.sha256})


def make_token(purpose: str, payload: dict[str, Any]) -> str:
    return _serializer(purpose).dumps(payload)


def read_token(purpose: str, token: str) -> dict[str, Any]:
    """Verify signature, purpose and age (max_age is always passed: T3); return the payload."""
    if not token or len(token) > 1024:
        raise TokenInvalid("empty or oversized token")
    try:
        payload = _serializer(purpose).loads(token, max_age=max_age(purpose))
    except SignatureExpired:
        raise TokenExpired(purpose) from None
    except BadSignature:
        raise TokenInvalid(purpose) from None
    if not isinstance(payload, dict):
        raise TokenInvalid(purpose)
    return payload


def public_url(path: str) -> str:
    """An absolute link built from PUBLIC_BASE_URL, never from the request's Host (T6)."""
    return str(current_app.config["PUBLIC_BASE_URL"]) + path


class SignedLink(NamedTuple):
    """A link whose token is signed when the email carrying it is rendered: the payload is fixed when
    the email is queued, and stored with it until it is sent (then removed, L1)."""

    purpose: str
    payload: dict[str, Any]
    path: str

    def url(self) -> str:
        return public_url(self.path + make_token(self.purpose, self.payload))


@dataclass(frozen=True)
class ReportLink:
    """`/r/<token>`: report a compromised password for this customer's account, from any email."""

    customer_id: int


@dataclass(frozen=True)
class DiscoveryLink:
    """`/discovery/<token>`: say when the loss was noticed, for this incident of this customer."""

    customer_id: int
    incident_id: int


@dataclass(frozen=True)
class ResetLink:
    """`/reset/<token>`: set a new password with this grant, while the customer's stamp is this one."""

    customer_id: int
    grant_id: str
    stamp: str


@dataclass(frozen=True)
class EmailChangeLink:
    """`/account/email/confirm/<token>`: confirm (or cancel) this change of the address on record from
    one of its two addresses; which one, the nonce says (the database keeps each side's nonce hash)."""

    customer_id: int
    change_id: int
    nonce: str
    stamp: str


def report_link(customer_id: int) -> SignedLink:
    return SignedLink(REPORT, {"c": customer_id}, "/r/")


def discovery_link(customer_id: int, incident_id: int) -> SignedLink:
    return SignedLink(DISCOVERY, {"c": customer_id, "i": incident_id}, "/discovery/")


def reset_link(customer_id: int, grant_id: str, stamp: str) -> SignedLink:
    """The grant's secret id and the stamp it is bound to (T2)."""
    return SignedLink(RESET, {"c": customer_id, "g": grant_id, "s": stamp}, "/reset/")


def email_change_link(customer_id: int, change_id: int, nonce: str, stamp: str) -> SignedLink:
    """One side's secret nonce and the stamp it is bound to: a report or a reset in between voids it."""
    return SignedLink(
        EMAIL_CHANGE, {"c": customer_id, "x": change_id, "n": nonce, "s": stamp}, "/account/email/confirm/"
    )


def _fields(payload: dict[str, Any], kinds: dict[str, type]) -> list[Any]:
    values = [payload.get(key) for key in kinds]
    if not all(type(value) is kind for value, kind in zip(values, kinds.values(), strict=True)):
        raise TokenInvalid("malformed payload")
    return values


def read_report_link(token: str) -> ReportLink:
    (customer_id,) = _fields(read_token(REPORT, token), {"c": int})
    return ReportLink(customer_id)


def read_discovery_link(token: str) -> DiscoveryLink:
    customer_id, incident_id = _fields(read_token(DISCOVERY, token), {"c": int, "i": int})
    return DiscoveryLink(customer_id, incident_id)


def read_reset_link(token: str) -> ResetLink:
    customer_id, grant_id, stamp = _fields(read_token(RESET, token), {"c": int, "g": str, "s": str})
    return ResetLink(customer_id, grant_id, stamp)


def read_email_change_link(token: str) -> EmailChangeLink:
    customer_id, change_id, nonce, stamp = _fields(
        read_token(EMAIL_CHANGE, token), {"c": int, "x": int, "n": str, "s": str}
    )
    return EmailChangeLink(customer_id, change_id, nonce, stamp)
