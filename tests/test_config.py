"""Settings fail fast outside development, and FLASK_* overrides any Flask setting."""

from __future__ import annotations

from typing import Any

import pytest

from incident_service import create_app
from incident_service.settings import ConfigurationError, load_settings

PRODUCTION = {
    "APP_ENV": "production",
    "SECRET_KEY": "k" * 48,
    "AUDIT_SIGNING_KEY": "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVpBQkNERUY=",  # base64 of 32 bytes
    "PUBLIC_BASE_URL": "https://security.ecc.example",
    "DATABASE_URL": "sqlite://",
    "RATELIMIT_STORAGE_URI": "redis://127.0.0.1:6379/0",
}


def test_production_needs_secret_key() -> None:
    with pytest.raises(ConfigurationError, match="SECRET_KEY is required"):
        load_settings({**PRODUCTION, "SECRET_KEY": ""})


def test_production_needs_public_base_url() -> None:
    with pytest.raises(ConfigurationError, match="PUBLIC_BASE_URL is required"):
        load_settings({k: v for k, v in PRODUCTION.items() if k != "PUBLIC_BASE_URL"})


def test_missing_app_env_means_production() -> None:
    with pytest.raises(ConfigurationError, match="SECRET_KEY"):
        load_settings({"PUBLIC_BASE_URL": "https://x.example"})


