"""Bulk inserts (database.insert_tuples): many rows per INSERT on SQLite, COPY on PostgreSQL, in order,
every value as given, and a refused row refused as from any statement."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select
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
        database.SQLITE_VALUES_PER_INSERT // len(COLUMNS) * 3 + 7,  # SQLite: three full INSERTs and the rest
        database.SQLITE_VALUES_PER_INSERT // len(COLUMNS) * 2,  # and no rest; PostgreSQL: COPY
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
