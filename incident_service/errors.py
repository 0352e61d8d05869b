"""Generic error pages and JSON errors: no traceback, and never a success we have not stored (L2, L4)."""

from __future__ import annotations

import math
import time

from flask import Flask, Response, g, jsonify, render_template, request
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import DataError, DBAPIError, OperationalError
from werkzeug.exceptions import HTTPException

from .extensions import db, limiter
from .i18n import format_wait
from .problems import for_api, problem_for, problem_response

RETRY_AFTER_SECONDS = 30


def _wants_json() -> bool:
    return request.path.startswith(("/api/", "/healthz"))


def _messages() -> dict[int, str]:
    return {
        400: _("The request could not be understood. Please check what you entered and try again."),
        403: _("You do not have permission to see this page."),
        404: _("This page does not exist."),
        405: _("This action is not allowed here."),
        413: _("What you sent is too large."),
        429: _("Too many attempts. Please wait a little and try again."),
        500: _("Something went wrong on our side. Nothing you sent has been reported as received."),
        503: _(
            "The service is temporarily unavailable and could not record your request. Please try again in a minute."
        ),
    }


def render_error(status: int, *, wait_seconds: int | None = None) -> tuple[Response | str, int]:
    if for_api():
        # The JSON API answers every error as RFC 9457 problem details (problems.py), in fixed English.
        return problem_response(status), status
    message = _messages().get(status, _messages()[500] if status >= 500 else _messages()[400])
    if wait_seconds is not None:
        # Say how long: "a little" sends people back to be refused again, or away for good.
        message = _("Too many attempts. Please try again in %(wait)s.", wait=format_wait(wait_seconds))
    if _wants_json():
        return jsonify(error=status, message=message), status
    g.answering_an_error = True  # the page reads nothing more (the console's tab counts stay out)
    return render_template("errors/error.html", status=status, message=message), status


def _seconds_until_allowed() -> int:
    """When the limit that refused this request lets the client try again (at least a second)."""
    limit = limiter.current_limit
    if limit is None:
        return 60
    return max(1, math.ceil(limit.reset_at - time.time()))


def init_app(app: Flask) -> None:
    @app.errorhandler(HTTPException)
    def _http(error: HTTPException) -> ResponseReturnValue:
        status = error.code or 500
        if isinstance(error, CSRFError):
            status = 400
        wait = _seconds_until_allowed() if status == 429 else None
        if for_api():
            response = problem_for(error)
        else:
            body, status = render_error(status, wait_seconds=wait)
            response = app.make_response((body, status))
        if wait is not None:
            response.headers["Retry-After"] = str(wait)
        return response

    @app.errorhandler(DataError)
    def _bad_value(error: Exception) -> ResponseReturnValue:
        # A value the database cannot hold (too large, wrong type) is the request's fault, not an outage:
        # no 503, no Retry-After, nothing to page anyone about.
        db.session.rollback()
        app.logger.warning("request value refused by the database: %s", type(error).__name__)
        return render_error(400)

    @app.errorhandler(OperationalError)
    @app.errorhandler(DBAPIError)
    def _database(error: Exception) -> ResponseReturnValue:
        # The database could not store the request: refuse with a temporary error, never a success.
        db.session.rollback()
        app.logger.error("database unavailable: %s", type(error).__name__)
        body, status = render_error(503)
        response = app.make_response((body, 503))
        response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
        return response

    @app.errorhandler(Exception)
    def _unexpected(error: Exception) -> ResponseReturnValue:
        db.session.rollback()
        app.logger.exception("unhandled error")
        return render_error(500)
