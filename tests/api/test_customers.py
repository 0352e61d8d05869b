"""PUT /api/v1/customers/{email} and POST /api/v1/customers/{email}/report-link."""

from __future__ import annotations

from datetime import datetime, timedelta

import bcrypt
from sqlalchemy import select

from incident_service.audit.models import AuditEvent
from incident_service.customers.models import Customer
from incident_service.database import utcnow
from incident_service.extensions import db
from tests.api.conftest import ApiClient
from tests.helpers import PASSWORD, path_of, submit


def test_a_customer_is_created_then_updated(app, api: ApiClient) -> None:  # type: ignore[no-untyped-def]
    imported = bcrypt.hashpw(b"mat khau cu cua he thong cu", bcrypt.gensalt(rounds=10)).decode()
    created = api.put(
        "/api/v1/customers/Mai@Example.com", json={"name": "Trần Thị Mai", "locale": "en", "password_hash": imported}
    )
    assert created.status_code == 201, created.get_data(as_text=True)
    assert created.get_json() == {"email": "mai@example.com", "name": "Trần Thị Mai", "locale": "en", "created": True}
    updated = api.put("/api/v1/customers/mai@example.com", json={"locale": "vi"})
    assert updated.status_code == 200
    assert updated.get_json() == {"email": "mai@example.com", "name": "Trần Thị Mai", "locale": "vi", "created": False}
    with app.app_context():
        customer = db.session.execute(select(Customer)).scalar_one()
        assert customer.password_hash == imported
        actors = {
            event.actor
            for event in db.session.execute(select(AuditEvent).where(AuditEvent.customer_id == customer.id)).scalars()
        }
        assert actors == {"api:integration"}


def test_an_unsupported_hash_or_field_is_refused(api: ApiClient) -> None:  # type: ignore[no-untyped-def]
    md5 = api.put("/api/v1/customers/mai@example.com", json={"password_hash": "5f4dcc3b5aa765d61d8327deb882cf99"})
    assert md5.status_code == 422 and md5.mimetype == "application/problem+json"
    assert md5.get_json()["type"] == "urn:incident-service:problem:unsupported-password-hash"
    assert "password_hash" in md5.get_json()["errors"]
    assert api.put("/api/v1/customers/mai@example.com", json={"password": "x"}).status_code == 422
    assert api.put("/api/v1/customers/mai@example.com", json={"locale": "fr"}).status_code == 422
    assert api.put("/api/v1/customers/not-an-address", json={"name": "X"}).status_code == 422


def test_a_report_link_is_minted_for_a_customer(app, api: ApiClient, customer_id) -> None:  # type: ignore[no-untyped-def]
    answer = api.post("/api/v1/customers/an@example.com/report-link")
    assert answer.status_code == 201, answer.get_data(as_text=True)
    body = answer.get_json()
    assert body["url"].startswith("https://security.ecc.example/r/")
    expires = datetime.fromisoformat(body["expires_at"])
    assert abs(expires - (utcnow() + timedelta(days=app.config["REPORT_LINK_MAX_AGE_DAYS"]))) < timedelta(minutes=1)
    assert app.test_client().get(path_of(body["url"])).status_code in (200, 302)
    with app.app_context():
        event = db.session.execute(select(AuditEvent).where(AuditEvent.action == "api:report_link:issued")).scalar_one()
        assert event.customer_id == customer_id and "/r/" not in event.data
    unknown = api.post("/api/v1/customers/nobody@example.com/report-link")
    assert unknown.status_code == 404 and unknown.get_json()["type"].endswith("unknown-customer")


def test_a_new_password_hash_ends_the_customers_sessions(app, api: ApiClient, customer_id) -> None:  # type: ignore[no-untyped-def]
    """A password changed in the company's systems ends every session signed in with the old one."""
    browser = app.test_client()
    assert submit(browser, "/login", {"email": "an@example.com", "password": PASSWORD}).status_code == 302
    assert browser.get("/account").status_code == 200
    assert api.put("/api/v1/customers/an@example.com", json={"name": "An"}).status_code == 200
    assert browser.get("/account").status_code == 200  # a name changes nothing of the sign-in
    imported = bcrypt.hashpw(b"mat khau moi cua he thong", bcrypt.gensalt(rounds=10)).decode()
    assert api.put("/api/v1/customers/an@example.com", json={"password_hash": imported}).status_code == 200
    signed_out = browser.get("/account")
    assert signed_out.status_code == 302 and signed_out.headers["Location"].endswith("/login")
    with app.app_context():
        actions = list(
            db.session.execute(select(AuditEvent.action).where(AuditEvent.customer_id == customer_id)).scalars()
        )
        assert "api:sessions:revoked" in actions
