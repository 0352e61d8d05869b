"""R3 under load (issue 17): `POST /report` for customers' addresses and unknown ones, interleaved on
every connection, through gunicorn with the production settings (SQLite, `gunicorn.conf.py`, the default
`ANSWER_FLOOR_MS`), at 4 and at 16 connections for 10 s each.

bench.r3_timing measures the two paths one request at a time, in-process; here they run concurrently, so
that a customer's extra work under the write lock and the CPU the others use shows where the floor no
longer covers it. Figures per load: both medians and 99th percentiles, a two-sample Kolmogorov–Smirnov
test, and the share of customers' answers slower than the slowest stranger's (the tail a KS test on
medians would not see). Each connection fetches the form once for its CSRF token, then alternates a
fresh customer's address and an unknown one; a second of customers' reports first warms the workers'
floors, as a worker learns from its first customers.
"""

from __future__ import annotations

import http.client
import re
import statistics
import subprocess
import tempfile
import threading
import time
import urllib.parse

from .intake import BIN, ROOT, production_env, seed_known, serve
from .r3_timing import ks_two_sample

CONNECTIONS = (4, 16)
SECONDS = 10.0
PER_CONNECTION = 1_500  # more customers than one connection can report in SECONDS
TOKEN = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')


def _connection(port: int, seconds: float, index: int, answers: list[tuple[bool, float, int]]) -> None:
    """One session posting for `seconds`: its n-th report names customer `known{index}-{n//2}` when n is
    even, nobody's address when odd. (customer?, seconds, status) per answer into `answers`."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    connection.request("GET", "/report")
    response = connection.getresponse()
    page = response.read().decode()
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "Cookie": response.getheader("Set-Cookie", "").split(";", 1)[0],
    }
    token = TOKEN.search(page).group(1)  # type: ignore[union-attr]
    n = 0
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        customer = n % 2 == 0
        address = f"known{index}-{n // 2}@example.com" if customer else f"nobody{index}-{n // 2}@example.com"
        body = urllib.parse.urlencode({"email": address, "kind": "lost", "csrf_token": token})
        sent = time.monotonic()
        connection.request("POST", "/report", body=body, headers=headers)
        answer = connection.getresponse()
        answer.read()
        answers.append((customer, time.monotonic() - sent, answer.status))
        n += 1


def _under_load(connections: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="incident-r3-load-") as folder:
        env = production_env(f"sqlite:///{folder}/app.sqlite3")
        subprocess.run(
            [str(BIN / "flask"), "--app", "wsgi", "db", "upgrade"], cwd=ROOT, env=env, check=True, capture_output=True
        )
        seed_known(env, folder, "known", connections + 1, PER_CONNECTION)  # the last for the warm-up
        app, port = serve("wsgi:app", env, "/healthz")
        try:
            _connection(port, 1.0, connections, [])
            answers: list[tuple[bool, float, int]] = []
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
    stored = [(customer, seconds) for customer, seconds, status in answers if status == 303]
    if len(stored) != len(answers):
        raise RuntimeError(f"{len(answers) - len(stored)} of {len(answers)} reports were not stored")
    known = sorted(seconds for customer, seconds in stored if customer)
    unknown = sorted(seconds for customer, seconds in stored if not customer)
    gap, p = ks_two_sample(known, unknown)

    def p99(values: list[float]) -> float:
        return values[int(0.99 * (len(values) - 1))] * 1000

    return {
        "known": len(known),
        "unknown": len(unknown),
        "known_ms": statistics.median(known) * 1000,
        "unknown_ms": statistics.median(unknown) * 1000,
        "known_p99_ms": p99(known),
        "unknown_p99_ms": p99(unknown),
        "ks_d": gap,
        "ks_p": p,
        "known_past_every_unknown": sum(1 for seconds in known if seconds > unknown[-1]) / len(known),
    }


def run() -> dict[int, dict[str, float]]:
    """{connections: figures} for each load of CONNECTIONS."""
    return {connections: _under_load(connections) for connections in CONNECTIONS}


if __name__ == "__main__":
    print(run())
