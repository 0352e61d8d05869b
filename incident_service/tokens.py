"""Signed links: one salt and one maximum age per purpose (SECURITY.md T1–T3).

Payloads carry ids and the security stamp only, never an address or other personal data (T2).
"""

from __future__ import annotations

from .domain_errors import DomainError
import hashlib
from typing import Any

from flask import current_app
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

REPORT = "report-link"
RESET = "reset-link"
DISCOVERY = "discovery-link"


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
    raise ValueError(f"unknown token purpose {purpose!r}")


def _serializer(purpose: str) -> URLSafeTimedSerializer:
    config = current_app.config
    # itsdangerous signs with the last key and verifies with all: fallbacks first, current key last,
    # so keys can rotate without breaking links already sent.
    keys = [*config.get("SECRET_KEY_FALLBACKS", []), config["SECRET_KEY"]]
    return URLSafeTimedSerializer(
        keys, salt=purpose, signer_kwargs={"digest_method": hashlib.sha256}
    )


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
