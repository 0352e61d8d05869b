"""Signed links: purpose, age and key rotation (T1–T3)."""

from __future__ import annotations

import hashlib

import pytest
from itsdangerous import TimestampSigner, URLSafeTimedSerializer

from incident_service.tokens import DISCOVERY, REPORT, RESET, TokenExpired, TokenInvalid, make_token, read_token


class OldSigner(TimestampSigner):
    def get_timestamp(self) -> int:
        return super().get_timestamp() - 7200


def test_round_trip(app) -> None:  # type: ignore[no-untyped-def]
    with app.app_context():
        assert read_token(RESET, make_token(RESET, {"c": 1})) == {"c": 1}


def test_wrong_purpose_refused(app) -> None:  # type: ignore[no-untyped-def]
    with app.app_context():
        token = make_token(REPORT, {"c": 1})
        with pytest.raises(TokenInvalid):
            read_token(RESET, token)
        with pytest.raises(TokenInvalid):
            read_token(DISCOVERY, token)


def test_tampered_refused(app) -> None:  # type: ignore[no-untyped-def]
    with app.app_context():
        token = make_token(RESET, {"c": 1})
        with pytest.raises(TokenInvalid):
            read_token(RESET, token[:-2] + ("AA" if token[-2:] != "AA" else "BB"))


def test_expired_refused(app) -> None:  # type: ignore[no-untyped-def]
    with app.app_context():
        old = URLSafeTimedSerializer(
            [app.config["SECRET_KEY"]], salt=RESET, signer=OldSigner, signer_kwargs={"digest_method": hashlib.sha256}
        ).dumps({"c": 1})
        with pytest.raises(TokenExpired):
            read_token(RESET, old)
        assert read_token(
            REPORT,
            URLSafeTimedSerializer(
                [app.config["SECRET_KEY"]],
                salt=REPORT,
                signer=OldSigner,
                signer_kwargs={"digest_method": hashlib.sha256},
            ).dumps({"c": 1}),
        ) == {"c": 1}


def test_sha1_token_refused(app) -> None:  # type: ignore[no-untyped-def]
    with app.app_context():
        sha1 = URLSafeTimedSerializer(app.config["SECRET_KEY"], salt=RESET).dumps({"c": 1})
        with pytest.raises(TokenInvalid):
            read_token(RESET, sha1)


def test_old_key_still_verifies_after_rotation(app) -> None:  # type: ignore[no-untyped-def]
    with app.app_context():
        token = make_token(RESET, {"c": 1})
        app.config["SECRET_KEY_FALLBACKS"] = [app.config["SECRET_KEY"]]
        app.config["SECRET_KEY"] = "a brand new key that is long enough for production"
        assert read_token(RESET, token) == {"c": 1}
        app.config["SECRET_KEY_FALLBACKS"] = []
        with pytest.raises(TokenInvalid):
            read_token(RESET, token)


def test_payload_carries_no_address(app, smtp_sink, customer_id) -> None:  # type: ignore[no-untyped-def]
    from tests.helpers import deliver, links_in, submit

    client = app.test_client()
    submit(client, "/report", {"email": "an@example.com", "kind": "leaked"})
    deliver(app)
    import base64

    for url in links_in(smtp_sink.to("an@example.com")[0]).values():
        payload = url.rsplit("/", 1)[1].split(".")[0]
        decoded = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
        assert b"@" not in decoded and b"example" not in decoded


def test_each_link_is_read_into_its_type_or_refused(app) -> None:  # type: ignore[no-untyped-def]
    """Issue 12: the payload of each purpose is spelled in one module and read back as a type."""
    from incident_service.tokens import (
        DiscoveryLink,
        ResetLink,
        discovery_link,
        read_discovery_link,
        read_report_link,
        read_reset_link,
        report_link,
        reset_link,
    )

    with app.test_request_context():

        def token(link) -> str:  # type: ignore[no-untyped-def]
            return link.url().rsplit("/", 1)[1]

        assert read_report_link(token(report_link(7))).customer_id == 7
        assert read_discovery_link(token(discovery_link(7, 9))) == DiscoveryLink(7, 9)
        assert read_reset_link(token(reset_link(7, "g" * 22, "s" * 32))) == ResetLink(7, "g" * 22, "s" * 32)
        for wrong in ({"c": "7"}, {"c": True}, {}, {"c": 7.0}):
            with pytest.raises(TokenInvalid):
                read_report_link(make_token(REPORT, wrong))
        with pytest.raises(TokenInvalid):  # a report link is no discovery link
            read_discovery_link(token(report_link(7)))
