"""In-process benchmarks: the reset POST against its argon2 work, mass reactivation, outbox delivery."""

from __future__ import annotations

import logging
import smtplib
import socket
import sys
import time
from contextlib import contextmanager
from typing import Iterator, Sequence

from aiosmtpd.controller import Controller
from flask import Flask
from sqlalchemy import insert, select

from incident_service.customers.models import Customer
from incident_service.customers.password_policy import near_forms
from incident_service.customers.passwords import hashing
from incident_service.database import utcnow
from incident_service.extensions import db
from incident_service.incidents.breach import mass_reactivate
from incident_service.incidents.service import ReportSubmission, receive_report
from incident_service.notifications.delivery import deliver_due
from incident_service.notifications.models import OutboxMessage
from incident_service.reactivation.service import issue_reset_grant

from .common import best_of, durable_postgres, throwaway_app

PASSWORD = "correct horse battery staple"


logging.getLogger("incident_service.access").setLevel(logging.WARNING)  # benchmarks print their own lines


def reset_post(runs: int = 5) -> dict[str, float]:
    """A reset POST end to end (CSRF form, grant check, P1–P3 incl. verifying each near form of the new
    password against the compromised hash, hashing, stamp, resolve, queue) against the argon2 work it
    must do: those verifications and one hash."""
    with throwaway_app(WTF_CSRF_ENABLED=False) as app:
        with app.test_request_context():
            customer = Customer(
                email="an@example.com",
                name="An",
                locale="vi",
                password_hash=hashing().hash(PASSWORD),
                security_stamp="s",
                created_at=utcnow(),
            )
            db.session.add(customer)
            db.session.commit()
        timings, argon = [], []
        for n in range(runs):
            with app.test_request_context():
                customer = db.session.execute(select(Customer)).scalar_one()
                customer.credential_state = "locked"
                _grant, link = issue_reset_grant(
                    customer, incident_id=None, source="console", actor="bench", now=utcnow()
                )
                db.session.commit()
                path = link.url().removeprefix(app.config["PUBLIC_BASE_URL"])
            client = app.test_client()
            client.get(path)
            new = f"a brand new passphrase number {n}"
            started = time.perf_counter()
            answer = client.post("/reset", data={"password": new, "password_confirm": new})
            timings.append(time.perf_counter() - started)
            assert answer.status_code == 200, answer.status_code
            with app.app_context():
                stored = db.session.execute(select(Customer.password_hash)).scalar_one()
                # P3 verifies each near form of the new password against the compromised hash (issue 11).
                forms = near_forms(new)
                argon.append(
                    best_of(
                        1,
                        lambda stored=stored, forms=forms, new=new: (
                            [hashing().verify(stored, form) for form in forms],
                            hashing().hash(new),
                        ),
                    )
                )
    reset_s, argon_s = min(timings), min(argon)
    return {"reset_s": reset_s, "argon2_s": argon_s, "ratio": reset_s / argon_s}


def seed_customers(count: int) -> None:
    now = utcnow()
    batch = []
    for n in range(count):
        batch.append(
            {
                "email": f"leaked{n}@example.com",
                "name": "",
                "locale": "vi",
                "credential_state": "active",
                "security_stamp": f"s{n}",
                "created_at": now,
            }
        )
        if len(batch) == 10_000:
            db.session.execute(insert(Customer), batch)
            batch = []
    if batch:
        db.session.execute(insert(Customer), batch)
    db.session.commit()


# What a mass reactivation writes, table by table, in the order open_incidents writes it; the floor
# writes the same rows again with nothing but the driver's executemany.
_MASS_TABLES = ("incidents", "reports", "reset_grants", "outbox_messages", "audit_events")


@contextmanager
def database_app(database: str) -> Iterator[Flask]:
    """A throwaway app on a fresh "sqlite" file or a fresh "postgresql" server, schema created. The
    PostgreSQL server is restarted durable (fsync, synchronous commit and full-page writes on, as in
    production): tests.postgres starts it without them, and SQLite here runs synchronous=FULL."""
    if database == "sqlite":
        with throwaway_app() as app:
            yield app
        return
    with durable_postgres() as server:
        server.execute("CREATE DATABASE bench")
        with throwaway_app(server.url("bench")) as app:
            yield app


