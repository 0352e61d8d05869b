"""upsert_customer (the JSON API's PUT /api/v1/customers/{email}) and hashes imported from the company's
current system: create then update, audited; precise refusals; a reported password stays dead; a
customer imported with a bcrypt hash signs in through /login and is then stored as argon2id."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any

import bcrypt
import pytest
from flask import Flask
from sqlalchemy import select

from incident_service.audit.models import AuditEvent
from incident_service.customers.models import Customer
from incident_service.customers.service import (
    CustomerError,
    PasswordHashRefused,
    UnsupportedPasswordHash,
    find_customer,
    upsert_customer,
)
from incident_service.extensions import db
from incident_service.incidents.models import open_incident_of
from incident_service.incidents.service import ReportSubmission, close_incident, receive_report
from incident_service.reactivation.service import check_reset_password
from tests.customers.test_imported_hashes import argon2id_hash, bcrypt_hash, django_pbkdf2, passlib_pbkdf2
from tests.helpers import submit

NOW = datetime(2026, 3, 10, 2, 0, tzinfo=UTC)
OLD_PASSWORD = "the password from the old system"


def upsert(email: str = "an@example.com", **fields: object) -> tuple[Customer, bool]:
    chosen: dict[str, object] = {"name": None, "locale": None, "password_hash": None, **fields}
    return upsert_customer(email, actor="api:crm", now=NOW, **chosen)  # type: ignore[arg-type]


def events(action: str) -> list[AuditEvent]:
    return list(db.session.scalars(select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)))


def report(address: str = "an@example.com") -> None:
    receive_report(ReportSubmission(channel="web", kind="leaked", address=address), now=NOW)


@pytest.mark.usefixtures("app_context")
class TestUpsert:
    def test_creates_then_updates_audited_without_the_hash(self) -> None:
        encoded = bcrypt_hash(OLD_PASSWORD)
        an, created = upsert("  An@Example.COM ", name=" Nguyễn Văn An ", locale="en", password_hash=encoded)
        assert created is True
        assert (an.email, an.name, an.locale, an.password_hash) == ("an@example.com", "Nguyễn Văn An", "en", encoded)
        assert an.password_changed_at == NOW and an.credential_state == "active"
        [made] = events("api:customer:created")
        assert made.actor == "api:crm" and made.customer_id == an.id
        assert json.loads(made.data) == {"locale": "en", "has_password": True, "password_format": "bcrypt"}

        again, created = upsert("AN@example.com", locale="vi")
        assert created is False and again.id == an.id
        assert (again.name, again.locale, again.password_hash) == ("Nguyễn Văn An", "vi", encoded)
        replacement = django_pbkdf2(OLD_PASSWORD)
        upsert("an@example.com", name="An", password_hash=replacement)
        assert an.password_hash == replacement and an.name == "An"
        changed = [json.loads(event.data) for event in events("api:customer:updated")]
        assert changed == [
            {"changed": ["locale"]},
            {"changed": ["name", "password_hash"], "password_format": "pbkdf2_sha256"},
        ]
        every_event = " ".join(event.data for event in db.session.scalars(select(AuditEvent)))
        assert encoded not in every_event and replacement not in every_event

    def test_a_new_customer_without_fields_gets_the_defaults(self, app: Flask) -> None:
        an, created = upsert()
        assert created and (an.name, an.locale, an.password_hash) == ("", app.config["DEFAULT_LOCALE"], None)

    def test_an_update_that_changes_nothing_audits_nothing(self) -> None:
        upsert(name="An", locale="vi")
        before = len(events("api:customer:updated"))
        _an, created = upsert(name="An", locale="vi")
        assert created is False and len(events("api:customer:updated")) == before

    @pytest.mark.parametrize(
        "fields,message",
        [
            ({"email": "not an address"}, "is not a valid email address"),
            ({"locale": "fr"}, "locale must be one of vi, en"),
            ({"name": "x" * 201}, "name is longer than 200 characters"),
        ],
    )
    def test_invalid_fields_are_refused_and_nothing_is_stored(self, fields: dict[str, Any], message: str) -> None:
        with pytest.raises(CustomerError, match=message):
            upsert(**fields)
        assert db.session.scalars(select(Customer)).all() == []

    @pytest.mark.parametrize(
        "encoded,reason",
        [
            (OLD_PASSWORD, "none of the accepted formats"),
            ("", "empty"),
            ("$2b$09$" + "a" * 53, "bcrypt cost 9 is outside 10-14"),
            ("pbkdf2_sha256$1000$salt$" + "A" * 43 + "=", "1,000 iterations is outside 10,000-2,000,000"),
            ("$argon2i$v=19$m=65536,t=3,p=4$c2FsdHNhbHQ$" + "A" * 43, "only argon2id is accepted"),
        ],
    )
    def test_unsupported_hashes_are_refused_precisely_and_never_stored(self, encoded: str, reason: str) -> None:
        with pytest.raises(UnsupportedPasswordHash) as refused:
            upsert(password_hash=encoded)
        assert reason in str(refused.value) and "accepted formats: argon2id" in str(refused.value)
        assert "$2y$" in str(refused.value) and "pbkdf2_sha256$" in str(refused.value)
        assert db.session.scalars(select(Customer)).all() == []
        upsert(name="An")
        with pytest.raises(UnsupportedPasswordHash):
            upsert(name="Changed", password_hash=encoded)
        an = find_customer("an@example.com")
        assert an is not None and an.name == "An" and an.password_hash is None

    def test_an_open_incident_refuses_a_hash_and_keeps_the_old_password_dead(self) -> None:
        reported = bcrypt_hash(OLD_PASSWORD)
        an, _created = upsert(password_hash=reported)
        report()
        assert open_incident_of(an.id) is not None and an.is_locked
        with pytest.raises(PasswordHashRefused, match="reported their password.*reset link"):
            upsert(name="Refused too", password_hash=bcrypt_hash(OLD_PASSWORD))
        assert an.password_hash == reported and an.is_locked and an.name == ""
        # Without a hash the other fields still sync.
        upsert(name="An")
        assert an.name == "An"

    def test_a_closed_or_resolved_incident_still_refuses_a_hash(self) -> None:
        an, _created = upsert(password_hash=bcrypt_hash(OLD_PASSWORD))
        report()
        incident = open_incident_of(an.id)
        assert incident is not None
        close_incident(incident, category="duplicate", reason="test", actor="staff@example.com", now=NOW)
        an.credential_state = "active"  # as after a reset: the incident stays on record
        with pytest.raises(PasswordHashRefused):
            upsert(password_hash=django_pbkdf2(OLD_PASSWORD))

    def test_a_reset_refuses_the_reported_password_whatever_its_format(self) -> None:
        """P3: the compromised-password check verifies candidates against an imported hash too."""
        for encoded in (bcrypt_hash(OLD_PASSWORD), passlib_pbkdf2(OLD_PASSWORD), argon2id_hash(OLD_PASSWORD)):
            checked = check_reset_password(OLD_PASSWORD, OLD_PASSWORD, email="an@example.com", compromised_hash=encoded)
            assert "compromised" in checked.reasons and checked.new_hash is None


def sign_in(app: Flask, password: str, address: str = "an@example.com"):  # type: ignore[no-untyped-def]
    return submit(app.test_client(), "/login", {"email": address, "password": password})


def imported(app: Flask, encoded: str, address: str = "an@example.com") -> None:
    with app.app_context():
        upsert(address, name="An", password_hash=encoded)
        db.session.commit()


def stored_hash(app: Flask, address: str = "an@example.com") -> str:
    with app.app_context():
        customer = find_customer(address)
        assert customer is not None and customer.password_hash is not None
        return customer.password_hash


def test_a_bcrypt_imported_customer_signs_in_and_is_then_stored_as_argon2id(app: Flask) -> None:
    encoded = bcrypt.hashpw(OLD_PASSWORD.encode(), bcrypt.gensalt(10)).decode()
    imported(app, encoded)
    assert sign_in(app, "not the password at all").status_code == 400
    assert stored_hash(app) == encoded
    assert sign_in(app, OLD_PASSWORD).status_code == 302
    upgraded = stored_hash(app)
    assert upgraded.startswith("$argon2id$")
    with app.app_context():
        [rehashed] = events("web:password:rehashed")
        assert json.loads(rehashed.data) == {"from": "bcrypt", "to": "argon2id"} and rehashed.actor == "customer"
        assert [e.action for e in db.session.scalars(select(AuditEvent).order_by(AuditEvent.id))][-2:] == [
            "web:password:rehashed",
            "web:customer:signed_in",
        ]
    # The original password keeps working, now against argon2id, and nothing is rehashed again.
    assert sign_in(app, OLD_PASSWORD).status_code == 302
    assert stored_hash(app) == upgraded
    assert sign_in(app, "not the password at all").status_code == 400


@pytest.mark.parametrize("make", [django_pbkdf2, passlib_pbkdf2, argon2id_hash], ids=["django", "passlib", "argon2id"])
def test_other_formats_sign_in_and_end_as_the_services_argon2id(app: Flask, make) -> None:  # type: ignore[no-untyped-def]
    imported(app, make(OLD_PASSWORD, time_cost=3) if make is argon2id_hash else make(OLD_PASSWORD))
    assert sign_in(app, OLD_PASSWORD).status_code == 302
    assert stored_hash(app).startswith("$argon2id$v=19$m=19456,t=2,p=1$")


def test_a_refused_sign_in_answers_alike_whatever_the_format(app: Flask) -> None:
    """No error names a format: a wrong password for a bcrypt, a PBKDF2 and an argon2id account, and an
    unknown address, give the same page (timing is for bench/, not assertions)."""
    imported(app, bcrypt_hash(OLD_PASSWORD), "b@example.com")
    imported(app, django_pbkdf2(OLD_PASSWORD), "p@example.com")
    imported(app, argon2id_hash(OLD_PASSWORD), "a@example.com")
    answers = [
        sign_in(app, "wrong password, quite long", address)
        for address in ("b@example.com", "p@example.com", "a@example.com", "nobody@example.com")
    ]
    assert {answer.status_code for answer in answers} == {400}
    # The pages differ only in the values echoed back into the form (the typed address, the CSRF token).
    bodies = {re.sub(r'value="[^"]*"', "", answer.get_data(as_text=True)) for answer in answers}
    assert len(bodies) == 1


def test_a_reported_imported_password_never_signs_in(app: Flask) -> None:
    imported(app, bcrypt_hash(OLD_PASSWORD))
    submit(app.test_client(), "/report", {"email": "an@example.com", "kind": "lost"})
    assert sign_in(app, OLD_PASSWORD).status_code == 400
    assert stored_hash(app).startswith("$2b$")  # not rehashed either: nothing changes for a locked account


def test_import_takes_a_password_hash_column(app: Flask, runner, tmp_path) -> None:  # type: ignore[no-untyped-def]
    csv_file = tmp_path / "customers.csv"
    good = bcrypt_hash(OLD_PASSWORD)
    csv_file.write_text(
        "email,name,locale,password_hash\n"
        f"an@example.com,Nguyễn Văn An,vi,{good}\n"
        f"binh@example.com,Bình,en,{django_pbkdf2(OLD_PASSWORD)}\n"
        "chi@example.com,Chi,vi\n"
        "dung@example.com,Dũng,vi,$2b$31$notahash\n"
        f"em@example.com,Em,vi,{OLD_PASSWORD}\n",
        encoding="utf-8",
    )
    result = runner.invoke(args=["customers", "import", str(csv_file)])
    assert result.exit_code == 1, result.output
    assert "created 3 customers, skipped 2 lines" in result.output
    assert "line 5: skipped: the bcrypt hash is malformed" in result.output
    assert "line 6: skipped: the password hash is in none of the accepted formats; accepted formats:" in result.output
    assert OLD_PASSWORD not in result.output
    assert stored_hash(app) == good
    with app.app_context():
        chi = find_customer("chi@example.com")
        assert chi is not None and chi.password_hash is None
    assert sign_in(app, OLD_PASSWORD, "binh@example.com").status_code == 302


def test_import_never_takes_a_hash_for_a_password(app: Flask, runner, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Without the header naming password_hash, the fourth column is a password, as before; one that
    looks like a hash is refused rather than becoming a customer's literal password."""
    csv_file = tmp_path / "customers.csv"
    csv_file.write_text(f"an@example.com,An,vi,{bcrypt_hash(OLD_PASSWORD)}\n", encoding="utf-8")
    result = runner.invoke(args=["customers", "import", str(csv_file)])
    assert result.exit_code == 1 and "looks like a password hash: name the column password_hash" in result.output
    csv_file.write_text("email,name,locale,hash\nan@example.com,An,vi,x\n", encoding="utf-8")
    result = runner.invoke(args=["customers", "import", str(csv_file)])
    assert result.exit_code == 1 and "the fourth column must be password or password_hash" in result.output
    with app.app_context():
        assert db.session.scalars(select(Customer)).all() == []
