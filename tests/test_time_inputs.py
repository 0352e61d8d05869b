"""Issue 13: days and times typed as the pages show them (DD/MM/YYYY), read in the viewer's zone; the words
that say the zone; and the day filters of the console's pages, read from their URLs."""

from __future__ import annotations

from datetime import date, datetime, timezone

import pytest
from flask import Flask

from incident_service.domain_errors import DomainError
from incident_service.i18n import (
    UnreadableTime,
    format_day_input,
    format_time_input,
    local_to_utc,
    parse_local_input,
    read_day,
    read_local_time,
    zone_phrase,
    zone_place,
)
from incident_service.reports.service import DelayFilter, FilterError
from incident_service.url_args import day_arg, day_filter_field

CHRISTMAS = datetime(2026, 12, 25, 14, 30)


@pytest.mark.parametrize(
    "typed",
    [
        "25/12/2026 14:30",  # as the hint asks
        "25/12/2026 - 14:30",
        "25/12/2026-14:30",
        "25/12/2026, 14:30",
        "25/12/2026 – 14:30",  # an en dash, as some keyboards make of "-"
        "  25/12/2026    14:30 ",
        "25/12/2026\u00a014:30",  # a no-break space, pasted from a page
        "14:30 - 25/12/2026",  # the order the pages show
        "14:30-25/12/2026",
        "14:30 25/12/2026",
        "25-12-2026 14:30",
        "25.12.2026 14:30",
        "14:30 - 25-12-2026",
        "25/12/2026 14h30",  # as Vietnamese often write it
        "25/12/2026 14H30",
        "2026-12-25T14:30",  # ISO: what the old datetime-local inputs posted
        "2026-12-25 14:30",
    ],
)
def test_ways_of_typing_one_time(typed: str) -> None:
    assert read_local_time(typed) == CHRISTMAS


@pytest.mark.parametrize(
    "typed,meant",
    [
        ("5/1/2026 9:05", datetime(2026, 1, 5, 9, 5)),  # one-digit day, month and hour
        ("9:05 - 5/1/2026", datetime(2026, 1, 5, 9, 5)),
        ("05/01/2026 09:05", datetime(2026, 1, 5, 9, 5)),
        ("25/12/2026 14:30:15", datetime(2026, 12, 25, 14, 30, 15)),
        ("14:30:15 - 25/12/2026", datetime(2026, 12, 25, 14, 30, 15)),  # a time copied from a page
        ("2026-12-25T14:30:15", datetime(2026, 12, 25, 14, 30, 15)),
        ("01/01/2027 00:00", datetime(2027, 1, 1, 0, 0)),
        ("31/12/2026 23:59:59", datetime(2026, 12, 31, 23, 59, 59)),
        ("29/02/2028 12:00", datetime(2028, 2, 29, 12, 0)),  # a leap day
    ],
)
def test_times_read(typed: str, meant: datetime) -> None:
    assert read_local_time(typed) == meant


@pytest.mark.parametrize(
    "typed,problem",
    [
        ("", "unreadable"),
        ("yesterday", "unreadable"),
        ("hôm qua lúc 8 giờ", "unreadable"),
        ("25/12/26 14:30", "unreadable"),  # a two-digit year could be any century
        ("25/12-2026 14:30", "unreadable"),  # two different separators in one date
        ("25/12/2026 14:3", "unreadable"),
        ("25/12/2026 2:30 PM", "unreadable"),
        ("25/12/2026 14:30 25/12/2026", "unreadable"),
        ("123/12/2026 14:30", "unreadable"),
        ("2026-12-25T14:30+07:00", "unreadable"),  # an offset: the zone is the viewer's, not the text's
        ("2026-12-25T14:30Z", "unreadable"),
        ("2026-12-25T14:30:00.123", "unreadable"),
        ("1735111800", "unreadable"),
        ("25/12/2026", "no_time"),
        ("2026-12-25", "no_time"),
        ("14:30", "no_day"),
        ("12/25/2026 14:30", "no_such_day"),  # month first, as an American browser writes it
        ("31/02/2026 10:00", "no_such_day"),
        ("29/02/2026 10:00", "no_such_day"),  # not a leap year
        ("00/01/2026 10:00", "no_such_day"),
        ("2026-13-45T99:99", "no_such_day"),
        ("25/12/2026 24:00", "no_such_time"),
        ("25/12/2026 14:60", "no_such_time"),
        ("25/12/2026 14:30:60", "no_such_time"),
        ("25:30 - 25/12/2026", "no_such_time"),
    ],
)
def test_times_refused_say_why(typed: str, problem: str) -> None:
    with pytest.raises(UnreadableTime) as refused:
        read_local_time(typed)
    assert refused.value.problem == problem
    assert isinstance(refused.value, DomainError)  # a refusal to explain, not a fault