def mass(count: int = 100_000, database: str = "sqlite", batch_size: int = 5000, runs: int = 2) -> dict[str, float]:
    """`mass_reactivate` over `count` customers without an open incident, what `flask incidents
    mass-reactivate` does after reading the list; baseline: the very rows it wrote (incidents, reports,
    grants, queued emails, audit events, and the customers' lock and stamp) written again into a second
    fresh database of the same kind by the driver's bare executemany, one row per statement, committed in
    the same batches: the database's own work for them, with none of the service's. Each is the faster
    of `runs`, each on a fresh database: a single run's time swung by a quarter on this machine (issue 17)."""
    elapsed = float("inf")
    written: dict[str, tuple[list[str], list[tuple[object, ...]]]] = {}
    customers: list[tuple[object, ...]] = []
    for _ in range(runs):
        written, customers = {}, []  # the last run's rows go before the next run, not during it
        timed, written, customers = _mass_once(count, database, batch_size)
        elapsed = min(elapsed, timed)
    rows = sum(len(table_rows) for _columns, table_rows in written.values()) + len(customers)
    floor = float("inf")
    for _ in range(runs):
        with database_app(database) as app, app.test_request_context():
            seed_customers(count)
            db.session.remove()
            floor = min(floor, _bare_writes(written, customers, batches=-(-count // batch_size)))
    return {
        "customers": count,
        "seconds": elapsed,
        "per_second": count / elapsed,
        "floor_seconds": floor,
        "floor_rows": rows,
        "ratio": elapsed / floor,
    }


def _mass_once(
    count: int, database: str, batch_size: int
) -> tuple[float, dict[str, tuple[list[str], list[tuple[object, ...]]]], list[tuple[object, ...]]]:
    """One timed mass reactivation on a fresh database: its seconds, the rows it wrote (by table: columns
    and rows) and the customers' new lock and stamp."""
    with database_app(database) as app, app.test_request_context():
        seed_customers(count)
        entries = [(n + 1, f"leaked{n}@example.com") for n in range(count)]
        started = time.perf_counter()
        outcome = mass_reactivate(
            entries, key="bench leak", dry_run=False, actor="bench", now=utcnow(), batch_size=batch_size
        )
        elapsed = time.perf_counter() - started
        assert len(outcome.reactivated) == count
        connection = db.session.connection()
        written = {
            table: (
                [column for column in connection.exec_driver_sql(f"SELECT * FROM {table} WHERE 1 = 0").keys()],
                [tuple(row) for row in connection.exec_driver_sql(f"SELECT * FROM {table} ORDER BY id")],
            )
            for table in _MASS_TABLES
        }
        customers = [
            (state, stamp, customer_id)
            for customer_id, state, stamp in connection.exec_driver_sql(
                "SELECT id, credential_state, security_stamp FROM customers ORDER BY id"
            )
        ]
        db.session.rollback()
    return elapsed, written, customers


def _bare_writes(
    written: dict[str, tuple[list[str], list[tuple[object, ...]]]],
    customers: Sequence[tuple[object, ...]],
    *,
    batches: int,
) -> float:
    """Seconds to write `written` and the customers' new state with the DBAPI alone, in `batches`
    transactions of about equal shares of every table, each committed."""
    raw = db.engine.raw_connection()
    try:
        mark = "?" if db.engine.dialect.paramstyle == "qmark" else "%s"
        cursor = raw.cursor()
        statements: list[tuple[str, Sequence[tuple[object, ...]]]] = [
            (f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join([mark] * len(columns))})", table_rows)
            for table, (columns, table_rows) in written.items()
        ]
        statements.append(
            (f"UPDATE customers SET credential_state = {mark}, security_stamp = {mark} WHERE id = {mark}", customers)
        )
        sqlite = db.engine.dialect.name == "sqlite"
        if sqlite:
            cursor.execute("PRAGMA cache_size = -65536")  # the page cache mass_reactivate gives its batches
        started = time.perf_counter()
        for batch in range(batches):
            if sqlite:
                cursor.execute("BEGIN IMMEDIATE")
            for statement, table_rows in statements:
                share = -(-len(table_rows) // batches)
                part = table_rows[batch * share : (batch + 1) * share]
                if part:
                    cursor.executemany(statement, part)
            if sqlite:
                cursor.execute("COMMIT")  # the connection runs in autocommit mode (database.configure_sqlite)
            else:
                raw.commit()
        return time.perf_counter() - started
    finally:
        raw.close()


def mass_databases(count: int = 100_000) -> dict[str, dict[str, float]]:
    """`mass` on SQLite and on a throwaway, durable PostgreSQL: {"SQLite": ..., "PostgreSQL": ...}."""
    return {"SQLite": mass(count, "sqlite"), "PostgreSQL": mass(count, "postgresql")}


class Sink:
    def __init__(self) -> None:
        self.count = 0

    async def handle_DATA(self, server, session, envelope):  # type: ignore[no-untyped-def]
        self.count += 1
        return "250 OK"


def outbox(count: int = 2000) -> dict[str, float]:
    """`deliver_due` rendering, sending and recording `count` queued acknowledgements to an aiosmtpd sink in
    this process; baseline: the same sink taking the same number of finished messages (the record copies
    of those very emails, as large as the sent ones) from smtplib over one connection, nothing else."""
    sink = Sink()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        with throwaway_app(MAIL_PORT=port) as app, app.test_request_context():
            seed_customers(count)
            now = utcnow()
            for n in range(count):
                receive_report(ReportSubmission(channel="web", address=f"leaked{n}@example.com", kind="lost"), now=now)
                if n % 500 == 0:
                    db.session.commit()
            db.session.commit()
            started = time.perf_counter()
            while deliver_due(limit=500).handled:
                pass
            elapsed = time.perf_counter() - started
            finished = db.session.execute(
                select(OutboxMessage.sender, OutboxMessage.to_address, OutboxMessage.raw_redacted)
            ).all()
        started = time.perf_counter()
        with smtplib.SMTP("127.0.0.1", port) as host:
            for sender, to_address, raw in finished:
                host.sendmail(sender, [to_address], raw)
        bare = time.perf_counter() - started
    finally:
        controller.stop()
    assert sink.count == 2 * count, sink.count
    return {
        "emails": count,
        "seconds": elapsed,
        "per_second": count / elapsed,
        "bare_per_second": count / bare,
        "ratio": bare / elapsed,
    }


if __name__ == "__main__":
    print(reset_post())
    print(outbox(300))
    print(mass_databases(int(sys.argv[1]) if len(sys.argv) > 1 else 1000))
