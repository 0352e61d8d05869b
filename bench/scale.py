"""The console and the legal pages at a million incidents (issue 17), on SQLite and on a throwaway
PostgreSQL, each database filled once per size and reused by every measurement:

- `delay_filters(count)`: `build_delay_report` filtered by a channel and by a quarter, against the
  unfiltered report of the same run;
- `queue(count)`: the incidents queue through the Flask test client with a signed-in staff session
  (the whole request, rendering included): first page, a filter, a search by reference, a search by
  address, medians; against `GET /healthz` (the same stack with one database round trip);
- `growth(sizes)`: those four requests and a known customer's `POST /report` at each size, to show
  that their cost does not follow the history.

Rows are written directly (sqlite3 executemany, PostgreSQL COPY): one customer per incident with a
realistic address, the incident and its first report. `BENCH_SCALE_INCIDENTS` (default 1,000,000) and
`BENCH_SCALE_SIZES` (default 10000,100000,1000000) shrink them for a quick look.
"""

from __future__ import annotations

import gc
import os
import random
import sqlite3
import statistics
import sys
import time
from contextlib import contextmanager
from datetime import date, datetime, timedelta, timezone
from typing import Any, Callable, Iterator

from flask import Flask

from incident_service.customers.address_search import TRIGRAMS
from incident_service.extensions import db
from incident_service.reports.service import DelayFilter, build_delay_report

from .common import best_of, durable_postgres, throwaway_app

DATABASES = ("SQLite", "PostgreSQL")
START = datetime(2023, 1, 1)  # naive UTC, as the columns store it
SPAN_SECONDS = 3 * 365 * 86400
CHANNEL_WEIGHTS = (("web", 60), ("email", 25), ("phone", 8), ("post", 3), ("in_person", 2), ("api", 2))
STATUS_WEIGHTS = (("resolved", 90), ("closed", 8), ("reactivated", 2))
FAMILY = ("nguyen", "tran", "le", "pham", "hoang", "huynh", "phan", "vu", "vo", "dang", "bui", "do", "ho", "ngo")
GIVEN = ("an", "binh", "chi", "dung", "giang", "ha", "hieu", "hoa", "khanh", "lan", "linh", "minh", "nam", "ngoc")
DOMAINS = ("gmail.com", "yahoo.com", "outlook.com", "fpt.vn", "viettel.vn", "vnpt.vn", "ecc.example")
QUARTER = (date(2024, 4, 1), date(2024, 6, 30))
STAFF_EMAIL = "scale@ecc.example"
LEGAL_EMAIL = "scale-legal@ecc.example"
REPEATS = 15  # requests per page and size; the median is reported

CUSTOMER_COLUMNS = ("id", "email", "name", "locale", "credential_state", "security_stamp", "created_at")
INCIDENT_COLUMNS = (
    "id",
    "reference",
    "customer_reference",
    "customer_id",
    "status",
    "opened_at",
    "first_received_at",
    "resolved_at",
    "closed_at",
    "late_threshold_hours",
    "effective_discovered_at",
    "reporting_delay_seconds",
    "lateness",
    "first_channel",
    "personal_data_breach",
    "review_decision",
)
REPORT_COLUMNS = (
    "id",
    "reference",
    "channel",
    "received_at",
    "received_at_source",
    "claimed_address",
    "address_normalized",
    "kind",
    "details",
    "customer_id",
    "incident_id",
    "entered_by",
    "recorded_at",
)


def address(n: int) -> str:
    """The n-th generated customer's address: what the address search looks for."""
    rng = random.Random(n)
    return f"{rng.choice(GIVEN)}.{rng.choice(FAMILY)}{n}@{rng.choice(DOMAINS)}"


def reference(n: int, count: int) -> str:
    """The n-th generated incident's reference (of `count`): what the reference search looks for."""
    return f"INC-{(START + timedelta(seconds=n * (SPAN_SECONDS // count))).year}-{n:06d}"


