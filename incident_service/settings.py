"""Settings for incident_service, read from the environment (and a `.env` file when present).

Names follow docs/interface.md. Only the embedded development setup (`APP_ENV=development`) gets generated
secrets and local defaults; anywhere else a missing or mistyped setting stops start-up.
"""

from __future__ import annotations

import base64
import binascii
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping
from urllib.parse import urlsplit

from . import setting_values as values
from .setting_values import ConfigurationError

PROJECT_ROOT = Path(__file__).resolve().parent.parent
INSTANCE_DIR = Path(os.environ.get("INSTANCE_PATH", PROJECT_ROOT / "instance"))

ENVIRONMENTS = ("development", "testing", "production")
LOCALES = ("vi", "en")
# T3: reset links never live longer than a day, whatever the operator sets.
RESET_LINK_MAX_AGE_CEILING = 24 * 3600


@dataclass(frozen=True)
class Setup:
    """The variables the settings are read from, and the setup (APP_ENV) they are for."""

    app_env: str
    variables: Mapping[str, str]

    @property
    def embedded(self) -> bool:
        """Development and testing: generated secrets and local defaults are allowed."""
        return self.app_env in ("development", "testing")

    def get(self, name: str) -> str | None:
        """The variable's text; an empty one counts as unset."""
        value = self.variables.get(name)
        return value if value not in (None, "") else None


# A reader turns a variable's text into the setting's value (setting name, text -> value), or raises
# ConfigurationError naming the setting and what is expected.
Reader = Callable[[str, str], object]
# A default is the text the variable would hold, so it goes through the same reader as a set value.
Default = str | Callable[[Setup], str] | None


def _database_url(name: str, raw: str) -> str:
    """postgres://, as some hosts write it, is SQLAlchemy's postgresql://. The instance folder is made
    here whatever the URL: it is also the app's instance_path."""
    INSTANCE_DIR.mkdir(parents=True, exist_ok=True)
    if raw.startswith("postgres://"):
        return "postgresql://" + raw[len("postgres://") :]
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


def _signing_key(name: str, raw: str) -> str:
    """An Ed25519 private key as base64 of its raw 32-byte seed (what `flask audit generate-key` prints)."""
    try:
        seed = base64.b64decode(raw.strip(), validate=True)
    except (binascii.Error, ValueError):
        seed = b""
    if len(seed) != 32:
        raise ConfigurationError(
            f"{name} must be the base64 of a raw 32-byte Ed25519 private key (flask audit generate-key prints one)"
        )
    return raw.strip()


def _signing_key_file(name: str, raw: str) -> str:
    """The key read from a file (a mounted secret), checked as AUDIT_SIGNING_KEY is."""
    try:
        text = Path(raw).read_text()
    except OSError as error:
        raise ConfigurationError(f"{name} {raw!r} cannot be read: {error.strerror}") from None
    return _signing_key(name, text)


def _development_signing_key() -> str:
    """Generate the development audit signing key once and keep it in instance/, as the secret key:
    checkpoints signed before a restart still verify with the key printed after it."""
    path = INSTANCE_DIR / "audit_signing_key"
    if path.exists():
        return path.read_text().strip()
    INSTANCE_DIR.mkdir(parents=True, exist_ok=True)
    key = base64.b64encode(secrets.token_bytes(32)).decode()
    path.write_text(key)
    path.chmod(0o600)
    return key


def _resolve_signing_key(setup: Setup, settings: dict[str, Any]) -> None:
    """AUDIT_SIGNING_KEY from itself or AUDIT_SIGNING_KEY_FILE (not both); generated in the embedded
    setups (kept in instance/ in development, a fresh one per app in tests); required in production."""
    if settings["AUDIT_SIGNING_KEY"] and settings["AUDIT_SIGNING_KEY_FILE"]:
        raise ConfigurationError("set AUDIT_SIGNING_KEY or AUDIT_SIGNING_KEY_FILE, not both")
    if settings["AUDIT_SIGNING_KEY_FILE"]:
        settings["AUDIT_SIGNING_KEY"] = settings["AUDIT_SIGNING_KEY_FILE"]
    elif settings["AUDIT_SIGNING_KEY"] is None:
        if not setup.embedded:
            raise ConfigurationError(
                "AUDIT_SIGNING_KEY (or AUDIT_SIGNING_KEY_FILE) is required outside development: the Ed25519 "
                "key that signs audit checkpoints, as base64 of its 32-byte seed (flask audit generate-key)"
            )
        settings["AUDIT_SIGNING_KEY"] = (
            _development_signing_key()
            if setup.app_env == "development"
            else base64.b64encode(secrets.token_bytes(32)).decode()
        )
    settings["AUDIT_SIGNING_KEY_FILE"] = None  # the key itself is what the app uses from here on
    if settings["AUDIT_LOG_ORIGIN"] is None:
        host = urlsplit(settings["PUBLIC_BASE_URL"]).netloc
        settings["AUDIT_LOG_ORIGIN"] = f"{host}/audit-log"


