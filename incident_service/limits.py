"""Rate limits (docs/security.md S6): per client IP and per account, on every form that costs us or
could be used to harass a customer. The answer to a limited request is the same generic 429 for
known and unknown accounts. The client IP is the proxy's X-Forwarded-For only when
TRUSTED_PROXY_COUNT says proxies are there (see create_app)."""

from __future__ import annotations

import hashlib
from typing import Callable

from flask import current_app, request, session

from .customers.addresses import InvalidAddress, normalize_address


def setting(name: str) -> Callable[[], str]:
    """A limit read from the configuration at request time, so operators can tune it."""
    return lambda: current_app.config[name]


def account_key(prefix: str) -> Callable[[], str]:
    """The account a form names (its `email` field), normalised so case tricks share one bucket."""

    def key() -> str:
        raw = request.form.get("email") or ""
        try:
            address = normalize_address(raw)
        except InvalidAddress:
            address = raw.strip().lower()[:320]
        return f"{prefix}:{address}"

    return key


def link_key(prefix: str) -> Callable[[], str]:
    """The link a request carries (in the URL, or moved into the session), hashed."""

    def key() -> str:
        token = (request.view_args or {}).get("token") or session.get("reset_token") or ""
        return f"{prefix}:{hashlib.sha256(token.encode()).hexdigest()[:32]}"

    return key
