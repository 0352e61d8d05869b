"""Every email as the customer receives it (issue 13): queued by its typed function, rendered by the worker,
received by a real SMTP server, in Vietnamese and English. One shared HTML layout, the action as a
table-based button, every address in the HTML a link, and a text part that carries the same links in the
same order, each on its own line, with the same references and times."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from html.parser import HTMLParser
from pathlib import Path

import pytest
from flask import Flask, current_app
from sqlalchemy import select

from incident_service.audit.checkpoint import make_checkpoint
from incident_service.audit.sequencer import integrate
from incident_service.customers.service import add_customer
from incident_service.extensions import db
from incident_service.incidents.service import ReportSubmission, receive_report
from incident_service.notifications.delivery import deliver_due
from incident_service.notifications.emails import (
    send_audit_checkpoint_email,
    send_discovery_request_email,
    send_password_changed_email,
    send_report_in_hand_email,
    send_reset_link_email,
)
from incident_service.notifications.models import OutboxMessage
from incident_service.reactivation.service import issue_reset_grant
from tests.helpers import SmtpSink, links_in

NOW = datetime(2026, 3, 10, 2, 0, tzinfo=UTC)
STAFF = "support@ecc.example"
BASE = "https://security.ecc.example"
TEMPLATES = Path(__file__).resolve().parents[2] / "templates" / "email"

# The one action of each email, as links_in names it (or the address itself); None: no action at all.
ACTIONS: dict[str, str | None] = {
    "acknowledgement": "reset",
    "report_in_hand": f"{BASE}/reset/new",
    "reset_link": "reset",
    "reset_link_by_staff": "reset",
    "password_changed": "r",
    "discovery_request": "discovery",
    "audit_anchor": None,
}
LOCALES = ("vi", "en")

pytestmark = pytest.mark.usefixtures("app_context")


def queue_every_email(locale: str, *, now: datetime) -> dict[str, OutboxMessage]:
    """One of each email (the reset link twice: asked for, and sent by staff), to a customer reading
    `locale`, through the typed functions of notifications.emails; the anchor in the company's language,
    set to `locale` too."""
    current_app.config["DEFAULT_LOCALE"] = locale
    an = add_customer(
        "an@example.com", name="Nguyễn Văn An", locale=locale, password=None, source="cli", actor="test", now=now
    )
    report = receive_report(ReportSubmission(channel="web", kind="lost", address="an@example.com"), now=now)
    incident = report.incident
    assert incident is not None
    queued = {"acknowledgement": db.session.scalars(select(OutboxMessage)).one()}
    queued["report_in_hand"] = send_report_in_hand_email(
        an, incident, report, source="email", actor="customer", now=now
    )
    grant, link = issue_reset_grant(an, incident_id=incident.id, source="web", actor="customer", now=now)
    queued["reset_link"] = send_reset_link_email(
        an, incident, grant, link, sent_by_staff=False, source="web", actor="customer", now=now
    )
    grant, link = issue_reset_grant(an, incident_id=incident.id, source="console", actor=STAFF, now=now)
    queued["reset_link_by_staff"] = send_reset_link_email(
        an, incident, grant, link, sent_by_staff=True, source="console", actor=STAFF, now=now
    )
    queued["password_changed"] = send_password_changed_email(an, incident, source="web", actor="customer", now=now)
    queued["discovery_request"] = send_discovery_request_email(incident, source="console", actor=STAFF, now=now)
    integrate()
    checkpoint = make_checkpoint(now, "notary@lawfirm.example")
    assert checkpoint is not None
    queued["audit_anchor"] = send_audit_checkpoint_email(
        checkpoint, to_address="notary@lawfirm.example", source="cli", actor="cli", now=now
    )
    return queued


URL_RE = re.compile(r"https?://[^\s<>\"']+")
TIME_RE = re.compile(r"\d\d:\d\d:\d\d - \d\d/\d\d/\d{4} \(GMT[^)]*\)")
REFERENCE_RE = re.compile(r"\b(?:RPT|INC)-\d{4}-\d{6}\b")
HASH_RE = re.compile(r"\b[0-9a-f]{64}\b")


@dataclass
class Link:
    href: str
    style: str
    in_button: bool  # inside a coloured cell (bgcolor) of a table.email-button
    text: str = ""


class HtmlPart(HTMLParser):
    """What a reader of the HTML part gets: its links, the addresses in its shown text (each with the
    link it is inside, if any), the hidden text (the preheader), its layout markers and its language."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.links: list[Link] = []
        self.urls_in_text: list[tuple[str, str | None]] = []
        self.text: list[str] = []
        self.hidden: list[str] = []
        self.layouts = 0
        self.lang: str | None = None
        self._open: list[tuple[str, str, bool]] = []  # (tag, its classes, is a button's coloured cell)
        self._hidden_at: int | None = None  # depth of the display:none element we are in
        self._link: Link | None = None
        self._skip = 0  # inside <title> or <style>

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        classes, style = values.get("class") or "", (values.get("style") or "").replace(" ", "")
        self.layouts += "email-layout" in classes.split()
        if tag == "html":
            self.lang = values.get("lang")
        self._skip += tag in ("title", "style")
        if self._hidden_at is None and "display:none" in style:
            self._hidden_at = len(self._open)
        tables = [names for open_tag, names, _cell in self._open if open_tag == "table"]
        button_cell = tag == "td" and bool(values.get("bgcolor")) and "email-button" in (tables or [""])[-1].split()
        if tag not in ("br", "meta", "img", "hr"):
            self._open.append((tag, classes, button_cell))
        if tag == "a":
            in_button = any(cell for _tag, _names, cell in self._open)
            self._link = Link(values.get("href") or "", style, in_button)
            self.links.append(self._link)

    def handle_endtag(self, tag: str) -> None:
        self._skip -= tag in ("title", "style")
        if tag == "a":
            self._link = None
        for index in range(len(self._open) - 1, -1, -1):
            if self._open[index][0] == tag:
                del self._open[index:]
                break
        if self._hidden_at is not None and len(self._open) <= self._hidden_at:
            self._hidden_at = None

    def handle_data(self, data: str) -> None:
        if self._skip:
            return
        if self._hidden_at is not None:
            self.hidden.append(data)
            return
        if self._link is not None:
            self._link.text += data.strip()
        self.text.append(data)
        for url in URL_RE.findall(data):
            self.urls_in_text.append((url, self._link.href if self._link else None))


