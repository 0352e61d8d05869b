"""What tests share besides fixtures: a real SMTP sink's parts, forms filled as a browser does, links
read out of received mail, customers made through the service. Import from here, not from conftest."""

from __future__ import annotations

import email
import re
import socket
import threading
from email import policy
from email.message import EmailMessage
from typing import Any

from flask import Flask
from flask.testing import FlaskClient

from incident_service.customers.service import add_customer
from incident_service.database import utcnow
from incident_service.extensions import db
from incident_service.notifications.delivery import deliver_due

PASSWORD = "correct horse battery staple"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class CollectingHandler:
    """aiosmtpd handler that keeps every message it accepts, with its envelope."""

    def __init__(self) -> None:
        self.messages: list[tuple[str, list[str], EmailMessage]] = []
        self.received = threading.Condition()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = email.message_from_bytes(envelope.content, policy=policy.default)
        with self.received:
            self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), message))  # type: ignore[arg-type]
            self.received.notify_all()
        return "250 2.0.0 Ok: queued"


class SmtpSink:
    def __init__(self, handler: CollectingHandler, port: int) -> None:
        self.handler = handler
        self.port = port

    @property
    def messages(self) -> list[tuple[str, list[str], EmailMessage]]:
        return self.handler.messages

    def to(self, address: str) -> list[EmailMessage]:
        return [message for _sender, rcpts, message in self.messages if address in rcpts]


def make_customer(
    app: Flask,
    address: str = "an@example.com",
    *,
    password: str | None = PASSWORD,
    locale: str = "vi",
    name: str = "Nguyễn Văn An",
) -> int:
    with app.app_context():
        customer = add_customer(
            address, name=name, locale=locale, password=password, source="cli", actor="test", now=utcnow()
        )
        db.session.commit()
        return customer.id


CSRF_RE = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"|name="csrf_token" value="([^"]+)"')


def csrf_from(html: str) -> str:
    match = CSRF_RE.search(html)
    assert match, "no CSRF token in the page"
    return match.group(1) or match.group(2)


def submit(client: FlaskClient, url: str, data: dict[str, Any], *, form_url: str | None = None, **kwargs: Any):  # type: ignore[no-untyped-def]
    """GET the form page, take its CSRF token, POST the data: the way a browser does."""
    page = client.get(form_url or url)
    token = csrf_from(page.get_data(as_text=True))
    return client.post(url, data={**data, "csrf_token": token}, **kwargs)


def local_input(days_ago: int, at: str = "09:30") -> str:
    """A datetime-local form value `days_ago` days back at `at`, Vietnam time: forms refuse future
    times and ask to confirm ones long past, so tests never hard-code a date."""
    from datetime import timedelta
    from zoneinfo import ZoneInfo

    day = (utcnow().astimezone(ZoneInfo("Asia/Ho_Chi_Minh")) - timedelta(days=days_ago)).date()
    return f"{day.isoformat()}T{at}"


def deliver(app: Flask) -> None:
    with app.app_context():
        deliver_due()


LINK_RE = re.compile(r"https://security\.ecc\.example/(reset|discovery|r)/[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-.]+")


def links_in(message: EmailMessage) -> dict[str, str]:
    """The links of each kind in the plain-text part, as a reader would follow them."""
    body = message.get_body(preferencelist=("plain",))
    assert body is not None
    text = body.get_content()
    return {match.group(1): match.group(0) for match in LINK_RE.finditer(text)}


def path_of(url: str) -> str:
    return url.removeprefix("https://security.ecc.example")


def main_of(html: str) -> str:
    """The page's <main> content: what differs between pages, without the shared header and footer."""
    return re.split(r"<main[^>]*>", html, maxsplit=1)[1].split("</main>")[0]
