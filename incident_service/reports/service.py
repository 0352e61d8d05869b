"""The delay report from the database: filters, rows, numbers, and the incidents behind them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any, Mapping

from flask import current_app
from sqlalchemy import Select, case, func, literal_column, select
from sqlalchemy.engine import Connection

from ..assessment.models import DECISIONS, PolicyVersion
from ..customers.models import Customer
from ..database import Ts, within
from ..domain_errors import DomainError
from ..extensions import db
from ..i18n import UnreadableTime, day_bounds, read_day
from ..incidents.models import CHANNELS, Incident
from .delay import BINS, MonthCounts, Row, bin_bounds, report_from_ranks, summarize, summarize_months
from .month_index import fixed_offset_minutes, has_month_index, month_sql


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

    def __init__(self, connection: Connection, known: int, where: str = "", *params: Any) -> None:
        self.connection, self.known, self.where, self.params = connection, known, where, params
        self.cache: dict[int, int] = {}

    def __call__(self, k: int) -> int:
        if k not in self.cache:
            descending = k > self.known // 2
            rows = (
                self.connection.exec_driver_sql(
                    f"SELECT reporting_delay_seconds FROM incidents WHERE {self.where} reporting_delay_seconds IS NOT NULL "
                    f"ORDER BY reporting_delay_seconds {'DESC' if descending else ''} LIMIT 2 OFFSET ?",
                    (*self.params, self.known - 1 - k if descending else k),
                )
                .scalars()
                .all()
            )
            for step, value in enumerate(rows):
                self.cache[k - step if descending else k + step] = value
        return self.cache[k]


def _indexed_report(connection: Connection, minutes: int) -> tuple[dict[str, Any], list[int]]:
    """The unfiltered report on SQLite from the month, delay and threshold indexes: one pass over the
    month index to count, then a few indexed rows per percentile (docs/reports.md). Also the thresholds."""
    month = month_sql(minutes)
    months: dict[str, MonthCounts] = {
        row[0]: (int(row[1]), int(row[2]), int(row[3]))
        for row in connection.exec_driver_sql(
            f"SELECT {month} AS month, count(*), sum(lateness = 'late'), sum(reporting_delay_seconds IS NULL) "
            "FROM incidents GROUP BY month"
        )
    }
    histogram = []
    for index in range(len(BINS)):
        lower, upper = bin_bounds(index)
        histogram.append(
            connection.exec_driver_sql(
                "SELECT count(*) FROM incidents WHERE reporting_delay_seconds > ? AND reporting_delay_seconds <= ?",
                (-(2**62) if lower is None else lower, 2**62 if upper is None else upper),
            ).scalar_one()
        )
    readers = {
        key: _RankReader(connection, counts[0] - counts[2], f"{month} = ? AND", key) for key, counts in months.items()
    }
    overall = _RankReader(connection, sum(counts[0] - counts[2] for counts in months.values()))
    report = report_from_ranks(months, lambda key, k: readers[key](k), overall, histogram)
    # Each distinct threshold by a walk up the threshold index, not a scan of every incident.
    thresholds = (
        connection.exec_driver_sql(
            "WITH RECURSIVE t(v) AS (SELECT min(late_threshold_hours) FROM incidents UNION ALL "
            "SELECT (SELECT min(late_threshold_hours) FROM incidents WHERE late_threshold_hours > t.v) FROM t "
            "WHERE t.v IS NOT NULL) SELECT v FROM t WHERE v IS NOT NULL"
        )
        .scalars()
        .all()
    )
    return report, list(thresholds)


def build_delay_report(f: DelayFilter) -> dict[str, Any]:
    """Every number of the report, for the page, CSV, JSON and the CLI alike.

    Unfiltered on SQLite it reads indexes only (_indexed_report). Otherwise the database counts by month
    and hands over only the known delays, sorted; a zone with daylight saving (never Vietnam's) falls
    back to reading every row, since its month bounds shift.
    """
    zone = current_app.config["DISPLAY_TIMEZONE"]
    minutes = fixed_offset_minutes(zone)
    connection = db.session.connection()
    if minutes is not None and f == DelayFilter() and has_month_index(connection, minutes):
        report, thresholds = _indexed_report(connection, minutes)
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