def generated(count: int) -> Iterator[tuple[tuple[Any, ...], tuple[Any, ...], tuple[Any, ...]]]:
    """(customer, incident, report) rows for n = 1..count, received in order over three years."""
    rng = random.Random(17)
    channels = [name for name, weight in CHANNEL_WEIGHTS for _ in range(weight)]
    statuses = [name for name, weight in STATUS_WEIGHTS for _ in range(weight)]
    step = SPAN_SECONDS // count
    for n in range(1, count + 1):
        received = START + timedelta(seconds=n * step + rng.randrange(0, 60), microseconds=rng.randrange(10**6))
        delay = int(rng.expovariate(1 / 40000)) if rng.random() < 0.8 else None
        lateness = "unknown" if delay is None else ("late" if delay > 86400 else "on_time")
        channel = rng.choice(channels)
        status = rng.choice(statuses)
        email = address(n)
        ended = received + timedelta(hours=2)
        yield (
            (n, email, email.split("@")[0].replace(".", " ").title(), "vi", "active", f"{n:032x}", received),
            (
                n,
                reference(n, count),
                f"RPT-{received.year}-{n:06d}",
                n,
                status,
                received,
                received,
                ended if status == "resolved" else None,
                ended if status == "closed" else None,
                24,
                None if delay is None else received - timedelta(seconds=delay),
                delay,
                lateness,
                channel,
                False,
                # Legal has decided nine late incidents in ten: what awaits a decision is the few left.
                "exemption_waived" if lateness == "late" and n % 10 else None,
            ),
            (
                n,
                f"RPT-{received.year}-{n:06d}",
                channel,
                received,
                "server_clock",
                email,
                email,
                "lost",
                "",
                n,
                n,
                "customer",
                received,
            ),
        )


def _insert(table: str, columns: tuple[str, ...]) -> str:
    return f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' for _ in columns)})"


def fill_sqlite(path: str, count: int) -> None:
    connection = sqlite3.connect(path)
    batches: tuple[list[Any], list[Any], list[Any]] = ([], [], [])

    def flush() -> None:
        for table, columns, rows in zip(
            ("customers", "incidents", "reports"),
            (CUSTOMER_COLUMNS, INCIDENT_COLUMNS, REPORT_COLUMNS),
            batches,
            strict=True,
        ):
            connection.executemany(
                _insert(table, columns),
                [tuple(v.isoformat(" ") if isinstance(v, datetime) else v for v in row) for row in rows],
            )
            rows.clear()

    for rows in generated(count):
        for batch, row in zip(batches, rows, strict=True):
            batch.append(row)
        if len(batches[0]) == 50_000:
            flush()
    flush()
    connection.commit()
    connection.close()


def fill_postgres(url: str, count: int) -> None:
    import psycopg

    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://")) as connection:
        # The trigram index is built once after the load rather than grown row by row (what
        # migration 0021 does on an existing database too).
        connection.execute(f"DROP INDEX {TRIGRAMS}")
        for index, (table, columns) in enumerate(
            (("customers", CUSTOMER_COLUMNS), ("incidents", INCIDENT_COLUMNS), ("reports", REPORT_COLUMNS))
        ):
            with connection.cursor() as cursor, cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
                for rows in generated(count):
                    copy.write_row(rows[index])
        for table in ("customers", "incidents", "reports"):  # ids were given: move the sequences past them
            connection.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), {count + 1}, false)")
        connection.commit()
        connection.autocommit = True
        connection.execute(f"CREATE INDEX {TRIGRAMS} ON customers USING gin (email gin_trgm_ops)")
        connection.execute("VACUUM ANALYZE")  # what autovacuum does soon after a load like this


@contextmanager
def filled(database: str, count: int) -> Iterator[Flask]:
    """An app on `database` ("SQLite" or "PostgreSQL") holding `count` generated incidents."""
    if database == "SQLite":
        with throwaway_app(ANSWER_FLOOR_MS=0, ANSWER_FLOOR_COLD_MS=0, RATELIMIT_ENABLED=False) as app:
            with app.app_context():
                db.engine.dispose()
            fill_sqlite(app.config["SQLALCHEMY_DATABASE_URI"].removeprefix("sqlite:///"), count)
            with _frozen_as_a_worker_is():
                yield app
        return
    with durable_postgres() as server:
        server.execute("CREATE DATABASE bench_scale")
        url = server.url("bench_scale")
        with throwaway_app(url, ANSWER_FLOOR_MS=0, ANSWER_FLOOR_COLD_MS=0, RATELIMIT_ENABLED=False) as app:
            with app.app_context():
                db.session.remove()
                db.engine.dispose()
            fill_postgres(url, count)
            with _frozen_as_a_worker_is():
                yield app


