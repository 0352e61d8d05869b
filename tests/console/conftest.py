"""Console fixtures: staff users signed in through the real forms, TOTP included (pyotp makes the codes)."""

from __future__ import annotations

import re
from datetime import timedelta

import pyotp
import pytest
from flask import Flask
from flask.testing import FlaskClient

from incident_service.database import utcnow
from incident_service.extensions import db
from incident_service.staff.models import StaffUser
from incident_service.staff.service import create_staff
from tests.helpers import csrf_from

STAFF_PASSWORD = "nhân viên hỗ trợ khách hàng"


def make_staff(app: Flask, email: str, role: str) -> int:
    with app.app_context():
        staff = create_staff(
            email,
            role=role,
            name=email.split("@")[0],
            password=STAFF_PASSWORD,
            source="cli",
            actor="test",
            now=utcnow(),
        )
        db.session.commit()
        return staff.id


def password_step(client: FlaskClient, email: str, password: str = STAFF_PASSWORD):  # type: ignore[no-untyped-def]
    page = client.get("/console/login")
    return client.post(
        "/console/login",
        data={"email": email, "password": password, "csrf_token": csrf_from(page.get_data(as_text=True))},
    )


def enrol(client: FlaskClient, email: str) -> str:
    """First sign-in: password, then the QR page's secret into pyotp, then its code. Returns the secret."""
    answer = password_step(client, email)
    assert answer.status_code == 302 and answer.headers["Location"].startswith("/console/enrol")
    page = client.get("/console/enrol").get_data(as_text=True)
    shown = re.search(r'<code class="secret">([A-Z2-7 ]+)</code>', page)
    assert shown is not None, "the enrolment page shows the key"
    secret = shown.group(1).replace(" ", "")  # in groups of four
    done = client.post("/console/enrol", data={"code": pyotp.TOTP(secret).now(), "csrf_token": csrf_from(page)})
    assert done.status_code == 302, done.get_data(as_text=True)
    return secret


def sign_in_again(client: FlaskClient, email: str, secret: str, *, step_ahead: int = 1):  # type: ignore[no-untyped-def]
    """A later sign-in; the code of the next time step, since the current one was used at enrolment."""
    password_step(client, email)
    page = client.get("/console/verify").get_data(as_text=True)
    code = pyotp.TOTP(secret).at(utcnow() + timedelta(seconds=30 * step_ahead))
    return client.post("/console/verify", data={"code": code, "csrf_token": csrf_from(page)})


@pytest.fixture
def staff_login(app: Flask):  # type: ignore[no-untyped-def]
    """staff_login(role) → a client signed in as a new staff user of that role."""
    made: dict[str, int] = {}

    def login(role: str, email: str | None = None) -> FlaskClient:
        address = email or f"{role}{len(made) + 1}@ecc.example"
        made[address] = make_staff(app, address, role)
        client = app.test_client()
        enrol(client, address)
        return client

    return login


def staff_row(app: Flask, email: str) -> StaffUser:
    with app.app_context():
        user = db.session.execute(db.select(StaffUser).where(StaffUser.email == email)).scalar_one()
        db.session.expunge(user)
        return user


def post_form(client: FlaskClient, page_url: str, action: str, data: dict[str, str], **kwargs):  # type: ignore[no-untyped-def]
    """POST `data` to `action` with the CSRF token of the page it is on."""
    token = csrf_from(client.get(page_url).get_data(as_text=True))
    return client.post(action, data={**data, "csrf_token": token}, **kwargs)
