"""Settings fail fast outside development, and FLASK_* overrides any Flask setting."""

from __future__ import annotations

import pytest

from config import ConfigurationError, load_settings
from incident_service import create_app

PRODUCTION = {
    "APP_ENV": "production",
    "SECRET_KEY": "k" * 48,
    "PUBLIC_BASE_URL": "https://security.ecc.example",
    "DATABASE_URL": "sqlite://",
}


def test_production_needs_secret_key() -> None:
    with pytest.raises(ConfigurationError, match="SECRET_KEY is required"):
        load_settings({**PRODUCTION, "SECRET_KEY": ""})


def test_production_needs_public_base_url() -> None:
    with pytest.raises(ConfigurationError, match="PUBLIC_BASE_URL is required"):
        load_settings({k: v for k, v in PRODUCTION.items() if k != "PUBLIC_BASE_URL"})


def test_missing_app_env_means_production() -> None:
    with pytest.raises(ConfigurationError, match="SECRET_KEY"):
        load_settings({"PUBLIC_BASE_URL": "https://x.example"})


@pytest.mark.parametrize("name,value,message", [
    ("APP_ENV", "staging", "APP_ENV must be one of"),
    ("RESET_LINK_MAX_AGE_SECONDS", "90000", "between 60 and 86400"),
    ("LATE_REPORT_THRESHOLD_HOURS", "soon", "whole number"),
    ("MAIL_USE_TLS", "maybe", "true or false"),
    ("DISPLAY_TIMEZONE", "Mars/Olympus", "not a known time zone"),
    ("DEFAULT_LOCALE", "fr", "DEFAULT_LOCALE must be one of"),
    ("PUBLIC_BASE_URL", "security.ecc.example", "must start with http"),
    ("SECRET_KEY", "short", "at least 32"),
])
def test_mistyped_settings_are_named(name: str, value: str, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        load_settings({**PRODUCTION, name: value})


def test_production_defaults_are_strict() -> None:
    settings = load_settings(PRODUCTION)
    assert settings["SESSION_COOKIE_SECURE"] is True
    assert settings["SESSION_COOKIE_NAME"] == "__Host-session"
    assert settings["LATE_REPORT_THRESHOLD_HOURS"] == 24 and settings["RESET_LINK_MAX_AGE_SECONDS"] == 3600


def test_flask_prefixed_environment_overrides(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLASK_MAX_CONTENT_LENGTH", "12345")
    app = create_app(environ={**PRODUCTION})
    assert app.config["MAX_CONTENT_LENGTH"] == 12345
    assert app.config["PUBLIC_BASE_URL"] == "https://security.ecc.example"