@contextmanager
def _frozen_as_a_worker_is() -> Iterator[None]:
    """What the process holds, frozen out of the cyclic collector's way as gunicorn.conf.py's
    post_worker_init freezes a worker's once the app is loaded: the pages are measured as a worker serves
    them, not with full collections walking what filling the database left behind."""
    gc.collect()
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


# --- the delay report -------------------------------------------------------------------------


def _delay_figures(app: Flask, count: int) -> dict[str, float]:
    with app.app_context():

        def report(f: DelayFilter) -> Callable[[], None]:
            def work() -> None:
                build_delay_report(f)

            return work

        unfiltered = best_of(3, report(DelayFilter()))
        channel = best_of(3, report(DelayFilter(channel="email")))
        quarter = best_of(3, report(DelayFilter(received_from=QUARTER[0], received_to=QUARTER[1])))
        assert build_delay_report(DelayFilter())["summary"]["incidents"] == count
        db.session.remove()
        bare = _bare_fetches(app)
    return {"unfiltered_s": unfiltered, "channel_s": channel, "quarter_s": quarter, **bare}


def _bare_fetches(app: Flask) -> dict[str, float]:
    """The baseline: the filtered rows' three columns (received, delay, lateness) fetched with the bare
    driver and nothing else, the least a report over those rows could read (as bench/delay_report.py)."""
    from incident_service.i18n import day_bounds

    local = day_bounds(app.config["DISPLAY_TIMEZONE"], *QUARTER)
    start, end = (moment.astimezone(timezone.utc).replace(tzinfo=None) for moment in local if moment is not None)
    columns = "SELECT first_received_at, reporting_delay_seconds, lateness FROM incidents WHERE"
    url = app.config["SQLALCHEMY_DATABASE_URI"]
    bounds: tuple[Any, Any]
    if url.startswith("sqlite"):
        connection: Any = sqlite3.connect(url.removeprefix("sqlite:///"))
        marks, bounds = "?", (start.strftime("%Y-%m-%d %H:%M:%S.%f"), end.strftime("%Y-%m-%d %H:%M:%S.%f"))
    else:
        import psycopg

        connection = psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://"))
        marks, bounds = "%s", (start, end)
    try:
        channel = best_of(3, lambda: connection.execute(f"{columns} first_channel = {marks}", ("email",)).fetchall())
        quarter = best_of(
            3,
            lambda: connection.execute(
                f"{columns} first_received_at >= {marks} AND first_received_at < {marks}", bounds
            ).fetchall(),
        )
    finally:
        connection.close()
    return {"channel_bare_s": channel, "quarter_bare_s": quarter}


def delay_filters(count: int | None = None) -> dict[str, dict[str, float]]:
    """{database: {"incidents", "channel_s", "quarter_s", "unfiltered_s"}}: best of three each."""
    return _on_each_database(_delay_figures, count)


# --- the queue and report intake ----------------------------------------------------------------


def signed_in(app: Flask, email: str = STAFF_EMAIL, role: str = "support") -> Any:
    """A test client signed in as a staff member (support unless `role`), through the real forms (TOTP
    included)."""
    from tests.console.conftest import enrol, make_staff

    make_staff(app, email, role)
    client = app.test_client()
    enrol(client, email)
    return client


