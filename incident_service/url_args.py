"""Filters read from a page's URL, leniently: a malformed value is ignored rather than an error, since
these URLs are linked, bookmarked and edited by hand. (CLI options are strict instead.)"""

from __future__ import annotations

from datetime import date
from typing import Mapping


def day_arg(args: Mapping[str, str], name: str) -> date | None:
    try:
        return date.fromisoformat(args.get(name, "") or "")
    except ValueError:
        return None


def page_arg(args: Mapping[str, str], *, most: int = 100_000) -> int:
    try:
        return max(1, min(int(args.get("page", "1") or "1"), most))
    except ValueError:
        return 1


def choice_arg(args: Mapping[str, str], name: str, allowed: tuple[str, ...]) -> str:
    value = args.get(name, "") or ""
    return value if value in allowed else ""
