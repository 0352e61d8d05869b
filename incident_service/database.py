"""Column types and engine settings shared by every model: UTC timestamps, SQLite transaction mode."""

from __future__ import annotations

import sqlite3
import threading
import time
from datetime import datetime, timezone
from itertools import chain
from typing import Any, Mapping, TypeVarTuple, cast

from sqlalchemy import DateTime, Select, Table, create_engine, event
from sqlalchemy.engine import Connection, Dialect, Engine, make_url
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.pool import NullPool, QueuePool
from sqlalchemy.sql.schema import ScalarElementColumnDefault
from sqlalchemy.types import TypeDecorator


class UTCDateTime(TypeDecorator[datetime]):
    """Stores naive UTC, returns aware UTC; refuses naive input so no local time slips in."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(timezone.utc).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=timezone.utc)


# The columns a query selects, kept by the helpers that only add conditions to it.
Ts = TypeVarTuple("Ts")


def utcnow() -> datetime:
    """The company's clock: every received_at and legal timestamp comes from here (R4)."""
    return datetime.now(timezone.utc)


def configure_engine(engine: Engine, *, lock_timeout_ms: int, statement_timeout_ms: int) -> None:
    """Bound every wait for a lock: a writer waits `lock_timeout_ms` at most, then its statement fails
    (OperationalError: the web answers 503, the listener 451). On PostgreSQL, no statement runs longer
    than `statement_timeout_ms` either (0: no limit)."""
    if engine.dialect.name == "postgresql":

        @event.listens_for(engine, "connect")
        def _on_pg_connect(dbapi_connection: Any, _record: Any) -> None:
            with dbapi_connection.cursor() as cursor:
                cursor.execute(f"SET lock_timeout = {int(lock_timeout_ms)}")
                cursor.execute(f"SET statement_timeout = {int(statement_timeout_ms)}")
            dbapi_connection.commit()
    else:
        configure_sqlite(engine, lock_timeout_ms)


# Connections a pool may open beyond its size under a burst (a thread that briefly holds a second one),
# closed again when given back. The size itself is the DATABASE_POOL_SIZE setting.
POOL_OVERFLOW = 4


def pool_options(url: str, pool_size: int, options: Mapping[str, Any]) -> dict[str, Any]:
    """SQLALCHEMY_ENGINE_OPTIONS with the pool sized to `pool_size` (+ POOL_OVERFLOW), for a URL whose
    pool has a size (PostgreSQL, a SQLite file: QueuePool); `options` given explicitly win. SQLite in
    memory is left alone: its pool (Flask-SQLAlchemy's StaticPool, one shared connection) refuses a
    size. SQLAlchemy's own default, 5 + 10, is fewer than a gunicorn worker's 16 threads: the 16th
    waited for a connection, up to 30 seconds (issue 17)."""
    chosen = dict(options)
    parsed = make_url(url)
    poolclass = chosen.get("poolclass") or parsed.get_dialect()().get_dialect_pool_class(parsed)
    if isinstance(poolclass, type) and issubclass(poolclass, QueuePool):
        chosen.setdefault("pool_size", pool_size)
        chosen.setdefault("max_overflow", POOL_OVERFLOW)
    return chosen


def connections_accepted(url: str) -> int:
    """How many connections the PostgreSQL server at `url` accepts from roles that are not superusers:
    max_connections less those it keeps for superusers (and, from PostgreSQL 16, reserved_connections).
    One short connection, given up within 5 seconds if the server does not answer."""
    engine = create_engine(url, poolclass=NullPool, connect_args={"connect_timeout": 5})
    try:
        with engine.connect() as connection:
            accepted: int = connection.exec_driver_sql(
                "SELECT current_setting('max_connections')::int"
                " - current_setting('superuser_reserved_connections')::int"
                " - coalesce(current_setting('reserved_connections', true), '0')::int"
            ).scalar_one()
            return accepted
    finally:
        engine.dispose()


# Pages of 8 KiB rather than SQLite's 4 KiB for a database this service creates: a mass reactivation's
# 1,100,000 rows went in about a tenth faster (fewer pages of its indexes split and written to the WAL;
# 16 KiB gained nothing more), and a web report's commit, a few dozen pages, measured the same (issue 17).
# It is read when the file is created: an existing database keeps its size, which only a VACUUM outside
# WAL mode changes (README, DATABASE_URL).
SQLITE_PAGE_SIZE = 8192


