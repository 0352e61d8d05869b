"""Who is calling the API: the bearer key, checked before every operation, and the scope each needs.

Missing, malformed, unknown, revoked and expired keys get one answer: 401 with the same problem body and
`WWW-Authenticate` header, after the same work (service.authenticate). A valid key without the scope an
operation needs gets 403 (RFC 6750 `insufficient_scope`): the caller already knows its key works.
"""

from __future__ import annotations

from functools import wraps
from typing import Callable, ParamSpec, TypeVar

from flask import current_app, g, request
from flask_limiter.util import get_remote_address
from sqlalchemy import select
from werkzeug.exceptions import UnsupportedMediaType

from ..database import utcnow
from ..extensions import db
from ..problems import ApiProblem
from .models import ApiKey
from .service import authenticate, hash_key

P = ParamSpec("P")
R = TypeVar("R")

REALM = 'Bearer realm="incident_service"'


def presented_key() -> str | None:
    """The key in `Authorization: Bearer <key>`, or None (no header, another scheme, no key)."""
    scheme, _sep, value = (request.headers.get("Authorization") or "").strip().partition(" ")
    if scheme.lower() != "bearer":
        return None
    return value.strip() or None


def invalid_key() -> ApiProblem:
    return ApiProblem(
        401,
        "invalid-api-key",
        "Invalid API key",
        "A valid API key is required: Authorization: Bearer <key>.",
        headers={"WWW-Authenticate": f'{REALM}, error="invalid_token"'},
    )


def require_json_body() -> None:
    """A body, if any, must be JSON (415 otherwise). Its size is capped by MAX_CONTENT_LENGTH (413)."""
    has_body = bool(request.content_length) or "chunked" in (request.headers.get("Transfer-Encoding") or "").lower()
    if has_body and request.mimetype != "application/json":
        raise UnsupportedMediaType()


def require_key() -> None:
    """before_request of the API: the key must be usable now; it is kept in g for the operation."""
    key = authenticate(presented_key(), now=utcnow())
    if key is None:
        current_app.logger.info("api: refused a request without a valid key to %s %s", request.method, request.path)
        raise invalid_key()
    # The last use commits on its own, before the operation: a call then refused (404, 422) was a use too.
    db.session.commit()
    g.api_key = key


def current_key() -> ApiKey:
    key: ApiKey = g.api_key
    return key


def requires(scope: str) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """The operation needs `scope`; the OpenAPI document says so (views add it to each operation)."""

    def decorator(view: Callable[P, R]) -> Callable[P, R]:
        @wraps(view)
        def checked(*args: P.args, **kwargs: P.kwargs) -> R:
            if scope not in current_key().scope_list:
                raise ApiProblem(
                    403,
                    "insufficient-scope",
                    "Insufficient scope",
                    f"This API key does not have the scope {scope}.",
                    headers={"WWW-Authenticate": f'{REALM}, error="insufficient_scope", scope="{scope}"'},
                )
            return view(*args, **kwargs)

        return checked

    return decorator


def rate_limit_bucket() -> str:
    """Per key for a key we issued (the limiter runs before authentication, so it looks the hash up
    itself: one indexed read), else per client IP: a caller sending a fresh made-up key each time would
    otherwise get a fresh bucket each time, and never be limited."""
    key = presented_key()
    if key is not None:
        digest = hash_key(key)
        if db.session.execute(select(ApiKey.id).where(ApiKey.key_hash == digest)).first() is not None:
            return f"api-key:{digest[:32]}"
    return f"api-ip:{get_remote_address()}"