@dataclass
class Received:
    """One email as the SMTP server received it, with its two parts read."""

    name: str
    message: EmailMessage
    html: str
    text: str
    page: HtmlPart

    @classmethod
    def read(cls, name: str, message: EmailMessage) -> Received:
        html_body, text_body = message.get_body(("html",)), message.get_body(("plain",))
        assert html_body is not None and text_body is not None, name
        html = html_body.get_content()
        page = HtmlPart()
        page.feed(html)
        page.close()
        return cls(name, message, html, text_body.get_content(), page)

    def shown(self) -> str:
        return " ".join("".join(self.page.text).split())


@pytest.fixture(params=LOCALES)
def locale(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def received(locale: str, app: Flask, smtp_sink: SmtpSink) -> list[Received]:
    """Every email in `locale`, delivered by the outbox worker to the SMTP sink. One delivery serves
    every check of a test (each email's name is in the failure): a delivery per email and check would
    cost a fresh app, and its template compilation, seventy times."""
    queued = queue_every_email(locale, now=NOW)
    names = {message.message_id: name for name, message in queued.items()}
    db.session.commit()
    assert deliver_due().sent == len(queued)
    delivered = [Received.read(names[message["Message-ID"]], message) for _from, _to, message in smtp_sink.messages]
    assert sorted(mail.name for mail in delivered) == sorted(ACTIONS)
    return delivered


def test_the_html_part_is_the_shared_layout_in_the_emails_language(received: list[Received], locale: str) -> None:
    for mail in received:
        assert mail.page.layouts == 1, f"{mail.name}: the layout's outer table, once"
        assert mail.html.lower().count("<html") == 1 and mail.html.lower().count("<body") == 1, mail.name
        assert "max-width:600px" in mail.html and 'name="viewport"' in mail.html, mail.name
        assert mail.page.lang == locale, mail.name
        assert f"<title>{mail.message['Subject']}</title>" in mail.html, mail.name
        # The preheader, shown beside the subject in a mail list, says only what the email itself says.
        preheader = " ".join("".join(mail.page.hidden).replace("\u034f", "").replace("\u200c", "").split())
        assert preheader in mail.shown(), mail.name
        assert bool(preheader) == (mail.name != "audit_anchor"), mail.name


def test_every_html_body_extends_the_layout() -> None:
    """No email keeps a copy of the page around its words: each body.html starts by extending the one
    layout, and only the layout opens an <html>."""
    bodies = sorted(TEMPLATES.glob("*/body.html"))
    assert {body.parent.name for body in bodies} >= {name.removesuffix("_by_staff") for name in ACTIONS}
    for body in bodies:
        source = body.read_text()
        assert source.startswith('{% extends "email/_layout.html" %}'), body
        assert "<html" not in source and "<body" not in source, body


def test_the_action_is_a_table_button_linking_where_the_text_part_does(received: list[Received]) -> None:
    for mail in received:
        buttons = [link for link in mail.page.links if link.in_button]
        action = ACTIONS[mail.name]
        if action is None:
            assert buttons == [] and mail.page.links == [], mail.name
            continue
        assert len(buttons) == 1, f"{mail.name}: one button, in a coloured cell of a table.email-button"
        [button] = buttons
        assert button.text, f"{mail.name}: the button says what it does"
        assert "padding:" in button.style and "display:inline-block" in button.style, mail.name
        expected = action if action.startswith("https://") else links_in(mail.message)[action]
        assert button.href == expected, mail.name
        assert expected in mail.text.splitlines(), mail.name
        # Below the button, the same address written out, as a plain link.
        assert any(
            link.href == expected and link.text == expected and not link.in_button for link in mail.page.links
        ), mail.name


def test_every_address_in_the_html_is_a_link_to_itself(received: list[Received]) -> None:
    for mail in received:
        assert [(url, href) for url, href in mail.page.urls_in_text if href != url] == [], mail.name
        web = [link for link in mail.page.links if not link.href.startswith(("mailto:", "tel:"))]
        assert all(link.href.startswith(f"{BASE}/") for link in web), mail.name
        # The support contact is one tap away: its address and number are mailto: and tel: links, and the
        # text part gives the same address and number.
        contact = [link for link in mail.page.links if link.href.startswith(("mailto:", "tel:"))]
        if mail.name != "audit_anchor":
            assert {link.href.split(":", 1)[0] for link in contact} == {"mailto", "tel"}, mail.name
        for link in contact:
            assert link.text in mail.text, (mail.name, link.text)


def web_links(mail: Received) -> list[str]:
    return [link.href for link in mail.page.links if not link.href.startswith(("mailto:", "tel:"))]


def test_the_text_part_has_every_link_in_the_same_order_each_on_its_own_line(received: list[Received]) -> None:
    for mail in received:
        html_links = list(dict.fromkeys(web_links(mail)))
        text_links = list(dict.fromkeys(URL_RE.findall(mail.text)))
        assert text_links == html_links, mail.name
        lines = [line.strip() for line in mail.text.splitlines()]
        for url in text_links:
            assert all(line == url for line in lines if url in line), f"{mail.name}: {url} not on a line of its own"


def test_both_parts_give_the_same_references_times_and_hashes(received: list[Received]) -> None:
    for mail in received:
        for pattern in (REFERENCE_RE, TIME_RE, HASH_RE):
            assert set(pattern.findall(mail.shown())) == set(pattern.findall(mail.text)), mail.name
        # Each customer email quotes the reference the customer was shown; the reset links give their expiry.
        if mail.name != "audit_anchor":
            assert REFERENCE_RE.search(mail.text), mail.name
        if mail.name.startswith(("acknowledgement", "reset_link")):
            assert len(set(TIME_RE.findall(mail.text))) >= (2 if mail.name == "acknowledgement" else 1), mail.name
