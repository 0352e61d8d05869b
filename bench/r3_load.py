"""R3 under load (issue 17): `POST /report` for customers' addresses and unknown ones, interleaved on
every connection, through gunicorn with the production settings (SQLite, and PostgreSQL since the eighth
pass; `gunicorn.conf.py`, the default
`ANSWER_FLOOR_MS` and `ANSWER_FLOOR_COLD_MS`, or those in the environment), at 4 and at 16 connections for
20 s each.

bench.r3_timing measures the two paths one request at a time, in-process; here they run concurrently, so
that a customer's extra work under the write lock and the CPU the others use shows where the floor no
longer covers it. The workers start cold, as after a restart (`max_requests`): their first answers are
held to `ANSWER_FLOOR_COLD_MS` until each has learned from answer_floor.WARM_AFTER customers, which took
about 7 s at 4 connections (depending on how gunicorn spreads them over the workers) and 1 to 2 s at 16.
Each connection fetches the form once for its CSRF token, then alternates a fresh customer's address and an
unknown one.

Figures per load, of the answers to reports sent in the second half (WARM_FROM on, the workers warm: the
cold phase's answers, all at the cold floor whoever they name, would dilute a difference): both medians and
99th percentiles; a two-sample Kolmogorov–Smirnov test; the tails each way (the share of customers' answers
above the strangers' 99th percentile, and the reverse: about 1 % each if the two cannot be told apart, which
a KS test on the middle would not see). Of the whole run: the KS test again, and the medians of each kind's
first answers (COLD), while the workers are cold.
"""

from __future__ import annotations

import http.client
import statistics
import subprocess
import tempfile
import threading
import time
import urllib.parse

from incident_service.settings import load_settings

from .intake import BIN, ROOT, production_env, seed_known, serve
from .r3_timing import TOKEN, ks_two_sample

CONNECTIONS = (4, 16)
SECONDS = 20.0
WARM_FROM = SECONDS / 2  # seconds into the run: reports sent from then on are the warm half
COLD = 8  # answers of each kind counted as the cold workers' first
PER_CONNECTION = 1_500  # more customers than one connection can report in SECONDS


# The floors the served app reads, from the same settings: its defaults, unless set for the run
# (production_env passes them on): 25 / 40 / 60 ms were compared so, `ANSWER_FLOOR_MS=60 .venv/bin/python
# -m bench.r3_load`.
_SERVED = load_settings(production_env("sqlite:///unused.sqlite3"))
FLOOR_MS, COLD_FLOOR_MS = _SERVED["ANSWER_FLOOR_MS"], _SERVED["ANSWER_FLOOR_COLD_MS"]


