"""R3 timing (issue 11, item 4): `POST /report` for customers' addresses against unknown ones.

200 requests of each, interleaved, each a fresh address (a customer's opens an incident: the slowest
path), through the whole Flask stack with its CSRF form, on SQLite and on a throwaway PostgreSQL. The
figures: both medians, their difference, and a two-sample Kolmogorov–Smirnov test, whose p-value must
stay above 0.01 (the two distributions cannot be told apart). The first 30 customers' reports warm
the answer floor up and are not counted: a fresh worker learns from its first customers.
"""

from __future__ import annotations

import math
import re
import statistics
import tempfile
import time
from typing import Any

from incident_service import create_app
from incident_service.customers.service import add_customer
from incident_service.database import utcnow
from incident_service.extensions import db

from .common import throwaway_app

REQUESTS = 200
WARM_UP = 30
TOKEN = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')


def ks_two_sample(first: list[float], second: list[float]) -> tuple[float, float]:
    """(D, p): the largest gap between the two empirical distributions, and its asymptotic p-value."""
    a, b = sorted(first), sorted(second)
    i = j = 0
    gap = 0.0
    while i < len(a) and j < len(b):
        if a[i] <= b[j]:
            i += 1
        else:
            j += 1
        gap = max(gap, abs(i / len(a) - j / len(b)))
    n = len(a) * len(b) / (len(a) + len(b))
    lam = (math.sqrt(n) + 0.12 + 0.11 / math.sqrt(n)) * gap
    p = 2 * sum((-1) ** (k - 1) * math.exp(-2 * k * k * lam * lam) for k in range(1, 101))
    return gap, min(max(p, 0.0), 1.0)


def _measure(app: Any) -> dict[str, float]:
    total = WARM_UP + REQUESTS
    with app.app_context():
        for n in range(total):
            add_customer(
                f"known{n}@example.com", name="K", locale="vi", password=None, source="cli", actor="bench", now=utcnow()
            )
        db.session.commit()
    client = app.test_client()
    token = TOKEN.search(client.get("/report").get_data(as_text=True)).group(1)  # type: ignore[union-attr]

    def post(address: str) -> float:
        started = time.perf_counter()
        answer = client.post("/report", data={"email": address, "kind": "lost", "csrf_token": token})
        elapsed = time.perf_counter() - started
        assert answer.status_code == 303, answer.status_code  # stored: to the receipt (post/redirect/get)
        return elapsed

    for n in range(WARM_UP):
        post(f"known{n}@example.com")
    known, unknown = [], []
    for n in range(WARM_UP, total):
        known.append(post(f"known{n}@example.com"))
        unknown.append(post(f"nobody{n}@example.com"))
    gap, p = ks_two_sample(known, unknown)
    return {
        "known_ms": statistics.median(known) * 1000,
        "unknown_ms": statistics.median(unknown) * 1000,
        "difference_ms": abs(statistics.median(known) - statistics.median(unknown)) * 1000,
        "ks_d": gap,
        "ks_p": p,
    }


def run() -> dict[str, dict[str, float]]:
    results = {}
    with throwaway_app() as app:
        results["SQLite"] = _measure(app)
    from tests.helpers import free_port
    from tests.postgres import PostgresServer

    server = PostgresServer(free_port())
    server.start()
    try:
        server.execute("CREATE DATABASE bench")
        with tempfile.TemporaryDirectory():
            app = create_app(
                {"PASSWORD_HASH_PROFILE": "rfc9106-low-memory"},
                environ={
                    "APP_ENV": "testing",
                    "DATABASE_URL": server.url("bench"),
                    "PUBLIC_BASE_URL": "https://security.ecc.example",
                },
            )
            with app.app_context():
                db.create_all()
            results["PostgreSQL"] = _measure(app)
            with app.app_context():
                db.session.remove()
                db.engine.dispose()
    finally:
        server.stop()
    return results


if __name__ == "__main__":
    for database, figures in run().items():
        print(database, {name: round(value, 4) for name, value in figures.items()})