def _embedded_secret_key(setup: Setup) -> str:
    return _development_secret_key() if setup.app_env == "development" else secrets.token_urlsafe(32)


def _local_base_url(setup: Setup) -> str:
    return f"http://127.0.0.1:{setup.get('PORT') or '5000'}"


def _embedded_or(embedded: str, *, production: str) -> Callable[[Setup], str]:
    """One default for development and testing, another for production."""

    def default(setup: Setup) -> str:
        return embedded if setup.embedded else production

    return default


def _gunicorn_threads(setup: Setup) -> str:
    """GUNICORN_THREADS when it is a number (gunicorn.conf.py reads it), else gunicorn.conf.py's 16."""
    threads = (setup.get("GUNICORN_THREADS") or "").strip()
    return threads if threads.isdigit() and int(threads) > 0 else "16"


def _off_in_tests(setup: Setup) -> str:
    return "false" if setup.app_env == "testing" else "true"


@dataclass(frozen=True)
class Setting:
    """One variable of the environment: how its text is read, and what it is when unset."""

    name: str
    read: Reader = values.text
    default: Default = None
    # Outside development and testing an unset variable stops start-up with this message; the default
    # then serves the embedded setups only.
    required: str | None = None
    # Outside development and testing, read with this stricter reader instead.
    read_in_production: Reader | None = None
    # The Flask setting it fills, when its name is not the variable's.
    key: str | None = None


