"""The OpenAPI document: generated from the code, valid OpenAPI 3.1, complete; and schemathesis, driven by
it, finds no server error, no answer outside its schema and no undocumented status code."""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from flask import Flask
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from openapi_spec_validator import validate
from openapi_spec_validator.validation.validators import OpenAPIV31SpecValidator
from schemathesis.generation.modes import GenerationMode
from schemathesis.specs.openapi.checks import positive_data_acceptance

from tests.api.conftest import MakeKey, bearer
from tests.helpers import make_customer

OPERATIONS = {
    ("post", "/api/v1/reports"): "reports:write",
    ("get", "/api/v1/incidents"): "incidents:read",
    ("get", "/api/v1/incidents/{reference}"): "incidents:read",
    ("put", "/api/v1/customers/{email}"): "customers:write",
    ("post", "/api/v1/customers/{email}/report-link"): "links:write",
    ("get", "/api/v1/events"): "events:read",
    ("get", "/api/v1/reports/delay"): "reports:read",
}


def document(app: Flask) -> dict[str, Any]:
    answer = app.test_client().get("/api/v1/openapi.json")  # no key needed
    assert answer.status_code == 200 and answer.mimetype == "application/json"
    return answer.get_json()


def test_the_document_is_valid_openapi_3_1(app) -> None:  # type: ignore[no-untyped-def]
    spec = document(app)
    assert spec["openapi"] == "3.1.0"
    validate(spec, cls=OpenAPIV31SpecValidator)


def test_every_operation_has_its_scope_examples_and_problem_answers(app) -> None:  # type: ignore[no-untyped-def]
    spec = document(app)
    assert spec["components"]["securitySchemes"]["bearerAuth"] == {
        "type": "http",
        "scheme": "bearer",
        "description": spec["components"]["securitySchemes"]["bearerAuth"]["description"],
    }
    found = {(method, path) for path, item in spec["paths"].items() for method in item if method != "parameters"}
    assert found == set(OPERATIONS)
    for (method, path), scope in OPERATIONS.items():
        operation = spec["paths"][path][method]
        assert operation["security"] == [{"bearerAuth": [scope]}], path
        assert "default" not in operation["responses"]  # every status is listed, none implied
        for status in ("401", "403", "429", "500", "503"):
            reference = operation["responses"][status]["$ref"]
            response = spec["components"]["responses"][reference.rsplit("/", 1)[1]]
            assert list(response["content"]) == ["application/problem+json"], (path, status)
    assert "example" in spec["paths"]["/api/v1/reports"]["post"]["requestBody"]["content"]["application/json"]
    report_in = spec["components"]["schemas"]["ReportIn"]
    assert report_in["additionalProperties"] is False  # unknown fields refused, and documented so


def test_errors_under_the_api_are_problems_never_html(app, api_key: MakeKey) -> None:  # type: ignore[no-untyped-def]
    client = app.test_client()
    key = bearer(api_key())
    for method, path, status in (
        ("get", "/api/v1/no-such-thing", 404),
        ("get", "/api/nothing", 404),
        ("delete", "/api/v1/incidents", 405),
        ("patch", "/api/v1/reports", 405),
    ):
        answer = getattr(client, method)(path, headers=key)
        assert answer.status_code == status and answer.mimetype == "application/problem+json", path
        body = answer.get_json()
        assert set(body) == {"type", "title", "status", "detail"} and body["status"] == status
        assert "<" not in answer.get_data(as_text=True)
        if status == 405:
            assert answer.headers["Allow"]


@pytest.mark.settings(PROPAGATE_EXCEPTIONS=False)
def test_an_unexpected_failure_is_a_problem_without_a_traceback(app, api_key: MakeKey, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from incident_service.api import views

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("secret internals")

    monkeypatch.setattr(views, "build_delay_report", broken)
    answer = app.test_client().get("/api/v1/reports/delay", headers=bearer(api_key()))
    assert answer.status_code == 500 and answer.mimetype == "application/problem+json"
    assert "secret internals" not in answer.get_data(as_text=True) and "Traceback" not in answer.get_data(as_text=True)


@pytest.mark.settings(RATELIMIT_ENABLED=True, LIMIT_API_PER_KEY="3 per minute")
def test_limits_are_per_key(app, api_key: MakeKey) -> None:  # type: ignore[no-untyped-def]
    client, busy, quiet = app.test_client(), bearer(api_key("busy")), bearer(api_key("quiet"))
    assert [client.get("/api/v1/events", headers=busy).status_code for _ in range(4)] == [200, 200, 200, 429]
    refused = client.get("/api/v1/events", headers=busy)
    assert refused.mimetype == "application/problem+json" and int(refused.headers["Retry-After"]) >= 1
    assert client.get("/api/v1/events", headers=quiet).status_code == 200


@pytest.mark.settings(RATELIMIT_ENABLED=True, LIMIT_API_PER_KEY="3 per minute")
def test_made_up_keys_share_their_callers_bucket(app) -> None:  # type: ignore[no-untyped-def]
    """A fresh invented key on every call is not a fresh bucket: keys we never issued count per IP."""
    client = app.test_client()
    codes = [
        client.get("/api/v1/events", headers=bearer(f"isk_{'x' * 40}{n}"), environ_base={"REMOTE_ADDR": "10.9.9.9"})
        for n in range(4)
    ]
    assert [answer.status_code for answer in codes] == [401, 401, 401, 429]


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_the_api_keeps_its_own_document(app, api_key: MakeKey, mode: GenerationMode) -> None:  # type: ignore[no-untyped-def]
    """Every operation, with a key of every scope: valid requests (positive) and invalid ones (negative)."""
    make_customer(app, "an@example.com")
    headers = bearer(api_key("schemathesis"))
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    # The key is ours to send (below), on every case: a case made "negative" only by leaving it out would
    # be sent with it, and then rightly accepted. Missing and bad keys have their own tests (test_keys.py).
    schema.config.generation.update(with_security_parameters=False)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) == len(OPERATIONS)
    for operation in operations:
        # A few examples each, derandomised: the suite stays fast and a failure repeats.
        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(
            max_examples=12, deadline=None, derandomize=True, database=None, suppress_health_check=list(HealthCheck)
        )
        def keeps_its_document(case: Any) -> None:
            # A schema-valid request may still be refused for what it means (a received time in the
            # future, an address no customer has): 422 and 404 are documented answers, so the check that
            # valid data is always accepted does not apply; every other check does.
            case.call_and_validate(headers=headers, excluded_checks=[positive_data_acceptance])

        try:
            keeps_its_document()
        except Unsatisfiable:
            # Nothing in this operation can be made invalid (a path of any text, no body): no negative case.
            assert mode is GenerationMode.NEGATIVE, operation.label
