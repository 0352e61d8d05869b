"""The SMTP listener under 8 concurrent senders, each message durable before its 250, against the durable
floor served the same way: a bare aiosmtpd server whose handler inserts each message into a SQLite row
(WAL, synchronous=FULL) and commits before it answers 250.

Both servers run in processes of their own (the listener as `flask intake smtpd` with production
settings, on a database made by `flask db upgrade`); the senders are threads of this process, each one
SMTP connection sending message after message (MAIL, RCPT, DATA) for SECONDS. Three in four senders'
addresses are customers (as in bench/import_rate.py); every message has its own Message-ID.
"""

from __future__ import annotations

import asyncio
import os
import smtplib
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
SENDERS, SECONDS = 8, 10.0
CUSTOMERS, ADDRESSES = 150, 200
TO = "security@ecc.example"
PLAIN = (ROOT / "tests" / "intake" / "corpus" / "plain.eml").read_bytes()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_smtp(port: int, process: subprocess.Popen[bytes]) -> None:
    for _ in range(300):
        if process.poll() is not None:
            raise RuntimeError(f"the server on port {port} exited ({process.returncode})")
        try:
            with smtplib.SMTP("127.0.0.1", port, timeout=2) as client:
                client.noop()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing answered SMTP on port {port}")


def message(sender: int, n: int) -> tuple[str, bytes]:
    """A distinct message (its own Message-ID) from one of ADDRESSES senders, CRLF on the wire."""
    address = f"customer{(sender * 7919 + n) % ADDRESSES}@example.com"
    lines = PLAIN.split(b"\n")
    for index in range(lines.index(b"")):
        if lines[index].startswith(b"From: "):
            lines[index] = f"From: {address}".encode()
        elif lines[index].startswith(b"Message-ID: "):
            lines[index] = f"Message-ID: <smtp-bench-{sender}-{n}@example.com>".encode()
    return address, b"\r\n".join(lines)


def send_for(port: int, seconds: float, senders: int = SENDERS) -> dict[str, float]:
    """`senders` threads, each an SMTP connection sending for `seconds`: accepted messages per second and
    the latency of one message (MAIL FROM to the answer to DATA), p50 and p99."""
    latencies: list[list[float]] = [[] for _ in range(senders)]
    refused = [0] * senders
    ready, go = threading.Barrier(senders + 1), threading.Event()
    stop_at = [0.0]

    def sender(number: int) -> None:
        prepared = [message(number, n) for n in range(4_000)]  # built before the clock starts
        with smtplib.SMTP("127.0.0.1", port, timeout=60) as client:
            client.ehlo("sender.example.net")
            warm_from, warm = message(number, -1)
            client.sendmail(warm_from, [TO], warm)  # the server warmed up (its children started): not counted
            ready.wait()
            go.wait()
            n = 0
            while time.perf_counter() < stop_at[0]:
                address, raw = prepared[n % len(prepared)] if n < len(prepared) else message(number, n)
                began = time.perf_counter()
                try:
                    client.sendmail(address, [TO], raw)
                    latencies[number].append(time.perf_counter() - began)
                except smtplib.SMTPException:
                    refused[number] += 1
                    client.rset()
                n += 1

    threads = [threading.Thread(target=sender, args=(number,)) for number in range(senders)]
    for thread in threads:
        thread.start()
    ready.wait()  # every sender connected and its messages built
    began = time.perf_counter()
    stop_at[0] = began + seconds
    go.set()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - began
    every = sorted(latency for per_sender in latencies for latency in per_sender)

    def percentile(share: float) -> float:
        return every[min(int(share * len(every)), len(every) - 1)] * 1000 if every else float("nan")

    return {
        "per_second": len(every) / elapsed,
        "p50_ms": percentile(0.50),
        "p99_ms": percentile(0.99),
        "refused": float(sum(refused)),
    }


# The floor: a bare aiosmtpd server, one SQLite row per message, committed before the 250.


