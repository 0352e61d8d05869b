"""Settings for incident_service, read from the environment (and a `.env` file when present).

Names follow DESIGN.md. Only the embedded development setup (`APP_ENV=development`) gets generated
secrets and local defaults; anywhere else a missing or mistyped setting stops start-up.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any, Mapping
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

PROJECT_ROOT = Path(__file__).resolve().parent.parent
INSTANCE_DIR = Path(os.environ.get("INSTANCE_PATH", PROJECT_ROOT / "instance"))

ENVIRONMENTS = ("development", "testing", "production")
LOCALES = ("vi", "en")
# T3: reset links never live longer than a day, whatever the operator sets.
RESET_LINK_MAX_AGE_CEILING = 24 * 3600


class ConfigurationError(RuntimeError):
    """A setting is missing or invalid; the message names it and says what is expected."""


def _bool(name: str, raw: str) -> bool:
    value = raw.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off", ""):
        return False
    raise ConfigurationError(f"{name} must be true or false, not {raw!r}")


def _int(name: str, raw: str, *, minimum: int = 0, maximum: int | None = None) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise ConfigurationError(f"{name} must be a whole number, not {raw!r}") from None
    if value < minimum or (maximum is not None and value > maximum):
        bound = f"between {minimum} and {maximum}" if maximum is not None else f"at least {minimum}"
        raise ConfigurationError(f"{name} must be {bound}, not {value}")
    return value


def _list(raw: str) -> list[str]:
    return [item.strip() for item in raw.split(",") if item.strip()]


def _networks(name: str, raw: str) -> list[str]:
    import ipaddress

    networks = _list(raw)
    for network in networks:
        try:
            ipaddress.ip_network(network, strict=False)
        except ValueError:
            raise ConfigurationError(
                f"{name} must be addresses or networks like 10.1.0.0/24, not {network!r}"
            ) from None
    return networks


def _limit(name: str, raw: str) -> str:
    """A Flask-Limiter rate such as "10 per minute;200 per day"; a typo would silently stop the limit."""
    from limits import parse_many

    try:
        parse_many(raw)
    except ValueError:
        raise ConfigurationError(f"{name} must be rates like '10 per minute;200 per day', not {raw!r}") from None
    return raw


def _limit_storage(raw: str | None, embedded: bool) -> str:
    """Where rate-limit counters live. memory:// counts per process, so with several gunicorn workers
    each would allow the whole limit: outside the embedded setups it must be chosen on purpose."""
    if raw is None:
        if embedded:
            return "memory://"
        raise ConfigurationError(
            "RATELIMIT_STORAGE_URI is required outside development: redis://host:6379/0 shared by every web "
            "worker (memory:// only for a single gunicorn worker: it counts per process)"
        )
    if not raw.startswith(("memory://", "redis://", "rediss://", "redis+unix://", "redis+sentinel://")):
        raise ConfigurationError(f"RATELIMIT_STORAGE_URI must be memory:// or a redis:// URL, not {raw!r}")
    return raw


def _development_secret_key() -> str:
    """Generate the development secret once and keep it in instance/, so restarts keep sessions."""
    path = INSTANCE_DIR / "secret_key"
    if path.exists():
        return path.read_text().strip()
    INSTANCE_DIR.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(48)
    path.write_text(key)
    path.chmod(0o600)
    return key


def load_settings(environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Return Flask config values built from `environ`, raising ConfigurationError on bad input."""
    env = dict(os.environ if environ is None else environ)
    app_env = env.get("APP_ENV", "production").strip().lower()
    if app_env not in ENVIRONMENTS:
        raise ConfigurationError(f"APP_ENV must be one of {', '.join(ENVIRONMENTS)}, not {app_env!r}")
    embedded = app_env in ("development", "testing")

    def get(name: str, default: str | None = None) -> str | None:
        value = env.get(name)
        return value if value not in (None, "") else default

    secret_key = get("SECRET_KEY")
    if secret_key is None:
        if app_env == "development":
            secret_key = _development_secret_key()
        elif app_env == "testing":
            secret_key = secrets.token_urlsafe(32)
        else:
            raise ConfigurationError(
                "SECRET_KEY is required outside development: set it to a long random value "
                "(python -c 'import secrets; print(secrets.token_urlsafe(48))')"
            )
    if not embedded and len(secret_key) < 32:
        raise ConfigurationError("SECRET_KEY must be at least 32 characters long")

    public_base_url = get("PUBLIC_BASE_URL")
    if public_base_url is None:
        if not embedded:
            raise ConfigurationError(
                "PUBLIC_BASE_URL is required outside development: the https:// address customers "
                "use, e.g. https://security.example.com (links in emails are built from it)"
            )
        public_base_url = f"http://127.0.0.1:{get('PORT', '5000')}"
    if not public_base_url.startswith(("http://", "https://")):
        raise ConfigurationError(f"PUBLIC_BASE_URL must start with http:// or https://, not {public_base_url!r}")
    public_base_url = public_base_url.rstrip("/")

    display_timezone = get("DISPLAY_TIMEZONE", "Asia/Ho_Chi_Minh")
    try:
        ZoneInfo(display_timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigurationError(f"DISPLAY_TIMEZONE {display_timezone!r} is not a known time zone") from None

    default_locale = get("DEFAULT_LOCALE", "vi")
    if default_locale not in LOCALES:
        raise ConfigurationError(f"DEFAULT_LOCALE must be one of {', '.join(LOCALES)}, not {default_locale!r}")

    INSTANCE_DIR.mkdir(parents=True, exist_ok=True)
    database_url = get("DATABASE_URL", f"sqlite:///{INSTANCE_DIR / 'incident_service.sqlite3'}")
    if database_url.startswith("postgres://"):
        database_url = "postgresql://" + database_url[len("postgres://") :]

    secure_cookies = _bool("SESSION_COOKIE_SECURE", get("SESSION_COOKIE_SECURE", "false" if embedded else "true"))

    settings: dict[str, Any] = {
        "APP_ENV": app_env,
        "TESTING": app_env == "testing",
        "SECRET_KEY": secret_key,
        "SECRET_KEY_FALLBACKS": _list(get("SECRET_KEY_FALLBACKS", "")),
        "PUBLIC_BASE_URL": public_base_url,
        "SQLALCHEMY_DATABASE_URI": database_url,
        # How long a writer waits for another's lock (SQLite's busy timeout, PostgreSQL's lock_timeout)
        # before the request fails with 503 and the listener with 451, instead of hanging.
        "DATABASE_LOCK_TIMEOUT_MS": _int(
            "DATABASE_LOCK_TIMEOUT_MS", get("DATABASE_LOCK_TIMEOUT_MS", "10000"), minimum=1, maximum=600_000
        ),
        # PostgreSQL's statement_timeout: no statement runs longer than this (0: no limit, e.g. for a
        # migration of a large table run by hand).
        "DATABASE_STATEMENT_TIMEOUT_MS": _int(
            "DATABASE_STATEMENT_TIMEOUT_MS", get("DATABASE_STATEMENT_TIMEOUT_MS", "120000"), minimum=0
        ),
        "MAIL_SERVER": get("MAIL_SERVER", "127.0.0.1"),
        "MAIL_PORT": _int("MAIL_PORT", get("MAIL_PORT", "8025" if embedded else "25"), minimum=1, maximum=65535),
        "MAIL_USE_TLS": _bool("MAIL_USE_TLS", get("MAIL_USE_TLS", "false")),
        "MAIL_USE_SSL": _bool("MAIL_USE_SSL", get("MAIL_USE_SSL", "false")),
        "MAIL_USERNAME": get("MAIL_USERNAME"),
        "MAIL_PASSWORD": get("MAIL_PASSWORD"),
        "MAIL_DEFAULT_SENDER": get("MAIL_DEFAULT_SENDER", "ECC Security <security@ecc.example>"),
        "MAIL_TIMEOUT_SECONDS": _int("MAIL_TIMEOUT_SECONDS", get("MAIL_TIMEOUT_SECONDS", "30"), minimum=1),
        # A CA bundle for the relay's certificate; empty means the system store.
        "MAIL_CA_FILE": get("MAIL_CA_FILE"),
        "REPORT_ADDRESSES": _list(get("REPORT_ADDRESSES", "security@ecc.example")),
        # The email intake listener and import (SECURITY.md M1–M4).
        "INTAKE_HOST": get("INTAKE_HOST", "127.0.0.1"),
        "INTAKE_PORT": _int("INTAKE_PORT", get("INTAKE_PORT", "2525"), minimum=1, maximum=65535),
        "INTAKE_MAX_MESSAGE_BYTES": _int(
            "INTAKE_MAX_MESSAGE_BYTES", get("INTAKE_MAX_MESSAGE_BYTES", str(10 * 1024 * 1024)), minimum=1024
        ),
        "INTAKE_MAX_HEADER_BYTES": _int(
            "INTAKE_MAX_HEADER_BYTES", get("INTAKE_MAX_HEADER_BYTES", str(64 * 1024)), minimum=1024
        ),
        "INTAKE_MAX_MIME_PARTS": _int("INTAKE_MAX_MIME_PARTS", get("INTAKE_MAX_MIME_PARTS", "100"), minimum=1),
        "INTAKE_MAX_MIME_DEPTH": _int("INTAKE_MAX_MIME_DEPTH", get("INTAKE_MAX_MIME_DEPTH", "10"), minimum=1),
        "INTAKE_PARSE_SECONDS": _int("INTAKE_PARSE_SECONDS", get("INTAKE_PARSE_SECONDS", "5"), minimum=1),
        "INTAKE_TIMEOUT_SECONDS": _int("INTAKE_TIMEOUT_SECONDS", get("INTAKE_TIMEOUT_SECONDS", "60"), minimum=1),
        # Our own MTA's authserv-id: the only Authentication-Results header we read (M4).
        "AUTHSERV_ID": get("AUTHSERV_ID", "mx.ecc.example"),
        # Hosts whose Received headers are the company's own clock, for imported mail.
        "COMPANY_MTA_HOSTS": [host.lower() for host in _list(get("COMPANY_MTA_HOSTS", "mx.ecc.example"))],
        # Where those hosts connect from: only LMTP from these addresses is the company MTA's delivery,
        # and only a Received hop whose client is here is a hop inside the company.
        "COMPANY_MTA_NETWORKS": _networks("COMPANY_MTA_NETWORKS", get("COMPANY_MTA_NETWORKS", "127.0.0.0/8, ::1/128")),
        "SUPPORT_CONTACT": get("SUPPORT_CONTACT", "security@ecc.example, (028) 3822 0000"),
        "COMPANY_NAME": get("COMPANY_NAME", "ECC"),
        # Where `flask audit anchor` sends the chain head: an address outside this service's control.
        "AUDIT_ANCHOR_EMAIL": get("AUDIT_ANCHOR_EMAIL"),
        "LATE_REPORT_THRESHOLD_HOURS": _int(
            "LATE_REPORT_THRESHOLD_HOURS", get("LATE_REPORT_THRESHOLD_HOURS", "24"), minimum=1
        ),
        "RESET_LINK_MAX_AGE_SECONDS": _int(
            "RESET_LINK_MAX_AGE_SECONDS",
            get("RESET_LINK_MAX_AGE_SECONDS", "3600"),
            minimum=60,
            maximum=RESET_LINK_MAX_AGE_CEILING,
        ),
        "REPORT_LINK_MAX_AGE_DAYS": _int("REPORT_LINK_MAX_AGE_DAYS", get("REPORT_LINK_MAX_AGE_DAYS", "90"), minimum=1),
        "DISCOVERY_LINK_MAX_AGE_DAYS": _int(
            "DISCOVERY_LINK_MAX_AGE_DAYS", get("DISCOVERY_LINK_MAX_AGE_DAYS", "30"), minimum=1
        ),
        "LINK_RESEND_WINDOW_SECONDS": _int(
            "LINK_RESEND_WINDOW_SECONDS", get("LINK_RESEND_WINDOW_SECONDS", "900"), minimum=0
        ),
        # A worker that dies mid-send leaves its claim; after this long another worker retries (E1).
        "OUTBOX_LEASE_SECONDS": _int("OUTBOX_LEASE_SECONDS", get("OUTBOX_LEASE_SECONDS", "300"), minimum=1),
        # At most this many emails a second per worker (0: as fast as the relay takes them).
        "OUTBOX_MAX_PER_SECOND": _int("OUTBOX_MAX_PER_SECOND", get("OUTBOX_MAX_PER_SECOND", "0"), minimum=0),
        "OUTBOX_MAX_ATTEMPTS": _int("OUTBOX_MAX_ATTEMPTS", get("OUTBOX_MAX_ATTEMPTS", "12"), minimum=1),
        "DISPLAY_TIMEZONE": display_timezone,
        "DEFAULT_LOCALE": default_locale,
        "BABEL_DEFAULT_LOCALE": default_locale,
        "BABEL_DEFAULT_TIMEZONE": "UTC",
        # R3: answers that could tell whether an address is a customer's take at least this long (and as
        # long as a customer's answer recently took): see incident_service/answer_floor.py.
        "ANSWER_FLOOR_MS": _int("ANSWER_FLOOR_MS", get("ANSWER_FLOOR_MS", "60"), minimum=0, maximum=5000),
        "RATELIMIT_STORAGE_URI": _limit_storage(get("RATELIMIT_STORAGE_URI"), embedded),
        # Off only in the test setup, whose many requests come from one address; tests of limits turn it on.
        "RATELIMIT_ENABLED": _bool(
            "RATELIMIT_ENABLED", get("RATELIMIT_ENABLED", "false" if app_env == "testing" else "true")
        ),
        "RATELIMIT_HEADERS_ENABLED": False,
        # Redis down must not turn reports away (never lost, L4): limits count per process meanwhile.
        "RATELIMIT_IN_MEMORY_FALLBACK_ENABLED": True,
        # Per client IP, and per account named in the form (S6). Flask-Limiter syntax.
        "LIMIT_REPORT_PER_IP": get("LIMIT_REPORT_PER_IP", "10 per minute;200 per day"),
        "LIMIT_REPORT_PER_ACCOUNT": get("LIMIT_REPORT_PER_ACCOUNT", "5 per hour;20 per day"),
        "LIMIT_FRESH_LINK_PER_IP": get("LIMIT_FRESH_LINK_PER_IP", "10 per minute;100 per day"),
        "LIMIT_FRESH_LINK_PER_ACCOUNT": get("LIMIT_FRESH_LINK_PER_ACCOUNT", "5 per hour"),
        "LIMIT_RESET_PER_IP": get("LIMIT_RESET_PER_IP", "20 per minute"),
        "LIMIT_RESET_PER_LINK": get("LIMIT_RESET_PER_LINK", "10 per hour"),
        "LIMIT_SIGN_IN_PER_IP": get("LIMIT_SIGN_IN_PER_IP", "20 per minute;200 per day"),
        "LIMIT_SIGN_IN_PER_ACCOUNT": get("LIMIT_SIGN_IN_PER_ACCOUNT", "10 per 15 minutes;50 per day"),
        # Every page a link opens (/reset/<t>, /discovery/<t>, /r/<t>), per client IP: guessing costs.
        "LIMIT_LINK_PER_IP": get("LIMIT_LINK_PER_IP", "30 per minute;300 per day"),
        # Past this many links that fail to verify, a client is recorded as guessing (once per window).
        "LINK_GUESSING_THRESHOLD": get("LINK_GUESSING_THRESHOLD", "20 per 10 minutes"),
        # How many proxies in front of us append to X-Forwarded-For; 0 = trust no proxy header.
        # JSON lines for log collectors outside development; text when a person reads the terminal.
        "LOG_FORMAT": get("LOG_FORMAT", "text" if embedded else "json"),
        # Bearer token for /metrics; without one, only loopback clients may scrape.
        "METRICS_TOKEN": get("METRICS_TOKEN"),
        "TRUSTED_PROXY_COUNT": _int("TRUSTED_PROXY_COUNT", get("TRUSTED_PROXY_COUNT", "0"), minimum=0, maximum=5),
        "STAFF_SESSION_IDLE_MINUTES": _int(
            "STAFF_SESSION_IDLE_MINUTES", get("STAFF_SESSION_IDLE_MINUTES", "15"), minimum=1
        ),
        "STAFF_SESSION_ABSOLUTE_HOURS": _int(
            "STAFF_SESSION_ABSOLUTE_HOURS", get("STAFF_SESSION_ABSOLUTE_HOURS", "8"), minimum=1
        ),
        "PASSWORD_HASH_PROFILE": get("PASSWORD_HASH_PROFILE", "rfc9106-low-memory"),
        "PASSWORD_HASH_CONCURRENCY": _int(
            "PASSWORD_HASH_CONCURRENCY", get("PASSWORD_HASH_CONCURRENCY", "4"), minimum=1
        ),
        "SESSION_IDLE_MINUTES": _int("SESSION_IDLE_MINUTES", get("SESSION_IDLE_MINUTES", "30"), minimum=1),
        "SESSION_ABSOLUTE_HOURS": _int("SESSION_ABSOLUTE_HOURS", get("SESSION_ABSOLUTE_HOURS", "12"), minimum=1),
        "SESSION_COOKIE_SECURE": secure_cookies,
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        # S2: the __Host- prefix needs Secure, so it follows the Secure setting.
        "SESSION_COOKIE_NAME": "__Host-session" if secure_cookies else "session",
        # Flask-WTF's HTTPS check wants a same-origin Referer, which our Referrer-Policy (no-referrer, T5)
        # stops browsers from sending; incident_service.same_origin checks Sec-Fetch-Site/Origin instead.
        "WTF_CSRF_SSL_STRICT": False,
        "WTF_CSRF_TIME_LIMIT": None,  # the token lives as long as the session, which has its own timeouts
        "MAX_CONTENT_LENGTH": 64 * 1024,
    }
    for name in [key for key in settings if key.startswith("LIMIT_") or key == "LINK_GUESSING_THRESHOLD"]:
        settings[name] = _limit(name, settings[name])
    if settings["PASSWORD_HASH_PROFILE"] not in ("rfc9106-low-memory", "owasp-minimum"):
        raise ConfigurationError(
            "PASSWORD_HASH_PROFILE must be rfc9106-low-memory or owasp-minimum, "
            f"not {settings['PASSWORD_HASH_PROFILE']!r}"
        )
    if settings["LOG_FORMAT"] not in ("json", "text"):
        raise ConfigurationError(f"LOG_FORMAT must be json or text, not {settings['LOG_FORMAT']!r}")
    if settings["MAIL_USE_TLS"] and settings["MAIL_USE_SSL"]:
        raise ConfigurationError("MAIL_USE_TLS and MAIL_USE_SSL cannot both be true: pick STARTTLS or implicit TLS")
    if (settings["MAIL_USERNAME"] or settings["MAIL_PASSWORD"]) and not (
        settings["MAIL_USE_TLS"] or settings["MAIL_USE_SSL"]
    ):
        raise ConfigurationError(
            "MAIL_USERNAME/MAIL_PASSWORD need MAIL_USE_TLS=true or MAIL_USE_SSL=true: the relay's credentials "
            "must never cross the network in clear text"
        )
    return settings
