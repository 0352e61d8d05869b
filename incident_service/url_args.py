"""Filters read from a page's URL, leniently: a malformed value is ignored rather than an error, since
these URLs are linked, bookmarked and edited by hand; the page says beside its field that it was ignored.
(CLI options are strict instead.)"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Mapping

from flask import current_app
from flask_babel import gettext as _

from .i18n import UnreadableTime, format_day_input, read_day, zone_phrase

# The example a message about a typed day gives: the 31st shows that the day comes first.
EXAMPLE_DAY = date(2026, 1, 31)


def day_arg(args: Mapping[str, str], name: str) -> date | None:
    """A day typed as DD/MM/YYYY (as the filter forms ask) or ISO YYYY-MM-DD (as the pages' own links and
    older bookmarks write it); None when empty or unreadable."""
    try:
        return read_day(args.get(name, "") or "")
    except UnreadableTime:
        return None


@dataclass(frozen=True)
class DayFilterField:
    """What a day filter's text input shows: the day as DD/MM/YYYY (or the text as typed when it could not
    be read), its hint, and why it was ignored if it was."""

    name: str
    value: str
    hint: str
    error: str | None


def day_filter_field(args: Mapping[str, str], name: str, *, starts: str = "") -> DayFilterField:
    """The day filter `name` read from `args`. `starts` names the filter that opens the range, when `name`
    closes it: a range that ends before it starts is said to match nothing."""
    text = (args.get(name, "") or "").strip()
    hint = _("DD/MM/YYYY, %(zone)s", zone=zone_phrase(current_app.config["DISPLAY_TIMEZONE"]))
    if not text:
        return DayFilterField(name, "", hint, None)
    try:
        day = read_day(text)
    except UnreadableTime as exc:
        example = format_day_input(EXAMPLE_DAY)
        problem = (
            _(
                "There is no such day: write the day, then the month (DD/MM/YYYY), for example %(example)s.",
                example=example,
            )
            if exc.problem == "no_such_day"
            else _("Enter a day as DD/MM/YYYY, for example %(example)s.", example=example)
        )
        return DayFilterField(name, text, hint, _("%(problem)s This filter was not applied.", problem=problem))
    first = day_arg(args, starts) if starts else None
    error = _("This day is before the start of the range, so nothing can match.") if first and day < first else None
    return DayFilterField(name, format_day_input(day), hint, error)


def page_arg(args: Mapping[str, str], *, most: int = 100_000) -> int:
    try:
        return max(1, min(int(args.get("page", "1") or "1"), most))
    except ValueError:
        return 1


def choice_arg(args: Mapping[str, str], name: str, allowed: tuple[str, ...]) -> str:
    value = args.get(name, "") or ""
    return value if value in allowed else ""
