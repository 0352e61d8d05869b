"""Reading stored mail: the corpus under tests/intake/corpus, and limits, without a database."""

from __future__ import annotations

from pathlib import Path

import pytest

from incident_service.intake.parsing import CompanyMta, Limits, Quarantine, header_block_size, parse_message

CORPUS = Path(__file__).parent / "corpus"
VI = "Tôi nghi mật khẩu của tôi đã bị lộ sau khi bấm vào một đường dẫn lạ."


MX = CompanyMta(hosts=("mx.ecc.example",))


def parse(name_or_bytes: str | bytes, company: CompanyMta | None = MX, **limits: float):  # type: ignore[no-untyped-def]
    """Read as mail the company MTA handed over (LMTP): its own verdicts may be trusted."""
    raw = name_or_bytes if isinstance(name_or_bytes, bytes) else (CORPUS / name_or_bytes).read_bytes()
    return parse_message(
        raw,
        authserv_id="mx.ecc.example",
        limits=Limits(**limits),  # type: ignore[arg-type]
        company=company,
    )


@pytest.mark.parametrize("name", ["plain.eml", "qp_utf8.eml", "base64_utf8.eml", "qp_cp1258.eml", "base64_cp1258.eml"])
def test_vietnamese_bodies_in_every_encoding(name: str) -> None:
    parsed = parse(name)
    assert parsed.from_address == "an@example.com"
    assert parsed.text_body.startswith(VI)  # windows-1258's combining tones come out composed (NFC)
    assert parsed.defects == []


def test_plain_headers() -> None:
    parsed = parse("plain.eml")
    assert parsed.from_display_name == "Nguyen Van An"
    assert parsed.subject == "Mật khẩu bị lộ"
    assert parsed.message_id == "<plain-1@example.com>"
    assert parsed.date_claimed is not None and parsed.date_claimed.isoformat() == "2026-11-24T02:14:50+00:00"
    assert [hop["by"] for hop in parsed.received] == ["mx.ecc.example", "mail-out.example.net"]
    assert parsed.received[0]["at"] == "2026-11-24T02:15:02+00:00"
    assert parsed.authentication_results == [
        "mx.ecc.example; spf=pass smtp.mailfrom=example.com; dkim=pass header.d=example.com"
    ]


def test_alternative_prefers_plain() -> None:
    parsed = parse("alternative.eml")
    assert parsed.text_body.startswith("The plain part") and parsed.has_html


def test_html_only_becomes_text_without_script() -> None:
    parsed = parse("html_only.eml")
    assert "Mật khẩu của tôi bị đánh cắp." in parsed.text_body
    assert "* điện thoại mất" in parsed.text_body  # list structure kept
    assert "alert" not in parsed.text_body and "tracker" not in parsed.text_body


def test_rfc2047_from_and_subject() -> None:
    parsed = parse("rfc2047_vietnamese.eml")
    assert parsed.from_display_name == "Nguyễn Văn An"
    assert parsed.from_address == "an@example.com"  # normalised: case folded
    assert parsed.subject == "Mật khẩu của tôi bị lộ"


def test_forwarded_message_is_an_attachment() -> None:
    parsed = parse("forwarded.eml")
    assert parsed.text_body.startswith("I got this phishing mail")
    assert parsed.attachments == [
        {"filename": None, "content_type": "message/rfc822", "size": parsed.attachments[0]["size"]}
    ]
    assert parsed.attachments[0]["size"] > 100


def test_attachments_listed_with_safe_names() -> None:
    parsed = parse("attachments.eml")
    assert [(a["filename"], a["content_type"]) for a in parsed.attachments] == [
        ("bao cao.pdf", "application/pdf"),
        ("_.._etc_passwd.png", "image/png"),
    ]
    assert parsed.attachments[0]["size"] == len(b"%PDF-1.4\n% fake but harmless\n" * 40)


@pytest.mark.parametrize(
    "name,reason",
    [("auto_reply.eml", "auto_submitted"), ("dsn_bounce.eml", "null_sender"), ("list_mail.eml", "mailing_list")],
)
def test_never_answered(name: str, reason: str) -> None:
    assert parse(name).not_a_report_reason == reason


