"""Web report intake under gunicorn (2 workers, 16 connections) against the one-insert floor served the
same way, for unknown addresses and for fresh known customers (the full reactivation: the work the service
exists for), with the load from a second process on loopback; and the web workers' peak memory."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

from incident_service import answer_floor

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
CONNECTIONS, SECONDS = 16, 10.0
KNOWN_PER_CONNECTION = 1_000  # more than one connection can report in SECONDS
# Before a measured load, customers' reports for a while: every worker learns from its first
# answer_floor.WARM_AFTER, held until then to ANSWER_FLOOR_COLD_MS (R3), as after any restart, and then
# from as many more different customers' answers, after which the slow first ones no longer set its floor
# (since issue 17's eighth pass; before, enough more to push them out of its answer_floor.WINDOW, about 220).
# The warm-up passes that with room: 4 s for SQLite's 2 workers, 4 s a worker on PostgreSQL, each report
# on a new connection so that every worker takes its share (warm_up). The rows measure warm workers;
# bench.r3_load measures cold ones.
WARM_SECONDS = 4.0
WARM_PER_CONNECTION_SECOND = 20  # customers seeded for each connection and second of warm-up: more than it reports


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_http(url: str) -> None:
    for _ in range(150):
        try:
            urllib.request.urlopen(url, timeout=1)
            return
        except urllib.error.HTTPError:
            return  # it answered
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer")


def worker_pids(master: int) -> list[int]:
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(master)], capture_output=True, text=True).stdout
    return [int(pid) for pid in out.split()]


def peak_rss_mb(pids: list[int]) -> float:
    peaks = []
    for pid in pids:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                peaks.append(int(line.split()[1]) / 1024)
    return max(peaks) if peaks else 0.0


def serve(
    app_spec: str, env: dict[str, str], health: str, workers: int = 2, config: str = "gunicorn.conf.py"
) -> tuple[subprocess.Popen[str], int]:
    port = free_port()
    process = subprocess.Popen(
        [str(BIN / "gunicorn"), "-c", config, app_spec],
        cwd=ROOT,
        env={**env, "GUNICORN_BIND": f"127.0.0.1:{port}", "GUNICORN_WORKERS": str(workers)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    wait_http(f"http://127.0.0.1:{port}{health}")
    return process, port


def load(port: int, path: str, form_path: str, prefix: str = "load") -> dict[str, float]:
    return load_with(port, path, form_path, CONNECTIONS, SECONDS, prefix)


def load_with(
    port: int,
    path: str,
    form_path: str,
    connections: int,
    seconds: float,
    prefix: str = "load",
    reconnect: bool = False,
) -> dict[str, float]:
    """bench.load in a process of its own: `connections` sessions posting for `seconds` (each report on a
    new connection if `reconnect`); its figures."""
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.load",
            "127.0.0.1",
            str(port),
            path,
            form_path,
            str(connections),
            str(seconds),
            prefix,
            *(["reconnect"] if reconnect else []),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout)


def seed_warm_up(env: dict[str, str], folder: str, seconds: float) -> None:
    """The customers a warm_up of `seconds` names, before the app is served."""
    seed_known(env, folder, "warm", CONNECTIONS, int(WARM_PER_CONNECTION_SECOND * seconds))


def warm_up(port: int, seconds: float) -> None:
    """Customers' reports (`warm…` addresses, seed_warm_up) for `seconds`, not measured, each on a new
    connection: every worker then takes its share, where the measured load's kept-open connections may
    leave one with none (and it would answer them cold, at ANSWER_FLOOR_COLD_MS)."""
    load_with(port, "/report", "/report", CONNECTIONS, seconds, "warm", reconnect=True)


def seed_known(env: dict[str, str], folder: str, prefix: str, connections: int, per_connection: int) -> None:
    """Customers for every address the load will name (`{prefix}{c}-{n}@example.com`), no passwords:
    each report is a fresh customer's, so each does the whole reactivation."""
    rows = ["email,name,locale"] + [
        f"{prefix}{c}-{n}@example.com,Known {c} {n},vi" for c in range(connections) for n in range(per_connection)
    ]
    listing = Path(folder) / f"{prefix}.csv"
    listing.write_text("\n".join(rows) + "\n")
    subprocess.run(
        [str(BIN / "flask"), "--app", "wsgi", "customers", "import", str(listing)],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
    )


