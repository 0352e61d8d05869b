"""RFC 3161 time-stamps: a real request to a local TSA (`openssl ts -reply`) and back; the token checked in
Python agrees with `openssl ts -verify`; tokens for other data, other nonces or changed contents refused."""

from __future__ import annotations

import hashlib
import socket
from pathlib import Path
from typing import Iterator

import pytest
from asn1crypto import cms, tsp

from incident_service.audit.timestamping import (
    QUERY_TYPE,
    TimestampInvalid,
    TimestampRefused,
    TimestampUnavailable,
    read_timestamp_response,
    request_timestamp,
    timestamp_request,
    verify_timestamp_token,
)
from tests.audit.tsa import LocalTSA, make_tsa, serve

TEXT = b"security.ecc.example/audit-log\n7\nq83vEjRWeJCrze8SNFZ4kKvN7xI0VniQq83vEjRWeJA=\n"


@pytest.fixture(scope="module")
def tsa(tmp_path_factory: pytest.TempPathFactory) -> LocalTSA:
    return make_tsa(tmp_path_factory.mktemp("tsa"))


@pytest.fixture
def tsa_server(tsa: LocalTSA) -> Iterator[tuple[str, object]]:
    yield from serve(tsa.reply)


def token_for(tsa: LocalTSA, data: bytes, nonce: int = 42) -> bytes:
    reply = tsa.reply(timestamp_request(data, nonce))
    return bytes(tsp.TimeStampResp.load(reply)["time_stamp_token"].dump())


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.mark.real_commits
def test_round_trip_with_a_local_tsa_agrees_with_openssl(tsa: LocalTSA, tsa_server, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    url, server = tsa_server
    stamp = request_timestamp(TEXT, url=url, timeout=10)
    content_type, query = server.queries[0]
    assert content_type == QUERY_TYPE
    request = tsp.TimeStampReq.load(query)
    assert request["message_imprint"]["hashed_message"].native == hashlib.sha256(TEXT).digest()
    assert request["cert_req"].native is True and request["nonce"].native > 0
    assert stamp.signer == "Common Name: Test TSA"
    tst = cms.ContentInfo.load(stamp.token)["content"]["encap_content_info"]["content"].parsed
    assert tst["nonce"].native == request["nonce"].native

    (tmp_path / "token.der").write_bytes(stamp.token)
    (tmp_path / "text").write_bytes(TEXT)
    (tmp_path / "other").write_bytes(TEXT + b"x")
    assert tsa.openssl_verifies(tmp_path / "token.der", tmp_path / "text")
    # Both refuse the token for other text.
    assert not tsa.openssl_verifies(tmp_path / "token.der", tmp_path / "other")
    with pytest.raises(TimestampInvalid, match="other data"):
        verify_timestamp_token(stamp.token, TEXT + b"x")


def test_a_changed_signature_is_refused_by_both(tsa: LocalTSA, tmp_path: Path) -> None:
    token = bytearray(token_for(tsa, TEXT))
    signature = bytes(cms.ContentInfo.load(bytes(token))["content"]["signer_infos"][0]["signature"].native)
    at = bytes(token).index(signature)
    token[at + 10] ^= 0x01
    (tmp_path / "token.der").write_bytes(bytes(token))
    (tmp_path / "text").write_bytes(TEXT)
    assert not tsa.openssl_verifies(tmp_path / "token.der", tmp_path / "text")
    with pytest.raises(TimestampInvalid, match="signature does not verify"):
        verify_timestamp_token(bytes(token), TEXT)


def test_a_changed_tstinfo_is_refused(tsa: LocalTSA, tmp_path: Path) -> None:
    """The time (or serial) inside the token changed after signing: its signed digest no longer matches."""
    info = cms.ContentInfo.load(token_for(tsa, TEXT))
    encap = info["content"]["encap_content_info"]
    tst = encap["content"].parsed
    tst["serial_number"] = tst["serial_number"].native + 1000
    encap["content"] = tsp.TSTInfo.load(tst.dump(force=True))
    forged = info.dump(force=True)
    (tmp_path / "token.der").write_bytes(forged)
    (tmp_path / "text").write_bytes(TEXT)
    assert not tsa.openssl_verifies(tmp_path / "token.der", tmp_path / "text")
    with pytest.raises(TimestampInvalid, match="signed digest does not match"):
        verify_timestamp_token(forged, TEXT)


def test_a_token_for_another_request_is_refused(tsa: LocalTSA) -> None:
    token = token_for(tsa, TEXT, nonce=42)
    assert verify_timestamp_token(token, TEXT, nonce=42).serial_number > 0
    with pytest.raises(TimestampInvalid, match="nonce differs"):
        verify_timestamp_token(token, TEXT, nonce=43)


def test_a_refusal_is_named() -> None:
    status = tsp.PKIStatusInfo({"status": "rejection", "status_string": ["bad request"], "fail_info": {"bad_alg"}})
    refusal = b"\x30" + bytes([len(status.dump())]) + status.dump()  # a response with no token, as RFC 3161 allows
    with pytest.raises(TimestampRefused, match="rejection.*bad request"):
        read_timestamp_response(refusal, TEXT, nonce=1)


def test_garbage_is_not_a_token() -> None:
    with pytest.raises(TimestampInvalid, match="not a time-stamp response"):
        read_timestamp_response(b"<html>gateway timeout</html>", TEXT, nonce=1)
    with pytest.raises(TimestampInvalid, match="malformed"):
        verify_timestamp_token(b"\x30\x03\x02\x01\x01", TEXT)


@pytest.mark.real_commits
def test_a_tsa_that_answers_garbage_or_is_down() -> None:
    for url_and_server in serve(lambda query: b"garbage"):
        with pytest.raises(TimestampInvalid, match="not a time-stamp response"):
            request_timestamp(TEXT, url=url_and_server[0], timeout=5)
    with pytest.raises(TimestampUnavailable, match="could not be reached"):
        request_timestamp(TEXT, url=f"http://127.0.0.1:{closed_port()}/tsr", timeout=5)