@pytest.mark.parametrize(
    "typed,meant",
    [
        ("03/02/2026", date(2026, 2, 3)),
        ("3/2/2026", date(2026, 2, 3)),
        ("03-02-2026", date(2026, 2, 3)),
        ("03.02.2026", date(2026, 2, 3)),
        (" 03/02/2026 ", date(2026, 2, 3)),
        ("2026-02-03", date(2026, 2, 3)),  # the pages' own links and old bookmarks
    ],
)
def test_days_read(typed: str, meant: date) -> None:
    assert read_day(typed) == meant


@pytest.mark.parametrize(
    "typed,problem",
    [
        ("", "unreadable"),
        ("notadate", "unreadable"),
        ("03/02/26", "unreadable"),
        ("20260203", "unreadable"),
        ("03/02/2026 10:00", "unreadable"),
        ("02/30/2026", "no_such_day"),
        ("2026-13-40", "no_such_day"),
    ],
)
def test_days_refused(typed: str, problem: str) -> None:
    with pytest.raises(UnreadableTime) as refused:
        read_day(typed)
    assert refused.value.problem == problem


def test_shown_for_editing_as_the_pages_write_days() -> None:
    assert format_time_input(datetime(2026, 1, 5, 9, 5)) == "05/01/2026 09:05"
    assert format_time_input(datetime(2026, 1, 5, 9, 5, 7)) == "05/01/2026 09:05:07"  # seconds only if any
    assert format_day_input(date(2026, 2, 3)) == "03/02/2026"
    for typed in ("5/1/2026 9:05", "2026-01-05T09:05", "09:05:07 - 05/01/2026"):
        moment = read_local_time(typed)
        assert read_local_time(format_time_input(moment)) == moment  # what the field shows reads back the same


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=timezone.utc)  # type: ignore[misc]


@pytest.mark.parametrize(
    "typed,zone,meant",
    [
        # Vietnam keeps GMT+7 all year: the same wall time is the same UTC offset in January and July.
        ("01/01/2027 00:05", "Asia/Ho_Chi_Minh", utc(2026, 12, 31, 17, 5)),
        ("00:05 - 01/01/2027", "Asia/Ho_Chi_Minh", utc(2026, 12, 31, 17, 5)),
        ("2027-01-01T00:05", "Asia/Ho_Chi_Minh", utc(2026, 12, 31, 17, 5)),
        ("15/07/2026 12:00", "Asia/Ho_Chi_Minh", utc(2026, 7, 15, 5, 0)),
        ("15/01/2026 12:00", "Asia/Ho_Chi_Minh", utc(2026, 1, 15, 5, 0)),
        ("15/01/2026 12:00", "Asia/Saigon", utc(2026, 1, 15, 5, 0)),  # the zone's old name
        ("15/01/2026 12:00", "Asia/Kolkata", utc(2026, 1, 15, 6, 30)),  # half an hour off
        ("15/01/2026 12:00", "UTC", utc(2026, 1, 15, 12, 0)),
        # Berlin: GMT+1 in winter, GMT+2 in summer.
        ("15/01/2026 12:00", "Europe/Berlin", utc(2026, 1, 15, 11, 0)),
        ("15/07/2026 12:00", "Europe/Berlin", utc(2026, 7, 15, 10, 0)),
        ("12:00 - 15/07/2026", "Europe/Berlin", utc(2026, 7, 15, 10, 0)),
        # Clocks go forward at 02:00 on 29/03/2026: the minute before, the hour after.
        ("29/03/2026 01:59", "Europe/Berlin", utc(2026, 3, 29, 0, 59)),
        ("29/03/2026 03:00", "Europe/Berlin", utc(2026, 3, 29, 1, 0)),
        # 02:30 never happened that night: read with the offset before the change (zoneinfo's fold=0).
        ("29/03/2026 02:30", "Europe/Berlin", utc(2026, 3, 29, 1, 30)),
        # Clocks go back at 03:00 on 25/10/2026, so 02:30 happened twice: the first one is meant.
        ("25/10/2026 02:30", "Europe/Berlin", utc(2026, 10, 25, 0, 30)),
        ("25/10/2026 03:30", "Europe/Berlin", utc(2026, 10, 25, 2, 30)),
    ],
)
def test_read_in_the_zone_and_kept_in_utc(typed: str, zone: str, meant: datetime) -> None:
    assert parse_local_input(typed, zone) == meant
    assert local_to_utc(read_local_time(typed), zone) == meant


