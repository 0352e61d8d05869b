"""reactivation.service called directly: the old password is locked once, one live grant per customer,
a reset link works once, only for its customer, before expiry and while its stamp holds, and links are
sent at most once per resend window."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from itsdangerous import TimestampSigner, URLSafeTimedSerializer
from sqlalchemy import func, select

from incident_service.audit.models import AuditEvent
from incident_service.customers.models import Customer
from incident_service.customers.passwords import hashing
from incident_service.customers.service import add_customer, check_password, rotate_security_stamp
from incident_service.extensions import db
from incident_service.incidents.models import Incident
from incident_service.incidents.service import ReportSubmission, receive_report
from incident_service.notifications.delivery import deliver_due
from incident_service.notifications.models import OutboxMessage
from incident_service.reactivation.models import ResetGrant
from incident_service.reactivation.service import (
    CheckedPassword,
    check_reset_password,
    complete_reset,
    grant_id_hash,
    issue_reset_grant,
    link_sent_recently,
    load_reset_grant,
    lock_credential,
    send_fresh_link,
    send_reset_link,
)
from incident_service.tokens import REPORT, RESET, SignedLink, TokenExpired, TokenInvalid, make_token, read_token
from tests.helpers import PASSWORD, SmtpSink, links_in

NOW = datetime(2026, 3, 10, 2, 0, tzinfo=UTC)
NEW = "ba con mèo trèo cây cau"


# One app context, so one session: each test sees what the service flushed, as the edge would.
pytestmark = pytest.mark.usefixtures("app_context")


def customer(address: str = "an@example.com", password: str | None = PASSWORD) -> Customer:
    return add_customer(address, name="An", locale="en", password=password, source="cli", actor="test", now=NOW)


def token_of(link: SignedLink) -> str:
    return make_token(link.purpose, link.payload)


def grant_for(an: Customer, *, now: datetime = NOW) -> tuple[ResetGrant, str]:
    grant, link = issue_reset_grant(an, incident_id=None, source="web", actor="customer", now=now)
    return grant, token_of(link)


def payload_of(token: str) -> dict[str, Any]:
    return read_token(RESET, token)


def count(model: Any, *where: Any) -> int:
    return db.session.scalar(select(func.count()).select_from(model).where(*where)) or 0


def actions() -> list[str]:
    query = select(AuditEvent.action).where(AuditEvent.action != "cli:customer:created").order_by(AuditEvent.id)
    return list(db.session.scalars(query))


def checked(an: Customer, password: str = NEW, confirmation: str | None = None) -> CheckedPassword:
    confirmation = password if confirmation is None else confirmation
    return check_reset_password(password, confirmation, email=an.email, compromised_hash=an.password_hash)


def expired_token(app: Flask, payload: dict[str, Any]) -> str:
    """A reset token signed two maximum ages ago (itsdangerous reads the real clock)."""

    class Old(TimestampSigner):
        def get_timestamp(self) -> int:
            return super().get_timestamp() - 2 * app.config["RESET_LINK_MAX_AGE_SECONDS"]

    serializer = URLSafeTimedSerializer(
        [app.config["SECRET_KEY"]], salt=RESET, signer=Old, signer_kwargs={"digest_method": hashlib.sha256}
    )
    return serializer.dumps(payload)


def test_locking_stops_the_old_password_and_is_audited_once() -> None:
    an = customer()
    lock_credential(an, source="phone", actor="support@ecc.example", now=NOW)
    lock_credential(an, source="phone", actor="support@ecc.example", now=NOW)
    assert an.credential_state == "locked"
    assert check_password("an@example.com", PASSWORD) is None
    assert actions() == ["phone:credential:locked"]


def test_a_grant_is_bound_to_its_customer_stamp_and_expiry(app: Flask) -> None:
    an = customer()
    grant, link = issue_reset_grant(an, incident_id=None, source="web", actor="customer", now=NOW)
    assert link.purpose == RESET and link.payload["c"] == an.id and link.payload["s"] == an.security_stamp
    # Only the hash of the grant's secret id is stored.
    assert grant.grant_id_hash == grant_id_hash(link.payload["g"]) != link.payload["g"]
    assert grant.expires_at == NOW + timedelta(seconds=app.config["RESET_LINK_MAX_AGE_SECONDS"])
    event = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "web:reset_grant:issued")).one()
    assert event.data == f'{{"expires_at":"{grant.expires_at.isoformat()}","grant":{grant.id}}}'


def test_a_new_grant_revokes_the_live_one() -> None:
    an = customer()
    first, first_token = grant_for(an)
    second, second_token = grant_for(an, now=NOW + timedelta(minutes=1))
    # Read the rows back: the revoking UPDATE is a bulk statement, not a change to loaded objects.
    db.session.expire_all()
    assert first.revoked_at == NOW + timedelta(minutes=1) and second.revoked_at is None
    assert count(ResetGrant, ResetGrant.revoked_at.is_(None), ResetGrant.used_at.is_(None)) == 1
    with pytest.raises(TokenInvalid):
        load_reset_grant(first_token, NOW + timedelta(minutes=2))
    assert load_reset_grant(second_token, NOW + timedelta(minutes=2)) == (an, second)


def test_a_grant_is_live_until_just_before_it_expires() -> None:
    an = customer()
    grant, token = grant_for(an)
    assert load_reset_grant(token, grant.expires_at - timedelta(microseconds=1)) == (an, grant)
    with pytest.raises(TokenInvalid):
        load_reset_grant(token, grant.expires_at)


def test_a_rotated_stamp_kills_the_link() -> None:
    an = customer()
    _grant, token = grant_for(an)
    rotate_security_stamp(an, source="web", actor="customer", now=NOW)
    with pytest.raises(TokenInvalid):
        load_reset_grant(token, NOW)


def test_a_link_works_only_for_its_own_customer() -> None:
    an, binh = customer(), customer("binh@example.com")
    _grant, token = grant_for(an)
    assert load_reset_grant(token, NOW)[0] is an
    # An's grant and stamp in a link made out to Binh: the grant's owner decides, not the payload.
    forged = make_token(RESET, {**payload_of(token), "c": binh.id})
    with pytest.raises(TokenInvalid):
        load_reset_grant(forged, NOW)


@pytest.mark.parametrize(
    "bad",
    [
        pytest.param(lambda an, token: token[:-3] + "abc", id="tampered"),
        pytest.param(lambda an, token: make_token(REPORT, {"c": an.id}), id="another-purpose"),
        pytest.param(
            lambda an, token: make_token(RESET, {"c": an.id, "g": "x" * 22, "s": an.security_stamp}), id="no-grant"
        ),
        pytest.param(lambda an, token: make_token(RESET, {"c": str(an.id), "g": "x", "s": "y"}), id="malformed"),
        pytest.param(lambda an, token: "", id="empty"),
        pytest.param(lambda an, token: "a" * 5000, id="oversized"),
    ],
)
def test_bad_tokens_are_invalid(bad: Any) -> None:
    an = customer()
    _grant, token = grant_for(an)
    with pytest.raises(TokenInvalid):
        load_reset_grant(bad(an, token), NOW)


def test_an_old_token_is_expired_even_while_its_grant_is_live(app: Flask) -> None:
    an = customer()
    _grant, token = grant_for(an)
    with pytest.raises(TokenExpired):
        load_reset_grant(expired_token(app, payload_of(token)), NOW)


@pytest.mark.settings(LINK_RESEND_WINDOW_SECONDS=900)
def test_link_sent_recently_holds_for_the_window_after_the_last_grant() -> None:
    an = customer()
    assert not link_sent_recently(an.id, NOW)
    grant_for(an)
    assert link_sent_recently(an.id, NOW + timedelta(seconds=899))
    assert not link_sent_recently(an.id, NOW + timedelta(seconds=900))
    assert not link_sent_recently(customer("binh@example.com").id, NOW)  # per customer


def test_send_reset_link_is_throttled_within_the_window() -> None:
    an = customer()
    assert send_reset_link(an, source="web", actor="customer", now=NOW) is True
    assert send_reset_link(an, source="web", actor="customer", now=NOW + timedelta(minutes=1)) is False
    assert count(ResetGrant) == 1 and count(OutboxMessage) == 1
    assert actions() == ["web:reset_grant:issued", "web:email:queued", "web:reset_link:throttled"]


def test_send_reset_link_ties_the_grant_to_the_open_incident() -> None:
    an = customer()
    receive_report(ReportSubmission(channel="web", address="an@example.com", kind="lost"), now=NOW)
    later = NOW + timedelta(hours=1)
    assert send_reset_link(an, source="console", actor="support@ecc.example", now=later)
    incident = db.session.scalars(select(Incident)).one()
    grant = db.session.scalars(select(ResetGrant).where(ResetGrant.revoked_at.is_(None))).one()
    assert grant.incident_id == incident.id and incident.last_link_sent_at == later


def test_staff_sent_link_says_so_in_the_mail(smtp_sink: SmtpSink) -> None:
    an = customer()
    lock_credential(an, source="console", actor="support@ecc.example", now=NOW)
    send_reset_link(an, source="console", actor="support@ecc.example", now=NOW)
    db.session.commit()
    deliver_due()
    [message] = smtp_sink.to("an@example.com")
    text = message.get_body(("plain",)).get_content()
    assert "Our support team sent you a new link" in text and "old password no longer works" in text
    assert "reset" in links_in(message)


def test_a_fresh_link_for_a_known_address_arrives_and_resets_once(smtp_sink: SmtpSink) -> None:
    an = customer()
    assert send_fresh_link("an@example.com", source="web", actor="customer", now=NOW) == an.id
    db.session.commit()
    deliver_due()
    [message] = smtp_sink.to("an@example.com")
    token = links_in(message)["reset"].rsplit("/", 1)[1]
    outcome = complete_reset(token, checked(an), source="web", actor="customer", now=NOW + timedelta(minutes=5))
    assert outcome.ok and outcome.reasons == []
    with pytest.raises(TokenInvalid):
        complete_reset(token, checked(an), source="web", actor="customer", now=NOW + timedelta(minutes=6))


def test_a_fresh_link_for_an_unknown_address_changes_nothing_but_is_audited() -> None:
    customer()
    assert send_fresh_link("nobody@example.com", source="web", actor="customer", now=NOW) is None
    assert count(ResetGrant) == count(OutboxMessage) == 0
    event = db.session.scalars(select(AuditEvent).order_by(AuditEvent.id.desc()).limit(1)).one()
    assert (event.action, event.customer_id, event.data) == (
        "web:reset_link:unknown_address",
        None,
        '{"address":"nobody@example.com"}',
    )


@pytest.mark.parametrize(
    "password,confirmation,reasons",
    [
        (NEW, "something else entirely", ["mismatch"]),
        ("fourteen chars", None, ["too_short"]),
        ("x" * 1025, None, ["too_long"]),
        ("an@example.com is my password", None, ["contains_email"]),
        (PASSWORD, None, ["compromised"]),
        (f"  {PASSWORD.upper()}  ", None, ["compromised"]),
    ],
)
def test_check_reset_password_gives_the_reasons_and_no_hash(
    password: str, confirmation: str | None, reasons: list[str]
) -> None:
    result = checked(customer(), password, confirmation)
    assert result == CheckedPassword(reasons, None)


def test_check_reset_password_hashes_an_accepted_password() -> None:
    result = checked(customer())
    assert result.reasons == [] and result.new_hash is not None
    assert hashing().verify(result.new_hash, NEW)


def test_complete_reset_sets_the_password_and_resolves_the_incident() -> None:
    an = customer()
    report = receive_report(ReportSubmission(channel="web", address="an@example.com", kind="lost"), now=NOW)
    grant, token = grant_for(an, now=NOW + timedelta(minutes=20))  # as a fresh link would carry it
    stamp = an.security_stamp
    done_at = NOW + timedelta(minutes=30)
    assert complete_reset(token, checked(an), source="web", actor="customer", now=done_at).ok
    assert (an.credential_state, an.password_changed_at, grant.used_at) == ("active", done_at, done_at)
    assert an.security_stamp != stamp
    assert check_password("an@example.com", NEW) is an and check_password("an@example.com", PASSWORD) is None
    assert report.incident is not None
    assert (report.incident.status, report.incident.resolved_at) == ("resolved", done_at)
    assert actions()[-4:] == ["web:sessions:revoked", "web:password:reset", "web:incident:resolved", "web:email:queued"]
    last_email = db.session.scalars(select(OutboxMessage).order_by(OutboxMessage.id.desc()).limit(1)).one()
    assert (last_email.template, last_email.to_address) == ("password_changed", "an@example.com")


def test_complete_reset_without_an_incident_still_says_the_password_changed() -> None:
    an = customer()
    _grant, token = grant_for(an)
    assert complete_reset(token, checked(an), source="web", actor="customer", now=NOW).ok
    assert "web:incident:resolved" not in actions()
    assert db.session.scalars(select(OutboxMessage.template)).all() == ["password_changed"]


def test_a_refused_password_changes_nothing_and_leaves_the_link_usable() -> None:
    an = customer()
    lock_credential(an, source="web", actor="customer", now=NOW)
    grant, token = grant_for(an)
    old_hash, stamp = an.password_hash, an.security_stamp
    outcome = complete_reset(token, checked(an, PASSWORD), source="web", actor="customer", now=NOW)
    assert (outcome.ok, outcome.reasons) == (False, ["compromised"])
    assert (an.password_hash, an.security_stamp, an.credential_state) == (old_hash, stamp, "locked")
    assert grant.used_at is None and count(OutboxMessage) == 0
    event = db.session.scalars(select(AuditEvent).order_by(AuditEvent.id.desc()).limit(1)).one()
    assert (event.action, event.data) == ("web:password:refused", '{"reasons":["compromised"]}')
    assert complete_reset(token, checked(an), source="web", actor="customer", now=NOW).ok


def test_complete_reset_refuses_an_expired_grant() -> None:
    an = customer()
    grant, token = grant_for(an)
    with pytest.raises(TokenInvalid):
        complete_reset(token, checked(an), source="web", actor="customer", now=grant.expires_at)
    assert grant.used_at is None and an.password_changed_at == NOW
