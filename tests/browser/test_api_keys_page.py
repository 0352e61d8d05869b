"""The console's API keys page in a real browser at 1280 px, in English and Vietnamese: an admin
creates a key (shown once), sees it listed by its prefix, and revokes another (incident_service.console.api_keys)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from incident_service.api.service import create_api_key, revoke_api_key
from incident_service.database import utcnow
from incident_service.extensions import db
from tests.browser.screens import SCREENSHOTS, shoot
from tests.browser.steps import staff_signs_in_and_enrols
from tests.console.conftest import STAFF_PASSWORD, make_staff

pytestmark = pytest.mark.browser


def seed_keys(app) -> None:  # type: ignore[no-untyped-def]
    now = utcnow()
    with app.app_context():
        create_api_key("siem", scopes=["events:read"], expires_at=None, source="cli", actor="cli", now=now)
        create_api_key(
            "website", scopes=["links:write"], expires_at=now + timedelta(days=365), source="cli", actor="cli", now=now
        )
        create_api_key("old-crm", scopes=["customers:write"], expires_at=None, source="cli", actor="cli", now=now)
        revoke_api_key("old-crm", source="cli", actor="cli", now=now)
        db.session.commit()


def test_admin_creates_and_revokes_keys(app, live_server, browser_page) -> None:  # type: ignore[no-untyped-def]
    make_staff(app, "quan@ecc.example", "admin")
    seed_keys(app)
    page = browser_page
    staff_signs_in_and_enrols(page, live_server + "/console/admin/api-keys", "quan@ecc.example", STAFF_PASSWORD)
    page.goto(live_server + "/console/admin/api-keys")
    page.get_by_role("button", name="English").click()
    page.locator("#name").fill("call-centre")
    for scope in ("reports:write", "incidents:read"):
        page.locator(f'input[name="scopes"][value="{scope}"]').check()
    page.locator("#expires_in_days").fill("90")
    page.locator("form.narrow button[type=submit]").click()
    assert page.locator("code.secret").inner_text().startswith("isk_")
    shoot(page, "console-api-keys-created-en")
    page.goto(live_server + "/console/admin/api-keys")
    assert page.locator("code.secret").count() == 0  # shown once
    shoot(page, "console-api-keys-en")

    # In Vietnamese (its check fails on any string not yet translated).
    page.get_by_role("button", name="Tiếng Việt").click()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "raw-console-api-keys-vi.png"), full_page=True)
    shoot(page, "console-api-keys-vi")
    assert page.problems == []  # type: ignore[attr-defined]
