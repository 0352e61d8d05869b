"""Fixtures: an app on a fresh SQLite file per test, a real SMTP sink, and helpers that use real forms."""

from __future__ import annotations

import email
import os
import re
import socket
import threading
import uuid
from contextlib import contextmanager
from email import policy
from email.message import EmailMessage
from typing import Any, Iterator

import pytest
from aiosmtpd.controller import Controller
from flask import Flask
from flask.testing import FlaskClient

from incident_service import create_app
from incident_service.customers.service import add_customer
from incident_service.database import utcnow
from incident_service.extensions import db
from incident_service.notifications.delivery import deliver_due
from tests.postgres import PostgresServer
from tests.redis_server import RedisServer

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


@pytest.fixture
def smtp_sink() -> Iterator[SmtpSink]:
    handler = CollectingHandler()
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield SmtpSink(handler, port)
    finally:
        controller.stop()


@pytest.fixture
def app_settings(request: pytest.FixtureRequest) -> dict[str, Any]:
    settings: dict[str, Any] = {"PASSWORD_HASH_PROFILE": "owasp-minimum"}
    for marker in reversed(list(request.node.iter_markers("settings"))):
        settings.update(marker.kwargs)
    return settings


# `make test` runs the suite once per database: TEST_DATABASE=sqlite (default) or postgresql.
DATABASE = os.environ.get("TEST_DATABASE", "sqlite")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """On PostgreSQL, leave out the tests about SQLite itself; without Debian's redis-server, the Redis
    tests (`make test` says so loudly). They are not skipped: not collected."""
    import shutil

    production_run = os.environ.get("TEST_SHAPE") == "production"

    def left_out(item: pytest.Item) -> bool:
        # tests/production start their own stack: collected in their own run (TEST_SHAPE=production).
        if (item.get_closest_marker("production") is not None) != production_run:
            return True
        if DATABASE == "postgresql" and item.get_closest_marker("sqlite_only") is not None:
            return True
        return shutil.which("redis-server") is None and item.get_closest_marker("redis") is not None

    kept = [item for item in items if not left_out(item)]
    config.hook.pytest_deselected(items=[item for item in items if item not in kept])
    items[:] = kept


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer | None]:
    if DATABASE != "postgresql":
        yield None
        return
    server = PostgresServer(free_port())
    server.start()
    server.execute("CREATE DATABASE template_app")
    application = create_app(environ={"APP_ENV": "testing", "DATABASE_URL": server.url("template_app")})
    with application.app_context():
        db.create_all()
        db.engine.dispose()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    """Debian's redis-server on a free loopback port, for the whole session (tests marked `redis`)."""
    server = RedisServer(free_port())
    server.start()
    try:
        yield server
    finally:
        server.stop()


@contextmanager
def throwaway_database(tmp_path: Any, postgres: PostgresServer | None, template: str) -> Iterator[str]:
    """A new SQLite file, or a PostgreSQL database copied from `template` and dropped afterwards."""
    if postgres is None:
        yield f"sqlite:///{tmp_path / f'{template}.sqlite3'}"
        return
    name = f"test_{uuid.uuid4().hex[:12]}"
    postgres.execute(f"CREATE DATABASE {name} TEMPLATE {template}")
    try:
        yield postgres.url(name)
    finally:
        postgres.execute(f"DROP DATABASE {name} WITH (FORCE)")


@pytest.fixture
def database_url(tmp_path: Any, postgres: PostgresServer | None) -> Iterator[str]:
    """The test's database; on PostgreSQL it already has the schema."""
    with throwaway_database(tmp_path, postgres, "template_app") as url:
        yield url


@pytest.fixture
def empty_database_url(tmp_path: Any, postgres: PostgresServer | None) -> Iterator[str]:
    """A database with no tables at all, for migrations."""
    with throwaway_database(tmp_path, postgres, "template0") as url:
        yield url


@pytest.fixture
def app(database_url: str, app_settings: dict[str, Any], request: pytest.FixtureRequest) -> Iterator[Flask]:
    environ = {
        "APP_ENV": "testing",
        "DATABASE_URL": database_url,
        "PUBLIC_BASE_URL": "https://security.ecc.example",
        "MAIL_PORT": "1",  # nothing listens: tests that send mail use the smtp_sink fixture
    }
    overrides = dict(app_settings)
    if "smtp_sink" in request.fixturenames:
        sink: SmtpSink = request.getfixturevalue("smtp_sink")
        overrides.setdefault("MAIL_PORT", sink.port)
    application = create_app(overrides, environ=environ)
    if DATABASE != "postgresql":
        with application.app_context():
            db.create_all()
    yield application
    with application.app_context():
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def runner(app: Flask):  # type: ignore[no-untyped-def]
    return app.test_cli_runner()


def make_customer(app: Flask, address: str = "an@example.com", *, password: str | None = PASSWORD,
                  locale: str = "vi", name: str = "Nguyễn Văn An") -> int:
    with app.app_context():
        customer = add_customer(address, name=name, locale=locale, password=password, source="cli", actor="test", now=utcnow())
        db.session.commit()
        return customer.id


@pytest.fixture
def customer_id(app: Flask) -> int:
    return make_customer(app)


CSRF_RE = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"|name="csrf_token" value="([^"]+)"')


def csrf_from(html: str) -> str:
    match = CSRF_RE.search(html)
    assert match, "no CSRF token in the page"
    return match.group(1) or match.group(2)


def submit(client: FlaskClient, url: str, data: dict[str, Any], *, form_url: str | None = None,
           **kwargs: Any):  # type: ignore[no-untyped-def]
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


# Staff users signed in through the real console forms, for every test package that needs them.
from tests.console.conftest import staff_login  # noqa: E402,F401