# Every setting read from the environment, in the order they are checked: with several mistakes,
# start-up names the first.
SETTINGS: tuple[Setting, ...] = (
    Setting(
        "SECRET_KEY",
        default=_embedded_secret_key,
        required="SECRET_KEY is required outside development: set it to a long random value "
        "(python -c 'import secrets; print(secrets.token_urlsafe(48))')",
        read_in_production=values.long_secret,
    ),
    Setting(
        "PUBLIC_BASE_URL",
        values.base_url,
        default=_local_base_url,
        required="PUBLIC_BASE_URL is required outside development: the https:// address customers "
        "use, e.g. https://security.example.com (links in emails are built from it)",
    ),
    Setting("DISPLAY_TIMEZONE", values.time_zone, default="Asia/Ho_Chi_Minh"),
    Setting("DEFAULT_LOCALE", values.one_of(LOCALES), default="vi"),
    Setting(
        "DATABASE_URL",
        _database_url,
        default=f"sqlite:///{INSTANCE_DIR / 'incident_service.sqlite3'}",
        key="SQLALCHEMY_DATABASE_URI",
    ),
    Setting("SESSION_COOKIE_SECURE", values.flag, default=_embedded_or("false", production="true")),
    Setting("SECRET_KEY_FALLBACKS", values.items, default=""),
    # How long a writer waits for another's lock (SQLite's busy timeout, PostgreSQL's lock_timeout)
    # before the request fails with 503 and the listener with 451, instead of hanging.
    Setting("DATABASE_LOCK_TIMEOUT_MS", values.whole(minimum=1, maximum=600_000), default="10000"),
    # PostgreSQL's statement_timeout: no statement runs longer than this (0: no limit, e.g. for a
    # migration of a large table run by hand).
    Setting("DATABASE_STATEMENT_TIMEOUT_MS", values.whole(minimum=0), default="120000"),
    # Connections each process keeps for reuse (SQLAlchemy's pool_size, plus database.POOL_OVERFLOW under a
    # burst): a gunicorn worker's threads each hold one while they work, so by default as many as it has
    # threads. Not used for SQLite in memory (one shared connection).
    Setting("DATABASE_POOL_SIZE", values.whole(minimum=1), default=_gunicorn_threads),
    Setting("MAIL_SERVER", default="127.0.0.1"),
    Setting("MAIL_PORT", values.whole(minimum=1, maximum=65535), default=_embedded_or("8025", production="25")),
    Setting("MAIL_USE_TLS", values.flag, default="false"),
    Setting("MAIL_USE_SSL", values.flag, default="false"),
    Setting("MAIL_USERNAME"),
    Setting("MAIL_PASSWORD"),
    Setting("MAIL_DEFAULT_SENDER", default="ECC Security <security@ecc.example>"),
    Setting("MAIL_TIMEOUT_SECONDS", values.whole(minimum=1), default="30"),
    # A CA bundle for the relay's certificate; empty means the system store.
    Setting("MAIL_CA_FILE"),
    Setting("REPORT_ADDRESSES", values.items, default="security@ecc.example"),
    # The email intake listener and import (docs/security.md M1–M4).
    Setting("INTAKE_HOST", default="127.0.0.1"),
    Setting("INTAKE_PORT", values.whole(minimum=1, maximum=65535), default="2525"),
    Setting("INTAKE_MAX_MESSAGE_BYTES", values.whole(minimum=1024), default=str(10 * 1024 * 1024)),
    Setting("INTAKE_MAX_HEADER_BYTES", values.whole(minimum=1024), default=str(64 * 1024)),
    Setting("INTAKE_MAX_MIME_PARTS", values.whole(minimum=1), default="100"),
    Setting("INTAKE_MAX_MIME_DEPTH", values.whole(minimum=1), default="10"),
    Setting("INTAKE_PARSE_SECONDS", values.whole(minimum=1), default="5"),
    Setting("INTAKE_TIMEOUT_SECONDS", values.whole(minimum=1), default="60"),
    # Our own MTA's authserv-id: the only Authentication-Results header we read (M4).
    Setting("AUTHSERV_ID", default="mx.ecc.example"),
    # Hosts whose Received headers are the company's own clock, for imported mail.
    Setting("COMPANY_MTA_HOSTS", values.host_names, default="mx.ecc.example"),
    # Where those hosts connect from: only LMTP from these addresses is the company MTA's delivery,
    # and only a Received hop whose client is here is a hop inside the company.
    Setting("COMPANY_MTA_NETWORKS", values.networks, default="127.0.0.0/8, ::1/128"),
    Setting("SUPPORT_CONTACT", default="security@ecc.example, (028) 3822 0000"),
    Setting("COMPANY_NAME", default="ECC"),
    # Where `flask audit anchor` sends the chain head: an address outside this service's control.
    Setting("AUDIT_ANCHOR_EMAIL"),
    # The Ed25519 key that signs audit checkpoints (incident_service/audit/checkpoint.py): base64 of the
    # raw 32-byte seed, or a file holding it. Required in production; generated in development.
    Setting("AUDIT_SIGNING_KEY", _signing_key),
    Setting("AUDIT_SIGNING_KEY_FILE", _signing_key_file),
    # The checkpoint's origin line (the log's name); by default "<PUBLIC_BASE_URL host>/audit-log".
    Setting("AUDIT_LOG_ORIGIN", values.origin),
    # An RFC 3161 time-stamping authority's URL; empty: checkpoints are signed but not timestamped.
    Setting("AUDIT_TSA_URL", values.base_url),
    Setting("AUDIT_TSA_TIMEOUT_SECONDS", values.whole(minimum=1, maximum=120), default="10"),
    # How often the outbox worker makes a checkpoint (only when the tree has grown since the last).
    Setting("AUDIT_CHECKPOINT_MINUTES", values.whole(minimum=1, maximum=7 * 24 * 60), default="60"),
    # The security team's addresses for staff alerts (incident_service/alerts); empty: no alerts.
    Setting("SECURITY_TEAM_ADDRESSES", values.addresses, default=""),
    # At most one alert email of each kind per this many minutes (new incidents, undelivered email,
    # quarantine, disabled webhooks): a mass reactivation makes one digest, not one email per report.
    Setting("ALERT_DIGEST_MINUTES", values.whole(minimum=1, maximum=24 * 60), default="15"),
    Setting("LATE_REPORT_THRESHOLD_HOURS", values.whole(minimum=1), default="24"),
    # Days to answer a customer's data request (incident_service/data_requests). Decree 13/2023/ND-CP
    # gives 72 hours to provide (art. 14), correct (art. 15) and delete (art. 16) a data subject's data.
    Setting("DATA_REQUEST_DUE_DAYS", values.whole(minimum=1, maximum=90), default="3"),
    # Retention (incident_service/retention): days each kind of personal data is kept, 0 for ever. Counted
    # from when the data arrived, and only once its incident is closed or resolved (an email that made no
    # report counts from its arrival); an incident under a legal hold keeps everything. Three years for
    # what a dispute may need (the Civil Code's limitation period for contract claims, art. 429), six
    # months for network addresses (investigating abuse), five years after closing for the rest.
    Setting("RETENTION_RAW_EMAIL_DAYS", values.whole(minimum=0), default="1095"),
    Setting("RETENTION_FREE_TEXT_DAYS", values.whole(minimum=0), default="1095"),
    Setting("RETENTION_IP_ADDRESS_DAYS", values.whole(minimum=0), default="180"),
    Setting("RETENTION_CLOSED_INCIDENT_DAYS", values.whole(minimum=0), default="1825"),
    Setting("RESET_LINK_MAX_AGE_SECONDS", values.whole(minimum=60, maximum=RESET_LINK_MAX_AGE_CEILING), default="3600"),
    Setting("REPORT_LINK_MAX_AGE_DAYS", values.whole(minimum=1), default="90"),
    Setting("DISCOVERY_LINK_MAX_AGE_DAYS", values.whole(minimum=1), default="30"),
    Setting("LINK_RESEND_WINDOW_SECONDS", values.whole(minimum=0), default="900"),
    # Changing the address on record (incident_service/email_change): how long each confirmation link
    # works (at most 24 hours, as every link that changes an account: T3), and for how many days after
    # a change the previous address still reports as this customer's.
    Setting(
        "EMAIL_CHANGE_LINK_MAX_AGE_SECONDS",
        values.whole(minimum=60, maximum=RESET_LINK_MAX_AGE_CEILING),
        default=str(RESET_LINK_MAX_AGE_CEILING),
    ),
    Setting("PREVIOUS_ADDRESS_DAYS", values.whole(minimum=0, maximum=3650), default="90"),
    # A worker that dies mid-send leaves its claim; after this long another worker retries (E1).
    Setting("OUTBOX_LEASE_SECONDS", values.whole(minimum=1), default="300"),
    # At most this many emails a second per worker (0: as fast as the relay takes them).
    Setting("OUTBOX_MAX_PER_SECOND", values.whole(minimum=0), default="0"),
    Setting("OUTBOX_MAX_ATTEMPTS", values.whole(minimum=1), default="12"),
    # Webhooks (incident_service/webhooks, docs/webhooks.md). Loopback, private, link-local and other
    # non-public addresses are refused as targets unless this allows them (tests, single-host setups).
    Setting("WEBHOOK_ALLOW_PRIVATE_ADDRESSES", values.flag, default="false"),
    Setting("WEBHOOK_CONNECT_TIMEOUT_SECONDS", values.whole(minimum=1, maximum=60), default="5"),
    Setting("WEBHOOK_READ_TIMEOUT_SECONDS", values.whole(minimum=1, maximum=120), default="10"),
    # Attempts per delivery (backoff 5 s doubling to 12 h, with jitter: 18 attempts span about two days).
    Setting("WEBHOOK_MAX_ATTEMPTS", values.whole(minimum=1, maximum=100), default="18"),
    # A subscription is disabled once it has failed this many times in a row over at least this long.
    Setting("WEBHOOK_DISABLE_AFTER_FAILURES", values.whole(minimum=1), default="20"),
    Setting("WEBHOOK_DISABLE_AFTER_HOURS", values.whole(minimum=0), default="72"),
    # After a secret is rotated, the old one keeps signing beside the new one for this long.
    Setting("WEBHOOK_SECRET_OVERLAP_HOURS", values.whole(minimum=0, maximum=24 * 30), default="24"),
    # R3: answers that could tell whether an address is a customer's take at least this long once the worker
    # is warm (and as long as a customer's answer recently took): see incident_service/answer_floor.py. At 25
    # ms, 16 connections brought more reports than SQLite's write lock passes, the answers queued past the
    # floor, and their tails told customers apart (KS p 0.001 and 0.02 in own runs, the first 50 answers of
    # each kind left out); at 60 ms they did not (issue 17's sixth pass, docs/benchmarks.md). A database
    # across a network adds round trips to a customer's report: raise it there (README).
    Setting("ANSWER_FLOOR_MS", values.whole(minimum=0, maximum=5000), default="60"),
    # R3: until a worker has learned from the answers of answer_floor.WARM_AFTER different customers on a form,
    # every answer of that form takes at least this long. Without it, under 16 connections a restarted
    # worker's first customers' reports were answered in 81 to 242 ms and strangers' in 65 to 158 ms, held
    # only to ANSWER_FLOOR_MS (bench/r3_load.py, issue 17's sixth pass).
    Setting("ANSWER_FLOOR_COLD_MS", values.whole(minimum=0, maximum=10_000), default="300"),
    # R3: how many of a process's threads do the work of a held answer (a report, a fresh-link request) at
    # once; the others wait their turn, and the floor does not learn that wait, as it does not learn the wait
    # for SQLite's writer turn. On PostgreSQL, 16 threads of one worker doing it together queued for its one
    # interpreter, the floor learned that queue (customers' work p99 52-102 ms) and held every answer to
    # 1.5 × it: 1 and 2 workers made 109-130 and 150-232 reports a second; with 2 turns, 210-231 and
    # 224-231, every floor at ANSWER_FLOOR_MS (bench.intake, issue 17's eighth pass).
    Setting("ANSWER_WORK_TURNS", values.whole(minimum=1, maximum=64), default="2"),
    # Where rate-limit counters live. memory:// counts per process, so with several gunicorn workers
    # each would allow the whole limit: outside the embedded setups it must be chosen on purpose.
    Setting(
        "RATELIMIT_STORAGE_URI",
        values.limit_storage,
        default="memory://",
        required="RATELIMIT_STORAGE_URI is required outside development: redis://host:6379/0 shared by every "
        "web worker (memory:// only for a single gunicorn worker: it counts per process)",
    ),
    # Off only in the test setup, whose many requests come from one address; tests of limits turn it on.
    Setting("RATELIMIT_ENABLED", values.flag, default=_off_in_tests),
    # How many proxies in front of us append to X-Forwarded-For; 0 = trust no proxy header.
    Setting("TRUSTED_PROXY_COUNT", values.whole(minimum=0, maximum=5), default="0"),
    # Bearer token for /metrics; without one, only loopback clients may scrape.
    Setting("METRICS_TOKEN"),
    Setting("STAFF_SESSION_IDLE_MINUTES", values.whole(minimum=1), default="15"),
    Setting("STAFF_SESSION_ABSOLUTE_HOURS", values.whole(minimum=1), default="8"),
    Setting("PASSWORD_HASH_CONCURRENCY", values.whole(minimum=1), default="4"),
    Setting("SESSION_IDLE_MINUTES", values.whole(minimum=1), default="30"),
    Setting("SESSION_ABSOLUTE_HOURS", values.whole(minimum=1), default="12"),
    # The JSON API, per key (incident_service/api/auth.py): a runaway integration slows itself down only.
    Setting("LIMIT_API_PER_KEY", values.limit, default="600 per minute;100000 per day"),
    # Per client IP, and per account named in the form (S6). Flask-Limiter syntax.
    Setting("LIMIT_REPORT_PER_IP", values.limit, default="10 per minute;200 per day"),
    Setting("LIMIT_REPORT_PER_ACCOUNT", values.limit, default="5 per hour;20 per day"),
    Setting("LIMIT_FRESH_LINK_PER_IP", values.limit, default="10 per minute;100 per day"),
    Setting("LIMIT_FRESH_LINK_PER_ACCOUNT", values.limit, default="5 per hour"),
    Setting("LIMIT_RESET_PER_IP", values.limit, default="20 per minute"),
    Setting("LIMIT_RESET_PER_LINK", values.limit, default="10 per hour"),
    Setting("LIMIT_SIGN_IN_PER_IP", values.limit, default="20 per minute;200 per day"),
    Setting("LIMIT_SIGN_IN_PER_ACCOUNT", values.limit, default="10 per 15 minutes;50 per day"),
    # Every page a link opens (/reset/<t>, /discovery/<t>, /r/<t>), per client IP: guessing costs.
    Setting("LIMIT_LINK_PER_IP", values.limit, default="30 per minute;300 per day"),
    # Past this many links that fail to verify, a client is recorded as guessing (once per window).
    Setting("LINK_GUESSING_THRESHOLD", values.limit, default="20 per 10 minutes"),
    Setting(
        "PASSWORD_HASH_PROFILE", values.either("rfc9106-low-memory", "owasp-minimum"), default="rfc9106-low-memory"
    ),
    # JSON lines for log collectors outside development; text when a person reads the terminal.
    Setting("LOG_FORMAT", values.either("json", "text"), default=_embedded_or("text", production="json")),
)

