"""incident_service: records password-compromise reports, reactivates the password, proves when."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.routing import IntegerConverter, Map

from . import answer_floor, errors, headers, i18n, logging_redaction, observability, same_origin, templating
from . import settings as settings_module
from .customers import passwords
from .customers import session as customer_session
from .database import configure_engine, pool_options
from .extensions import babel, csrf, db, limiter, mail, migrate
from .staff import session as staff_session
from .webhooks import queue as webhook_queue

PROJECT_ROOT = Path(__file__).resolve().parent.parent


class RowId(IntegerConverter):
    """`<int:...>` in every route: at most 2**31 - 1, the largest id either database stores."""

    def __init__(self, map: Map, *args: Any, **kwargs: Any) -> None:  # noqa: A002 - werkzeug's name
        kwargs.setdefault("max", 2**31 - 1)
        super().__init__(map, *args, **kwargs)


def create_app(overrides: dict[str, Any] | None = None, environ: dict[str, str] | None = None) -> Flask:
    """Build the app: settings from the environment, then FLASK_* variables, then `overrides`."""
    app = Flask(
        __name__,
        template_folder=str(PROJECT_ROOT / "templates"),
        instance_path=str(settings_module.INSTANCE_DIR),
    )
    app.config.update(settings_module.load_settings(environ))
    app.config.from_prefixed_env()
    if overrides:
        app.config.update(overrides)
    if not app.config["SESSION_COOKIE_SECURE"] and app.config["SESSION_COOKIE_NAME"].startswith("__Host-"):
        # Browsers refuse a __Host- cookie without Secure, so no session would ever stick (S2).
        app.config["SESSION_COOKIE_NAME"] = app.config["SESSION_COOKIE_NAME"].removeprefix("__Host-")

    # Sized for the URL's kind of pool, after the overrides: they may name another database.
    app.config["SQLALCHEMY_ENGINE_OPTIONS"] = pool_options(
        app.config["SQLALCHEMY_DATABASE_URI"],
        app.config["DATABASE_POOL_SIZE"],
        app.config.get("SQLALCHEMY_ENGINE_OPTIONS") or {},
    )
    db.init_app(app)
    migrate.init_app(app, db, directory=str(PROJECT_ROOT / "migrations"))
    csrf.init_app(app)
    same_origin.init_app(app)
    mail.init_app(app)
    limiter.init_app(app)
    # One limiter object serves every app this process makes (the tests make many): an app whose storage
    # was down must not leave the next one counting in the in-memory fallback.
    limiter._storage_dead = False
    babel.init_app(
        app,
        locale_selector=i18n.select_locale,
        default_translation_directories=str(Path(__file__).parent / "translations"),
    )
    with app.app_context():
        configure_engine(
            db.engine,
            lock_timeout_ms=app.config["DATABASE_LOCK_TIMEOUT_MS"],
            statement_timeout_ms=app.config["DATABASE_STATEMENT_TIMEOUT_MS"],
        )

    passwords.init_app(app)
    answer_floor.init_app(app)
    customer_session.init_app(app)
    staff_session.init_app(app)
    templating.init_app(app)
    headers.init_app(app)
    logging_redaction.init_app(app)
    observability.init_app(app)
    errors.init_app(app)
    webhook_queue.init_app(app)
    if app.config["TRUSTED_PROXY_COUNT"]:
        # Only then is X-Forwarded-For (and -Proto) believed, for as many hops as proxies we run.
        count = app.config["TRUSTED_PROXY_COUNT"]
        # Flask's documented way to wrap its WSGI callable; setattr, because the attribute is a method to a type checker.
        setattr(app, "wsgi_app", ProxyFix(app.wsgi_app, x_for=count, x_proto=count))  # noqa: B010
    # Row ids are 32-bit integers: a larger one in a URL names nothing (404), instead of reaching the
    # database and failing there as if it were down (PostgreSQL: out of range).
    app.url_map.converters["int"] = RowId
    _register_models()
    _register_blueprints(app)
    _register_cli(app)
    return app


def _register_models() -> None:
    # Imported for their side effect: every table is known to SQLAlchemy and Alembic.
    from . import metrics_store as _metrics  # noqa: F401
    from .alerts import models as _alerts  # noqa: F401
    from .api import models as _api  # noqa: F401
    from .assessment import models as _assessment  # noqa: F401
    from .audit import models as _audit  # noqa: F401
    from .customers import address_search as _address_search  # noqa: F401 - its trigram index, made with its table
    from .customers import models as _customers  # noqa: F401
    from .data_requests import models as _data_requests  # noqa: F401
    from .disclosures import models as _disclosures  # noqa: F401
    from .email_change import models as _email_change  # noqa: F401
    from .incidents import models as _incidents  # noqa: F401
    from .intake import models as _intake  # noqa: F401
    from .notifications import models as _notifications  # noqa: F401
    from .reactivation import models as _reactivation  # noqa: F401
    from .reports import month_index as _month_index  # noqa: F401 - the delay report's index, made with its table
    from .retention import models as _retention  # noqa: F401
    from .staff import models as _staff  # noqa: F401
    from .webhooks import models as _webhooks  # noqa: F401


def _register_blueprints(app: Flask) -> None:
    from .account_data.views import bp as account_data_bp
    from .alerts.views import bp as alerts_bp
    from .assessment.views import bp as assessment_bp
    from .console import actions, admin, api_keys, auth, evidence, legal
    from .console import views as console_views
    from .customers.views import bp as customers_bp
    from .data_requests.views import account_bp as data_requests_account_bp
    from .data_requests.views import console_bp as data_requests_console_bp
    from .disclosures.views import bp as disclosures_bp
    from .email_change.views import bp as email_change_bp
    from .health import bp as health_bp
    from .incidents.views import bp as incidents_bp
    from .packs.views import bp as packs_bp
    from .reactivation.views import bp as reactivation_bp
    from .reports.views import bp as reports_bp
    from .retention.views import bp as retention_bp
    from .site import bp as site_bp
    from .webhooks.views import bp as webhooks_bp

    for blueprint in (
        observability.bp,
        site_bp,
        incidents_bp,
        reactivation_bp,
        assessment_bp,
        customers_bp,
        email_change_bp,
        account_data_bp,
        health_bp,
        auth.bp,
        console_views.bp,
        actions.bp,
        evidence.bp,
        admin.bp,
        api_keys.bp,
        legal.bp,
        reports_bp,
        packs_bp,
        webhooks_bp,
        alerts_bp,
        disclosures_bp,
        retention_bp,
        data_requests_account_bp,
        data_requests_console_bp,
    ):
        app.register_blueprint(blueprint)
    from . import api

    api.init_app(app)  # the JSON API and its OpenAPI document (flask-smorest registers both blueprints)
    if app.config["APP_ENV"] == "development":
        from .dev.views import bp as dev_bp

        app.register_blueprint(dev_bp)


def _register_cli(app: Flask) -> None:
    from .alerts.cli import alerts_cli
    from .api.cli import api_keys_cli
    from .assessment.cli import policy_cli
    from .audit.cli import audit_cli
    from .customers.cli import customers_cli
    from .dev.cli import dev_cli
    from .incidents.cli import incidents_cli
    from .intake.cli import intake_cli
    from .notifications.cli import outbox_cli
    from .reports.cli import reports_cli
    from .retention.cli import retention_cli
    from .staff.cli import staff_cli
    from .webhooks.cli import webhooks_cli

    for group in (
        customers_cli,
        staff_cli,
        incidents_cli,
        policy_cli,
        outbox_cli,
        audit_cli,
        intake_cli,
        reports_cli,
        dev_cli,
        webhooks_cli,
        alerts_cli,
        api_keys_cli,
        retention_cli,
    ):
        app.cli.add_command(group)