def test_the_display_zone_is_the_default(app: Flask) -> None:
    with app.app_context():
        assert parse_local_input("01/01/2027 00:05") == utc(2026, 12, 31, 17, 5)


@pytest.mark.parametrize(
    "zone,locale,place",
    [
        ("Asia/Ho_Chi_Minh", "vi", "Việt Nam"),
        ("Asia/Ho_Chi_Minh", "en", "Vietnam"),
        ("Asia/Saigon", "en", "Vietnam"),
        ("Europe/Berlin", "en", "Berlin"),  # Germany has two zones in CLDR: the city says which
        ("Asia/Kolkata", "en", "India"),
        ("America/New_York", "en", "New York"),
        ("UTC", "en", None),
        ("Etc/GMT-7", "vi", None),
    ],
)
def test_zone_places_come_from_cldr(zone: str, locale: str, place: str | None) -> None:
    assert zone_place(zone, locale) == place


def test_zone_phrase_in_the_viewers_language(app: Flask) -> None:
    with app.test_request_context(headers={"Accept-Language": "en"}):
        assert zone_phrase() == "Vietnam time (GMT+7)"
        assert zone_phrase("Asia/Ho_Chi_Minh") == "Vietnam time (GMT+7)"
        assert zone_phrase("Europe/Berlin") in ("Berlin time (GMT+1)", "Berlin time (GMT+2)")  # today's offset
        assert zone_phrase("UTC") == "GMT"
    with app.test_request_context(headers={"Accept-Language": "vi"}):
        phrase = zone_phrase()
        assert "Việt Nam" in phrase and "(GMT+7)" in phrase


@pytest.mark.settings(DISPLAY_TIMEZONE="Europe/Berlin")
def test_zone_phrase_follows_the_display_zone(app: Flask) -> None:
    with app.test_request_context(headers={"Accept-Language": "en"}):
        assert zone_phrase().startswith("Berlin time (GMT+")


def test_day_filters_from_the_url() -> None:
    assert day_arg({"from": "03/02/2026"}, "from") == date(2026, 2, 3)
    assert day_arg({"from": "2026-02-03"}, "from") == date(2026, 2, 3)
    assert day_arg({"from": "02/30/2026"}, "from") is None
    assert day_arg({"from": ""}, "from") is None and day_arg({}, "from") is None


def test_day_filter_fields_say_what_they_hold(app: Flask) -> None:
    with app.test_request_context(headers={"Accept-Language": "en"}):
        empty = day_filter_field({}, "from")
        assert (empty.name, empty.value, empty.error) == ("from", "", None)
        assert empty.hint == "DD/MM/YYYY, Vietnam time (GMT+7)"
        # A link's ISO day is shown as the pages write days.
        assert day_filter_field({"from": "2026-02-03"}, "from").value == "03/02/2026"
        assert day_filter_field({"from": "3/2/2026"}, "from").value == "03/02/2026"
        unreadable = day_filter_field({"from": "last week"}, "from")
        assert unreadable.value == "last week"  # kept as typed, to be corrected
        assert unreadable.error == ("Enter a day as DD/MM/YYYY, for example 31/01/2026. This filter was not applied.")
        month_first = day_filter_field({"to": "02/30/2026"}, "to")
        assert month_first.error is not None and month_first.error.startswith("There is no such day")
        reversed_range = day_filter_field({"from": "10/02/2026", "to": "2026-02-03"}, "to", starts="from")
        assert reversed_range.value == "03/02/2026"
        assert reversed_range.error == "This day is before the start of the range, so nothing can match."
        assert day_filter_field({"from": "03/02/2026", "to": "03/02/2026"}, "to", starts="from").error is None
        assert day_filter_field({"from": "junk", "to": "03/02/2026"}, "to", starts="from").error is None


def test_delay_report_filters_read_days_both_ways() -> None:
    lenient = DelayFilter.parse({"from": "03/02/2026", "to": "2026-02-28", "channel": "web"}, strict=False)
    assert (lenient.received_from, lenient.received_to) == (date(2026, 2, 3), date(2026, 2, 28))
    assert lenient.args() == {"from": "2026-02-03", "to": "2026-02-28", "channel": "web"}  # links stay ISO
    assert DelayFilter.parse({"from": "31/02/2026"}, strict=False).received_from is None
    assert DelayFilter.parse({"from": "03/02/2026"}, strict=True).received_from == date(2026, 2, 3)
    with pytest.raises(FilterError):
        DelayFilter.parse({"from": "31/02/2026"}, strict=True)  # the CLI stays strict
