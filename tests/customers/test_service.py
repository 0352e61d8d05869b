"""customers.service called directly: addresses stored normalised and unique, imports that keep good
lines and name bad ones, report links, password checks that refuse locked accounts, and the stamp."""

from __future__ import annotations

import hashlib
import unicodedata
from datetime import UTC, datetime, timedelta

import pytest
from argon2 import PasswordHasher
from flask import Flask
from itsdangerous import TimestampSigner, URLSafeTimedSerializer
from sqlalchemy import select

from incident_service.audit.models import AuditEvent
from incident_service.customers.models import Customer
from incident_service.customers.passwords import hashing
from incident_service.customers.service import (
    CustomerError,
    CustomerExists,
    add_customer,
    check_password,
    customer_of_report_link,
    find_customer,
    import_customers,
    record_sign_in,
    rotate_security_stamp,
)
from incident_service.extensions import db
from incident_service.reactivation.service import issue_reset_grant, load_reset_grant, lock_credential
from incident_service.tokens import REPORT, RESET, TokenExpired, TokenInvalid, make_token
from tests.helpers import PASSWORD

NOW = datetime(2026, 3, 10, 2, 0, tzinfo=UTC)


# One app context, so one session: each test sees what the service flushed, as the edge would.
pytestmark = pytest.mark.usefixtures("app_context")


def customer(address: str = "an@example.com", *, password: str | None = PASSWORD, name: str = "An") -> Customer:
    return add_customer(address, name=name, locale="vi", password=password, source="cli", actor="test", now=NOW)


def emails() -> list[str]:
    return list(db.session.scalars(select(Customer.email).order_by(Customer.id)))


def last_event() -> AuditEvent:
    return db.session.scalars(select(AuditEvent).order_by(AuditEvent.id.desc()).limit(1)).one()


def test_an_address_is_stored_normalised_with_the_password_hashed() -> None:
    an = add_customer(
        "  An@Example.COM ", name=" Nguyễn Văn An ", locale="en", password=PASSWORD, source="api", actor="k", now=NOW
    )
    assert (an.email, an.name, an.locale, an.password_changed_at) == ("an@example.com", "Nguyễn Văn An", "en", NOW)
    assert an.password_hash is not None and an.password_hash.startswith("$argon2id$")
    assert PASSWORD not in an.password_hash and hashing().verify(an.password_hash, PASSWORD)
    assert an.credential_state == "active" and len(an.security_stamp) == 32
    event = last_event()
    assert (event.action, event.actor, event.customer_id, event.data) == (
        "api:customer:created",
        "k",
        an.id,
        '{"has_password":true,"locale":"en"}',
    )


def test_a_customer_without_a_password_has_no_hash() -> None:
    an = customer(password=None)
    assert an.password_hash is None and an.password_changed_at is None
    assert last_event().data == '{"has_password":false,"locale":"vi"}'


def test_an_address_differing_only_in_case_is_a_duplicate() -> None:
    customer()
    with pytest.raises(CustomerExists):
        customer("AN@EXAMPLE.COM")
    assert emails() == ["an@example.com"]


@pytest.mark.parametrize(
    "address,locale,name",
    [
        ("not-an-address", "vi", "An"),
        ("an@example.com", "fr", "An"),
        ("an@example.com", "vi", "x" * 201),
    ],
    ids=["address", "locale", "name"],
)
def test_invalid_input_is_refused_with_nothing_written(address: str, locale: str, name: str) -> None:
    with pytest.raises(CustomerError) as refused:
        add_customer(address, name=name, locale=locale, password=None, source="cli", actor="test", now=NOW)
    assert not isinstance(refused.value, CustomerExists)
    assert emails() == [] and db.session.scalars(select(AuditEvent)).first() is None


def test_find_customer_matches_the_normalised_address_only() -> None:
    an = customer()
    assert find_customer("an@example.com") is an
    # Callers normalise first (normalize_address): the lookup itself is exact.
    assert find_customer("AN@example.com") is None
    assert find_customer("nobody@example.com") is None


def test_import_keeps_good_lines_and_names_bad_ones() -> None:
    customer("dup@example.com")
    result = import_customers(
        "email,name,locale,password\n"
        f"an@example.com,Nguyễn Văn An,vi,{PASSWORD}\n"
        "binh@example.com,Trần Bình,\n"
        "\n"
        "broken-address,X,vi\n"
        "chi@example.com,Chi,fr\n"
        "dung@example.com,Dũng,vi,short\n"
        "DUP@example.com,Again,vi\n"
        "em@example.com,Em\n"
        "binh@example.com,Bình again,en\n",
        actor="ops@ecc.example",
        now=NOW,
    )
    assert result.created == ["an@example.com", "binh@example.com"]
    assert [line for line, _reason in result.skipped] == [5, 6, 7, 8, 9, 10]
    reasons = dict(result.skipped)
    assert "not a valid email address" in reasons[5] and "locale" in reasons[6]
    assert reasons[7].startswith("password refused: too_short")
    assert "already exists" in reasons[8] and "already exists" in reasons[10]
    assert "expected 3 or 4 columns" in reasons[9]
    assert emails() == ["dup@example.com", "an@example.com", "binh@example.com"]
    binh = find_customer("binh@example.com")
    assert binh is not None and (binh.locale, binh.password_hash) == ("vi", None)  # empty locale: the default


