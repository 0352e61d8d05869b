"""How each kind of setting value is read from its text, and the error that stops start-up when one is
wrong (incident_service.settings lists the settings themselves)."""

from __future__ import annotations

import ipaddress
from typing import Callable
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError


class ConfigurationError(RuntimeError):
    """A setting is missing or invalid; the message names it and says what is expected."""


def text(name: str, raw: str) -> str:
    return raw


def flag(name: str, raw: str) -> bool:
    value = raw.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off", ""):
        return False
    raise ConfigurationError(f"{name} must be true or false, not {raw!r}")


def whole(*, minimum: int = 0, maximum: int | None = None) -> Callable[[str, str], int]:
    """A whole number within bounds."""

    def read(name: str, raw: str) -> int:
        try:
            value = int(raw)
        except ValueError:
            raise ConfigurationError(f"{name} must be a whole number, not {raw!r}") from None
        if value < minimum or (maximum is not None and value > maximum):
            bound = f"between {minimum} and {maximum}" if maximum is not None else f"at least {minimum}"
            raise ConfigurationError(f"{name} must be {bound}, not {value}")
        return value

    return read


def one_of(choices: tuple[str, ...]) -> Callable[[str, str], str]:
    def read(name: str, raw: str) -> str:
        if raw not in choices:
            raise ConfigurationError(f"{name} must be one of {', '.join(choices)}, not {raw!r}")
        return raw

    return read


def either(first: str, second: str) -> Callable[[str, str], str]:
    def read(name: str, raw: str) -> str:
        if raw not in (first, second):
            raise ConfigurationError(f"{name} must be {first} or {second}, not {raw!r}")
        return raw

    return read


def split_list(raw: str) -> list[str]:
    return [item.strip() for item in raw.split(",") if item.strip()]


def items(name: str, raw: str) -> list[str]:
    """Comma-separated values."""
    return split_list(raw)


def host_names(name: str, raw: str) -> list[str]:
    return [host.lower() for host in split_list(raw)]


def addresses(name: str, raw: str) -> list[str]:
    """Comma-separated email addresses, each checked (a typo would send alerts nowhere, unnoticed)."""
    from email_validator import EmailNotValidError, validate_email

    addresses = split_list(raw)
    for address in addresses:
        try:
            validate_email(address, check_deliverability=False)
        except EmailNotValidError:
            raise ConfigurationError(f"{name} must be email addresses separated by commas, not {address!r}") from None
    return addresses


def networks(name: str, raw: str) -> list[str]:
    networks = split_list(raw)
    for network in networks:
        try:
            ipaddress.ip_network(network, strict=False)
        except ValueError:
            raise ConfigurationError(
                f"{name} must be addresses or networks like 10.1.0.0/24, not {network!r}"
            ) from None
    return networks


def limit(name: str, raw: str) -> str:
    """A Flask-Limiter rate such as "10 per minute;200 per day"; a typo would silently stop the limit."""
    from limits import parse_many

    try:
        parse_many(raw)
    except ValueError:
        raise ConfigurationError(f"{name} must be rates like '10 per minute;200 per day', not {raw!r}") from None
    return raw


def limit_storage(name: str, raw: str) -> str:
    if not raw.startswith(("memory://", "redis://", "rediss://", "redis+unix://", "redis+sentinel://")):
        raise ConfigurationError(f"{name} must be memory:// or a redis:// URL, not {raw!r}")
    return raw


def long_secret(name: str, raw: str) -> str:
    if len(raw) < 32:
        raise ConfigurationError(f"{name} must be at least 32 characters long")
    return raw


def base_url(name: str, raw: str) -> str:
    if not raw.startswith(("http://", "https://")):
        raise ConfigurationError(f"{name} must start with http:// or https://, not {raw!r}")
    return raw.rstrip("/")


def origin(name: str, raw: str) -> str:
    # One line of the signed text: no line break, no leading or trailing space (C2SP tlog-checkpoint).
    if not raw.strip() or raw != raw.strip() or any(c in raw for c in "\r\n"):
        raise ConfigurationError(f"{name} must be one line of text with no surrounding spaces, not {raw!r}")
    return raw


def time_zone(name: str, raw: str) -> str:
    try:
        ZoneInfo(raw)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigurationError(f"{name} {raw!r} is not a known time zone") from None
    return raw
