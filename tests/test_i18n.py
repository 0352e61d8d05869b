"""Vietnamese first: complete catalogs, locale selection, and the company's time format."""

from __future__ import annotations

import re
from datetime import datetime, timezone
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from incident_service.i18n import format_local, gmt_label, parse_local_input
from tests.helpers import deliver, make_customer, submit

ROOT = Path(__file__).resolve().parent.parent
KEYWORDS = {"_": None, "gettext": None, "ngettext": (1, 2), "_l": None, "lazy_gettext": None}
PLACEHOLDER = re.compile(r"%\((\w+)\)[sd]")


def source_messages() -> set[str]:
    found: set[str] = set()
    for method, pattern in (
        ("python", "incident_service/**.py"),
        ("jinja2", "templates/**.html"),
        ("jinja2", "templates/**.txt"),
    ):
        for _file, _line, message, _comments, _context in extract_from_dir(
            str(ROOT),
            method_map=[(pattern, method)],
            keywords=KEYWORDS,
            options_map={pattern: {"extensions": "jinja2.ext.i18n"}} if method == "jinja2" else {},
        ):
            found.add(message if isinstance(message, str) else message[0])
    return found


@pytest.mark.parametrize("locale", ["vi", "en"])
def test_catalog_is_complete(locale: str) -> None:
    with open(ROOT / f"incident_service/translations/{locale}/LC_MESSAGES/messages.po", "rb") as handle:
        catalog = read_po(handle)
    wanted = source_messages()
    assert len(wanted) > 100
    problems = []
    for msgid in sorted(wanted):
        message = catalog.get(msgid)
        # A plural message (ngettext) holds one translation per plural form of the language.
        forms = (
            message.string
            if message is not None and isinstance(message.string, tuple)
            else ((message.string,) if message is not None else ())
        )
        if message is None or not forms or not all(forms):
            problems.append(f"missing: {msgid!r}")
        elif message.fuzzy:
            problems.append(f"fuzzy: {msgid!r}")
        elif any(set(PLACEHOLDER.findall(msgid)) != set(PLACEHOLDER.findall(form)) for form in forms):
            problems.append(f"placeholders differ: {msgid!r}")
    assert problems == [], "run `make i18n-extract` and translate:\n" + "\n".join(problems)


def test_english_catalog_is_english() -> None:
    with open(ROOT / "incident_service/translations/en/LC_MESSAGES/messages.po", "rb") as handle:
        catalog = read_po(handle)
    # The source strings are English, so the English catalog says exactly what the source says.
    differing = [message.id for message in catalog if message.id and message.string != message.id]
    assert differing == []


def test_vietnamese_catalog_has_diacritics() -> None:
    with open(ROOT / "incident_service/translations/vi/LC_MESSAGES/messages.po", "rb") as handle:
        catalog = read_po(handle)
    assert "Thông báo mật khẩu bị lộ" == catalog.get("Report a compromised password").string


def test_default_is_vietnamese(client) -> None:  # type: ignore[no-untyped-def]
    page = client.get("/report").get_data(as_text=True)
    assert 'lang="vi"' in page and "Thông báo mật khẩu bị lộ" in page


def test_accept_language_english(client) -> None:  # type: ignore[no-untyped-def]
    page = client.get("/report", headers={"Accept-Language": "en-GB,en;q=0.9"}).get_data(as_text=True)
    assert 'lang="en"' in page and "Report a compromised password" in page


def test_viewer_choice_wins(client) -> None:  # type: ignore[no-untyped-def]
    submit(client, "/locale", {"locale": "en", "next": "/report"}, form_url="/report")
    page = client.get("/report", headers={"Accept-Language": "vi"}).get_data(as_text=True)
    assert "Report a compromised password" in page


def test_locale_switch_is_no_open_redirect(client) -> None:  # type: ignore[no-untyped-def]
    answer = submit(client, "/locale", {"locale": "en", "next": "//evil.example/"}, form_url="/report")
    assert answer.headers["Location"] == "/"


def test_validation_messages_in_vietnamese(client) -> None:  # type: ignore[no-untyped-def]
    page = submit(client, "/report", {"email": "", "kind": "bogus"}).get_data(as_text=True)
    assert "Vui lòng điền thông tin này." in page and "Lựa chọn không hợp lệ." in page


@pytest.mark.parametrize("locale,phrase", [("vi", "Mã tham chiếu của bạn"), ("en", "Your reference")])
def test_email_in_the_customers_language(app, smtp_sink, locale, phrase) -> None:  # type: ignore[no-untyped-def]
    make_customer(app, "c@example.com", locale=locale)
    submit(
        app.test_client(),
        "/report",
        {"email": "c@example.com", "kind": "lost"},
        headers={"Accept-Language": "en" if locale == "vi" else "vi"},
    )  # the reader's browser does not matter
    deliver(app)
    message = smtp_sink.to("c@example.com")[0]
    assert phrase in message.get_body(preferencelist=("plain",)).get_content()  # type: ignore[union-attr]
    assert phrase in message.get_body(preferencelist=("html",)).get_content()  # type: ignore[union-attr]


def test_time_format(app) -> None:  # type: ignore[no-untyped-def]
    moment = datetime(2026, 12, 31, 17, 5, 9, tzinfo=timezone.utc)
    with app.app_context():
        assert format_local(moment) == "00:05:09 - 01/01/2027 (GMT+7)"
        assert format_local(moment, "Europe/Paris") == "18:05:09 - 31/12/2026 (GMT+1)"
        assert format_local(moment, "UTC") == "17:05:09 - 31/12/2026 (GMT)"
        assert parse_local_input("2027-01-01T00:05", None) == datetime(2026, 12, 31, 17, 5, tzinfo=timezone.utc)


def test_gmt_labels() -> None:
    from datetime import timedelta

    assert gmt_label(timedelta(hours=7)) == "GMT+7"
    assert gmt_label(timedelta(hours=5, minutes=30)) == "GMT+5:30"
    assert gmt_label(timedelta(hours=-3)) == "GMT-3"
