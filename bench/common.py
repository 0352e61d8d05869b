"""Shared pieces of the benchmarks: a throwaway app, timing, the machine description, the report file."""

from __future__ import annotations

import os
import platform
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator

from flask import Flask

from incident_service import create_app
from incident_service.extensions import db

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "docs" / "benchmarks.md"


@contextmanager
def durable_postgres() -> Iterator[Any]:
    """A throwaway PostgreSQL server (tests.postgres) restarted durable: fsync, synchronous commit and
    full-page writes on, as in production (the tests start it without them, for speed)."""
    from tests.helpers import free_port
    from tests.postgres import PostgresServer

    server = PostgresServer(free_port())
    server.start()
    try:
        server._run(
            str(server.bin_dir / "pg_ctl"),
            "-D",
            str(server.data),
            "-o",
            f"-p {server.port} -k {server.root} -c listen_addresses=127.0.0.1 -c max_connections=200",
            "-l",
            str(server.root / "server.log"),
            "-w",
            "restart",
        )
        yield server
    finally:
        server.stop()


@contextmanager
def throwaway_app(database_url: str | None = None, **settings: object) -> Iterator[Flask]:
    """The app on a fresh SQLite file in a temporary folder (or on `database_url`, an empty database),
    schema created."""
    with tempfile.TemporaryDirectory(prefix="incident-bench-") as folder:
        app = create_app(
            {"PASSWORD_HASH_PROFILE": "rfc9106-low-memory", **settings},
            environ={
                "APP_ENV": "testing",
                "DATABASE_URL": database_url or f"sqlite:///{folder}/bench.sqlite3",
                "PUBLIC_BASE_URL": "https://security.ecc.example",
            },
        )
        with app.app_context():
            db.create_all()
        try:
            yield app
        finally:
            with app.app_context():
                db.session.remove()
                db.engine.dispose()


def best_of(runs: int, work: Callable[[], None]) -> float:
    """The fastest of `runs` timings, in seconds: the least disturbed by other load on the machine."""
    best = float("inf")
    for _ in range(runs):
        started = time.perf_counter()
        work()
        best = min(best, time.perf_counter() - started)
    return best


def machine() -> str:
    cpus = os.cpu_count()
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{platform.system()} {platform.machine()}, {cpus} CPUs {model}, Python {platform.python_version()}"