def test_envelope_null_sender_and_dsn() -> None:
    raw = (CORPUS / "dsn_bounce.eml").read_bytes().replace(b"Return-Path: <>\n", b"")
    assert parse_message(raw, authserv_id="x", limits=Limits(), envelope_sender="").not_a_report_reason == "null_sender"
    assert parse_message(raw, authserv_id="x", limits=Limits()).not_a_report_reason == "delivery_report"


@pytest.mark.parametrize(
    "name,defect",
    [
        ("missing_boundary.eml", "StartBoundaryNotFoundDefect"),
        ("bad_base64.eml", "InvalidBase64CharactersDefect"),
        ("unknown_charset.eml", "UnknownCharset(x-no-such-charset)"),
        ("no_blank_line.eml", "MissingHeaderBodySeparatorDefect"),
    ],
)
def test_malformed_but_readable_keeps_sender_and_defects(name: str, defect: str) -> None:
    parsed = parse(name)
    assert parsed.from_address == "an@example.com"
    assert defect in parsed.defects
    assert "password" in parsed.text_body


def test_spoofed_display_names_do_not_match() -> None:
    assert parse("spoof_display_name.eml").from_address == "attacker@evil.example"
    assert parse("spoof_display_name.eml").from_display_name == "an@example.com"
    assert parse("spoof_encoded_word.eml").from_address == "attacker@evil.example"


def test_look_alike_is_another_address() -> None:
    parsed = parse("spoof_lookalike.eml")
    assert parsed.from_address == "\u0430n@example.com" and parsed.from_address != "an@example.com"


def test_bidi_address_is_quarantined() -> None:
    with pytest.raises(Quarantine) as caught:
        parse("spoof_bidi.eml")
    assert caught.value.reason == "no_sender"


def test_only_our_authentication_results_are_trusted() -> None:
    """Issue 11, item 5: our authserv-id alone proves nothing; the verdict must sit above a Received
    line our MTA added, and the mail must have come on a path from our MTA."""
    # Sent straight to the listener: no hop of ours, so neither verdict is trusted.
    parsed = parse("forged_auth_results.eml")
    assert parsed.authentication_results == [] and parsed.untrusted_authentication_results == 2
    # A forged "pass" below the hop where the mail entered the company; our MTA's "fail" above it.
    parsed = parse("forged_below_company_hop.eml")
    assert parsed.authentication_results == [
        "mx.ecc.example; spf=fail smtp.mailfrom=example.com; dmarc=fail header.from=example.com"
    ]
    assert parsed.untrusted_authentication_results == 1
    # Through two company hosts: the verdict between them counts, the one below the entry does not.
    inside = CompanyMta(hosts=("mx.ecc.example", "relay.ecc.example"), networks=("10.1.0.0/24",))
    parsed = parse("internal_hops.eml", company=inside)
    assert parsed.authentication_results == [
        "mx.ecc.example; spf=pass smtp.mailfrom=example.com; dmarc=pass header.from=example.com"
    ]
    assert parsed.untrusted_authentication_results == 1
    # Without the relay's network, the relay's hop is where the mail entered: nothing below it counts.
    parsed = parse("internal_hops.eml", company=CompanyMta(hosts=("mx.ecc.example", "relay.ecc.example")))
    assert parsed.authentication_results == [] and parsed.untrusted_authentication_results == 2
    # Mail that did not come from our MTA (plain SMTP to the listener) trusts nothing at all.
    parsed = parse("plain.eml", company=None)
    assert parsed.authentication_results == [] and parsed.untrusted_authentication_results == 1


HELO_FORGERY = (
    b"Received: from mx.ecc.example (unknown [203.0.113.5])\r\n"
    b"\tby mx.ecc.example (Postfix) with ESMTP id 9; Tue, 24 Nov 2026 09:15:02 +0700\r\n"
    b"Authentication-Results: mx.ecc.example; dmarc=pass header.from=example.com\r\n"
    b"Received: from x by mx.ecc.example; Mon, 01 Jan 2001 00:00:00 +0000\r\n"
    b"From: an@example.com\r\nSubject: back-dated\r\n\r\nleaked\r\n"
)


def test_a_sender_naming_our_mta_in_helo_is_still_outside() -> None:
    """Review of issue 11: the name after "from" is the client's HELO, its own word; whether a hop is
    inside the company is decided by the address our server wrote in brackets."""
    from incident_service.intake.parsing import company_hop_count

    parsed = parse(HELO_FORGERY)
    assert parsed.authentication_results == [] and parsed.untrusted_authentication_results == 1
    assert company_hop_count(parsed.received, MX) == 1  # the top hop only, never the 2001 line
    assert parsed.received[0]["from_ip"] == "203.0.113.5"


