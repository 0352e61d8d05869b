"""How a test's database is kept apart from every other test's.

By default a test runs in one transaction on a database shared by the whole session (its schema made once),
rolled back when the test ends: SQLAlchemy's "join a session into an external transaction" recipe. The
test's app opens one connection from its own engine (so SQLite's BEGIN IMMEDIATE, PostgreSQL's lock and
statement timeouts, foreign keys: all as in production) and begins a transaction on it; every session
`db.session` makes, one per app context, is bound to that connection with
join_transaction_mode="create_savepoint". The code's db.session.commit() then releases a SAVEPOINT, its
rollback() rolls back to one, and closing a session rolls back what it left uncommitted, as it would have.
Row locks (FOR UPDATE) and the audit chain's advisory lock (pg_advisory_xact_lock) are taken for real and
held by that one connection until the end of the test; nothing else contends for them.

What a test makes this way is seen only through `db.session`, in the test's own thread. A test whose data
must be seen elsewhere (another thread, process, connection or engine: listeners, live servers, races,
migrations, subprocesses) is marked `real_commits` and gets a fresh database of its own where commits are
real, as every test did before (see REAL_COMMITS_FIXTURES and conftest.py for the ones marked
automatically). A test that needs it and lacks it fails, and says why: the guard below refuses the
connection to any other thread, refuses a second connection from the app's engine, refuses a commit of
the outer transaction, and after the rollback the shared database must be as it was, empty and with the
same schema, or the test fails (and the database is emptied for the next one).
"""

from __future__ import annotations

import threading
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Iterator

import pytest
from flask import Flask
from sqlalchemy import event
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session, SessionTransaction, close_all_sessions, scoped_session, sessionmaker

from incident_service import create_app
from incident_service.extensions import db
from incident_service.reports.month_index import create_month_index

REAL_COMMITS = "real_commits"
REAL_COMMITS_HELP = (
    "real_commits: commits for real, on a fresh database of the test's own (the default is one rolled-back "
    "transaction on a shared database); for tests whose data another thread, process, connection or engine "
    "must see"
)
# Asking for one of these means reaching the database other than through db.session in the test's thread.
REAL_COMMITS_FIXTURES = {"database_url", "empty_database_url", "live_server"}
HINT = (
    " This test runs inside one rolled-back transaction, seen only through db.session in the test's own "
    "thread: mark it @pytest.mark.real_commits to give it a fresh database where commits are real."
)


class IsolationError(RuntimeError):
    """The test reached the database in a way its rolled-back transaction cannot serve."""


@dataclass(frozen=True)
class SharedDatabase:
    """The session's database for tests that roll back, and what it must look like between tests."""

    url: str
    tables: tuple[str, ...]  # parents first
    schema: tuple[tuple[str, ...], ...]
    sequences: tuple[str, ...]  # PostgreSQL's, restarted before each test as a fresh copy has them
    display_timezone: str  # the zone whose month index create_all made


def make_shared_database(url: str, *, create: bool) -> SharedDatabase:
    """Describe the database at `url`, creating its tables first if `create` (SQLite)."""
    app = create_app(environ={"APP_ENV": "testing", "DATABASE_URL": url})
    with app.app_context():
        if create:
            db.create_all()
        with db.engine.connect() as connection:
            schema = schema_of(connection)
            sequences: tuple[str, ...] = ()
            if connection.dialect.name == "postgresql":
                sequences = tuple(
                    connection.exec_driver_sql(
                        "SELECT sequence_name FROM information_schema.sequences WHERE sequence_schema = 'public'"
                        " ORDER BY sequence_name"
                    ).scalars()
                )
            assert not leftovers(connection, [table.name for table in db.metadata.sorted_tables])
        db.engine.dispose()
        return SharedDatabase(
            url=url,
            tables=tuple(table.name for table in db.metadata.sorted_tables),
            schema=schema,
            sequences=sequences,
            display_timezone=app.config["DISPLAY_TIMEZONE"],
        )


def schema_of(connection: Connection) -> tuple[tuple[str, ...], ...]:
    """Every table, index, sequence and view, as the database lists them."""
    if connection.dialect.name == "sqlite":
        query = "SELECT type, name, coalesce(sql, '') FROM sqlite_master ORDER BY type, name"
    else:
        query = (
            "SELECT c.relkind::text, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE n.nspname = 'public' ORDER BY 1, 2"
        )
    return tuple(tuple(row) for row in connection.exec_driver_sql(query))


def leftovers(connection: Connection, tables: list[str] | tuple[str, ...]) -> list[str]:
    """The tables that have any row."""
    quote = connection.dialect.identifier_preparer.quote
    query = " UNION ALL ".join(f"SELECT '{name}' WHERE EXISTS (SELECT 1 FROM {quote(name)})" for name in tables)
    return list(connection.exec_driver_sql(query).scalars())


