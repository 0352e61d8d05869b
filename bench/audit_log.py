"""The audit log as a Merkle tree (issue 15), measured three ways, each against a baseline of the same run:

- writers appending with and without the chain's lock they took until BEFORE_COMMIT, on PostgreSQL (web
  reports under gunicorn with 1, 2 and 4 workers are bench/intake.py's; the before/after run of those, from
  a worktree of BEFORE_COMMIT, is recorded in docs/benchmarks-notes.md);
- the sequencer: events integrated into the tree per second, against hashing the same leaves into a
  root in memory;
- verifying an evidence pack offline, against reading the pack's JSON.
"""

from __future__ import annotations

import time

from .intake import free_port

# The last commit whose writers took the audit chain's lock (audit.service.hold_chain).
BEFORE_COMMIT = "d720d26"


def lock_hold(threads: int = 8, transactions: int = 60, work_ms: float = 5.0) -> dict[str, float]:
    """Transactions per second on PostgreSQL when `threads` writers each append an audit event and then
    go on with `work_ms` of the rest of their change before committing (a report writes its rows and
    queues its email after its first event): "before" takes the chain's advisory lock and reads the head
    first, exactly as audit.service.hold_chain and the append did until BEFORE_COMMIT, and so holds every
    other writer for the rest of its transaction; "after" is append_event as it is now."""
    import threading

    from sqlalchemy import text

    from incident_service import create_app
    from incident_service.audit.service import append_event
    from incident_service.database import utcnow
    from incident_service.extensions import db
    from tests.postgres import PostgresServer

    server = PostgresServer(free_port())
    server.start()
    figures: dict[str, float] = {}
    try:
        server.execute("CREATE DATABASE bench_lock")
        app = create_app(
            {"SQLALCHEMY_ENGINE_OPTIONS": {"pool_size": threads + 2}},
            environ={
                "APP_ENV": "testing",
                "DATABASE_URL": server.url("bench_lock"),
                "PUBLIC_BASE_URL": "https://security.ecc.example",
            },
        )
        with app.app_context():
            db.create_all()

        def writer(locked: bool) -> None:
            with app.app_context():
                for number in range(transactions):
                    if locked:
                        db.session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": 0x1AC1DE47})
                        db.session.execute(text("SELECT hash FROM audit_events ORDER BY id DESC LIMIT 1"))
                    append_event("cli:customer:created", actor="bench", now=utcnow(), data={"n": number})
                    time.sleep(work_ms / 1000)
                    db.session.commit()

        for name, locked in (("before", True), ("after", False), ("before_again", True), ("after_again", False)):
            workers = [threading.Thread(target=writer, args=(locked,)) for _ in range(threads)]
            started = time.perf_counter()
            for thread in workers:
                thread.start()
            for thread in workers:
                thread.join()
            figures[name] = threads * transactions / (time.perf_counter() - started)
        with app.app_context():
            db.session.remove()
            db.engine.dispose()
    finally:
        server.stop()
    return {
        "threads": threads,
        "work_ms": work_ms,
        "before_per_s": max(figures["before"], figures["before_again"]),
        "after_per_s": max(figures["after"], figures["after_again"]),
    }


def sequencer(events: int = 20_000) -> dict[str, float]:
    """Events integrated per second on SQLite (batches of 1000, each committed), against computing the
    same tree's root from the same leaves in memory."""
    from sqlalchemy import select

    from incident_service.audit import merkle
    from incident_service.audit.models import AuditEvent
    from incident_service.audit.sequencer import integrate_all, tree_head
    from incident_service.audit.service import NewEvent, append_events, event_leaf
    from incident_service.database import utcnow
    from incident_service.extensions import db

    from .common import throwaway_app

    with throwaway_app() as app, app.app_context():
        now = utcnow()
        batch = [NewEvent("cli:customer:created", data={"n": n}) for n in range(events)]
        append_events(batch, actor="bench", now=now)
        db.session.commit()
        started = time.perf_counter()
        integrate_all(1000)
        seconds = time.perf_counter() - started
        leaves = [event_leaf(e).encode() for e in db.session.execute(select(AuditEvent)).scalars()]
        started = time.perf_counter()
        root = merkle.root_of([merkle.leaf_hash(leaf) for leaf in leaves])
        bare = time.perf_counter() - started
        assert root == tree_head().root
    return {"events": events, "per_second": events / seconds, "bare_per_second": events / bare, "ratio": bare / seconds}


def pack_verification(history: int = 20_000) -> dict[str, float]:
    """verify_pack on a real pack (one incident, its emails and proofs, in a log of `history` other
    events), against unzipping it and parsing its evidence.json."""
    import io
    import json
    import zipfile

    from sqlalchemy import select

    from incident_service.audit.checkpoint import make_checkpoint, service_public_key
    from incident_service.audit.sequencer import integrate_all
    from incident_service.audit.service import NewEvent, append_events
    from incident_service.database import utcnow
    from incident_service.extensions import db
    from incident_service.incidents.models import Incident
    from incident_service.packs.service import pack_archive
    from incident_service.packs.verify import verify_pack
    from tests.helpers import make_customer, submit

    from .common import best_of, throwaway_app

    with throwaway_app() as app:
        with app.app_context():
            append_events(
                [NewEvent("cli:customer:created", data={"n": n}) for n in range(history)], actor="bench", now=utcnow()
            )
            db.session.commit()
        make_customer(app)
        for kind in ("stolen", "lost", "stolen"):
            submit(app.test_client(), "/report", {"email": "an@example.com", "kind": kind})
        with app.app_context():
            integrate_all()
            make_checkpoint(utcnow())
            db.session.commit()
            incident = db.session.execute(select(Incident)).scalar_one()
            data = pack_archive(incident, now=utcnow(), actor="bench")
            key = service_public_key()
            assert verify_pack(data, public_key=key).problems == []
            verify = best_of(5, lambda: verify_pack(data, public_key=key))
        bare = best_of(5, lambda: json.loads(zipfile.ZipFile(io.BytesIO(data)).read("evidence.json")))
    return {"verify_s": verify, "bare_s": bare, "ratio": verify / bare, "history": history}


if __name__ == "__main__":
    print(sequencer())
    print(pack_verification())
