"""The delay report from the database: filters, rows, numbers, and the incidents behind them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any, Mapping

from flask import current_app
from sqlalchemy import ColumnElement, DateTime, Float, Select, case, func, literal_column, select, text, tuple_
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Connection

from ..assessment.models import DECISIONS, PolicyVersion
from ..customers.models import Customer
from ..database import Ts, within
from ..domain_errors import DomainError
from ..extensions import db
from ..i18n import UnreadableTime, day_bounds, read_day
from ..incidents.models import CHANNELS, Incident
from .delay import (
    BINS,
    MonthCounts,
    Row,
    Statistics,
    bin_bounds,
    report_from_ranks,
    report_from_statistics,
    summarize,
    summarize_months,
)
from .month_index import (
    channel_month_index_name,
    fixed_offset_minutes,
    has_channel_month_index,
    has_month_index,
    month_sql,
)


class FilterError(DomainError):
    """A filter value that means nothing; the message names it."""


@dataclass(frozen=True)
class DelayFilter:
    received_from: date | None = None
    received_to: date | None = None
    channel: str = ""
    lateness: str = ""
    policy: str = ""  # a version id, "default" (no version: the setting), or "" for any
    decision: str = ""  # a decision, "none" (not decided), or "" for any

    @classmethod
    def parse(cls, values: Mapping[str, str | None], *, strict: bool) -> DelayFilter:
        """From URL arguments (lenient: bad values ignored) or CLI options (strict: FilterError)."""

        def bad(name: str, value: str) -> str:
            if strict:
                raise FilterError(f"--{name} {value!r} is not valid")
            return ""

        def day(name: str) -> date | None:
            value = values.get(name) or ""
            if not value:
                return None
            try:
                return read_day(value)
            except UnreadableTime:
                bad(name, value)
                return None

        def pick(name: str, allowed: tuple[str, ...]) -> str:
            value = values.get(name) or ""
            return value if not value or value in allowed else bad(name, value)

        policy = values.get("policy") or ""
        if policy and policy != "default" and not policy.isdigit():
            policy = bad("policy", policy)
        return cls(
            received_from=day("from"),
            received_to=day("to"),
            channel=pick("channel", CHANNELS),
            lateness=pick("lateness", ("on_time", "late", "unknown")),
            policy=policy,
            decision=pick("decision", (*DECISIONS, "none")),
        )

    def args(self) -> dict[str, str]:
        values = {
            "from": self.received_from.isoformat() if self.received_from else "",
            "to": self.received_to.isoformat() if self.received_to else "",
            "channel": self.channel,
            "lateness": self.lateness,
            "policy": self.policy,
            "decision": self.decision,
        }
        return {key: value for key, value in values.items() if value}


def filtered(query: Select[*Ts], f: DelayFilter) -> Select[*Ts]:
    query = within(
        query,
        Incident.first_received_at,
        *day_bounds(current_app.config["DISPLAY_TIMEZONE"], f.received_from, f.received_to),
    )
    if f.channel:
        query = query.where(Incident.first_channel == f.channel)
    if f.lateness:
        query = query.where(Incident.lateness == f.lateness)
    if f.policy == "default":
        query = query.where(Incident.policy_version_id.is_(None))
    elif f.policy:
        query = query.where(Incident.policy_version_id == int(f.policy))
    if f.decision == "none":
        query = query.where(Incident.review_decision.is_(None))
    elif f.decision:
        query = query.where(Incident.review_decision == f.decision)
    return query


def month_expression(minutes: int) -> Any:
    """`YYYY-MM` of the first report's time shifted into the display zone, computed by the database."""
    if db.session.get_bind().dialect.name == "postgresql":
        shifted = Incident.first_received_at + func.make_interval(0, 0, 0, 0, 0, minutes)
        return func.to_char(shifted, "YYYY-MM")
    return literal_column(month_sql(minutes))  # spelled as the month index is, so SQLite can use it


class _RankReader:
    """The k-th smallest known delay (from 0) of one month, or of all, read from the index two at a
    time (a percentile needs two neighbouring ranks) and from whichever end is nearer."""

    def __init__(
        self, connection: Connection, known: int, where: str = "", *params: Any, table: str = "incidents"
    ) -> None:
        self.connection, self.known, self.where, self.params, self.table = connection, known, where, params, table
        self.cache: dict[int, int] = {}

    def __call__(self, k: int) -> int:
        if k not in self.cache:
            descending = k > self.known // 2
            rows = (
                self.connection.exec_driver_sql(
                    f"SELECT reporting_delay_seconds FROM {self.table} WHERE {self.where} reporting_delay_seconds IS NOT NULL "
                    f"ORDER BY reporting_delay_seconds {'DESC' if descending else ''} LIMIT 2 OFFSET ?",
                    (*self.params, self.known - 1 - k if descending else k),
                )
                .scalars()
                .all()
            )
            for step, value in enumerate(rows):
                self.cache[k - step if descending else k + step] = value
        return self.cache[k]


