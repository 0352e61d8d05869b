"""Bulk inserts (database.insert_tuples): many rows per INSERT on SQLite, COPY on PostgreSQL, in order,
every value as given, and a refused row refused as from any statement; and the page size of a new SQLite
database."""

from __future__ import annotations

import sqlite3
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import create_engine, select
from sqlalchemy.exc import IntegrityError

from incident_service import database
from incident_service.audit.models import AuditEvent
from incident_service.database import bind_value, insert_tuples, table_of
from incident_service.extensions import db

COLUMNS = ["occurred_at", "action", "actor", "customer_id", "incident_id", "report_id", "data", "prev_hash", "hash"]
# Text that a COPY's or a multi-row INSERT's spelling could get wrong: tabs, newlines, backslashes, quotes,
# a NUL-free control character, Vietnamese, and what COPY's text format reads as NULL.
AWKWARD = "tab\there\nnew line \\ back\\slash 'single' \"double\" \x07 Nguyễn \\N ,;"


def rows(count: int, start: datetime) -> list[tuple[object, ...]]:
    table = table_of(AuditEvent)
    connection = db.session.connection()
    return [
        (
            bind_value(connection, table, "occurred_at", start + timedelta(microseconds=n)),
            "cli:customer:added",
            f"{AWKWARD} {n}",
            None,
            None,
            None,
            "{}" if n % 2 else AWKWARD,
            "",
            f"{n:064x}",
        )
        for n in range(count)
    ]


@pytest.mark.parametrize(
    "count",
    [
        1,  # one row, one statement
        database.POSTGRESQL_COPY_FROM_ROWS - 1,  # PostgreSQL's executemany; on SQLite less than one full INSERT
        database.SQLITE_VALUES_PER_INSERT // len(COLUMNS) * 2,  # SQLite: two whole large INSERTs; PostgreSQL: COPY
        # SQLite: three large INSERTs, two smaller ones and one for the rest
        database.SQLITE_VALUES_PER_INSERT // len(COLUMNS) * 3
        + database.SQLITE_VALUES_PER_SMALL_INSERT // len(COLUMNS) * 2
        + 7,
    ],
)
def test_rows_arrive_in_order_with_every_value_as_given(app_context, count: int) -> None:  # type: ignore[no-untyped-def]
    start = datetime(2026, 11, 30, 5, 0, tzinfo=timezone.utc)
    given = rows(count, start)
    before = db.session.scalar(select(AuditEvent.id).order_by(AuditEvent.id.desc()).limit(1)) or 0
    insert_tuples(db.session.connection(), table_of(AuditEvent), COLUMNS, given)
    stored = (
        db.session.execute(select(AuditEvent).where(AuditEvent.id > before).order_by(AuditEvent.id)).scalars().all()
    )
    assert len(stored) == count
    assert [event.hash for event in stored] == [f"{n:064x}" for n in range(count)]  # ids follow the list
    for n, event in enumerate(stored):
        assert event.actor == f"{AWKWARD} {n}"
        assert event.data == ("{}" if n % 2 else AWKWARD)
        assert event.occurred_at == start + timedelta(microseconds=n)
        assert (event.customer_id, event.incident_id, event.report_id, event.leaf_index) == (None, None, None, None)
        assert event.prev_hash == ""


@pytest.mark.parametrize("count", [3, database.POSTGRESQL_COPY_FROM_ROWS * 2])
def test_a_refused_row_raises_integrity_error_and_writes_nothing(app_context, count: int) -> None:  # type: ignore[no-untyped-def]
    """Two rows with one leaf index (a unique column): the statement, or the COPY, is refused as a whole;
    the session goes on after its savepoint."""
    given = [
        row + (7 if n in (1, count - 1) else None,) for n, row in enumerate(rows(count, datetime.now(timezone.utc)))
    ]
    before = db.session.scalar(select(AuditEvent.id).order_by(AuditEvent.id.desc()).limit(1)) or 0
    with pytest.raises(IntegrityError):
        with db.session.begin_nested():
            insert_tuples(db.session.connection(), table_of(AuditEvent), [*COLUMNS, "leaf_index"], given)
    assert db.session.scalar(select(AuditEvent.id).where(AuditEvent.id > before)) is None
    insert_tuples(db.session.connection(), table_of(AuditEvent), COLUMNS, rows(2, datetime.now(timezone.utc)))
    assert len(db.session.execute(select(AuditEvent.id).where(AuditEvent.id > before)).all()) == 2


@pytest.mark.sqlite_only
def test_no_insert_binds_more_values_than_the_library_allows(app_context) -> None:  # type: ignore[no-untyped-def]
    """A library built with a lower SQLITE_LIMIT_VARIABLE_NUMBER (999 before SQLite 3.32) refuses a larger
    statement with "too many SQL variables": insert_tuples reads the connection's own limit."""
    connection = db.session.connection()
    dbapi_connection = connection.connection.dbapi_connection
    assert isinstance(dbapi_connection, sqlite3.Connection)
    limit = sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER
    allowed = dbapi_connection.getlimit(limit)
    dbapi_connection.setlimit(limit, 400)
    try:
        before = db.session.scalar(select(AuditEvent.id).order_by(AuditEvent.id.desc()).limit(1)) or 0
        insert_tuples(connection, table_of(AuditEvent), COLUMNS, rows(1000, datetime.now(timezone.utc)))
    finally:
        dbapi_connection.setlimit(limit, allowed)
    stored = db.session.scalars(select(AuditEvent.hash).where(AuditEvent.id > before).order_by(AuditEvent.id)).all()
    assert stored == [f"{n:064x}" for n in range(1000)]


@pytest.mark.sqlite_only
def test_a_new_sqlite_database_has_larger_pages_and_an_old_one_keeps_its_own(tmp_path: Path) -> None:
    old = tmp_path / "old.sqlite"
    with sqlite3.connect(old) as made_before:  # SQLite's default size, as databases made before issue 17
        made_before.execute("PRAGMA page_size = 4096")
        made_before.execute("CREATE TABLE kept (id INTEGER PRIMARY KEY)")
        made_before.execute("INSERT INTO kept VALUES (1)")
    made_before.close()
    for path, expected in ((tmp_path / "new.sqlite", database.SQLITE_PAGE_SIZE), (old, 4096)):
        engine = create_engine(f"sqlite:///{path}")
        database.configure_sqlite(engine, busy_timeout_ms=1000)
        try:
            with engine.begin() as connection:
                connection.exec_driver_sql("CREATE TABLE IF NOT EXISTS kept (id INTEGER PRIMARY KEY)")
                assert connection.exec_driver_sql("PRAGMA page_size").scalar_one() == expected
                assert connection.exec_driver_sql("PRAGMA journal_mode").scalar_one() == "wal"
        finally:
            engine.dispose()
    assert database.SQLITE_PAGE_SIZE != 4096


def test_only_the_app_s_sqlite_holds_the_write_lock_from_begin(app_context, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """receive_report's opening skips its savepoint only where no other writer can act between its check
    and its insert: the app's SQLite (BEGIN IMMEDIATE). Not PostgreSQL, nor SQLite reached some other way."""
    connection = db.session.connection()
    assert database.holds_write_lock_from_begin(connection) is (connection.dialect.name == "sqlite")
    plain = create_engine(f"sqlite:///{tmp_path / 'plain.sqlite3'}")
    try:
        with plain.connect() as other:
            assert not database.holds_write_lock_from_begin(other)
    finally:
        plain.dispose()