def _connection(port: int, seconds: float, index: int, answers: list[tuple[bool, float, int, float]]) -> None:
    """One session posting for `seconds`: its n-th report names customer `known{index}-{n//2}` when n + index
    is even, nobody's address when odd: half the connections begin with a customer and half with a stranger,
    so that the app's first reports are of both kinds at once (when every connection began with a customer,
    the first 16 customers queued for the write lock behind each other's cold reports with no stranger among
    them, up to 717 ms, while the strangers after them were answered at the cold floor). Which connections a
    worker gets is gunicorn's doing, so one worker's first reports may still be of one kind.
    (customer?, seconds, status, sent) per answer into `answers`, `sent` being time.monotonic() as the
    report was sent. Raises rather than name a customer beyond the PER_CONNECTION seeded."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    connection.request("GET", "/report")
    response = connection.getresponse()
    page = response.read().decode()
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "Cookie": response.getheader("Set-Cookie", "").split(";", 1)[0],
    }
    found = TOKEN.search(page)
    if found is None:
        raise RuntimeError(f"no CSRF token in GET /report ({response.status})")
    token = found.group(1)
    n = 0
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        customer = (n + index) % 2 == 0
        if n // 2 >= PER_CONNECTION:
            raise RuntimeError(f"connection {index} reported all {PER_CONNECTION} customers seeded for it")
        address = f"known{index}-{n // 2}@example.com" if customer else f"nobody{index}-{n // 2}@example.com"
        body = urllib.parse.urlencode({"email": address, "kind": "lost", "csrf_token": token})
        sent = time.monotonic()
        connection.request("POST", "/report", body=body, headers=headers)
        answer = connection.getresponse()
        answer.read()
        answers.append((customer, time.monotonic() - sent, answer.status, sent))
        n += 1


def _under_load(connections: int, database_url: str | None = None) -> dict[str, float]:
    """One load of `connections`, on a fresh SQLite file, or on `database_url` (an empty database)."""
    with tempfile.TemporaryDirectory(prefix="incident-r3-load-") as folder:
        env = production_env(database_url or f"sqlite:///{folder}/app.sqlite3")
        subprocess.run(
            [str(BIN / "flask"), "--app", "wsgi", "db", "upgrade"], cwd=ROOT, env=env, check=True, capture_output=True
        )
        seed_known(env, folder, "known", connections, PER_CONNECTION)
        app, port = serve("wsgi:app", env, "/healthz")
        answers: list[tuple[bool, float, int, float]] = []
        began = time.monotonic()
        try:
            threads = [
                threading.Thread(target=_connection, args=(port, SECONDS, index, answers))
                for index in range(connections)
            ]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
        finally:
            app.terminate()
            app.wait(timeout=20)
    stored = [(customer, seconds, sent - began) for customer, seconds, status, sent in answers if status == 303]
    if len(stored) != len(answers):
        raise RuntimeError(f"{len(answers) - len(stored)} of {len(answers)} reports were not stored")
    warm = [(customer, seconds) for customer, seconds, sent in stored if sent >= WARM_FROM]
    known = sorted(seconds for customer, seconds in warm if customer)
    unknown = sorted(seconds for customer, seconds in warm if not customer)
    gap, p = ks_two_sample(known, unknown)
    _gap, p_all = ks_two_sample(
        sorted(seconds for customer, seconds, _sent in stored if customer),
        sorted(seconds for customer, seconds, _sent in stored if not customer),
    )

    def p99(values: list[float]) -> float:
        return values[int(0.99 * (len(values) - 1))]

    def share_above(values: list[float], limit: float) -> float:
        return sum(1 for seconds in values if seconds > limit) / len(values)

    return {
        "floor_ms": FLOOR_MS,
        "cold_floor_ms": COLD_FLOOR_MS,
        "known": len(known),
        "unknown": len(unknown),
        "known_ms": statistics.median(known) * 1000,
        "unknown_ms": statistics.median(unknown) * 1000,
        "known_p99_ms": p99(known) * 1000,
        "unknown_p99_ms": p99(unknown) * 1000,
        "ks_d": gap,
        "ks_p": p,
        "ks_p_whole_run": p_all,
        "known_above_unknown_p99": share_above(known, p99(unknown)),
        "unknown_above_known_p99": share_above(unknown, p99(known)),
        # The first answers of the cold workers, held to ANSWER_FLOOR_COLD_MS: the medians of each
        # kind's first COLD.
        "cold_known_ms": statistics.median([seconds for customer, seconds, _sent in stored if customer][:COLD]) * 1000,
        "cold_unknown_ms": statistics.median([seconds for customer, seconds, _sent in stored if not customer][:COLD])
        * 1000,
    }


def run() -> dict[int, dict[str, float]]:
    """{connections: figures} for each load of CONNECTIONS."""
    return {connections: _under_load(connections) for connections in CONNECTIONS}


def run_postgres() -> dict[int, dict[str, float]]:
    """The same on a throwaway durable PostgreSQL, a fresh database for each load (since issue 17's eighth
    pass: there the answer floor leaves out the wait for a work turn, as on SQLite the writer turn's)."""
    from .common import durable_postgres

    results: dict[int, dict[str, float]] = {}
    with durable_postgres() as server:
        for connections in CONNECTIONS:
            server.execute(f"CREATE DATABASE r3_load_{connections}")
            results[connections] = _under_load(connections, server.url(f"r3_load_{connections}"))
    return results


if __name__ == "__main__":
    print(run())
