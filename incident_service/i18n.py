"""Language and time display: Vietnamese first, times shown as `HH:MM:SS - DD/MM/YYYY (GMT+7)` and read
from forms the way people here type them (`DD/MM/YYYY HH:MM`)."""

from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta, timezone
from typing import TYPE_CHECKING, Any, Callable, Literal
from zoneinfo import ZoneInfo

from babel import Locale
from babel.core import get_global
from babel.dates import format_skeleton, get_timezone_location
from babel.numbers import format_decimal, format_percent
from babel.units import format_unit
from flask import current_app, g, request, session
from flask_babel import get_locale, get_translations
from flask_babel import gettext as _
from jinja2 import pass_context
from jinja2.runtime import Context
from markupsafe import Markup

from .domain_errors import DomainError
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


def template_gettext() -> dict[str, Callable[..., str]]:
    """`gettext` (`_`) and `ngettext` for templates rendered now, bound to the current locale's catalogue
    and made as Jinja's i18n extension makes Flask-Babel's (newstyle: the phrase marked safe when the
    template escapes, then its variables put in). Given to a render, they stand in for those, which look
    the catalogue up again for every phrase: a third of an email's rendering in the outbox worker
    (issue 17). Macros imported without context keep Flask-Babel's; the words are the same."""
    translations = get_translations()

    @pass_context
    def gettext(context: Context, string: str, /, **variables: Any) -> str:
        phrase: str = translations.ugettext(string)
        if context.eval_ctx.autoescape:
            phrase = Markup(phrase)
        return phrase % variables

    @pass_context
    def ngettext(context: Context, singular: str, plural: str, num: int, /, **variables: Any) -> str:
        variables.setdefault("num", num)
        phrase: str = translations.ungettext(singular, plural, num)
        if context.eval_ctx.autoescape:
            phrase = Markup(phrase)
        return phrase % variables

    return {"gettext": gettext, "ngettext": ngettext}


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


# What people type for a time: the day first, as every page shows it (`25/12/2026 14:30`, `25-12-2026
# 14h30`), or in the pages' own order (`14:30:00 - 25/12/2026`); and ISO (`2026-12-25T14:30`), which the
# old datetime-local inputs posted and old bookmarked forms and scripts still do.
_DAY = r"(?P<day>\d{1,2})(?P<sep>[/.-])(?P<month>\d{1,2})(?P=sep)(?P<year>\d{4})"
_ISO_DAY = r"(?P<year>\d{4})-(?P<month>\d{2})-(?P<day>\d{2})"
_CLOCK = r"(?P<hour>\d{1,2})[:hH](?P<minute>\d{2})(?::(?P<second>\d{2}))?"
_ISO_CLOCK = r"(?P<hour>\d{2}):(?P<minute>\d{2})(?::(?P<second>\d{2}))?"
_JOIN = r"(?:\s*[-–,]\s*|\s+)"
_TIMES = [
    re.compile(rf"{_DAY}{_JOIN}{_CLOCK}"),
    re.compile(rf"{_CLOCK}{_JOIN}{_DAY}"),
    re.compile(rf"{_ISO_DAY}[T ]{_ISO_CLOCK}"),
]
_DAYS = [re.compile(_DAY), re.compile(_ISO_DAY)]
_CLOCKS = [re.compile(_CLOCK)]

TimeProblem = Literal["unreadable", "no_time", "no_day", "no_such_day", "no_such_time"]


class UnreadableTime(DomainError):
    """Typed text that is not a day or time this service reads; `problem` says what is wrong with it."""

    def __init__(self, problem: TimeProblem) -> None:
        super().__init__(problem)
        self.problem: TimeProblem = problem


def _whole(patterns: list[re.Pattern[str]], text: str) -> re.Match[str] | None:
    return next((match for pattern in patterns if (match := pattern.fullmatch(text))), None)


def _day_of(match: re.Match[str]) -> date:
    try:
        return date(int(match["year"]), int(match["month"]), int(match["day"]))
    except ValueError:
        raise UnreadableTime("no_such_day") from None


def read_day(text: str) -> date:
    """A day typed as `DD/MM/YYYY` (also `D/M/YYYY`, `DD-MM-YYYY`, `DD.MM.YYYY`) or ISO `YYYY-MM-DD`."""
    match = _whole(_DAYS, text.strip())
    if match is None:
        raise UnreadableTime("unreadable")
    return _day_of(match)


