"""Console sign-in: password and TOTP, enrolment with a QR code, sessions bound to the staff stamp."""

from __future__ import annotations

import re

import pyotp
import pytest
from flask import Flask

from incident_service.database import utcnow
from incident_service.extensions import db
from incident_service.staff.models import StaffUser
from incident_service.staff.service import reset_totp, set_active
from tests.console.conftest import enrol, make_staff, password_step, sign_in_again, staff_row
from tests.helpers import csrf_from


def console_get_routes(app: Flask) -> list[str]:
    routes = []
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/console") or rule.endpoint.startswith("console_auth."):
            continue
        path = re.sub(r"<int:\w+>", "1", rule.rule)
        routes.append((path, "GET" if "GET" in rule.methods else "POST"))
    return routes


def test_anonymous_requests_go_to_sign_in(app, client) -> None:  # type: ignore[no-untyped-def]
    routes = console_get_routes(app)
    assert len(routes) > 15
    token = csrf_from(client.get("/console/login").get_data(as_text=True))  # so a POST is not refused for CSRF
    for path, method in routes:
        answer = client.open(path, method=method, data={"csrf_token": token} if method == "POST" else None)
        assert answer.status_code == 302, path
        assert answer.headers["Location"].startswith("/console/login"), path


def test_enrolment_then_sign_in(app) -> None:  # type: ignore[no-untyped-def]
    make_staff(app, "lan@ecc.example", "support")
    client = app.test_client()
    answer = password_step(client, "lan@ecc.example")
    assert answer.headers["Location"].startswith("/console/enrol")
    page = client.get("/console/enrol").get_data(as_text=True)
    assert "<svg" in page and "<script" not in page  # the QR code is drawn on the server
    shown = re.search(r'<code class="secret">([A-Z2-7]{4}(?: [A-Z2-7]{4})*)</code>', page)
    assert shown is not None, "the key is shown in groups of four"
    secret = shown.group(1).replace(" ", "")
    wrong = client.post("/console/enrol", data={"code": "000000", "csrf_token": csrf_from(page)})
    assert wrong.status_code == 400
    assert client.get("/console/incidents").status_code == 302  # not signed in yet
    right = client.post("/console/enrol", data={"code": pyotp.TOTP(secret).now(), "csrf_token": csrf_from(page)})
    assert right.status_code == 302
    assert client.get("/console/incidents").status_code == 200
    assert staff_row(app, "lan@ecc.example").totp_secret == secret

    later = app.test_client()
    assert sign_in_again(later, "lan@ecc.example", secret).status_code == 302
    assert later.get("/console/incidents").status_code == 200


def test_wrong_password_and_unknown_address_answer_alike(app) -> None:  # type: ignore[no-untyped-def]
    make_staff(app, "lan@ecc.example", "support")
    wrong = password_step(app.test_client(), "lan@ecc.example", "not the password at all")
    unknown = password_step(app.test_client(), "nobody@ecc.example", "not the password at all")
    assert wrong.status_code == unknown.status_code == 400
    with app.app_context():
        from incident_service.audit.models import AuditEvent

        failed = (
            db.session.execute(db.select(AuditEvent.actor).where(AuditEvent.action == "console:staff:sign_in_failed"))
            .scalars()
            .all()
        )
        assert failed == ["lan@ecc.example", "nobody@ecc.example"]
    strip = re.compile(r'value="[^"]*"')
    assert strip.sub("", wrong.get_data(as_text=True)) == strip.sub("", unknown.get_data(as_text=True))


def test_password_alone_is_not_enough(app) -> None:  # type: ignore[no-untyped-def]
    make_staff(app, "lan@ecc.example", "support")
    first = app.test_client()
    secret = enrol(first, "lan@ecc.example")
    client = app.test_client()
    password_step(client, "lan@ecc.example")
    assert client.get("/console/incidents").status_code == 302
    page = client.get("/console/verify").get_data(as_text=True)
    # The code used at enrolment cannot be used again (no replay).
    replay = client.post("/console/verify", data={"code": pyotp.TOTP(secret).now(), "csrf_token": csrf_from(page)})
    assert replay.status_code == 400
    assert client.get("/console/incidents").status_code == 302


def test_deactivation_ends_sessions(app, staff_login) -> None:  # type: ignore[no-untyped-def]
    client = staff_login("support", "lan@ecc.example")
    assert client.get("/console/incidents").status_code == 200
    with app.app_context():
        user = db.session.execute(db.select(StaffUser)).scalar_one()
        set_active(user, False, actor="test", now=utcnow())
        db.session.commit()
    assert client.get("/console/incidents").status_code == 302
    assert password_step(app.test_client(), "lan@ecc.example").status_code == 400


def test_totp_reset_ends_sessions_and_asks_to_enrol_again(app, staff_login) -> None:  # type: ignore[no-untyped-def]
    client = staff_login("support", "lan@ecc.example")
    with app.app_context():
        reset_totp(db.session.execute(db.select(StaffUser)).scalar_one(), actor="test", now=utcnow())
        db.session.commit()
    assert client.get("/console/incidents").status_code == 302
    assert password_step(app.test_client(), "lan@ecc.example").headers["Location"].startswith("/console/enrol")


@pytest.mark.settings(STAFF_SESSION_IDLE_MINUTES=15)
def test_idle_timeout(app, staff_login) -> None:  # type: ignore[no-untyped-def]
    client = staff_login("support")
    with client.session_transaction() as session:
        session["staff_seen_at"] -= 16 * 60
    assert client.get("/console/incidents").status_code == 302


def test_sign_out(app, staff_login) -> None:  # type: ignore[no-untyped-def]
    client = staff_login("support")
    page = client.get("/console/incidents").get_data(as_text=True)
    assert client.post("/console/logout", data={"csrf_token": csrf_from(page)}).status_code == 302
    assert client.get("/console/incidents").status_code == 302


@pytest.mark.settings(RATELIMIT_ENABLED=True)
def test_sign_in_is_rate_limited_per_account(app) -> None:  # type: ignore[no-untyped-def]
    make_staff(app, "lan@ecc.example", "support")
    codes = [
        password_step(app.test_client(), "lan@ecc.example", "wrong password number x").status_code for _ in range(6)
    ]
    assert codes[:5] == [400] * 5 and codes[5] == 429
    # The limit is per account: another address is still answered normally.
    assert password_step(app.test_client(), "other@ecc.example", "wrong password number x").status_code == 400