def production_env(database_url: str, **extra: str) -> dict[str, str]:
    """The service's production settings for a benchmark run (rate limits off, mail to nowhere)."""
    base = {k: v for k, v in os.environ.items() if not k.startswith(("APP_", "DATABASE_", "TEST_"))}
    return {
        **base,
        "APP_ENV": "production",
        "SECRET_KEY": "bench-secret-key-long-enough-for-production-x",
        "PUBLIC_BASE_URL": "https://security.ecc.example",
        "DATABASE_URL": database_url,
        "SESSION_COOKIE_SECURE": "false",
        "RATELIMIT_ENABLED": "false",  # measured without limits: gunicorn.conf.py then allows memory://
        "RATELIMIT_STORAGE_URI": "memory://",
        "LOG_FORMAT": "json",
        "MAIL_PORT": "1",
        "AUDIT_SIGNING_KEY": "ZmFrZS1iZW5jaC1rZXktMzItYnl0ZXMtbG9uZy0tLSE=",
        "PASSWORD_HASH_PROFILE": "rfc9106-low-memory",
        **extra,
    }


def postgres_workers(workers: tuple[int, ...] = (1, 2, 4)) -> dict[int, dict[str, float]]:
    """Known customers' reports on a durable PostgreSQL under gunicorn with 1, 2 and 4 workers, each
    beside the one-insert floor served with the same number of workers; a fresh database each."""
    from .common import durable_postgres

    results: dict[int, dict[str, float]] = {}
    with durable_postgres() as server, tempfile.TemporaryDirectory(prefix="incident-pg-intake-") as folder:
        for count in workers:
            server.execute(f"CREATE DATABASE floor_{count}")
            floor, port = serve(
                "bench.floor_app:app",
                {
                    **production_env(""),
                    "FLOOR_POSTGRES": server.url(f"floor_{count}").replace("+psycopg", ""),
                    "GUNICORN_WORKERS": str(count),
                },
                "/insert-health-check-404-is-fine",
                workers=count,
            )
            try:
                floor_result = load(port, "/insert", "")
            finally:
                floor.terminate()
                floor.wait(timeout=20)
            server.execute(f"CREATE DATABASE app_{count}")
            env = production_env(server.url(f"app_{count}"))
            subprocess.run(
                [str(BIN / "flask"), "--app", "wsgi", "db", "upgrade"],
                cwd=ROOT,
                env=env,
                check=True,
                capture_output=True,
            )
            seed_known(env, folder, "known", CONNECTIONS, KNOWN_PER_CONNECTION)
            seed_warm_up(env, folder, WARM_SECONDS * count)
            probe = Path(folder, f"probe-{count}")
            probe.mkdir()
            app, port = serve(
                "wsgi:app",
                {**env, "LOCK_PROBE_DIR": str(probe)},
                "/healthz",
                workers=count,
                config="bench/gunicorn_lock_probe.py",
            )
            try:
                warm_up(port, WARM_SECONDS * count)
                before = cpu_times()
                known = load(port, "/report", "/report", "known")
                busy = cpu_busy_share(before, cpu_times())
            finally:
                app.terminate()
                app.wait(timeout=20)
            floor_learned = answer_floor_learned(probe)
            results[count] = {
                **floor_learned,
                "cpu_busy_share": busy,
                # What the answer floor allows: each connection waits at least its worker's floor plus, on
                # average, half the jitter for every answer; at the lowest floor the workers ended with, no
                # more than this (a bound from the floors at the end, not a measurement).
                "answer_floor_cap_per_s": (
                    CONNECTIONS / (floor_learned["answer_floor_lowest_ms"] / 1000 * (1 + answer_floor.JITTER / 2))
                    if floor_learned["answer_floor_lowest_ms"]
                    else 0.0
                ),
                "per_second": known["per_second"],
                "p50_ms": known["p50_ms"],
                "p99_ms": known["p99_ms"],
                "floor_per_s": floor_result["per_second"],
                "floor_errors": floor_result["errors"],
                "ratio": known["per_second"] / floor_result["per_second"] if floor_result["per_second"] else 0.0,
                "errors": known["errors"],
            }
    return results


