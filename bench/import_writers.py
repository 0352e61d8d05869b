"""A web writer's wait for SQLite's write lock while `flask intake import` runs (issue 17): how long another
process of the service waits between the importer's batches, against the same writer's wait with no import
running. The writer is a process of its own on the app's engine (database.WriterTurns, as a web worker
writes), one short transaction at a time, at random moments (0 to 0.3 s apart)."""

from __future__ import annotations

import multiprocessing
import random
import time
from typing import Any

from .import_rate import messages, prepare


def _writer(url: str, until: Any, started: Any, out: Any) -> None:
    """In its own process: write one row per transaction until `until` is set; put [(wall time, seconds
    waited for the lock)]."""
    from sqlalchemy import text

    from incident_service import create_app
    from incident_service.extensions import db

    app = create_app(
        {"PASSWORD_HASH_PROFILE": "rfc9106-low-memory"},
        environ={"APP_ENV": "testing", "DATABASE_URL": url, "PUBLIC_BASE_URL": "https://security.ecc.example"},
    )
    waits: list[tuple[float, float]] = []
    with app.app_context():
        with db.engine.begin() as connection:
            connection.execute(text("CREATE TABLE IF NOT EXISTS bench_web_writes (id INTEGER PRIMARY KEY, at REAL)"))
        started.set()
        while not until.is_set():
            at, asked = time.time(), time.perf_counter()
            with db.engine.begin() as connection:  # BEGIN IMMEDIATE: the wait for the lock
                waits.append((at, time.perf_counter() - asked))
                connection.execute(text("INSERT INTO bench_web_writes (at) VALUES (:at)"), {"at": at})
            time.sleep(random.uniform(0.0, 0.3))
    out.put(waits)


def _summary(waits: list[float]) -> dict[str, float]:
    waits = sorted(waits)
    return {
        "writes": len(waits),
        "p50_ms": 1000 * waits[len(waits) // 2],
        "p99_ms": 1000 * waits[min(len(waits) - 1, int(len(waits) * 0.99))],
        "max_ms": 1000 * waits[-1],
    }


def run(count: int = 3000) -> dict[str, Any]:
    """{"import_per_s", "during": the writer's waits while the import ran, "idle": its waits for 3 s with
    nothing else writing}, waits as writes, p50_ms, p99_ms, max_ms."""
    from incident_service.extensions import db
    from incident_service.intake.batches import DEFAULT_BATCH, import_messages

    from .common import throwaway_app

    mail = messages(count)
    context = multiprocessing.get_context("spawn")
    with throwaway_app() as app, app.app_context():
        prepare(mail)
        until, started, out = context.Event(), context.Event(), context.Queue()
        writer = context.Process(target=_writer, args=(str(db.engine.url), until, started, out))
        writer.start()
        started.wait(60)
        time.sleep(3)  # the writer alone: its idle wait
        began_at, began = time.time(), time.perf_counter()
        import_messages(((f"bench:{n}", raw) for n, raw in enumerate(mail)), batch=DEFAULT_BATCH, done=lambda *_: None)
        elapsed, ended_at = time.perf_counter() - began, time.time()
        until.set()
        waits = out.get(timeout=60)
        writer.join(60)
    return {
        "import_per_s": count / elapsed,
        "during": _summary([wait for at, wait in waits if began_at <= at <= ended_at]),
        "idle": _summary([wait for at, wait in waits if at < began_at]),
    }


if __name__ == "__main__":
    print(run())
