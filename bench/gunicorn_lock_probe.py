"""gunicorn.conf.py, and in each worker a probe of SQLite's write lock: when each write transaction took it,
how long it held it, and how much of that was the commit. Written at the worker's exit to
`LOCK_PROBE_DIR/<pid>.json` as [[wall time taken, seconds held, seconds committing], ...]; and the answer
floor (R3) the worker had learned by then, with the customers' work it learned from, to `<pid>.floor`.

For `bench.intake` only (`gunicorn -c bench/gunicorn_lock_probe.py`): on SQLite one writer at a time holds
the lock, so a load that keeps it held all the time is capped at one answer per hold (issue 17). The
service's own code is unchanged; the probe wraps `database.WriterTurns` and the engine's commit in the worker.
"""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path
from typing import Any

_CONFIG = Path(__file__).resolve().parent.parent / "gunicorn.conf.py"
exec(compile(_CONFIG.read_text(), str(_CONFIG), "exec"))  # every production setting and hook, as they are

_production_post_worker_init = post_worker_init  # noqa: F821 - defined by gunicorn.conf.py, run above
_holds: list[tuple[float, float, float]] = []
_current = threading.local()


def post_worker_init(worker: Any) -> None:
    _production_post_worker_init(worker)
    from incident_service import database
    from incident_service.extensions import db

    begin_immediate, give_back = database.WriterTurns._begin_immediate, database.WriterTurns.give_back

    def taken(self: Any, dbapi_connection: Any, deadline: float) -> None:
        begin_immediate(self, dbapi_connection, deadline)
        _current.taken = (time.time(), time.perf_counter(), dbapi_connection)
        _current.committing = 0.0

    def given_back(self: Any, dbapi_connection: Any) -> None:
        taken_at = getattr(_current, "taken", None)
        if taken_at is not None and taken_at[2] is dbapi_connection:
            _current.taken = None
            _holds.append((taken_at[0], time.perf_counter() - taken_at[1], _current.committing))
        give_back(self, dbapi_connection)

    def given_back_after_commit(self: Any, dbapi_connection: Any) -> None:
        started = getattr(_current, "commit_started", None)
        if started is not None:
            _current.committing, _current.commit_started = time.perf_counter() - started, None
        given_back(self, dbapi_connection)

    database.WriterTurns._begin_immediate = taken  # type: ignore[method-assign]
    database.WriterTurns.give_back = given_back_after_commit  # type: ignore[method-assign]
    with worker.wsgi.app_context():
        dialect = db.engine.dialect
    commit = dialect.do_commit  # WriterTurns.after's: the commit, then the turn given back

    def timed_commit(dbapi_connection: Any) -> None:
        _current.commit_started = time.perf_counter()
        commit(dbapi_connection)

    dialect.do_commit = timed_commit  # type: ignore[method-assign]


def worker_exit(server: Any, worker: Any) -> None:
    folder = os.environ.get("LOCK_PROBE_DIR")
    if folder:
        Path(folder, f"{os.getpid()}.json").write_text(json.dumps(_holds))
        floor = worker.wsgi.extensions["answer_floors"]["report"]
        learned = {
            "floor": floor.floor(),
            "minimum": floor.minimum,
            "customers_work": floor.samples(),
            "warm": floor.warm(),
        }
        Path(folder, f"{os.getpid()}.floor").write_text(json.dumps(learned))
