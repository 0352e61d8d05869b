"""Fixtures: an app on a real database (SQLite, or PostgreSQL with TEST_DATABASE=postgresql), a real SMTP
sink, PostgreSQL and Redis servers. Shared helpers are in tests/helpers.py.

A test's app runs in one transaction on a database shared by the session, rolled back when the test ends;
a test marked `real_commits` (or in a slow folder, about SQLite itself, or asking for a database URL or a
live server) gets a fresh database of its own where commits are real. How and why: tests/isolation.py."""

from __future__ import annotations

import os
import uuid
from contextlib import contextmanager
from typing import Any, Iterator

import pytest
from aiosmtpd.controller import Controller
from flask import Flask
from flask.testing import FlaskClient

from incident_service import create_app
from incident_service.extensions import db
from tests.helpers import CollectingHandler, SmtpSink, free_port, make_customer
from tests.isolation import (
    REAL_COMMITS,
    REAL_COMMITS_FIXTURES,
    REAL_COMMITS_HELP,
    Joined,
    SharedDatabase,
    make_shared_database,
    rolled_back,
)
from tests.postgres import PostgresServer
from tests.redis_server import RedisServer


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
    # The R3 answer floor holds every report answer at least ANSWER_FLOOR_MS (60 ms by default), and a cold
    # worker's at least ANSWER_FLOOR_COLD_MS (300 ms). The production-shaped stack keeps both; the rest of
    # the suite does not wait for them (test_answer_floor.py sets them where it tests them).
    settings: dict[str, Any] = {
        "PASSWORD_HASH_PROFILE": "owasp-minimum",
        "ANSWER_FLOOR_MS": 0,
        "ANSWER_FLOOR_COLD_MS": 0,
    }
    for marker in reversed(list(request.node.iter_markers("settings"))):
        settings.update(marker.kwargs)
    return settings


# `make test` runs the suite once per database: TEST_DATABASE=sqlite (default) or postgresql.
DATABASE = os.environ.get("TEST_DATABASE", "sqlite")
SLOW_FOLDERS = {"e2e", "faults", "browser", "production", "dev"}


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", REAL_COMMITS_HELP)


def needs_real_commits(item: pytest.Item) -> bool:
    """Whole flows through processes, threads and browsers (the slow folders), tests of SQLite itself, and
    tests that reach the database other than through db.session (they ask for its URL or a live server)."""
    return (
        item.path.parent.name in SLOW_FOLDERS
        or item.get_closest_marker("sqlite_only") is not None
        or not REAL_COMMITS_FIXTURES.isdisjoint(getattr(item, "fixturenames", ()))
    )


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

    for item in items:
        # Whole flows through real processes, races and browsers: `make test-fast` leaves them out.
        if item.path.parent.name in SLOW_FOLDERS:
            item.add_marker(pytest.mark.slow)
        if needs_real_commits(item) and item.get_closest_marker(REAL_COMMITS) is None:
            item.add_marker(REAL_COMMITS)
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


@pytest.fixture(scope="session")
def shared_database(tmp_path_factory: pytest.TempPathFactory, postgres: PostgresServer | None) -> SharedDatabase:
    """The database every rolled-back test runs on, its schema made once."""
    if postgres is None:
        return make_shared_database(f"sqlite:///{tmp_path_factory.mktemp('shared') / 'shared.sqlite3'}", create=True)
    postgres.execute("CREATE DATABASE test_shared TEMPLATE template_app")
    return make_shared_database(postgres.url("test_shared"), create=False)


@pytest.fixture
def database_url(tmp_path: Any, postgres: PostgresServer | None) -> Iterator[str]:
    """A fresh database of the test's own (real_commits); on PostgreSQL it already has the schema."""
    with throwaway_database(tmp_path, postgres, "template_app") as url:
        yield url


@pytest.fixture
def empty_database_url(tmp_path: Any, postgres: PostgresServer | None) -> Iterator[str]:
    """A database with no tables at all, for migrations."""
    with throwaway_database(tmp_path, postgres, "template0") as url:
        yield url


JOINED = pytest.StashKey[Joined]()


@pytest.fixture
def app(app_settings: dict[str, Any], request: pytest.FixtureRequest) -> Iterator[Flask]:
    """The app; on the shared database in a transaction rolled back at the end, or (real_commits) on a
    fresh database of the test's own."""
    real_commits = request.node.get_closest_marker(REAL_COMMITS) is not None
    shared: SharedDatabase | None = None
    if real_commits:
        database_url: str = request.getfixturevalue("database_url")
    else:
        shared = request.getfixturevalue("shared_database")
        database_url = shared.url
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
    if shared is not None:
        with rolled_back(application, shared) as joined:
            request.node.stash[JOINED] = joined
            yield application
        return
    if DATABASE != "postgresql":
        with application.app_context():
            db.create_all()
    yield application
    with application.app_context():
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def joined(app: Flask, request: pytest.FixtureRequest) -> Joined:
    """The connection and guard of a rolled-back test (a real_commits test has none)."""
    if JOINED not in request.node.stash:
        pytest.fail("the joined fixture is for tests in a rolled-back transaction, not real_commits ones")
    return request.node.stash[JOINED]


@pytest.fixture
def app_context(app: Flask) -> Iterator[None]:
    """The whole test inside the app's context: one session, as a service called from an edge sees it."""
    with app.app_context():
        yield


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def runner(app: Flask):  # type: ignore[no-untyped-def]
    return app.test_cli_runner()


@pytest.fixture
def customer_id(app: Flask) -> int:
    return make_customer(app)


# Staff users signed in through the real console forms, for every test package that needs them.
from tests.console.conftest import staff_login  # noqa: E402,F401
