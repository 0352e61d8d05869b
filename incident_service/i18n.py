"""Language and time display: Vietnamese first, times shown as `HH:MM:SS - DD/MM/YYYY (GMT+7)`."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone
from typing import TYPE_CHECKING, Literal
from zoneinfo import ZoneInfo

from babel.dates import format_skeleton
from babel.numbers import format_decimal, format_percent
from babel.units import format_unit
from flask import current_app, g, request, session
from flask_babel import get_locale

from .settings import LOCALES

if TYPE_CHECKING:
    from .customers.models import Customer

SESSION_LOCALE_KEY = "locale"


def select_locale() -> str:
    """The viewer's explicit choice, then the signed-in customer's locale, then Accept-Language."""
    chosen = session.get(SESSION_LOCALE_KEY)
    if isinstance(chosen, str) and chosen in LOCALES:
        return chosen
    customer: Customer | None = g.get("customer")
    if customer is not None and customer.locale in LOCALES:
        return customer.locale
    best = request.accept_languages.best_match(LOCALES)
    return best or current_app.config["DEFAULT_LOCALE"]


def gmt_label(offset: timedelta | None) -> str:
    """`GMT+7`, `GMT+5:30`, `GMT-3`, `GMT` for an offset from UTC."""
    if not offset:
        return "GMT"
    sign = "+" if offset >= timedelta(0) else "-"
    minutes = abs(int(offset.total_seconds())) // 60
    hours, rest = divmod(minutes, 60)
    return f"GMT{sign}{hours}" + (f":{rest:02d}" if rest else "")


def format_local(moment: datetime | None, zone: str | None = None, *, with_zone: bool = True) -> str:
    """Format an aware UTC time in `zone` (default DISPLAY_TIMEZONE) in the company's format."""
    if moment is None:
        return ""
    tz = ZoneInfo(zone or current_app.config["DISPLAY_TIMEZONE"])
    local = moment.astimezone(tz)
    text = local.strftime("%H:%M:%S - %d/%m/%Y")
    return f"{text} ({gmt_label(local.utcoffset())})" if with_zone else text


def format_utc(moment: datetime | None) -> str:
    if moment is None:
        return ""
    return moment.astimezone(timezone.utc).strftime("%H:%M:%S - %d/%m/%Y (UTC)")


def parse_local_input(value: str, zone: str | None = None) -> datetime:
    """Read an HTML datetime-local value (`YYYY-MM-DDTHH:MM[:SS]`) given in `zone`; return aware UTC."""
    naive = datetime.fromisoformat(value.strip())
    if naive.tzinfo is not None:
        raise ValueError("expected a local time without an offset")
    tz = ZoneInfo(zone or current_app.config["DISPLAY_TIMEZONE"])
    return naive.replace(tzinfo=tz).astimezone(timezone.utc)


def zone_label(zone: str | None = None) -> str:
    """`GMT+7` for the viewer's zone (a signed-in customer's own, else DISPLAY_TIMEZONE), as of now."""
    customer = g.get("customer")
    name = zone or (customer.time_zone if customer is not None and customer.time_zone else None)
    tz = ZoneInfo(name or current_app.config["DISPLAY_TIMEZONE"])
    return gmt_label(datetime.now(tz).utcoffset())


def _unit(value: int, unit: str, length: Literal["short", "long"] = "short") -> str:
    return format_unit(value, unit, length=length, locale=str(get_locale() or "vi"))


def format_delay(seconds: int) -> str:
    """A reporting delay as days, hours and minutes in the viewer's language (CLDR's units through
    Babel): `2 days 3 hr 5 min` / `2 ngày 3 tiếng 5 phút`."""
    sign = "-" if seconds < 0 else ""
    minutes = abs(int(seconds)) // 60
    days, rest = divmod(minutes, 1440)
    hours, mins = divmod(rest, 60)
    parts = []
    if days:
        parts.append(_unit(days, "duration-day"))
    if hours or days:
        parts.append(_unit(hours, "duration-hour"))
    parts.append(_unit(mins, "duration-minute"))
    return sign + " ".join(parts)


def format_hours(hours: int) -> str:
    """A number of hours with its unit, in the viewer's language: `24 hours` / `24 tiếng`."""
    return _unit(hours, "duration-hour", length="long")


def format_share(value: float | None) -> str:
    """A share as a percentage with one decimal, in the viewer's language: `66.7%` / `66,7%`."""
    return "—" if value is None else format_percent(value, "#,##0.0%", locale=str(get_locale() or "vi"))


def format_count(value: int) -> str:
    """A count with the viewer's grouping: `1,234,567` / `1.234.567`."""
    return format_decimal(value, locale=str(get_locale() or "vi"))


def format_month(key: str) -> str:
    """A `YYYY-MM` month as people name it: `November 2026` / `tháng 11 năm 2026`."""
    year, month = (int(part) for part in key.split("-"))
    return format_skeleton("yMMMM", date(year, month, 1), locale=str(get_locale() or "vi"))


def day_bounds(zone: str, first: date | None, last: date | None) -> tuple[datetime | None, datetime | None]:
    """Local calendar days (in the display zone) as a UTC half-open interval."""
    tz = ZoneInfo(zone)
    start = datetime.combine(first, time.min, tz) if first else None
    end = datetime.combine(last + timedelta(days=1), time.min, tz) if last else None
    return start, end
