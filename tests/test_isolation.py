"""The test database's isolation (tests/isolation.py): the code's commits only release savepoints, every
test's rows are rolled back, locks work inside the outer transaction, and a test that reaches the database
any other way fails loudly instead of passing by luck."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from sqlalchemy import create_engine, event, func, select, text

from incident_service import create_app
from incident_service.audit.models import AuditEvent
from incident_service.audit.service import verify_chain
from incident_service.customers.models import Customer
from incident_service.extensions import db
from incident_service.incidents.models import Incident
from incident_service.notifications.delivery import deliver_due
from tests.helpers import make_customer, submit
from tests.isolation import IsolationError, leftovers, rolled_back

FIRST_TEST_ADDRESS = "first-of-two@example.com"
first_test_committed: list[int] = []


def listen(connection: Any, *names: str) -> list[str]:
    seen: list[str] = []
    for name in names:
        event.listen(connection, name, lambda *_args, name=name: seen.append(name))
    return seen


def test_commits_only_release_savepoints(app, joined, smtp_sink) -> None:  # type: ignore[no-untyped-def]
    seen = listen(joined.connection, "commit", "rollback", "savepoint", "release_savepoint", "rollback_savepoint")
    make_customer(app)  # the service's own db.session.commit()
    assert submit(app.test_client(), "/report", {"email": "an@example.com", "kind": "lost"}).status_code == 303
    with app.app_context():
        assert deliver_due().sent == 1  # commits the lease, then the outcome
    assert "commit" not in seen and "rollback" not in seen
    assert seen.count("release_savepoint") >= 3 and seen.count("savepoint") >= seen.count("release_savepoint")
    assert joined.connection.in_transaction() and not joined.connection.in_nested_transaction()
    with app.app_context():  # a new app context, a new session: it sees what the others committed
        assert db.session.scalar(select(func.count()).select_from(Incident)) == 1


def test_first_of_two_commits_rows(app, customer_id) -> None:  # type: ignore[no-untyped-def]
    """Runs before the next test (file order): commits rows in many tables, through the service and the web."""
    make_customer(app, FIRST_TEST_ADDRESS)
    assert submit(app.test_client(), "/report", {"email": FIRST_TEST_ADDRESS, "kind": "stolen"}).status_code == 303
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Customer)) == 2
        first_test_committed.append(db.session.scalar(select(func.count()).select_from(AuditEvent)))
    assert first_test_committed[0] > 0


def test_second_of_two_sees_none_of_them(app, joined) -> None:  # type: ignore[no-untyped-def]
    assert first_test_committed, "run in file order: the test before this one commits the rows it looks for"
    with app.app_context():
        assert db.session.execute(select(Customer).where(Customer.email == FIRST_TEST_ADDRESS)).first() is None
        assert db.session.scalar(select(func.count()).select_from(AuditEvent)) == 0
    assert leftovers(joined.connection, [table.name for table in db.metadata.sorted_tables]) == []
    # Ids start again at 1, as in a fresh database (PostgreSQL's sequences ignore rollbacks).
    assert make_customer(app, "again@example.com") == 1


def test_one_test_after_another_in_one_test(shared_database) -> None:  # type: ignore[no-untyped-def]
    """The same, independent of test order: two rolled-back runs one after the other."""
    app = create_app(environ={"APP_ENV": "testing", "DATABASE_URL": shared_database.url})
    with rolled_back(app, shared_database):
        make_customer(app)
        submit(app.test_client(), "/report", {"email": "an@example.com", "kind": "stolen"})
    with rolled_back(app, shared_database) as joined:
        assert leftovers(joined.connection, shared_database.tables) == []


def test_row_locks_inside_the_outer_transaction(app, joined, smtp_sink, customer_id) -> None:  # type: ignore[no-untyped-def]
    """Every report takes the customer's and the incident's rows; the outbox is claimed FOR UPDATE SKIP
    LOCKED. Taken again and again by the one connection, they never wait and skip nothing. No report
    takes a lock that every writer shares (PostgreSQL: no advisory lock; audit events take none)."""
    for kind in ("stolen", "lost", "stolen"):
        assert submit(app.test_client(), "/report", {"email": "an@example.com", "kind": kind}).status_code == 303
    with app.app_context():
        assert deliver_due().sent == 1  # the other reports joined the open incident, throttled
        assert verify_chain().ok
        if db.session.get_bind().dialect.name == "postgresql":
            held = db.session.scalar(
                text("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()")
            )
            assert held == 0


def test_another_thread_is_refused(app, joined) -> None:  # type: ignore[no-untyped-def]
    failures: list[BaseException] = []

    def use_database() -> None:
        with app.app_context():
            try:
                db.session.execute(select(1))
            except BaseException as error:  # noqa: B036 - reported to the test's thread
                failures.append(error)

    thread = threading.Thread(target=use_database)
    thread.start()
    thread.join()
    assert len(failures) == 1 and isinstance(failures[0], IsolationError)
    assert "real_commits" in str(failures[0])
    assert joined.guard.violations  # the teardown would fail the test: this one expects it
    joined.guard.violations.clear()


def test_going_around_the_session_is_refused(app, joined) -> None:  # type: ignore[no-untyped-def]
    with app.app_context(), pytest.raises(IsolationError):
        db.engine.connect()
    assert joined.guard.violations
    joined.guard.violations.clear()


def test_two_sessions_open_at_once_are_refused(app, joined) -> None:  # type: ignore[no-untyped-def]
    """On connections of their own the second would wait for the first (SQLite: BEGIN IMMEDIATE) and not see
    its uncommitted rows; on the test's one connection it would see them and pass."""
    with app.app_context():
        db.session.execute(select(1))
        with app.app_context(), pytest.raises(IsolationError, match="Two sessions"):
            db.session.execute(select(1))
    assert joined.guard.violations
    joined.guard.violations.clear()


def test_rows_left_after_the_rollback_fail_the_test_and_are_removed(shared_database) -> None:  # type: ignore[no-untyped-def]
    """What a process or a separate engine would leave, committed for real outside the test's transaction
    (here just before it: on SQLite the transaction holds the only write lock) is found and removed."""
    app = create_app(environ={"APP_ENV": "testing", "DATABASE_URL": shared_database.url})
    engine = create_engine(shared_database.url)
    with engine.begin() as elsewhere:
        elsewhere.execute(text("INSERT INTO metric_counters (name, value) VALUES ('leak', 1)"))
    engine.dispose()
    with pytest.raises(pytest.fail.Exception, match="metric_counters"):
        with rolled_back(app, shared_database):
            pass
    with rolled_back(app, shared_database) as joined:
        assert leftovers(joined.connection, shared_database.tables) == []


@pytest.mark.real_commits
def test_real_commits_get_a_database_of_their_own(app, database_url, shared_database) -> None:  # type: ignore[no-untyped-def]
    assert app.config["SQLALCHEMY_DATABASE_URI"] == database_url != shared_database.url
    make_customer(app)
    engine = create_engine(database_url)  # another connection sees the commit
    with engine.connect() as other:
        assert other.scalar(select(func.count()).select_from(Customer)) == 1
    engine.dispose()