# Flask settings that are not the operator's to choose.
FIXED: Mapping[str, object] = {
    "BABEL_DEFAULT_TIMEZONE": "UTC",
    "RATELIMIT_HEADERS_ENABLED": False,
    # Redis down must not turn reports away (never lost, L4): limits count per process meanwhile.
    "RATELIMIT_IN_MEMORY_FALLBACK_ENABLED": True,
    "SESSION_COOKIE_HTTPONLY": True,
    "SESSION_COOKIE_SAMESITE": "Lax",
    # Flask-WTF's HTTPS check wants a same-origin Referer, which our Referrer-Policy (no-referrer, T5)
    # stops browsers from sending; incident_service.same_origin checks Sec-Fetch-Site/Origin instead.
    "WTF_CSRF_SSL_STRICT": False,
    "WTF_CSRF_TIME_LIMIT": None,  # the token lives as long as the session, which has its own timeouts
    "MAX_CONTENT_LENGTH": 64 * 1024,
}


def _read_setup(variables: Mapping[str, str]) -> Setup:
    """APP_ENV, read first: the other settings' defaults and strictness depend on it. Unlike the
    others, an empty APP_ENV is not taken as unset: it is refused."""
    app_env = values.one_of(ENVIRONMENTS)("APP_ENV", variables.get("APP_ENV", "production").strip().lower())
    return Setup(app_env, variables)