def _indexed_report(connection: Connection, minutes: int, channel: str = "") -> tuple[dict[str, Any], list[int]]:
    """The report on SQLite, unfiltered or by channel only, from the month (or channel-month), delay and
    threshold indexes: one pass over the month index to count, then a few indexed rows per percentile
    (docs/reports.md). Also the thresholds."""
    month = month_sql(minutes)
    # By channel: every condition starts with the channel, the leading column of each index read.
    where, params = ("first_channel = ? AND", (channel,)) if channel else ("", ())
    months: dict[str, MonthCounts] = {
        row[0]: (int(row[1]), int(row[2]), int(row[3]))
        for row in connection.exec_driver_sql(
            f"SELECT {month} AS month, count(*), sum(lateness = 'late'), sum(reporting_delay_seconds IS NULL) "
            f"FROM incidents WHERE {where} 1 GROUP BY month",
            params,
        )
    }
    histogram = []
    for index in range(len(BINS)):
        lower, upper = bin_bounds(index)
        histogram.append(
            connection.exec_driver_sql(
                f"SELECT count(*) FROM incidents WHERE {where} "
                "reporting_delay_seconds > ? AND reporting_delay_seconds <= ?",
                (*params, -(2**62) if lower is None else lower, 2**62 if upper is None else upper),
            ).scalar_one()
        )
    # By channel, SQLite would rather walk the channel's delay index (no sort) and test each month:
    # the channel-month index holds each month's delays in order, so it is named.
    table = f"incidents INDEXED BY {channel_month_index_name(minutes)}" if channel else "incidents"
    readers = {
        key: _RankReader(connection, counts[0] - counts[2], f"{where} {month} = ? AND", *params, key, table=table)
        for key, counts in months.items()
    }
    overall = _RankReader(connection, sum(counts[0] - counts[2] for counts in months.values()), where, *params)
    report = report_from_ranks(months, lambda key, k: readers[key](k), overall, histogram)
    if channel:  # the channel's own rows, read from the channel index (covering)
        thresholds = connection.exec_driver_sql(
            "SELECT DISTINCT late_threshold_hours FROM incidents WHERE first_channel = ?", params
        ).scalars()
        return report, list(thresholds)
    # Each distinct threshold by a walk up the threshold index, not a scan of every incident.
    thresholds = connection.exec_driver_sql(
        "WITH RECURSIVE t(v) AS (SELECT min(late_threshold_hours) FROM incidents UNION ALL "
        "SELECT (SELECT min(late_threshold_hours) FROM incidents WHERE late_threshold_hours > t.v) FROM t "
        "WHERE t.v IS NOT NULL) SELECT v FROM t WHERE v IS NOT NULL"
    ).scalars()
    return report, list(thresholds)


def _aggregated_report(f: DelayFilter, minutes: int) -> tuple[dict[str, Any], list[int]]:
    """The report on PostgreSQL in one statement: per month and in all (grouping sets), the counts, the
    percentiles (percentile_cont interpolates between the two nearest ranks exactly as `quantile`
    does), the maximum, the histogram's bins and the thresholds' range. Only 1 + months rows leave the
    database, where the rows' delays used to (800,000 at a million incidents)."""
    delay = Incident.reporting_delay_seconds
    # The month as a timestamp (date_trunc is cheaper per row than to_char), spelled YYYY-MM below.
    shifted = Incident.first_received_at + func.make_interval(0, 0, 0, 0, 0, minutes)
    month = func.date_trunc("month", shifted, type_=DateTime).label("month")
    quantiles = postgresql.array([0.5, 0.9, 0.95], type_=Float)
    bins = []
    for index in range(len(BINS)):
        lower, upper = bin_bounds(index)
        condition: ColumnElement[bool] = delay.is_not(None)
        if lower is not None:
            condition &= delay > lower
        if upper is not None:
            condition &= delay <= upper
        bins.append(func.count().filter(condition))
    query = filtered(
        select(
            month,
            func.count(),
            func.count().filter(Incident.lateness == "late"),
            func.count().filter(delay.is_(None)),
            # One sort of each month's delays for the three percentiles.
            func.percentile_cont(quantiles, type_=postgresql.ARRAY(Float)).within_group(delay),
            func.max(delay),
            # Nearly always one threshold: its lowest and highest say so without sorting each month's
            # thresholds (array_agg(DISTINCT) cost a quarter of the statement); else they are listed.
            func.min(Incident.late_threshold_hours),
            func.max(Incident.late_threshold_hours),
            *bins,
        ).group_by(func.grouping_sets(tuple_(month), tuple_())),
        f,
    )
    # Each month's delays are sorted in memory rather than spilled to disk (this transaction only).
    db.session.execute(text("SET LOCAL work_mem = '64MB'"))
    months: dict[str, MonthCounts] = {}
    statistics: dict[str, Statistics] = {}
    overall: Statistics = (None, None, None, None)
    histogram, thresholds = [0] * len(BINS), []
    for row in db.session.execute(query):
        counts: MonthCounts = (int(row[1]), int(row[2]), int(row[3]))
        median, p90, p95 = row[4] or (None, None, None)
        figures: Statistics = (median, p90, p95, row[5])
        if row[0] is None:  # the grouping set () : every row the filter keeps
            overall, histogram = figures, [int(n) for n in row[8:]]
            lowest, highest = row[6], row[7]
            if lowest == highest:
                thresholds = [] if lowest is None else [lowest]
            else:
                distinct = filtered(select(Incident.late_threshold_hours).distinct(), f)
                thresholds = list(db.session.execute(distinct).scalars())
        else:
            key = row[0].strftime("%Y-%m")
            months[key], statistics[key] = counts, figures
    return report_from_statistics(months, statistics, overall, histogram), thresholds


