"""RFC 9457 problem details: every error under /api/ is `application/problem+json`, never HTML or a traceback.

`type` is `about:blank` (its `title` the HTTP status phrase) for plain HTTP errors, or a URN naming a
problem of this API (`urn:incident-service:problem:...`, listed in docs/api.md) with its own title. Field errors go in `errors`, a map
of field name to messages, as marshmallow reports them. The words are English and fixed: the API's
clients are programs, which read `type` and `status`; people read docs/api.md.
"""

from __future__ import annotations

import json
from typing import Any, Mapping

from flask import Response, request
from werkzeug.exceptions import HTTPException
from werkzeug.http import HTTP_STATUS_CODES

API_PREFIX = "/api/"
PROBLEM_JSON = "application/problem+json"
# A stable name for each problem of this API, listed in docs/api.md (a URN: it names, it does not resolve).
PROBLEM_BASE = "urn:incident-service:problem:"

# What each plain status means to a program calling the API (detail of an `about:blank` problem).
DETAILS = {
    400: "The request could not be understood.",
    401: "A valid API key is required: Authorization: Bearer <key>.",
    403: "This API key does not have the scope this operation needs.",
    404: "Nothing exists at this address.",
    405: "This method is not allowed here.",
    413: "The request body is too large.",
    415: "The request body must be JSON (Content-Type: application/json).",
    422: "The request body or parameters are not valid.",
    429: "Too many requests for this API key. Retry after the time in Retry-After.",
    500: "Something went wrong on our side. Nothing you sent has been stored.",
    503: "The service could not store or read data just now. Nothing you sent has been stored; retry later.",
}


def for_api() -> bool:
    return request.path.startswith(API_PREFIX)


class ApiProblem(HTTPException):
    """An error of this API with its own problem type (raise it; the app's error handler answers)."""

    def __init__(
        self,
        status: int,
        problem: str,
        title: str,
        detail: str,
        *,
        errors: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(description=detail)
        self.code = status
        self.problem_type = PROBLEM_BASE + problem
        self.title = title
        self.detail = detail
        self.errors = dict(errors) if errors else None
        self.problem_headers = dict(headers or {})


def problem_response(
    status: int,
    *,
    type_: str = "about:blank",
    title: str | None = None,
    detail: str | None = None,
    errors: Mapping[str, Any] | None = None,
    headers: Mapping[str, str] | None = None,
) -> Response:
    body: dict[str, Any] = {
        "type": type_,
        "title": title or HTTP_STATUS_CODES.get(status, "Error"),
        "status": status,
        "detail": detail or DETAILS.get(status, DETAILS[500] if status >= 500 else DETAILS[400]),
    }
    if errors:
        body["errors"] = errors
    response = Response(json.dumps(body, ensure_ascii=False), status=status, mimetype=PROBLEM_JSON)
    response.headers.update(headers or {})
    return response


def problem_for(error: HTTPException) -> Response:
    """The problem for an HTTP error raised anywhere under /api/ (an ApiProblem, a webargs refusal, a 404...)."""
    status = error.code or 500
    if isinstance(error, ApiProblem):
        return problem_response(
            status,
            type_=error.problem_type,
            title=error.title,
            detail=error.detail,
            errors=error.errors,
            headers=error.problem_headers,
        )
    data = getattr(error, "data", None) or {}
    # webargs (through flask-smorest) refuses a body or query with the fields' messages, by location.
    messages = data.get("messages") if isinstance(data, dict) else None
    errors = _flatten(messages) if isinstance(messages, dict) else None
    headers = dict(data.get("headers") or {}) if isinstance(data, dict) else {}
    # The error's own headers that say something (405's Allow, RFC 9110), not its HTML content type.
    headers.update((name, value) for name, value in error.get_headers() if name.lower() != "content-type")
    return problem_response(status, errors=errors, headers=headers)


def _flatten(messages: dict[str, Any]) -> dict[str, Any]:
    """webargs says {"json": {"field": [...]}}: the location is the client's own choice, so leave it out."""
    flat: dict[str, Any] = {}
    for location, fields in messages.items():
        if isinstance(fields, dict):
            flat.update(fields)
        else:
            flat[location] = fields
    return flat