def _read_setting(setting: Setting, setup: Setup) -> object:
    raw = setup.get(setting.name)
    if raw is None:
        if setting.required is not None and not setup.embedded:
            raise ConfigurationError(setting.required)
        raw = setting.default(setup) if callable(setting.default) else setting.default
        if raw is None:
            return None
    read = setting.read_in_production if setting.read_in_production and not setup.embedded else setting.read
    return read(setting.name, raw)


def _check_mail_transport(settings: Mapping[str, Any]) -> None:
    if settings["MAIL_USE_TLS"] and settings["MAIL_USE_SSL"]:
        raise ConfigurationError("MAIL_USE_TLS and MAIL_USE_SSL cannot both be true: pick STARTTLS or implicit TLS")
    if (settings["MAIL_USERNAME"] or settings["MAIL_PASSWORD"]) and not (
        settings["MAIL_USE_TLS"] or settings["MAIL_USE_SSL"]
    ):
        raise ConfigurationError(
            "MAIL_USERNAME/MAIL_PASSWORD need MAIL_USE_TLS=true or MAIL_USE_SSL=true: the relay's credentials "
            "must never cross the network in clear text"
        )


def _derived(setup: Setup, settings: Mapping[str, Any]) -> dict[str, Any]:
    """Flask settings that follow from the ones read."""
    return {
        "APP_ENV": setup.app_env,
        "TESTING": setup.app_env == "testing",
        "BABEL_DEFAULT_LOCALE": settings["DEFAULT_LOCALE"],
        # S2: the __Host- prefix needs Secure, so it follows the Secure setting.
        "SESSION_COOKIE_NAME": "__Host-session" if settings["SESSION_COOKIE_SECURE"] else "session",
    }


def load_settings(environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Return Flask config values built from `environ`, raising ConfigurationError on bad input."""
    setup = _read_setup(dict(os.environ if environ is None else environ))
    settings = {setting.key or setting.name: _read_setting(setting, setup) for setting in SETTINGS}
    _check_mail_transport(settings)
    _resolve_signing_key(setup, settings)
    return {**settings, **_derived(setup, settings), **FIXED}
