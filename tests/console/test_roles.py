"""Roles are enforced on the server for every route (S3): what each role may open and do."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from incident_service.extensions import db
from incident_service.incidents.models import Incident, Report
from incident_service.notifications.models import OutboxMessage
from tests.console.conftest import post_form
from tests.helpers import make_customer, submit


@pytest.fixture
def incident_id(app, customer_id) -> int:  # type: ignore[no-untyped-def]
    submit(app.test_client(), "/report", {"email": "an@example.com", "kind": "stolen"})
    with app.app_context():
        return db.session.execute(select(Incident.id)).scalar_one()


def count(app, model) -> int:  # type: ignore[no-untyped-def]
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(model))


def test_support_cannot_open_legal_or_admin_pages(app, staff_login, incident_id) -> None:  # type: ignore[no-untyped-def]
    support = staff_login("support")
    assert support.get("/console/incidents").status_code == 200
    assert support.get(f"/console/incidents/{incident_id}").status_code == 200
    assert support.get("/console/audit").status_code == 403
    assert support.get("/console/admin/staff").status_code == 403
    answer = post_form(
        support,
        "/console/incidents",
        "/console/admin/staff",
        {"email": "x@ecc.example", "role": "admin", "password": "a very long password here"},
    )
    assert answer.status_code == 403


def test_legal_cannot_trigger_resets(app, staff_login, incident_id) -> None:  # type: ignore[no-untyped-def]
    make_customer(app, "binh@example.com")
    legal = staff_login("legal")
    page = f"/console/incidents/{incident_id}"
    assert legal.get(page).status_code == 200
    assert legal.get("/console/audit").status_code == 200
    assert "Re-send the reset link" not in legal.get(page, headers={"Accept-Language": "en"}).get_data(as_text=True)
    outbox_before = count(app, OutboxMessage)
    assert post_form(legal, page, f"/console/incidents/{incident_id}/resend", {}).status_code == 403
    assert legal.get("/console/intake/new").status_code == 403
    assert (
        post_form(
            legal,
            page,
            "/console/intake/new",
            {"email": "binh@example.com", "channel": "phone", "reached_at": "2026-01-01T10:00", "kind": "lost"},
        ).status_code
        == 403
    )
    assert (
        post_form(
            legal, page, f"/console/incidents/{incident_id}/close", {"category": "spam", "close_reason": "x"}
        ).status_code
        == 403
    )
    assert count(app, OutboxMessage) == outbox_before and count(app, Report) == 1
    # Legal may write notes.
    assert post_form(legal, page, f"/console/incidents/{incident_id}/notes", {"text": "Checked."}).status_code == 302


def test_only_admin_manages_staff(app, staff_login) -> None:  # type: ignore[no-untyped-def]
    for role in ("support", "legal"):
        assert staff_login(role).get("/console/admin/staff").status_code == 403
    admin = staff_login("admin")
    assert admin.get("/console/admin/staff").status_code == 200
    created = post_form(
        admin,
        "/console/admin/staff",
        "/console/admin/staff",
        {"email": "moi@ecc.example", "name": "Mới", "role": "support", "password": "mật khẩu ban đầu dài"},
    )
    assert created.status_code == 302
    assert "moi@ecc.example" in admin.get("/console/admin/staff").get_data(as_text=True)


def test_staff_never_see_a_password_or_token(app, staff_login, incident_id) -> None:  # type: ignore[no-untyped-def]
    page = staff_login("admin").get(f"/console/incidents/{incident_id}").get_data(as_text=True)
    assert "/reset/" not in page and "$argon2" not in page and "grant_id" not in page