def build_delay_report(f: DelayFilter) -> dict[str, Any]:
    """Every number of the report, for the page, CSV, JSON and the CLI alike.

    Unfiltered or by channel on SQLite it reads indexes only (_indexed_report); on PostgreSQL the
    database computes every figure (_aggregated_report). Otherwise the database counts by month
    and hands over only the known delays, sorted; a zone with daylight saving (never Vietnam's) falls
    back to reading every row, since its month bounds shift.
    """
    zone = current_app.config["DISPLAY_TIMEZONE"]
    minutes = fixed_offset_minutes(zone)
    connection = db.session.connection()
    indexed = None
    if minutes is not None and f == DelayFilter() and has_month_index(connection, minutes):
        indexed = _indexed_report(connection, minutes)
    elif (
        minutes is not None
        and f.channel
        and f == DelayFilter(channel=f.channel)
        and has_channel_month_index(connection, minutes)
    ):
        indexed = _indexed_report(connection, minutes, f.channel)
    elif minutes is not None and connection.dialect.name == "postgresql":
        indexed = _aggregated_report(f, minutes)
    if indexed is not None:
        report, thresholds = indexed
        report["filters"], report["thresholds_hours"] = f.args(), sorted(thresholds)
        return report
    if minutes is None:
        query = filtered(select(Incident.first_received_at, Incident.reporting_delay_seconds, Incident.lateness), f)
        report = summarize((Row(*values) for values in db.session.execute(query)), zone)
    else:
        month = month_expression(minutes).label("month")
        counts = filtered(
            select(
                month,
                func.count(),
                func.sum(case((Incident.lateness == "late", 1), else_=0)),
                func.sum(case((Incident.reporting_delay_seconds.is_(None), 1), else_=0)),
            ).group_by(month),
            f,
        )
        months = {row[0]: (int(row[1]), int(row[2] or 0), int(row[3] or 0)) for row in db.session.execute(counts)}
        known = filtered(
            select(month, Incident.reporting_delay_seconds)
            .where(Incident.reporting_delay_seconds.is_not(None))
            .order_by(month, Incident.reporting_delay_seconds),
            f,
        )
        delays: dict[str, list[int]] = {}
        for key, value in db.session.execute(known):
            delays.setdefault(key, []).append(value)
        report = summarize_months(months, delays)
    thresholds = list(db.session.execute(filtered(select(Incident.late_threshold_hours).distinct(), f)).scalars().all())
    report["filters"] = f.args()
    report["thresholds_hours"] = sorted(thresholds)
    return report


def incident_rows(f: DelayFilter, *, bin_index: int | None = None) -> list[dict[str, Any]]:
    """The incidents behind the numbers (optionally one histogram bin), for drill-down and export."""
    query = filtered(
        select(Incident, Customer.email, PolicyVersion.effective_from)
        .join(Customer, Incident.customer_id == Customer.id)
        .outerjoin(PolicyVersion, Incident.policy_version_id == PolicyVersion.id),
        f,
    )
    if bin_index is not None:
        lower, upper = bin_bounds(bin_index)
        query = query.where(Incident.reporting_delay_seconds.is_not(None))
        if lower is not None:
            query = query.where(Incident.reporting_delay_seconds > lower)
        if upper is not None:
            query = query.where(Incident.reporting_delay_seconds <= upper)
    rows = []
    for incident, email, policy_from in db.session.execute(query.order_by(Incident.first_received_at)):
        rows.append(
            {
                "reference": incident.reference,
                "customer": email,
                "channel": incident.first_channel,
                "first_received_at": incident.first_received_at,
                "discovered_at": incident.effective_discovered_at,
                "delay_seconds": incident.reporting_delay_seconds,
                "lateness": incident.lateness,
                "threshold_hours": incident.late_threshold_hours,
                "policy_version": incident.policy_version_id,
                "policy_effective_from": policy_from,
                "review_decision": incident.review_decision,
                "status": incident.status,
                "id": incident.id,
                "customer_id": incident.customer_id,
            }
        )
    return rows
