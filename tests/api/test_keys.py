"""API keys: refused alike when missing, malformed, unknown, revoked or expired; scopes; never logged."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest
from sqlalchemy import select

from incident_service.api.models import ApiKey
from incident_service.api.service import hash_key, revoke_api_key
from incident_service.audit.models import AuditEvent
from incident_service.database import utcnow
from incident_service.extensions import db
from tests.api.conftest import MakeKey, bearer


def refusal(answer):  # type: ignore[no-untyped-def]
    """What a refused caller sees: everything but the request id."""
    return answer.status_code, answer.mimetype, answer.get_json(), answer.headers.get("WWW-Authenticate")


def test_missing_malformed_unknown_revoked_and_expired_keys_are_refused_alike(app, api_key: MakeKey) -> None:  # type: ignore[no-untyped-def]
    client = app.test_client()
    revoked = api_key("old-crm")
    with app.app_context():
        revoke_api_key("old-crm", source="cli", actor="test", now=utcnow())
        db.session.commit()
    expired = api_key("short-lived")
    with app.app_context():
        key = db.session.execute(select(ApiKey).where(ApiKey.name == "short-lived")).scalar_one()
        key.expires_at = utcnow() - timedelta(seconds=1)
        db.session.commit()
    valid = api_key("crm")
    cases = {
        "missing": {},
        "another scheme": {"Authorization": f"Basic {valid}"},
        "empty": {"Authorization": "Bearer "},
        "malformed": bearer("not-a-key"),
        "truncated": bearer(valid[:-1]),
        "unknown": bearer("isk_" + "A" * 43),
        "revoked": bearer(revoked),
        "expired": bearer(expired),
    }
    answers = {name: refusal(client.get("/api/v1/incidents", headers=headers)) for name, headers in cases.items()}
    first = answers["missing"]
    assert first[0] == 401 and first[1] == "application/problem+json"
    assert first[2]["type"] == "urn:incident-service:problem:invalid-api-key"
    assert first[3].startswith("Bearer ")
    for name, answer in answers.items():
        assert answer == first, name
    assert client.get("/api/v1/incidents", headers=bearer(valid)).status_code == 200


def test_a_key_without_the_scope_gets_403(app, api_key: MakeKey) -> None:  # type: ignore[no-untyped-def]
    key = api_key("siem", scopes=("events:read",))
    client = app.test_client()
    assert client.get("/api/v1/events", headers=bearer(key)).status_code == 200
    for method, path in (
        ("get", "/api/v1/incidents"),
        ("get", "/api/v1/incidents/INC-2026-000001"),
        ("post", "/api/v1/reports"),
        ("put", "/api/v1/customers/an@example.com"),
        ("post", "/api/v1/customers/an@example.com/report-link"),
        ("get", "/api/v1/reports/delay"),
    ):
        answer = getattr(client, method)(path, headers=bearer(key), json={} if method != "get" else None)
        assert answer.status_code == 403, (path, answer.get_data(as_text=True))
        body = answer.get_json()
        assert body["type"] == "urn:incident-service:problem:insufficient-scope" and body["status"] == 403
        assert 'error="insufficient_scope"' in answer.headers["WWW-Authenticate"]


def test_only_the_hash_and_a_prefix_are_stored_and_last_use_is_recorded(app, api_key: MakeKey) -> None:  # type: ignore[no-untyped-def]
    secret = api_key("website")
    assert secret.startswith("isk_") and len(secret) == 47
    app.test_client().get("/api/v1/events", headers=bearer(secret))
    with app.app_context():
        key = db.session.execute(select(ApiKey).where(ApiKey.name == "website")).scalar_one()
        assert key.key_hash == hash_key(secret) and secret not in (key.key_hash, key.prefix)
        assert secret.startswith(key.prefix) and len(key.prefix) == 12
        assert key.last_used_at is not None
        events = db.session.execute(select(AuditEvent)).scalars().all()
        assert all(secret not in event.data for event in events)
        assert any(event.action == "cli:api_key:created" for event in events)


def test_no_key_value_reaches_any_log_line(app, api_key: MakeKey, caplog: pytest.LogCaptureFixture) -> None:  # type: ignore[no-untyped-def]
    secret = api_key("crm")
    client = app.test_client()
    caplog.set_level(logging.DEBUG)
    revoked = api_key("gone")
    with app.app_context():
        revoke_api_key("gone", source="cli", actor="test", now=utcnow())
        db.session.commit()
    client.get("/api/v1/incidents", headers=bearer(secret))
    client.get("/api/v1/incidents", headers=bearer(revoked))
    client.get(f"/api/v1/incidents/{secret}", headers=bearer(secret))  # a key where a reference goes
    client.get(f"/api/v1/nothing-here?key={secret}", headers=bearer(secret))
    # Whatever a handler logs, the app's loggers redact keys and bearer credentials.
    with app.test_request_context():
        app.logger.warning("Authorization: Bearer %s from %s", secret, "crm")
        logging.getLogger("werkzeug").info("GET /api/v1/events?k=%s", secret)
    assert caplog.records
    for record in caplog.records:
        line = record.getMessage()
        assert secret not in line and revoked not in line, line
        assert secret[4:20] not in line, line