def queue_pages(count: int) -> dict[str, str]:
    """The four queue requests measured: names to URLs."""
    probe = max(1, count * 2 // 3)
    return {
        "first_page": "/console/incidents",
        "filter": "/console/incidents?status=resolved&channel=email",
        "reference": f"/console/incidents?q={reference(probe, count).lower()}",
        "address": f"/console/incidents?q={address(probe)}",
    }


def _median_ms(work: Callable[[], None], repeats: int = REPEATS) -> float:
    work()  # warm: templates compiled, pages in the cache
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        work()
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000


def _queue_figures(app: Flask, count: int) -> dict[str, float]:
    client = signed_in(app)
    figures = {}

    def get(url: str, expect: str | None) -> Callable[[], None]:
        def work() -> None:
            answer = client.get(url)
            assert answer.status_code == 200, (url, answer.status_code)
            if expect is not None:
                assert expect in answer.get_data(as_text=True), (url, expect)

        return work

    probe = max(1, count * 2 // 3)
    expected = {
        "first_page": None,
        "filter": None,
        "reference": reference(probe, count),
        "address": reference(probe, count),
    }
    for name, url in queue_pages(count).items():
        figures[f"{name}_ms"] = _median_ms(get(url, expected[name]))
    # Legal's late reports (about one incident in ten here): the first page awaiting a decision, and a
    # later page of all of them (OFFSET reads the pages before it).
    client = signed_in(app, LEGAL_EMAIL, "legal")
    figures["reviews_ms"] = _median_ms(get("/console/reviews", None))
    figures["reviews_page_40_ms"] = _median_ms(get("/console/reviews?show=all&page=40", None))
    figures["healthz_ms"] = _median_ms(get("/healthz", None))
    return figures


def _report_ms(app: Flask, repeats: int = REPEATS) -> float:
    """A fresh known customer's `POST /report` (the full reactivation), median; the answer floor's
    sleep switched off so the figure is the work, not the floor (R3 is measured by r3_timing)."""
    from incident_service.customers.service import add_customer
    from incident_service.database import utcnow

    from .r3_timing import TOKEN

    for floor in app.extensions["answer_floors"].values():
        floor._sleep = lambda _seconds: None
    with app.app_context():
        for n in range(repeats + 1):
            add_customer(
                f"fresh{n}@example.com", name="F", locale="vi", password=None, source="cli", actor="bench", now=utcnow()
            )
        db.session.commit()
    client = app.test_client()
    token = TOKEN.search(client.get("/report").get_data(as_text=True)).group(1)  # type: ignore[union-attr]
    addresses = iter(f"fresh{n}@example.com" for n in range(repeats + 1))

    def post() -> None:
        answer = client.post("/report", data={"email": next(addresses), "kind": "lost", "csrf_token": token})
        assert answer.status_code == 303, answer.status_code

    return _median_ms(post, repeats)


def queue(count: int | None = None) -> dict[str, dict[str, float]]:
    """{database: {"first_page_ms", "filter_ms", "reference_ms", "address_ms", "reviews_ms",
    "reviews_page_40_ms", "healthz_ms"}}: medians."""
    return _on_each_database(_queue_figures, count)


def _on_each_database(
    figures: Callable[[Flask, int], dict[str, float]], count: int | None
) -> dict[str, dict[str, float]]:
    """`figures(app, count)` on each database filled with `count` incidents (BENCH_SCALE_INCIDENTS)."""
    count = count or int(os.environ.get("BENCH_SCALE_INCIDENTS", "1000000"))
    results = {}
    for database in DATABASES:
        with filled(database, count) as app:
            results[database] = {"incidents": count, **figures(app, count)}
    return results


def growth(sizes: tuple[int, ...] | None = None) -> dict[str, dict[int, dict[str, float]]]:
    """{database: {size: queue figures and "report_ms"}}, and at the largest size the delay report's
    figures too (so `make bench` fills each database once per size for all three measurements)."""
    if sizes is None:
        sizes = tuple(int(s) for s in os.environ.get("BENCH_SCALE_SIZES", "10000,100000,1000000").split(","))
    results: dict[str, dict[int, dict[str, float]]] = {database: {} for database in DATABASES}
    for database in DATABASES:
        for size in sizes:
            with filled(database, size) as app:
                # The delay report first: the reports posted below add incidents.
                figures = _delay_figures(app, size) if size == max(sizes) else {}
                figures.update(_queue_figures(app, size))
                figures["report_ms"] = _report_ms(app)
                results[database][size] = figures
                print(database, size, {k: round(v, 4) for k, v in figures.items()}, file=sys.stderr, flush=True)
    return results


if __name__ == "__main__":
    import logging

    logging.disable(logging.INFO)
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
    for database in DATABASES:
        with filled(database, count) as app:
            print(database, "delay", _delay_figures(app, count), flush=True)
            print(database, "queue", _queue_figures(app, count), flush=True)
            print(database, "report_ms", _report_ms(app), flush=True)
