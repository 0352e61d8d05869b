"""gunicorn settings for production: `gunicorn -c gunicorn.conf.py wsgi:app` behind a TLS proxy.

Every value can be changed from the environment without editing this file.
"""

from __future__ import annotations

import gc
import multiprocessing
import os

from dotenv import load_dotenv

load_dotenv()  # the app reads .env too; the check below must see the same settings

bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("GUNICORN_WORKERS", str(min(multiprocessing.cpu_count() * 2 + 1, 8))))
# Threads let a worker serve other requests while one waits on argon2, the database, or the answer floor:
# every report answer is held to at least ANSWER_FLOOR_MS (R3), sleeping, so a worker answers at most threads
# / that floor reports a second whatever its CPU: 4 threads capped it near 60 a second when the floor was 60
# ms (issue 17). Until it has learned from 20 different customers' answers on a form, a worker holds that
# form's answers to ANSWER_FLOOR_COLD_MS (300 ms): 16 threads / 0.3 s, about 50 a second (the fresh-link form,
# used less, may stay so). argon2's memory is bounded apart (PASSWORD_HASH_CONCURRENCY), and a sleeping thread
# holds no database connection.
worker_class = "gthread"
threads = int(os.environ.get("GUNICORN_THREADS", "16"))
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "30"))
graceful_timeout = 30
keepalive = 5
max_requests = 10_000
max_requests_jitter = 1_000
# The app writes its own access line (JSON, with the request id, link tokens redacted): gunicorn's
# own access log would carry the raw paths, tokens included (L1).
accesslog = None
errorlog = "-"
loglevel = os.environ.get("GUNICORN_LOG_LEVEL", "info")
# X-Forwarded-* are read by the app (ProxyFix, TRUSTED_PROXY_COUNT), not by gunicorn.
forwarded_allow_ips = ""
limit_request_line = 4094
limit_request_fields = 100


def on_starting(server) -> None:  # type: ignore[no-untyped-def]
    """gunicorn's hook before any worker starts, with the settings as finally given (this file, the
    environment, or `-w` on the command line): memory:// counts each worker's requests apart, so N
    workers would allow N times every rate limit (S6). With more than one, counters must be shared."""
    workers = server.cfg.workers
    storage = os.environ.get("RATELIMIT_STORAGE_URI", "memory://")
    enabled = os.environ.get("RATELIMIT_ENABLED", "true").strip().lower() not in ("0", "false", "no", "off")
    if workers > 1 and enabled and storage.startswith("memory://"):
        raise SystemExit(
            f"gunicorn.conf.py: {workers} workers with RATELIMIT_STORAGE_URI={storage} would let each worker "
            "allow the whole of every rate limit. Set RATELIMIT_STORAGE_URI=redis://host:6379/0, or run one worker."
        )
    _say_whether_the_database_accepts_the_workers(server)


def _say_whether_the_database_accepts_the_workers(server) -> None:  # type: ignore[no-untyped-def]
    """PostgreSQL refuses a connection past max_connections, and a report that gets none fails with 503.
    Each worker may open DATABASE_POOL_SIZE + database.POOL_OVERFLOW connections: say at start-up how many
    this host's workers may open against how many the server accepts, and warn when they alone could pass
    it. Warned, not refused as the rate-limit storage is above: behind a pooler (PgBouncer) more are fine;
    and the database may not be up yet (then the check is skipped, and that is said)."""
    from sqlalchemy.engine import make_url

    from incident_service.database import POOL_OVERFLOW, connections_accepted
    from incident_service.setting_values import ConfigurationError
    from incident_service.settings import load_settings

    try:
        settings = load_settings(os.environ)
    except ConfigurationError:
        return  # each worker says what is wrong with the settings as it starts
    url = settings["SQLALCHEMY_DATABASE_URI"]
    if make_url(url).get_backend_name() != "postgresql":
        return
    workers, pool = server.cfg.workers, settings["DATABASE_POOL_SIZE"]
    needed = workers * (pool + POOL_OVERFLOW)
    try:
        accepted = connections_accepted(url)
    except Exception as error:  # noqa: BLE001 - any failure to ask: the database may start after us
        server.log.warning("gunicorn.conf.py: could not ask PostgreSQL how many connections it accepts (%s)", error)
        return
    said = (
        f"{workers} workers × (DATABASE_POOL_SIZE {pool} + {POOL_OVERFLOW} under a burst) may open {needed} "
        f"connections to PostgreSQL, which accepts {accepted} (max_connections less those reserved)"
    )
    if needed > accepted:
        server.log.warning(
            "gunicorn.conf.py: %s. Under load, reports would fail with 503. Raise max_connections, put a pooler "
            "in front, or lower GUNICORN_WORKERS or DATABASE_POOL_SIZE (other hosts and the worker and listener "
            "processes need connections too).",
            said,
        )
    else:
        server.log.info("gunicorn.conf.py: %s.", said)


def post_worker_init(worker) -> None:  # type: ignore[no-untyped-def]
    """gunicorn's hook in each worker once the app is loaded. Everything made so far (the modules, the app,
    its settings and extensions) lives as long as the worker: frozen (gc.freeze), Python's cyclic collector
    stops walking it at every full collection: under bench.intake's load known customers' reports' 99th
    percentile fell from 203-319 ms to 143-183 ms (issue 17). What is garbage already is collected first;
    what becomes garbage of it later is kept until the worker is replaced (max_requests). With preload_app
    the freeze would belong in the master, before the fork."""
    gc.collect()
    gc.freeze()
