"""The console's API keys page: admins list, create (key shown once) and revoke; others cannot."""

from __future__ import annotations

import re

from sqlalchemy import select

from incident_service.api.models import ApiKey
from incident_service.audit.models import AuditEvent
from incident_service.extensions import db
from tests.api.conftest import bearer
from tests.console.conftest import post_form

PAGE = "/console/admin/api-keys"


def test_an_admin_creates_sees_once_and_revokes_a_key(app, staff_login) -> None:  # type: ignore[no-untyped-def]
    admin = staff_login("admin")
    made = post_form(
        admin,
        PAGE,
        PAGE,
        {"name": "call-centre", "scopes": ["reports:write", "incidents:read"], "expires_in_days": "90"},
    )
    assert made.status_code == 200 and made.headers["Cache-Control"] == "no-store"
    key = re.search(r'<code class="secret">(isk_[A-Za-z0-9_-]{43})</code>', made.get_data(as_text=True))
    assert key is not None
    assert app.test_client().get("/api/v1/incidents", headers=bearer(key.group(1))).status_code == 200
    listed = admin.get(PAGE, headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert "call-centre" in listed and key.group(1) not in listed and key.group(1)[:12] in listed
    assert "Read incidents" in listed and "incidents:read" in listed
    with app.app_context():
        row = db.session.execute(select(ApiKey)).scalar_one()
        event = db.session.execute(
            select(AuditEvent).where(AuditEvent.action == "console:api_key:created")
        ).scalar_one()
        assert event.actor.startswith("admin")
    revoked = post_form(admin, PAGE, f"{PAGE}/{row.id}/revoke", {})
    assert revoked.status_code == 302
    assert app.test_client().get("/api/v1/incidents", headers=bearer(key.group(1))).status_code == 401
    again = post_form(admin, PAGE, PAGE, {"name": "call-centre", "scopes": ["reports:write"]})
    assert again.status_code == 400


def test_a_form_without_scopes_or_with_a_bad_name_is_refused(staff_login) -> None:  # type: ignore[no-untyped-def]
    admin = staff_login("admin")
    assert post_form(admin, PAGE, PAGE, {"name": "crm"}).status_code == 400
    assert post_form(admin, PAGE, PAGE, {"name": "two words", "scopes": ["events:read"]}).status_code == 400


def test_only_admins_manage_keys(staff_login) -> None:  # type: ignore[no-untyped-def]
    for role in ("support", "legal"):
        assert staff_login(role).get(PAGE).status_code == 403
