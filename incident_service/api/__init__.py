"""The JSON API (/api/v1): other systems report, read incidents, keep customers in sync, mint report
links and poll the audit log, with API keys; its OpenAPI 3.1 document is generated from the code."""

from __future__ import annotations

import http
from typing import Any

from apispec.ext.marshmallow import MarshmallowPlugin
from flask import Flask
from flask_smorest import Api
from flask_smorest.utils import prepare_response

from ..extensions import csrf
from ..problems import PROBLEM_JSON

API_DESCRIPTION = """\
How other systems of the company report compromised passwords, read incidents, keep customers in sync,
mint report links and read the audit log. Every operation needs `Authorization: Bearer <key>` with the
scope it names (keys: `flask api-keys create NAME --scope SCOPE...` or the console's API keys page).
Every error is RFC 9457 problem details (`application/problem+json`). Times are RFC 3339 with an
offset; times returned are UTC (`Z`). Integration guide: docs/api.md."""


class IncidentApi(Api):
    """flask-smorest's Api with problem details for every error response it documents, no catch-all
    `default` response (each operation lists the statuses it can answer), and no error handler of its
    own: incident_service.errors answers every error under /api/ (problems.py)."""

    DEFAULT_ERROR_RESPONSE_NAME = None

    def _register_error_handlers(self) -> None:
        pass

    def _register_responses(self) -> None:
        from .schemas import ProblemSchema

        for status in http.HTTPStatus:
            if status < 400:
                continue
            response: dict[str, Any] = {"description": status.phrase, "schema": ProblemSchema}
            if status == 401:
                response["headers"] = {"WWW-Authenticate": {"schema": {"type": "string"}}}
            if status == 429:
                response["headers"] = {"Retry-After": {"schema": {"type": "integer"}}}
            prepare_response(response, self.spec, PROBLEM_JSON)
            self.spec.components.response(status.name, response, lazy=True)


def init_app(app: Flask) -> None:
    from .views import bp

    app.config.update(
        API_TITLE="incident_service API",
        API_VERSION="1",
        OPENAPI_VERSION="3.1.0",
        OPENAPI_URL_PREFIX="/api/v1",
        OPENAPI_JSON_PATH="openapi.json",
        API_SPEC_OPTIONS={
            "info": {"description": API_DESCRIPTION},
            "servers": [{"url": str(app.config["PUBLIC_BASE_URL"])}],
            "components": {
                "securitySchemes": {
                    "bearerAuth": {
                        "type": "http",
                        "scheme": "bearer",
                        "description": "An API key (`isk_...`), with the scopes the operation names.",
                    }
                }
            },
        },
    )
    api = IncidentApi(app, spec_kwargs={"marshmallow_plugin": MarshmallowPlugin()})
    # Flask-WTF documents exempting a blueprint; its annotation names view functions only.
    csrf.exempt(bp)  # type: ignore[type-var]  # no cookies, no browser session: a bearer key cannot be ridden by another site
    api.register_blueprint(bp)
