"""Column types and engine settings shared by every model: UTC timestamps, SQLite transaction mode."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, TypeVarTuple

from sqlalchemy import DateTime, Select, Table, event
from sqlalchemy.engine import Connection, Engine
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


def configure_sqlite(engine: Engine, busy_timeout_ms: int) -> None:
    """Make SQLite safe for concurrent writers; a writer waits `busy_timeout_ms` for the lock, then fails.

    pysqlite's own transaction handling starts transactions late and deferred, so two writers can
    both read and then fail to upgrade their lock. We take over: WAL for concurrent readers, a busy
    timeout, and BEGIN IMMEDIATE so a writing transaction holds the write lock from its first statement.
    """
    if engine.dialect.name != "sqlite":
        return

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        cursor.execute("PRAGMA foreign_keys=ON")
        # FULL: a commit is on disk before we answer the reporter, even across a power cut.
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")


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
    """Insert many rows, each a list of values for `names`, with one executemany straight to the driver.

    For bulk paths only (incidents.bulk, audit.append_events): it skips SQLAlchemy's per-row parameter
    processing, which costs more than the database's own work at a hundred thousand rows. It is still
    typed: each column's bind processor (e.g. UTCDateTime to naive UTC) runs, memoised per distinct value,
    and a column left out gets its scalar default as Core would give it (a callable default is not
    called: give such columns in every row). The lists are completed in place.
    """
    if not rows:
        return
    dialect = connection.dialect
    defaults = {
        column.name: column.default.arg
        for column in table.columns
        if column.name not in names and isinstance(column.default, ScalarElementColumnDefault)
    }
    columns = [*names, *defaults]
    converting: list[tuple[int, Any]] = []
    for index, name in enumerate(columns):
        processor = table.c[name].type.dialect_impl(dialect).bind_processor(dialect)
        if processor is not None:
            memo: dict[Any, Any] = {}
            converting.append(
                (index, lambda value, p=processor, m=memo: m[value] if value in m else m.setdefault(value, p(value)))
            )
    fixed = list(defaults.values())
    params = []
    for values in rows:
        values += fixed
        for index, convert in converting:
            values[index] = convert(values[index])
        params.append(tuple(values))
    insert_tuples(connection, table, columns, params)


def insert_tuples(connection: Connection, table: Table, columns: list[str], params: list[tuple[Any, ...]]) -> None:
    """insert_rows for values already as the driver takes them (see bind_value), one tuple a row."""
    placeholder = driver_placeholder(connection)
    connection.exec_driver_sql(
        f"INSERT INTO {table.name} ({', '.join(columns)}) VALUES ({', '.join([placeholder] * len(columns))})", params
    )


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
