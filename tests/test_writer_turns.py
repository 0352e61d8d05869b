"""SQLite's writers take turns within a process (database.WriterTurns, issue 17): in the order they came,
each turn given back however its transaction ends, a wait bounded as SQLite's own is, and the wait kept
out of the answer floor's clock (R3: it is the same for every reporter)."""

from __future__ import annotations

import threading
import time

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from incident_service.answer_floor import working_clock
from incident_service.database import waited_for_writer_turns
from incident_service.extensions import db

pytestmark = pytest.mark.real_commits


def sqlite_only(app) -> None:  # type: ignore[no-untyped-def]
    with app.app_context():
        if db.engine.dialect.name != "sqlite":
            pytest.skip("writer turns are SQLite's; PostgreSQL writers wait on the rows they touch")


@pytest.mark.settings(DATABASE_LOCK_TIMEOUT_MS=300)
@pytest.mark.parametrize("ending", ["commit", "rollback", "close", "invalidate"])
def test_a_turn_is_given_back_however_the_transaction_ends(app, ending: str) -> None:  # type: ignore[no-untyped-def]
    sqlite_only(app)
    with app.app_context():
        connection = db.engine.connect()
        connection.execute(text("SELECT 1"))  # BEGIN IMMEDIATE: this connection has the turn
        if ending == "commit":
            connection.commit()
        elif ending == "rollback":
            connection.rollback()
        elif ending == "invalidate":
            connection.invalidate()
        connection.close()
        wrote: list[bool] = []
        other = threading.Thread(target=lambda: wrote.append(_write_once(app)))
        other.start()
        other.join(timeout=10)
        assert wrote == [True]  # it got the turn (a turn kept would fail it after the 300 ms timeout)


def _write_once(app) -> bool:  # type: ignore[no-untyped-def]
    with app.app_context():
        with db.engine.begin() as connection:
            connection.execute(text("SELECT 1"))
    return True


def test_a_writer_waits_its_turn_and_the_answer_floor_does_not_count_the_wait(app) -> None:  # type: ignore[no-untyped-def]
    sqlite_only(app)
    holding, hold_for = threading.Event(), 0.3
    figures: dict[str, float] = {}

    def first() -> None:
        with app.app_context(), db.engine.begin() as connection:
            connection.execute(text("SELECT 1"))
            holding.set()
            time.sleep(hold_for)

    def second() -> None:
        holding.wait(timeout=10)
        waited_before, wall, work = waited_for_writer_turns(), time.perf_counter(), working_clock()
        _write_once(app)
        figures["waited"] = waited_for_writer_turns() - waited_before
        figures["wall"] = time.perf_counter() - wall
        figures["work"] = working_clock() - work

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=20)
    assert figures["waited"] > hold_for / 2  # it waited for the first writer's turn
    # The floor's work clock left that wait out (a bound, not a timing: the wait was at least half of
    # the first writer's hold, however slow the machine).
    assert figures["work"] < figures["wall"] - hold_for / 2


@pytest.mark.settings(DATABASE_LOCK_TIMEOUT_MS=300)
def test_a_turn_not_given_in_time_fails_as_sqlite_would(app) -> None:  # type: ignore[no-untyped-def]
    sqlite_only(app)
    with app.app_context():
        holder = db.engine.connect()
        holder.execute(text("SELECT 1"))
        failure: list[BaseException] = []

        def late() -> None:
            try:
                _write_once(app)
            except OperationalError as error:
                failure.append(error)

        thread = threading.Thread(target=late)
        thread.start()
        thread.join(timeout=30)
        holder.rollback()
        holder.close()
        # Wrapped as SQLAlchemy wraps SQLite's own: the web answers 503, the listener 451.
        assert failure and "database is locked" in str(failure[0])
        _write_once(app)  # and the turn is free again