class FloorHandler:
    def __init__(self, path: str) -> None:
        self.db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=FULL")
        self.db.execute("CREATE TABLE IF NOT EXISTS messages (id INTEGER PRIMARY KEY, mail_from TEXT, raw BLOB)")

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.db.execute("BEGIN IMMEDIATE")
        self.db.execute("INSERT INTO messages (mail_from, raw) VALUES (?, ?)", (envelope.mail_from, envelope.content))
        self.db.execute("COMMIT")
        return "250 2.0.0 Message received and recorded"


def serve_floor(port: int, path: str) -> None:
    from aiosmtpd.controller import Controller

    controller = Controller(FloorHandler(path), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        asyncio.run(asyncio.sleep(10**6))
    finally:
        controller.stop()


def served(command: list[str], env: dict[str, str], port: int) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_smtp(port, process)
    except BaseException:
        process.kill()
        process.wait()
        raise
    return process


def stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def run(seconds: float = SECONDS) -> dict[str, float]:
    """The floor, then the listener, each for `seconds` under SENDERS connections."""
    with tempfile.TemporaryDirectory(prefix="incident-smtp-bench-") as folder:
        base_env = {k: v for k, v in os.environ.items() if not k.startswith(("APP_", "DATABASE_", "TEST_"))}
        port = free_port()
        floor = served(
            [sys.executable, "-m", "bench.smtp_listener", "floor", str(port), f"{folder}/floor.sqlite3"], base_env, port
        )
        try:
            floor_result = send_for(port, seconds)
        finally:
            stop(floor)
        env = {
            **base_env,
            "APP_ENV": "production",
            "SECRET_KEY": "bench-secret-key-long-enough-for-production-x",
            "PUBLIC_BASE_URL": "https://security.ecc.example",
            "DATABASE_URL": f"sqlite:///{folder}/app.sqlite3",
            "RATELIMIT_STORAGE_URI": "memory://",
            "LOG_FORMAT": "json",
            "MAIL_PORT": "1",
            "AUDIT_SIGNING_KEY": "ZmFrZS1iZW5jaC1rZXktMzItYnl0ZXMtbG9uZy0tLSE=",
            "REPORT_ADDRESSES": TO,
        }
        flask = str(BIN / "flask")
        subprocess.run([flask, "--app", "wsgi", "db", "upgrade"], cwd=ROOT, env=env, check=True, capture_output=True)
        listing = Path(folder) / "customers.csv"
        listing.write_text(
            "email,name,locale\n" + "".join(f"customer{n}@example.com,Customer {n},vi\n" for n in range(CUSTOMERS))
        )
        subprocess.run(
            [flask, "--app", "wsgi", "customers", "import", str(listing)],
            cwd=ROOT,
            env=env,
            check=True,
            capture_output=True,
        )
        port = free_port()
        listener = served([flask, "--app", "wsgi", "intake", "smtpd", "--port", str(port)], env, port)
        try:
            listener_result = send_for(port, seconds)
        finally:
            stop(listener)
        stored = sqlite3.connect(f"{folder}/app.sqlite3").execute("SELECT count(*) FROM inbound_messages").fetchone()[0]
    return {
        "senders": SENDERS,
        "floor_per_s": floor_result["per_second"],
        "floor_p50_ms": floor_result["p50_ms"],
        "floor_p99_ms": floor_result["p99_ms"],
        "listener_per_s": listener_result["per_second"],
        "listener_p50_ms": listener_result["p50_ms"],
        "listener_p99_ms": listener_result["p99_ms"],
        "ratio": listener_result["per_second"] / floor_result["per_second"],
        "refused": floor_result["refused"] + listener_result["refused"],
        "stored": float(stored),
    }


if __name__ == "__main__":
    if sys.argv[1:2] == ["floor"]:
        serve_floor(int(sys.argv[2]), sys.argv[3])
    else:
        print(run(float(sys.argv[1]) if len(sys.argv) > 1 else SECONDS))