def read_local_time(text: str) -> datetime:
    """A date and time typed in a form, as a naive local time: `DD/MM/YYYY HH:MM[:SS]`, the pages' own
    order `HH:MM[:SS] - DD/MM/YYYY`, or ISO `YYYY-MM-DDTHH:MM[:SS]`. Day, month and hour may have one
    digit; `-`, `,` or spaces join the date and the time. Raises UnreadableTime saying what is wrong."""
    cleaned = " ".join(text.split())
    match = _whole(_TIMES, cleaned)
    if match is None:
        if _whole(_DAYS, cleaned):
            raise UnreadableTime("no_time")
        if _whole(_CLOCKS, cleaned):
            raise UnreadableTime("no_day")
        raise UnreadableTime("unreadable")
    day = _day_of(match)
    hour, minute, second = (int(match[name] or 0) for name in ("hour", "minute", "second"))
    if hour > 23 or minute > 59 or second > 59:
        raise UnreadableTime("no_such_time")
    return datetime.combine(day, time(hour, minute, second))


def local_to_utc(local: datetime, zone: str) -> datetime:
    """A naive wall-clock time in `zone` as aware UTC. Where clocks go back and an hour happens twice,
    the first of the two is meant; in the hour skipped when they go forward, the offset before the change
    applies (zoneinfo's fold=0 both times)."""
    return local.replace(tzinfo=ZoneInfo(zone)).astimezone(timezone.utc)


def parse_local_input(value: str, zone: str | None = None) -> datetime:
    """Read a typed date and time (see read_local_time) given in `zone`; return aware UTC."""
    return local_to_utc(read_local_time(value), zone or current_app.config["DISPLAY_TIMEZONE"])


def format_time_input(local: datetime) -> str:
    """A naive local time as a form shows it for editing: `25/12/2026 14:30` (seconds only if any)."""
    return local.strftime("%d/%m/%Y %H:%M:%S" if local.second else "%d/%m/%Y %H:%M")


def format_day_input(day: date) -> str:
    return day.strftime("%d/%m/%Y")


def zone_place(zone: str, locale: str) -> str | None:
    """Where a zone's clocks are, as CLDR names it in `locale`: the country when it keeps one time
    (`Việt Nam`, `Vietnam`), else the city (`Berlin`); None for UTC and the other zones of no place."""
    zone = get_global("zone_aliases").get(zone, zone)
    territory = get_global("zone_territories").get(zone)
    if not territory or territory in ("001", "ZZ"):
        return None
    if len(get_global("territory_zones").get(territory, ())) == 1:
        country: str | None = Locale.parse(locale).territories.get(territory)
        return country
    return get_timezone_location(zone, locale=locale, return_city=True)


def zone_phrase(zone: str | None = None) -> str:
    """The viewer's zone in words, for a hint beside a time field: `Vietnam time (GMT+7)` / `giờ Việt Nam
    (GMT+7)`, or `GMT` alone for a zone of no place. The offset is today's (see zone_label)."""
    name = zone or viewer_zone()
    offset = zone_label(name)
    place = zone_place(name, str(get_locale() or current_app.config["DEFAULT_LOCALE"]))
    return _("%(place)s time (%(offset)s)", place=place, offset=offset) if place else offset


def viewer_zone() -> str:
    """The zone times are shown and read in: a signed-in customer's own, else DISPLAY_TIMEZONE."""
    customer = g.get("customer")
    if customer is not None and customer.time_zone:
        return str(customer.time_zone)
    return str(current_app.config["DISPLAY_TIMEZONE"])


def zone_label(zone: str | None = None) -> str:
    """`GMT+7` for the viewer's zone (a signed-in customer's own, else DISPLAY_TIMEZONE), as of now."""
    tz = ZoneInfo(zone or viewer_zone())
    return gmt_label(datetime.now(tz).utcoffset())


def _unit(value: int, unit: str, length: Literal["short", "long"] = "short") -> str:
    locale = str(get_locale() or "vi")
    if unit == "duration-hour" and locale == "vi":
        # CLDR gives the spoken "tiếng"; the policy and the law say "giờ" (Decree 13: "72 giờ"), and a page
        # that says both beside each other reads as two different things.
        return f"{format_decimal(value, locale=locale)} giờ"
    return format_unit(value, unit, length=length, locale=locale)


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


def format_wait(seconds: int) -> str:
    """How long someone must wait before trying again: whole seconds under a minute, then minutes rounded
    up, then hours and minutes (`3 phút`, `1 giờ 5 phút`). The limiter's windows end on whole seconds, so
    a window of an hour reads 3601 s; up to two seconds over a whole minute are not counted as a minute."""
    seconds = max(1, int(seconds))
    if seconds < 60:
        return _unit(seconds, "duration-second", "long")
    minutes = max(1, -(-(seconds - 2) // 60))
    hours, mins = divmod(minutes, 60)
    parts = [_unit(hours, "duration-hour", "long")] if hours else []
    if mins or not hours:
        parts.append(_unit(mins, "duration-minute", "long"))
    return " ".join(parts)
