"""Web report intake under gunicorn (2 workers) against the one-insert floor served the same way,
with the load from a second process on loopback; and the web workers' peak memory under that load."""

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

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
CONNECTIONS, SECONDS = 8, 10.0


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


def serve(app_spec: str, env: dict[str, str], health: str) -> tuple[subprocess.Popen[str], int]:
    port = free_port()
    process = subprocess.Popen(
        [str(BIN / "gunicorn"), "-c", "gunicorn.conf.py", app_spec],
        cwd=ROOT,
        env={**env, "GUNICORN_BIND": f"127.0.0.1:{port}", "GUNICORN_WORKERS": "2"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    wait_http(f"http://127.0.0.1:{port}{health}")
    return process, port


def load(port: int, path: str, form_path: str) -> dict[str, float]:
    return load_with(port, path, form_path, CONNECTIONS, SECONDS)


def load_with(port: int, path: str, form_path: str, connections: int, seconds: float) -> dict[str, float]:
    """bench.load in a process of its own: `connections` sessions posting for `seconds`; its figures."""
    out = subprocess.run(
        [sys.executable, "-m", "bench.load", "127.0.0.1", str(port), path, form_path, str(connections), str(seconds)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout)


def run() -> dict[str, float]:
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
        env = {
            **base_env,
            "APP_ENV": "production",
            "SECRET_KEY": "bench-secret-key-long-enough-for-production-x",
            "PUBLIC_BASE_URL": "https://security.ecc.example",
            "DATABASE_URL": f"sqlite:///{folder}/app.sqlite3",
            "SESSION_COOKIE_SECURE": "false",
            "RATELIMIT_ENABLED": "false",
            "RATELIMIT_STORAGE_URI": "memory://",
            "LOG_FORMAT": "json",
            "MAIL_PORT": "1",
        }
        subprocess.run(
            [str(BIN / "flask"), "--app", "wsgi", "db", "upgrade"], cwd=ROOT, env=env, check=True, capture_output=True
        )
        app, app_port = serve("wsgi:app", env, "/healthz")
        try:
            app_result = load(app_port, "/report", "/report")
            memory = peak_rss_mb(worker_pids(app.pid))
        finally:
            app.terminate()
            app.wait(timeout=20)
    return {
        "report_per_s": app_result["per_second"],
        "floor_per_s": floor_result["per_second"],
        "ratio": app_result["per_second"] / floor_result["per_second"],
        "errors": app_result["errors"],
        "worker_peak_rss_mb": memory,
    }


if __name__ == "__main__":
    print(run())