def configure_sqlite(engine: Engine, busy_timeout_ms: int) -> None:
    """Make SQLite safe for concurrent writers; a writer waits `busy_timeout_ms` for the lock, then fails.

    pysqlite's own transaction handling starts transactions late and deferred, so two writers can
    both read and then fail to upgrade their lock. We take over: WAL for concurrent readers, a busy
    timeout, and BEGIN IMMEDIATE so a writing transaction holds the write lock from its first statement.
    """
    if engine.dialect.name != "sqlite":
        return

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, record: Any) -> None:
        record.info[_WRITE_LOCK_FROM_BEGIN] = True  # every transaction on it begins with BEGIN IMMEDIATE
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        # A new database gets pages of SQLITE_PAGE_SIZE; an existing one keeps its own (a no-op then).
        cursor.execute(f"PRAGMA page_size={SQLITE_PAGE_SIZE}")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        cursor.execute("PRAGMA foreign_keys=ON")
        # FULL: a commit is on disk before we answer the reporter, even across a power cut.
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.close()

    turns = WriterTurns(busy_timeout_ms)

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:  # every transaction: holds_write_lock_from_begin relies on it
        turns.begin(connection.connection.dbapi_connection)

    dialect = engine.dialect
    for name in ("do_commit", "do_rollback", "do_close"):
        setattr(dialect, name, turns.after(getattr(dialect, name)))


_waits = threading.local()
_WRITE_LOCK_FROM_BEGIN = "sqlite_write_lock_from_begin"


def holds_write_lock_from_begin(connection: Connection) -> bool:
    """Whether `connection` is a SQLite connection configure_sqlite set up, every transaction of which begins
    with BEGIN IMMEDIATE (its `_on_begin`) and so holds the database's one write lock from its first
    statement: no other writer can change anything between a read and a write of the same transaction.
    Not PostgreSQL's, nor a SQLite engine made some other way (pysqlite's own handling begins late and
    deferred). The mark is set as the connection is made; it holds only while `_on_begin` stays as it is."""
    return bool(connection.info.get(_WRITE_LOCK_FROM_BEGIN))


def _locked(why: str) -> OperationalError:
    """SQLAlchemy's error for SQLite's "database is locked", as SQLite's own busy timeout gives it."""
    return OperationalError("BEGIN IMMEDIATE", None, sqlite3.OperationalError(f"database is locked ({why})"))


def waited_for_writer_turns() -> float:
    """Seconds this thread has spent waiting for SQLite's writer turn (WriterTurns), ever. A report waits
    for it alike whoever it names, so the answer floor (R3) does not count it as the report's work."""
    seconds: float = getattr(_waits, "seconds", 0.0)
    return seconds


class WriterTurns:
    """SQLite has one writer at a time, and a writer that finds the lock taken polls for it, sleeping
    1, 2, 5, 10, 15, 20, 25 ms and more between tries (its busy handler): under load a transaction of 5 ms
    waited tens of milliseconds after the lock was free, a writer that had backed off long lost every
    race to fresh ones (seconds, between two gunicorn workers), and the web answers' 99th percentile,
    which the answer floor (R3) holds every report answer to, grew with it (issue 17).

    Instead, writers of one process take turns here (a lock: not strictly in the order they came, but no
    polling), and only the one whose turn it is asks SQLite for the lock (BEGIN IMMEDIATE), every half millisecond, so that processes get it
    about as often as each other. A turn is taken at BEGIN and given back when the connection commits,
    rolls back or closes, whichever comes first. The whole wait is bounded by the busy timeout (the
    DATABASE_LOCK_TIMEOUT_MS setting), then fails as SQLite would ("database is locked")."""

    POLL_SECONDS = 0.0005

    def __init__(self, timeout_ms: int) -> None:
        self._lock, self._giving_back = threading.Lock(), threading.Lock()
        self._timeout_ms = int(timeout_ms)
        self._holder: Any = None

    def begin(self, dbapi_connection: Any) -> None:
        """This process's turn, then SQLite's write lock: BEGIN IMMEDIATE on `dbapi_connection`."""
        asked = time.perf_counter()
        deadline = asked + self._timeout_ms / 1000
        try:
            if not self._lock.acquire(timeout=self._timeout_ms / 1000):
                raise _locked("a writer of this process held it")
            self._holder = dbapi_connection
            try:
                self._begin_immediate(dbapi_connection, deadline)
            except BaseException:
                self.give_back(dbapi_connection)
                raise
        finally:
            _waits.seconds = getattr(_waits, "seconds", 0.0) + time.perf_counter() - asked

    def _begin_immediate(self, dbapi_connection: Any, deadline: float) -> None:
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute("PRAGMA busy_timeout=0")  # our polling, not SQLite's backing off
            try:
                while True:
                    try:
                        cursor.execute("BEGIN IMMEDIATE")
                        return
                    except sqlite3.OperationalError as error:
                        if "locked" not in str(error) and "busy" not in str(error):
                            raise
                        if time.perf_counter() >= deadline:
                            raise _locked("another process held it") from error
                        time.sleep(self.POLL_SECONDS)
            finally:
                cursor.execute(f"PRAGMA busy_timeout={self._timeout_ms}")
        finally:
            cursor.close()

    def give_back(self, dbapi_connection: Any) -> None:
        with self._giving_back:  # the owner's commit and a close from elsewhere give it back once
            if self._holder is None or self._holder is not dbapi_connection:
                return
            self._holder = None
        self._lock.release()

    def after(self, operation: Any) -> Any:
        """`operation` (the dialect's commit, rollback or close of a DBAPI connection), then the turn back."""

        def operate(dbapi_connection: Any, *args: Any, **kwargs: Any) -> Any:
            try:
                return operation(dbapi_connection, *args, **kwargs)
            finally:
                self.give_back(getattr(dbapi_connection, "dbapi_connection", dbapi_connection))

        return operate


