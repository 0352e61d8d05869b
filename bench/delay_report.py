"""The delay report over 1,000,000 generated incidents on SQLite, against a bare fetch of the same
three columns with the sqlite3 module (the least any report must read)."""

from __future__ import annotations

import random
import sqlite3
from datetime import datetime, timedelta, timezone

from incident_service.extensions import db
from incident_service.reports.service import DelayFilter, build_delay_report

from .common import best_of, throwaway_app


def fill(path: str, count: int) -> None:
    rng = random.Random(1)
    start = datetime(2024, 1, 1, tzinfo=timezone.utc)
    connection = sqlite3.connect(path)
    connection.execute("PRAGMA foreign_keys=OFF")  # 1M incidents without 1M customers: the report never joins them
    rows = []
    for n in range(1, count + 1):
        received = start + timedelta(seconds=rng.randrange(0, 3 * 365 * 86400))
        delay = int(rng.expovariate(1 / 40000)) if rng.random() < 0.8 else None
        lateness = "unknown" if delay is None else ("late" if delay > 86400 else "on_time")
        stamp = received.strftime("%Y-%m-%d %H:%M:%S.%f")
        rows.append(
            (
                n,
                f"INC-B-{n:07d}",
                n,
                "resolved",
                stamp,
                stamp,
                24,
                delay,
                lateness,
                rng.choice(("web", "email", "phone", "post")),
                False,
            )
        )
        if len(rows) == 100_000:
            connection.executemany(
                "INSERT INTO incidents (id, reference, customer_id, status, opened_at, first_received_at, "
                "late_threshold_hours, reporting_delay_seconds, lateness, first_channel, personal_data_breach) "
                "VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                rows,
            )
            rows = []
    connection.commit()
    connection.close()


def run(count: int = 1_000_000) -> dict[str, float]:
    with throwaway_app() as app:
        path = app.config["SQLALCHEMY_DATABASE_URI"].removeprefix("sqlite:///")
        with app.app_context():
            db.engine.dispose()
        fill(path, count)

        def bare() -> None:
            connection = sqlite3.connect(path)
            connection.execute("SELECT first_received_at, reporting_delay_seconds, lateness FROM incidents").fetchall()
            connection.close()

        baseline = best_of(3, bare)
        with app.app_context():
            report_time = best_of(3, lambda: build_delay_report(DelayFilter()))
            report = build_delay_report(DelayFilter())
        assert report["summary"]["incidents"] == count
    return {"incidents": count, "report_s": report_time, "bare_fetch_s": baseline, "ratio": report_time / baseline}


if __name__ == "__main__":
    print(run())