def run() -> dict[str, float]:
    """The floor, then reports for unknown addresses and for fresh known customers, on one app."""
    with tempfile.TemporaryDirectory(prefix="incident-intake-bench-") as folder:
        base_env = {k: v for k, v in os.environ.items() if not k.startswith(("APP_", "DATABASE_", "TEST_"))}
        base_env["RATELIMIT_ENABLED"] = "false"  # measured without limits: gunicorn.conf.py then allows memory://
        floor, floor_port = serve(
            "bench.floor_app:app",
            {**base_env, "FLOOR_DATABASE": f"{folder}/floor.sqlite3"},
            "/insert-health-check-404-is-fine",
        )
        try:
            floor_result = load(floor_port, "/insert", "")
        finally:
            floor.terminate()
            floor.wait(timeout=20)
        env = production_env(f"sqlite:///{folder}/app.sqlite3")
        subprocess.run(
            [str(BIN / "flask"), "--app", "wsgi", "db", "upgrade"], cwd=ROOT, env=env, check=True, capture_output=True
        )
        seed_known(env, folder, "known", CONNECTIONS, KNOWN_PER_CONNECTION)
        seed_warm_up(env, folder, WARM_SECONDS)
        probe = Path(folder, "lock-probe")
        probe.mkdir()
        app, app_port = serve(
            "wsgi:app", {**env, "LOCK_PROBE_DIR": str(probe)}, "/healthz", config="bench/gunicorn_lock_probe.py"
        )
        try:
            warm_up(app_port, WARM_SECONDS)
            unknown = load(app_port, "/report", "/report", "unknown")
            known_from = time.time()
            known = load(app_port, "/report", "/report", "known")
            known_until = time.time()
            memory = peak_rss_mb(worker_pids(app.pid))
        finally:
            app.terminate()
            app.wait(timeout=20)
        lock = write_lock_held(probe, known_from, known_until)
        floor = answer_floor_learned(probe)
    floor_per_s = floor_result["per_second"]
    return {
        "floor_per_s": floor_per_s,
        "floor_p99_ms": floor_result["p99_ms"],
        "unknown_per_s": unknown["per_second"],
        "unknown_p50_ms": unknown["p50_ms"],
        "unknown_p99_ms": unknown["p99_ms"],
        "known_per_s": known["per_second"],
        "known_p50_ms": known["p50_ms"],
        "known_p99_ms": known["p99_ms"],
        "known_ratio": known["per_second"] / floor_per_s,
        "unknown_ratio": unknown["per_second"] / floor_per_s,
        "errors": unknown["errors"] + known["errors"],
        "worker_peak_rss_mb": memory,
        **lock,
        **floor,
    }


def cpu_times() -> tuple[int, int]:
    """The machine's CPU time so far from /proc/stat, in ticks: all of it, and the idle part (iowait too).
    The first eight fields (user to steal): the guest fields after them are counted in user already."""
    fields = [int(value) for value in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    return sum(fields), fields[3] + fields[4]


def cpu_busy_share(before: tuple[int, int], after: tuple[int, int]) -> float:
    """The share of every CPU's time between two cpu_times() that was not idle: the app, its database and
    the load generator together, on this machine."""
    total, idle = after[0] - before[0], after[1] - before[1]
    return 1 - idle / total if total else 0.0


def write_lock_held(probe: Path, start: float, end: float) -> dict[str, float]:
    """What bench/gunicorn_lock_probe.py recorded of SQLite's write lock between `start` and `end` (wall
    clock, around a load): the share of that time it was held (the load's own start-up included, so a
    little under the truth), the mean hold of a transaction and the mean commit within it, in ms, the
    transactions, and how many a second one hold after another allows (the lock's cap on the load)."""
    holds = [
        (held, committing)
        for path in probe.glob("*.json")
        for taken, held, committing in json.loads(path.read_text())
        if start <= taken < end
    ]
    if not holds:
        raise RuntimeError(f"the lock probe recorded no write between {start} and {end}")
    mean_held = sum(held for held, _committing in holds) / len(holds)
    return {
        "lock_held_share": sum(held for held, _committing in holds) / (end - start),
        "lock_transactions": len(holds),
        "lock_hold_ms": mean_held * 1000,
        "lock_commit_ms": sum(committing for _held, committing in holds) / len(holds) * 1000,
        "lock_cap_per_s": 1 / mean_held,
    }


def answer_floor_learned(probe: Path) -> dict[str, float]:
    """The report answers' floor (R3) that bench/gunicorn_lock_probe.py found the workers had learned at
    their exit, after the known customers' load, from the worker with the highest: its floor and the 99th
    percentile of the customers' work it learned from (its last answer_floor.WINDOW; the floor is 1.5 ×
    that, or the setting if more), in ms; the lowest worker's floor; the setting; how many workers wrote
    theirs, how many of those had learned from a customer's report (none: zeros, and the table says which),
    and how many were still cold at their exit."""
    learned = [json.loads(path.read_text()) for path in probe.glob("*.floor")]
    per_worker = [
        (worker["floor"], work[int(0.99 * (len(work) - 1))], worker["minimum"])
        for worker in learned
        if (work := worker["customers_work"])
    ]
    floor, p99, minimum = max(per_worker, default=(0.0, 0.0, 0.0))
    return {
        "answer_floor_ms": floor * 1000,
        "answer_floor_lowest_ms": min((floor for floor, _p99, _minimum in per_worker), default=0.0) * 1000,
        "answer_floor_cold_workers": sum(1 for worker in learned if not worker.get("warm", True)),
        "answer_floor_minimum_ms": minimum * 1000,
        "customers_work_p99_ms": p99 * 1000,
        "answer_floor_workers": len(per_worker),
        "answer_floor_files": len(learned),
    }


if __name__ == "__main__":
    print(run())
