"""The SQLite index that lets the delay report read a million incidents without reading their rows.

It is an index on an expression: the month of the first report in the display zone, then the delay and
the lateness. SQLite uses it only for a query that spells the same expression, so the offset is part of
the index's name; a deployment that changes its zone keeps correct reports (read the slow way) until
the index for the new zone exists (`flask db upgrade` or the app's first `create_all`).
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from flask import current_app
from sqlalchemy import event
from sqlalchemy.engine import Connection

from ..incidents.models import Incident


def fixed_offset_minutes(zone: str) -> int | None:
    """The zone's offset from UTC in minutes if it never changes (Vietnam's does not), else None."""
    tz = ZoneInfo(zone)
    offsets = {datetime(year, month, 1, tzinfo=tz).utcoffset() for year in (2000, 2020, 2030) for month in (1, 7)}
    if len(offsets) != 1:
        return None
    offset = offsets.pop()
    return int(offset.total_seconds() // 60) if offset is not None else 0


def month_sql(minutes: int) -> str:
    """`YYYY-MM` of the first report's time shifted by `minutes`, as SQLite spells it (and as the index does)."""
    return f"strftime('%Y-%m', first_received_at, '{minutes:+d} minutes')"


def month_index_name(minutes: int) -> str:
    return f"ix_incidents_month_{'p' if minutes >= 0 else 'm'}{abs(minutes)}"


def channel_month_index_name(minutes: int) -> str:
    return f"ix_incidents_channel_month_{'p' if minutes >= 0 else 'm'}{abs(minutes)}"


def create_month_index(connection: Connection, zone: str) -> str | None:
    """Create the month index for `zone` on SQLite if it is missing; return its name (None elsewhere)."""
    minutes = fixed_offset_minutes(zone)
    if connection.dialect.name != "sqlite" or minutes is None:
        return None
    name = month_index_name(minutes)
    connection.exec_driver_sql(
        f"CREATE INDEX IF NOT EXISTS {name} ON incidents ({month_sql(minutes)}, reporting_delay_seconds, lateness)"
    )
    return name


def create_channel_month_index(connection: Connection, zone: str) -> str | None:
    """The month index's twin led by the first report's channel (the report filtered by channel, issue
    17), on SQLite, if it is missing; return its name (None elsewhere)."""
    minutes = fixed_offset_minutes(zone)
    if connection.dialect.name != "sqlite" or minutes is None:
        return None
    connection.exec_driver_sql(
        f"CREATE INDEX IF NOT EXISTS {channel_month_index_name(minutes)} ON incidents "
        # first_received_at last: SQLite then reads every column the report needs from the index alone.
        f"(first_channel, {month_sql(minutes)}, reporting_delay_seconds, lateness, first_received_at)"
    )
    return channel_month_index_name(minutes)


def _has_index(connection: Connection, name: str) -> bool:
    return (
        connection.dialect.name == "sqlite"
        and connection.exec_driver_sql("SELECT 1 FROM sqlite_master WHERE type = 'index' AND name = ?", (name,)).first()
        is not None
    )


def has_month_index(connection: Connection, minutes: int) -> bool:
    return _has_index(connection, month_index_name(minutes))


def has_channel_month_index(connection: Connection, minutes: int) -> bool:
    return _has_index(connection, channel_month_index_name(minutes))


@event.listens_for(Incident.__table__, "after_create")
def _create_with_the_table(_table: object, connection: Connection, **_kw: object) -> None:
    """Made with the incidents table (create_all); migrations make it for existing databases."""
    create_month_index(connection, current_app.config["DISPLAY_TIMEZONE"])
    create_channel_month_index(connection, current_app.config["DISPLAY_TIMEZONE"])
