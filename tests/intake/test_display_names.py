"""Display names that mislead the staff who read them are flagged (issue 11, item 8; M3)."""

from __future__ import annotations

import pytest

from incident_service.database import utcnow
from incident_service.extensions import db
from incident_service.intake.display_names import display_name_warnings, show_controls
from incident_service.intake.service import Envelope, ingest_message


@pytest.mark.parametrize(
    "name,address,expected",
    [
        ("Nguyễn Văn An", "an@example.com", []),
        ("an@example.com", "an@example.com", []),  # the real address again: nothing misleading
        ("security@ecc.example", "x@evil.example", ["looks_like_another_address"]),
        ("Support (an@example.com)", "x@evil.example", ["looks_like_another_address"]),
        ("ｓｅｃｕｒｉｔｙ＠ｅｃｃ．ｅｘａｍｐｌｅ", "x@evil.example", ["looks_like_another_address"]),
        ("An \u202eelpmaxe.cce@ytiruces", "x@evil.example", ["direction_control"]),
        ("sec\u200burity@ecc.example", "x@evil.example", ["looks_like_another_address", "invisible_character"]),
        ("", "x@evil.example", []),
    ],
)
def test_warnings(name: str, address: str, expected: list[str]) -> None:
    assert display_name_warnings(name, address) == expected


def test_controls_are_shown_by_code() -> None:
    assert show_controls("An \u202eabc\u200b") == "An ⟨U+202E⟩abc⟨U+200B⟩"


def test_the_console_warns_in_the_readers_language(app, staff_login) -> None:  # type: ignore[no-untyped-def]
    raw = (
        'From: "security@ecc.example \u202e" <spoof@evil.example>\r\nTo: security@ecc.example\r\n'
        "Subject: help\r\n\r\nleaked\r\n"
    ).encode()
    with app.app_context():
        outcome = ingest_message(raw, envelope=Envelope(mail_from="spoof@evil.example"), via="smtp", now=utcnow())
        db.session.commit()
    console = staff_login("support")
    english = console.get(f"/console/messages/{outcome.message_id}", headers={"Accept-Language": "en"})
    page = english.get_data(as_text=True)
    assert "reads like another address" in page and "reverse the direction" in page
    assert "⟨U+202E⟩" in page and "\u202e" not in page
    vietnamese = console.get(f"/console/messages/{outcome.message_id}", headers={"Accept-Language": "vi"})
    assert "reads like another address" not in vietnamese.get_data(as_text=True)