def table_of(model: type[Any]) -> Table:
    """The Core table a declarative model maps (typed `FromClause` on the class, a `Table` here)."""
    table = model.__table__
    if not isinstance(table, Table):
        raise TypeError(f"{model.__name__} maps {type(table).__name__}, not a Table")
    return table


def insert_rows(connection: Connection, table: Table, rows: list[dict[str, Any]]) -> None:
    """Insert many rows of the same shape, given as dicts (see insert_values)."""
    if rows:
        names = list(rows[0])
        insert_values(connection, table, names, [[row[name] for name in names] for row in rows])


def insert_values(connection: Connection, table: Table, names: list[str], rows: list[list[Any]]) -> None:
    """Insert many rows, each a list of values for `names`, straight to the driver (insert_tuples).

    For bulk paths only (incidents.bulk, audit.append_events): it skips SQLAlchemy's per-row parameter
    processing, which costs more than the database's own work at a hundred thousand rows. It is still
    typed: each column's bind processor (e.g. UTCDateTime to naive UTC) runs, memoised per distinct value,
    and a column left out gets its scalar default as Core would give it (a callable default is not
    called: give such columns in every row). The lists are completed in place.
    """
    if not rows:
        return
    columns, fixed, processors = _insert_plan(table, tuple(names), connection.dialect)
    converting: list[tuple[int, Any]] = []
    for index, processor in processors:
        memo: dict[Any, Any] = {}
        converting.append(
            (index, lambda value, p=processor, m=memo: m[value] if value in m else m.setdefault(value, p(value)))
        )
    params = []
    for values in rows:
        values += fixed
        for index, convert in converting:
            values[index] = convert(values[index])
        params.append(tuple(values))
    insert_tuples(connection, table, columns, params)


_PLANS: dict[tuple[Table, tuple[str, ...], type[Dialect]], tuple[list[str], list[Any], list[tuple[int, Any]]]] = {}


def _insert_plan(
    table: Table, names: tuple[str, ...], dialect: Dialect
) -> tuple[list[str], list[Any], list[tuple[int, Any]]]:
    """What insert_values works out from the table alone, once per table, columns and dialect (a single
    report's insert spent as long on it as SQLite did on the row: issue 17): every column written (`names`,
    then those left out that have a scalar default), those defaults, and the bind processors by position."""
    key = (table, names, type(dialect))
    plan = _PLANS.get(key)
    if plan is None:
        defaults = {
            column.name: column.default.arg
            for column in table.columns
            if column.name not in names and isinstance(column.default, ScalarElementColumnDefault)
        }
        columns = [*names, *defaults]
        processors = [
            (index, processor)
            for index, name in enumerate(columns)
            if (processor := table.c[name].type.dialect_impl(dialect).bind_processor(dialect)) is not None
        ]
        plan = _PLANS.setdefault(key, (columns, list(defaults.values()), processors))
    return plan


