"""Customer sign-in, sessions bound to the security stamp, timeouts (S1, S2, R3)."""

from __future__ import annotations

import re
import time

import pytest
from sqlalchemy import select

from incident_service.customers.models import Customer
from incident_service.customers.service import rotate_security_stamp
from incident_service.database import utcnow
from incident_service.extensions import db
from tests.helpers import PASSWORD, make_customer, submit


def sign_in(client, address: str = "an@example.com", password: str = PASSWORD):  # type: ignore[no-untyped-def]
    return submit(client, "/login", {"email": address, "password": password})


def test_sign_in_and_account_page(app, client, customer_id) -> None:  # type: ignore[no-untyped-def]
    assert sign_in(client).status_code == 302
    page = client.get("/account")
    assert page.status_code == 200 and "an@example.com" in page.get_data(as_text=True)


def test_account_requires_sign_in(client) -> None:  # type: ignore[no-untyped-def]
    assert client.get("/account").headers["Location"].endswith("/login")


def test_wrong_password_unknown_address_and_locked_answer_alike(app, customer_id) -> None:  # type: ignore[no-untyped-def]
    make_customer(app, "locked@example.com")
    submit(app.test_client(), "/report", {"email": "locked@example.com", "kind": "lost"})
    answers = [
        sign_in(app.test_client(), "an@example.com", "wrong password entirely"),
        sign_in(app.test_client(), "nobody@example.com", "wrong password entirely"),
        sign_in(app.test_client(), "locked@example.com", PASSWORD),
    ]
    # The pages differ only in the values echoed back into the form (the typed address, the CSRF token).
    bodies = {re.sub(r'value="[^"]*"', "", a.get_data(as_text=True)) for a in answers}
    assert {a.status_code for a in answers} == {400}
    assert len(bodies) == 1


def test_new_session_at_sign_in(app, client, customer_id) -> None:  # type: ignore[no-untyped-def]
    client.get("/login")
    with client.session_transaction() as before:
        token_before = before.get("csrf_token")
    sign_in(client)
    with client.session_transaction() as after:
        assert after.get("csrf_token") != token_before
        assert after["customer_id"] == customer_id


def test_stamp_rotation_ends_the_session(app, client, customer_id) -> None:  # type: ignore[no-untyped-def]
    sign_in(client)
    with app.app_context():
        rotate_security_stamp(db.session.get(Customer, customer_id), source="console", actor="test", now=utcnow())
        db.session.commit()
    assert client.get("/account").status_code == 302
    # The sign-in page says why, once.
    login = client.get("/login", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert "signed out on every device because the password of this account was reported" in login
    assert "signed out on every device" not in client.get("/login", headers={"Accept-Language": "en"}).get_data(
        as_text=True
    )


@pytest.mark.settings(SESSION_IDLE_MINUTES=30, SESSION_ABSOLUTE_HOURS=12)
@pytest.mark.parametrize(
    "clock,inside,outside", [("customer_seen_at", 29 * 60, 31 * 60), ("customer_signed_in_at", 11 * 3600, 13 * 3600)]
)
def test_idle_and_absolute_timeouts(app, client, customer_id, clock: str, inside: int, outside: int) -> None:  # type: ignore[no-untyped-def]
    """Idle 30 min, absolute 12 h: just inside each limit the session holds, just past it it ends."""
    assert sign_in(client).status_code == 302
    for ago, status in ((inside, 200), (outside, 302)):
        with client.session_transaction() as session:
            session[clock] = int(time.time()) - ago
        assert client.get("/account").status_code == status, (clock, ago)
    assert "after a while without activity" in client.get("/login", headers={"Accept-Language": "en"}).get_data(
        as_text=True
    )


def test_sign_out_needs_post(app, client, customer_id) -> None:  # type: ignore[no-untyped-def]
    sign_in(client)
    assert client.get("/logout").status_code == 405
    page = client.get("/account").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]
    assert client.post("/logout", data={"csrf_token": token}).status_code == 302
    assert client.get("/account").status_code == 302


def test_rehash_after_sign_in_with_weaker_parameters(app, client) -> None:  # type: ignore[no-untyped-def]
    from argon2 import PasswordHasher

    make_customer(app)
    with app.app_context():
        customer = db.session.execute(select(Customer)).scalar_one()
        customer.password_hash = PasswordHasher(time_cost=1, memory_cost=8 * 1024, parallelism=1).hash(PASSWORD)
        db.session.commit()
    assert sign_in(client).status_code == 302
    with app.app_context():
        assert "m=19456,t=2,p=1" in db.session.execute(select(Customer)).scalar_one().password_hash


def test_account_lists_reports(app, client, customer_id) -> None:  # type: ignore[no-untyped-def]
    submit(app.test_client(), "/report", {"email": "an@example.com", "kind": "lost"})
    with app.app_context():
        customer = db.session.get(Customer, customer_id)
        customer.credential_state = "active"  # as after a reset, without going through one here
        db.session.commit()
    sign_in(client)
    page = client.get("/account").get_data(as_text=True)
    # The incident under the reference the customer was given (its first report's), not the internal one.
    assert re.search(r"RPT-\d{4}-\d{6}", page) and not re.search(r"INC-\d{4}-\d{6}", page)
    assert "/discovery/" in page  # no discovery time stated yet: a way to state it


def test_passwords_are_one_password_in_either_unicode_form(app) -> None:  # type: ignore[no-untyped-def]
    """Issue 11, item 8: Vietnamese keyboards type "mật" composed (NFC) or decomposed (NFD)."""
    import unicodedata

    from incident_service.customers.passwords import hashing
    from tests.helpers import make_customer, submit

    typed = "mật khẩu của tôi rất dài"
    composed, decomposed = unicodedata.normalize("NFC", typed), unicodedata.normalize("NFD", typed)
    assert composed != decomposed
    make_customer(app, "nfd@example.com", password=decomposed)
    answer = submit(app.test_client(), "/login", {"email": "nfd@example.com", "password": composed})
    assert answer.status_code == 302
    with app.app_context():
        # A hash made before passwords were normalised still verifies in the form it was typed.
        legacy = hashing().hasher.hash(decomposed)
        assert hashing().verify(legacy, decomposed) and hashing().verify(legacy, composed) is False