def test_reply_to_and_sender_kept_apart() -> None:
    parsed = parse("reply_to_elsewhere.eml")
    assert parsed.from_address == "an@example.com"
    assert parsed.reply_to == "attacker@evil.example" and parsed.sender_header == "attacker@evil.example"


def test_nul_bytes_quarantined() -> None:
    raw = (CORPUS / "plain.eml").read_bytes().replace(b"Xin h", b"Xin\x00h")
    with pytest.raises(Quarantine, match="nul_bytes"):
        parse(raw)


def test_200_kb_header_quarantined() -> None:
    raw = b"From: an@example.com\nX-Padding: " + b"a" * 200_000 + b"\nSubject: big\n\nbody\n"
    assert header_block_size(raw) > 200_000
    with pytest.raises(Quarantine, match="header_too_large"):
        parse(raw)


def test_too_many_parts_and_too_deep() -> None:
    parts = "".join(f"--b\nContent-Type: text/plain\n\npart {n}\n" for n in range(30))
    many = f"From: an@example.com\nContent-Type: multipart/mixed; boundary=b\n\n{parts}--b--\n".encode()
    with pytest.raises(Quarantine, match="too_many_parts"):
        parse(many, max_parts=20)
    assert len(parse(many).text_body) >= 0

    inner = "Content-Type: text/plain\n\ndeep\n"
    for level in range(12):
        inner = f"Content-Type: multipart/mixed; boundary=l{level}\n\n--l{level}\n{inner}--l{level}--\n"
    deep = f"From: an@example.com\n{inner}".encode()
    with pytest.raises(Quarantine, match="too_deep"):
        parse(deep, max_depth=10)


def test_too_large() -> None:
    with pytest.raises(Quarantine, match="too_large"):
        parse((CORPUS / "plain.eml").read_bytes(), max_message_bytes=100)


@pytest.mark.parametrize(
    "raw",
    [
        b"Subject: no sender\n\nbody\n",
        b"From: a@example.com\nFrom: b@example.com\n\nbody\n",
        b"From: a@example.com, b@example.com\n\nbody\n",
        b"From: not an address\n\nbody\n",
        b"\xff\xfe\xfd garbage",
    ],
)
def test_no_usable_sender_quarantined(raw: bytes) -> None:
    with pytest.raises(Quarantine) as caught:
        parse(raw)
    assert caught.value.reason == "no_sender"


def test_parse_time_budget() -> None:
    with pytest.raises(Quarantine, match="parse_time"):
        parse("plain.eml", max_seconds=0.0)


def test_every_part_reads_the_content_type_the_standard_library_gives() -> None:
    """The reader works out each spelling of Content-Type once (issue 17): every part of every message in
    the corpus, and of odd spellings, has the type and main type the standard EmailMessage gives it."""
    from email import policy
    from email.parser import BytesParser

    from incident_service.intake.parsing import _READING

    odd = [
        b"Content-Type: TEXT/HTML; charset=utf-8\r\n\r\nx",
        b"Content-Type: text\r\n\r\nx",  # no subtype: text/plain
        b"Content-Type: multipart/digest; boundary=b\r\n\r\n--b\r\n\r\nno headers: message/rfc822\r\n--b--\r\n",
        b"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\r\nno headers: text/plain\r\n--b--\r\n",
        b"Content-Type: image/png\r\nContent-Type: text/plain\r\n\r\ntwo: the first counts",
        b"Subject: none at all\r\n\r\nx",
    ]
    checked = 0
    for raw in [path.read_bytes() for path in sorted(CORPUS.glob("*.eml"))] + odd:
        ours = list(BytesParser(policy=_READING).parsebytes(raw).walk())
        theirs = list(BytesParser(policy=policy.default).parsebytes(raw).walk())
        assert len(ours) == len(theirs)
        for mine, standard in zip(ours, theirs, strict=True):
            for _asked_twice in range(2):
                assert mine.get_content_type() == standard.get_content_type()
                assert mine.get_content_maintype() == standard.get_content_maintype()
            checked += 1
    assert checked > 40