@dataclass
class Guard:
    """Refuses what the test's one transaction cannot serve, and remembers it for the teardown."""

    owner: int = field(default_factory=threading.get_ident)
    violations: list[str] = field(default_factory=list)
    open_sessions: set[int] = field(default_factory=set)

    def refuse(self, what: str) -> None:
        self.violations.append(what)
        raise IsolationError(what + HINT)

    def check_thread(self) -> None:
        if threading.get_ident() != self.owner:
            self.refuse(f"The database was used from thread {threading.current_thread().name!r}.")

    def on_execute(self, *_args: Any) -> None:
        self.check_thread()

    def on_checkout(self, *_args: Any) -> None:
        self.refuse(
            "A second connection was taken from the app's engine (the code or the test went around db.session)."
        )

    def on_commit(self, *_args: Any) -> None:
        self.refuse("The test's outer transaction was committed.")

    def on_session_begin(self, session: Session, transaction: SessionTransaction, _connection: Any) -> None:
        if transaction.parent is not None:
            return
        self.open_sessions.add(id(session))
        if len(self.open_sessions) > 1:
            # Apart, each would wait for the other's locks (SQLite: the write lock, from BEGIN IMMEDIATE) and
            # not see its uncommitted rows; on one connection they would see each other's rows and pass.
            self.refuse(
                "Two sessions (two app contexts) had a transaction open at once; on their own connections the"
                " second would wait for the first's locks and not see its uncommitted rows."
            )

    def on_session_end(self, session: Session, transaction: SessionTransaction) -> None:
        if transaction.parent is None:
            self.open_sessions.discard(id(session))


@dataclass
class Joined:
    """What a test in a rolled-back transaction runs on (the `joined` fixture)."""

    connection: Connection
    guard: Guard


def joined_sessions(original: scoped_session[Any], connection: Connection, guard: Guard) -> scoped_session[Any]:
    """`db.session` as the app made it (same class, options and app-context scope), every session of it
    joined to `connection` with a savepoint."""
    factory = original.session_factory

    class JoinedSession(factory.class_):  # type: ignore[name-defined,misc]
        def get_bind(self, mapper: Any = None, clause: Any = None, bind: Any = None, **kwargs: Any) -> Any:
            # Flask-SQLAlchemy's get_bind picks the app's engine and never looks at the session's bind.
            guard.check_thread()
            return bind if bind is not None else connection

    event.listen(JoinedSession, "after_begin", guard.on_session_begin)
    event.listen(JoinedSession, "after_transaction_end", guard.on_session_end)
    options = {**factory.kw, "bind": connection, "join_transaction_mode": "create_savepoint"}
    return scoped_session(sessionmaker(class_=JoinedSession, **options), scopefunc=original.registry.scopefunc)


@contextmanager
def rolled_back(app: Flask, shared: SharedDatabase) -> Iterator[Joined]:
    """Run with `app` (on `shared`) inside one transaction, rolled back at the end; then check that the
    shared database is as it was, and fail the test if it is not."""
    with app.app_context():
        engine = db.engine
    connection = engine.connect()
    transaction = connection.begin()
    guard = Guard()
    event.listen(connection, "before_cursor_execute", guard.on_execute)
    event.listen(connection, "commit", guard.on_commit)
    event.listen(engine, "checkout", guard.on_checkout)
    if shared.sequences:
        # Sequences ignore rollbacks: restart them, so ids start at 1 as in a fresh copy of the template.
        connection.exec_driver_sql("SELECT " + ", ".join(f"setval('{name}', 1, false)" for name in shared.sequences))
    if app.config["DISPLAY_TIMEZONE"] != shared.display_timezone:
        create_month_index(connection, app.config["DISPLAY_TIMEZONE"])  # as the app's own create_all would
    original = db.session
    db.session = joined_sessions(original, connection, guard)  # type: ignore[method-assign]
    try:
        yield Joined(connection, guard)
    finally:
        close_all_sessions()
        db.session = original  # type: ignore[method-assign]
        event.remove(engine, "checkout", guard.on_checkout)
        event.remove(connection, "commit", guard.on_commit)
        event.remove(connection, "before_cursor_execute", guard.on_execute)
        problems = list(guard.violations)
        if transaction.is_active:
            transaction.rollback()
        else:
            problems.append("The test's outer transaction ended before the test did.")
        try:
            left = leftovers(connection, shared.tables)
            if left:
                problems.append(f"Rows were left in the shared database after the rollback: {', '.join(left)}.")
                for name in reversed(shared.tables):
                    connection.exec_driver_sql(f"DELETE FROM {connection.dialect.identifier_preparer.quote(name)}")
                connection.commit()
            if schema_of(connection) != shared.schema:
                problems.append("The shared database's schema changed and stayed changed after the rollback.")
            connection.rollback()
        finally:
            connection.close()
            engine.dispose()
        if problems:
            pytest.fail(" ".join(dict.fromkeys(problems)) + HINT, pytrace=False)