# SQLite: values bound by one INSERT of many rows. One statement of many rows' VALUES costs about a third
# less of SQLite's time than one row per statement (fewer statement starts, resets and bindings' calls), and
# statements of about ten thousand values some 8 % less again than statements of 999, SQLite's oldest
# limit (issue 17, mass reactivation; 32,000 gained nothing more). Never more than the library allows
# (SQLITE_LIMIT_VARIABLE_NUMBER: 32,766 since SQLite 3.32, 999 before). The driver keeps each statement it
# ran prepared, about 1 MB for one of ten thousand values, so only whole statements are that large: what
# is left of the rows goes in statements of at most SQLITE_VALUES_PER_SMALL_INSERT, then one for the rest.
SQLITE_VALUES_PER_INSERT = 9999
SQLITE_VALUES_PER_SMALL_INSERT = 999
# PostgreSQL: from this many rows, COPY FROM STDIN instead of executemany. Even pipelined, executemany
# makes the server parse, plan and run one INSERT per row: about twice COPY's time, and several times
# its client time (psycopg adapts each row's parameters). Below it, executemany's single round trip.
POSTGRESQL_COPY_FROM_ROWS = 64


def insert_tuples(connection: Connection, table: Table, columns: list[str], params: list[tuple[Any, ...]]) -> None:
    """insert_rows for values already as the driver takes them (see bind_value), one tuple a row, in
    order (a table's own ids follow it). Many rows go in as the database takes them fastest: several
    rows per INSERT on SQLite, COPY on PostgreSQL; a refused row raises IntegrityError either way."""
    if not params:
        return
    if connection.dialect.name == "postgresql" and len(params) >= POSTGRESQL_COPY_FROM_ROWS:
        _copy_rows(connection, table, columns, params)
        return
    placeholder = driver_placeholder(connection)
    row = f"({', '.join([placeholder] * len(columns))})"
    head = f"INSERT INTO {table.name} ({', '.join(columns)}) VALUES "
    done, per = 0, 1
    if connection.dialect.name == "sqlite":
        for most in _sqlite_values_per_insert(connection):
            per = most // len(columns)
            whole = (len(params) - done) // per * per if per > 1 else 0
            if whole:
                connection.exec_driver_sql(
                    head + ", ".join([row] * per),
                    [
                        tuple(chain.from_iterable(params[start : start + per]))
                        for start in range(done, done + whole, per)
                    ],
                )
                done += whole
    rest = params[done:]
    if len(rest) > 1 and per > 1:  # fewer rows than the smallest whole statement takes: one INSERT
        connection.exec_driver_sql(head + ", ".join([row] * len(rest)), tuple(chain.from_iterable(rest)))
    elif rest:
        connection.exec_driver_sql(head + row, rest)


def _sqlite_values_per_insert(connection: Connection) -> tuple[int, int]:
    """The values bound by a whole INSERT of many rows, then by a smaller one: insert_tuples' sizes,
    within what this connection's library allows."""
    dbapi_connection = cast(sqlite3.Connection, connection.connection.dbapi_connection)
    allowed = dbapi_connection.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)
    return min(SQLITE_VALUES_PER_INSERT, allowed), min(SQLITE_VALUES_PER_SMALL_INSERT, allowed)


def _copy_rows(connection: Connection, table: Table, columns: list[str], params: list[tuple[Any, ...]]) -> None:
    """COPY the rows in on the connection's own transaction (psycopg's text format: each value as its
    type's text, None as NULL); a driver error comes out as SQLAlchemy's, as from any statement."""
    statement = f"COPY {table.name} ({', '.join(columns)}) FROM STDIN"
    dbapi = connection.dialect.loaded_dbapi
    cursor = connection.connection.driver_connection.cursor()  # type: ignore[union-attr]
    try:
        with cursor.copy(statement) as copy:
            for values in params:
                copy.write_row(values)
    except dbapi.Error as error:
        lost = connection.dialect.is_disconnect(error, connection.connection.dbapi_connection, cursor)
        if lost:
            connection.invalidate(error)  # not back to the pool as if it were sound
        raise DBAPIError.instance(
            statement, None, error, dbapi.Error, dialect=connection.dialect, connection_invalidated=lost
        ) from error
    finally:
        if not cursor.closed:
            cursor.close()


def bind_value(connection: Connection, table: Table, column: str, value: Any) -> Any:
    """`value` as the driver takes it for `column` (its type's bind processing, e.g. UTC to naive)."""
    processor = table.c[column].type.dialect_impl(connection.dialect).bind_processor(connection.dialect)
    return processor(value) if processor is not None else value


def driver_placeholder(connection: Connection) -> str:
    """How the driver spells a positional parameter in SQL given to exec_driver_sql."""
    return "?" if connection.dialect.paramstyle == "qmark" else "%s"


def within(query: Select[*Ts], column: Any, start: datetime | None, end: datetime | None) -> Select[*Ts]:
    """`query` kept to rows whose `column` falls in [start, end); a missing bound is no limit."""
    if start is not None:
        query = query.where(column >= start)
    if end is not None:
        query = query.where(column < end)
    return query