def test_import_without_a_header_and_with_an_empty_password() -> None:
    result = import_customers("an@example.com,An,en,\n", actor="ops", now=NOW)
    an = find_customer("an@example.com")
    assert result.created == ["an@example.com"] and result.skipped == []
    assert an is not None and an.password_hash is None and an.locale == "en"


def test_import_refuses_a_password_containing_the_address() -> None:
    result = import_customers("chi@example.com,Chi,vi,chi@example.com forever and ever\n", actor="ops", now=NOW)
    assert result.created == [] and "contains_email" in result.skipped[0][1]


def test_a_report_link_names_its_customer() -> None:
    an = customer()
    assert customer_of_report_link(make_token(REPORT, {"c": an.id})) is an


def report_token_signed_days_ago(app: Flask, days: int, customer_id: int) -> str:
    class Old(TimestampSigner):
        def get_timestamp(self) -> int:
            return super().get_timestamp() - days * 86400

    serializer = URLSafeTimedSerializer(
        [app.config["SECRET_KEY"]], salt=REPORT, signer=Old, signer_kwargs={"digest_method": hashlib.sha256}
    )
    return serializer.dumps({"c": customer_id})


def test_a_report_link_expires(app: Flask) -> None:
    an = customer()
    days = app.config["REPORT_LINK_MAX_AGE_DAYS"]
    assert customer_of_report_link(report_token_signed_days_ago(app, days - 1, an.id)) is an
    with pytest.raises(TokenExpired):
        customer_of_report_link(report_token_signed_days_ago(app, days + 1, an.id))


def test_bad_report_links_are_invalid() -> None:
    an = customer()
    good = make_token(REPORT, {"c": an.id})
    for bad in (
        good[:-3] + "xyz",  # tampered
        make_token(RESET, {"c": an.id}),  # another purpose
        make_token(REPORT, {"c": an.id + 1000}),  # no such customer
        make_token(REPORT, {"c": str(an.id)}),  # malformed payload
        "",
    ):
        with pytest.raises(TokenInvalid):
            customer_of_report_link(bad)


def test_check_password_accepts_only_the_right_password_of_an_active_account() -> None:
    an = customer()
    customer("nopass@example.com", password=None)
    assert check_password("an@example.com", PASSWORD) is an
    assert check_password("an@example.com", PASSWORD + "!") is None
    assert check_password("nobody@example.com", PASSWORD) is None
    assert check_password("nopass@example.com", "") is None
    lock_credential(an, source="web", actor="customer", now=NOW)
    assert check_password("an@example.com", PASSWORD) is None


def test_check_password_accepts_either_unicode_form() -> None:
    composed = "mật khẩu của tôi dài lắm"
    an = customer(password=composed)
    assert check_password("an@example.com", unicodedata.normalize("NFD", composed)) is an


def test_check_password_upgrades_an_outdated_hash() -> None:
    an = customer()
    an.password_hash = PasswordHasher(time_cost=1, memory_cost=8 * 1024, parallelism=1).hash(PASSWORD)
    outdated = an.password_hash
    assert check_password("an@example.com", PASSWORD) is an
    assert an.password_hash != outdated and not hashing().needs_rehash(an.password_hash)
    assert hashing().verify(an.password_hash, PASSWORD)


def test_a_sign_in_is_audited_with_where_it_came_from() -> None:
    an = customer()
    record_sign_in(an, ip="203.0.113.9", now=NOW + timedelta(hours=1))
    event = last_event()
    assert (event.action, event.actor, event.customer_id, event.occurred_at, event.data) == (
        "web:customer:signed_in",
        "customer",
        an.id,
        NOW + timedelta(hours=1),
        '{"ip":"203.0.113.9"}',
    )


def test_rotating_the_stamp_kills_earlier_links_and_is_audited() -> None:
    an = customer()
    grant, link = issue_reset_grant(an, incident_id=None, source="web", actor="customer", now=NOW)
    token = make_token(link.purpose, link.payload)
    stamp = an.security_stamp
    rotate_security_stamp(an, source="console", actor="support@ecc.example", now=NOW)
    assert an.security_stamp != stamp and len(an.security_stamp) == 32
    with pytest.raises(TokenInvalid):
        load_reset_grant(token, NOW)
    event = last_event()
    assert (event.action, event.actor, event.customer_id) == ("console:sessions:revoked", "support@ecc.example", an.id)
    assert grant.used_at is None  # only the stamp changed; the grant row stays as it was