@pytest.mark.parametrize(
    "name,value,message",
    [
        ("APP_ENV", "staging", "APP_ENV must be one of"),
        ("RESET_LINK_MAX_AGE_SECONDS", "90000", "between 60 and 86400"),
        ("LATE_REPORT_THRESHOLD_HOURS", "soon", "whole number"),
        ("MAIL_USE_TLS", "maybe", "true or false"),
        ("DISPLAY_TIMEZONE", "Mars/Olympus", "not a known time zone"),
        ("DEFAULT_LOCALE", "fr", "DEFAULT_LOCALE must be one of"),
        ("PUBLIC_BASE_URL", "security.ecc.example", "must start with http"),
        ("SECRET_KEY", "short", "at least 32"),
        ("DATABASE_POOL_SIZE", "sixteen", "DATABASE_POOL_SIZE must be a whole number"),
        ("DATABASE_POOL_SIZE", "0", "DATABASE_POOL_SIZE must be at least 1"),
        ("ANSWER_FLOOR_COLD_MS", "10001", "ANSWER_FLOOR_COLD_MS must be between 0 and 10000"),
        ("ANSWER_FLOOR_COLD_MS", "-1", "ANSWER_FLOOR_COLD_MS must be between 0 and 10000"),
        ("ANSWER_WORK_TURNS", "0", "ANSWER_WORK_TURNS must be between 1 and 64"),
        ("ANSWER_WORK_TURNS", "65", "ANSWER_WORK_TURNS must be between 1 and 64"),
        ("ANSWER_WORK_TURNS", "two", "ANSWER_WORK_TURNS must be a whole number"),
    ],
)
def test_mistyped_settings_are_named(name: str, value: str, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        load_settings({**PRODUCTION, name: value})


def test_production_defaults_are_strict() -> None:
    settings = load_settings(PRODUCTION)
    assert settings["SESSION_COOKIE_SECURE"] is True
    assert settings["SESSION_COOKIE_NAME"] == "__Host-session"
    assert settings["LATE_REPORT_THRESHOLD_HOURS"] == 24 and settings["RESET_LINK_MAX_AGE_SECONDS"] == 3600
    assert (settings["ANSWER_FLOOR_MS"], settings["ANSWER_FLOOR_COLD_MS"]) == (60, 300)  # R3 (answer_floor.py)
    assert settings["ANSWER_WORK_TURNS"] == 2


def test_flask_prefixed_environment_overrides(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLASK_MAX_CONTENT_LENGTH", "12345")
    app = create_app(environ={**PRODUCTION})
    assert app.config["MAX_CONTENT_LENGTH"] == 12345
    assert app.config["PUBLIC_BASE_URL"] == "https://security.ecc.example"


@pytest.mark.parametrize("name", ["LIMIT_REPORT_PER_IP", "LIMIT_SIGN_IN_PER_ACCOUNT", "LIMIT_RESET_PER_LINK"])
def test_a_malformed_limit_stops_start_up_naming_it(name: str) -> None:
    """Issue 11, item 3: before, a typo silently turned the limit off."""
    with pytest.raises(ConfigurationError, match=f"{name} must be rates like"):
        load_settings({**PRODUCTION, name: "ten a minute"})


def test_production_chooses_where_limits_are_counted() -> None:
    with pytest.raises(ConfigurationError, match="RATELIMIT_STORAGE_URI is required"):
        load_settings({k: v for k, v in PRODUCTION.items() if k != "RATELIMIT_STORAGE_URI"})
    with pytest.raises(ConfigurationError, match="memory:// or a redis:// URL"):
        load_settings({**PRODUCTION, "RATELIMIT_STORAGE_URI": "memcached://x"})
    assert load_settings({**PRODUCTION, "RATELIMIT_STORAGE_URI": "memory://"})["RATELIMIT_STORAGE_URI"] == "memory://"


@pytest.mark.parametrize(
    "workers,arguments,storage,refused",
    [
        ("3", [], "memory://", True),
        ("1", ["-w", "3"], "memory://", True),  # workers given on the command line count too
        ("1", [], "memory://", False),
        ("3", [], "redis://127.0.0.1:6379/0", False),
    ],
)
def test_gunicorn_refuses_per_process_limits_with_several_workers(
    workers: str, arguments: list[str], storage: str, refused: bool
) -> None:
    """Issue 11, item 3: eight workers counting apart let a '10 per minute' limit pass 45 reports."""
    import urllib.request

    from tests.live import wait_for

    process, port = _gunicorn({"GUNICORN_WORKERS": workers, "RATELIMIT_STORAGE_URI": storage}, arguments)
    try:
        if refused:
            _out, err = process.communicate(timeout=60)
            assert process.returncode != 0 and "would let each worker allow the whole of every rate limit" in err
        else:

            def serving() -> bool:
                try:
                    return urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2).status == 200
                except OSError:
                    return False

            wait_for(serving, "gunicorn", seconds=60)
    finally:
        _stopped(process)


def _gunicorn(changes: dict[str, str], arguments: list[str] | tuple[str, ...] = ()) -> tuple[Any, int]:
    """gunicorn started as production starts it (gunicorn.conf.py, the production settings with `changes`,
    `arguments` on its command line), its error log piped; the process and the port it binds."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    from tests.helpers import free_port

    port = free_port()
    env = {**os.environ, **PRODUCTION, "GUNICORN_BIND": f"127.0.0.1:{port}", **changes}
    env.pop("TEST_DATABASE", None)
    process = subprocess.Popen(
        [str(Path(sys.executable).parent / "gunicorn"), "-c", "gunicorn.conf.py", *arguments, "wsgi:app"],
        cwd=Path(__file__).resolve().parent.parent,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    return process, port


def test_relay_credentials_never_in_clear_text() -> None:
    with pytest.raises(ConfigurationError, match="MAIL_USE_TLS=true or MAIL_USE_SSL=true"):
        load_settings({**PRODUCTION, "MAIL_USERNAME": "relay", "MAIL_PASSWORD": "secret", "MAIL_USE_TLS": "false"})
    assert load_settings({**PRODUCTION, "MAIL_USERNAME": "relay", "MAIL_PASSWORD": "s", "MAIL_USE_TLS": "true"})


@pytest.mark.parametrize("environ", [{"SESSION_COOKIE_SECURE": "false"}, {"FLASK_SESSION_COOKIE_SECURE": "false"}])
def test_no_host_prefix_without_secure(environ, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Issue 11, item 8: a __Host- cookie without Secure is thrown away by browsers."""
    assert create_app(environ=PRODUCTION).config["SESSION_COOKIE_NAME"] == "__Host-session"
    for name, value in environ.items():
        monkeypatch.setenv(name, value)  # FLASK_* is read from the process environment
    app = create_app(environ={**PRODUCTION, **environ})
    assert app.config["SESSION_COOKIE_SECURE"] is False and app.config["SESSION_COOKIE_NAME"] == "session"


@pytest.mark.parametrize(
    "environ,size",
    [({}, 16), ({"GUNICORN_THREADS": "24"}, 24), ({"GUNICORN_THREADS": "24", "DATABASE_POOL_SIZE": "7"}, 7)],
)
def test_the_connection_pool_fits_the_threads(database_url: str, environ: dict[str, str], size: int) -> None:
    """Issue 17: SQLAlchemy's default pool (5 + 10) is smaller than a gunicorn worker's 16 threads, so the
    16th waited for a connection. A real engine on a SQLite file (or PostgreSQL) keeps DATABASE_POOL_SIZE
    connections, by default as many as gunicorn's threads, and opens POOL_OVERFLOW more, no further."""
    from sqlalchemy.exc import TimeoutError as PoolTimeout
    from sqlalchemy.pool import QueuePool

    from incident_service.database import POOL_OVERFLOW
    from incident_service.extensions import db

    app = create_app(
        {"SQLALCHEMY_ENGINE_OPTIONS": {"pool_timeout": 0.2}},  # given explicitly: kept beside the size
        environ={**PRODUCTION, "DATABASE_URL": database_url, **environ},
    )
    with app.app_context():
        engine = db.engine
        assert isinstance(engine.pool, QueuePool) and engine.pool.size() == size
        # Connections straight from the pool, as a thread's session takes them (no transaction: SQLite's
        # writers would take turns).
        held = [engine.raw_connection() for _ in range(size + POOL_OVERFLOW)]
        try:
            for connection in held:
                cursor = connection.cursor()
                cursor.execute("SELECT 1")
                assert cursor.fetchone() == (1,)
                cursor.close()
            with pytest.raises(PoolTimeout):
                engine.raw_connection()
        finally:
            for connection in held:
                connection.close()
            engine.dispose()


def test_a_pool_size_given_in_engine_options_wins(database_url: str) -> None:
    from sqlalchemy.pool import QueuePool

    from incident_service.extensions import db

    app = create_app(
        {"SQLALCHEMY_ENGINE_OPTIONS": {"pool_size": 3}}, environ={**PRODUCTION, "DATABASE_URL": database_url}
    )
    with app.app_context():
        assert isinstance(db.engine.pool, QueuePool) and db.engine.pool.size() == 3
        db.engine.dispose()


def test_sqlite_in_memory_starts_with_its_one_connection() -> None:
    """In-memory SQLite gets Flask-SQLAlchemy's StaticPool (one connection every thread shares), which
    refuses a pool size: the setting is not applied to it, and the app starts and answers."""
    from sqlalchemy import text
    from sqlalchemy.pool import StaticPool

    from incident_service.extensions import db

    for url in ("sqlite://", "sqlite:///:memory:"):
        app = create_app(environ={**PRODUCTION, "DATABASE_URL": url, "DATABASE_POOL_SIZE": "32"})
        try:
            with app.app_context():
                assert isinstance(db.engine.pool, StaticPool)
                assert db.session.execute(text("SELECT 1")).scalar() == 1
            assert app.test_client().get("/healthz").status_code == 200
        finally:
            with app.app_context():
                db.engine.dispose()  # its one connection closed, not left to the collector (3.13 warns)


def test_a_malformed_pool_size_stops_the_app_from_starting() -> None:
    with pytest.raises(ConfigurationError, match="DATABASE_POOL_SIZE must be a whole number, not '16 threads'"):
        create_app(environ={**PRODUCTION, "DATABASE_POOL_SIZE": "16 threads"})


def _stopped(process: Any) -> None:
    """Stop gunicorn at once (SIGINT: its quick shutdown), even with workers still booting, which a
    graceful stop may wait for up to its 30 s; killed if still there after that."""
    import signal
    import subprocess

    if process.poll() is None:
        process.send_signal(signal.SIGINT)
    try:
        process.communicate(timeout=40)
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate()


def _gunicorn_start_up_line(database_url: str, pool: str, wanted: str) -> str:
    """The first line gunicorn writes that contains `wanted`, started with 2 workers on `database_url`."""
    import time

    process, _port = _gunicorn({"DATABASE_URL": database_url, "GUNICORN_WORKERS": "2", "DATABASE_POOL_SIZE": pool})
    line = ""
    try:
        deadline = time.monotonic() + 60
        while wanted not in line and time.monotonic() < deadline and process.poll() is None:
            line = process.stderr.readline()
    finally:
        _stopped(process)
    return line


@pytest.mark.parametrize("pool,warned", [("100", True), ("8", False)])
def test_gunicorn_says_whether_postgresql_accepts_its_workers_connections(postgres, pool: str, warned: bool) -> None:  # type: ignore[no-untyped-def]
    """Issue 17: each worker may open DATABASE_POOL_SIZE + 4 connections; PostgreSQL refuses those past
    max_connections (the test server's 200, less 3 for superusers), and a report that gets none fails with
    503. gunicorn says at start-up how many its workers may open, and warns when they could pass the limit."""
    if postgres is None:
        pytest.skip("PostgreSQL's max_connections: run with TEST_DATABASE=postgresql")
    said = _gunicorn_start_up_line(postgres.url("template_app"), pool, "connections to PostgreSQL")
    needed = 2 * (int(pool) + 4)
    assert f"2 workers × (DATABASE_POOL_SIZE {pool} + 4 under a burst) may open {needed} connections" in said
    assert "which accepts 197" in said
    assert ("[WARNING]" in said and "Raise max_connections" in said) is warned
    assert ("[INFO]" in said) is not warned


def test_gunicorn_starts_when_postgresql_cannot_be_asked() -> None:
    """The database may start after the web server: the check is skipped, and the log says so."""
    from tests.helpers import free_port

    said = _gunicorn_start_up_line(f"postgresql://nobody@127.0.0.1:{free_port()}/none", "8", "could not ask")
    assert "[WARNING]" in said and "could not ask PostgreSQL how many connections it accepts" in said


def test_each_gunicorn_worker_freezes_what_it_made_while_loading_the_app() -> None:
    """gunicorn.conf.py's post_worker_init, as gunicorn calls it in a worker with the app loaded: what the
    process holds is moved out of the cyclic collector's way (gc.freeze), what is garbage collected first.
    In a process of its own: the hook's full collection and freeze would reach into this test run's state
    (other tests' unclosed connections, the .env it loads)."""
    import subprocess
    import sys
    from pathlib import Path

    check = """
import gc, runpy, weakref
gc.disable()  # no automatic collection frees the cycle before the hook does
hooks = runpy.run_path("gunicorn.conf.py")
class Node: pass
cycle = Node()
cycle.itself = cycle  # garbage only the cyclic collector finds
gone = weakref.ref(cycle)
del cycle
assert gc.get_freeze_count() == 0
hooks["post_worker_init"](None)
print(gc.get_freeze_count(), gone() is None)
"""
    done = subprocess.run(
        [sys.executable, "-c", check],
        cwd=Path(__file__).resolve().parent.parent,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    frozen, collected = done.stdout.split()
    assert int(frozen) > 1000
    assert collected == "True"  # collected, not frozen for ever
