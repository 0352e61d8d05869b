"""The delay report from the database: filters, rows, numbers, and the incidents behind them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Mapping
from zoneinfo import ZoneInfo

from flask import current_app
from sqlalchemy import Select, case, func, select

from ..assessment.models import DECISIONS, PolicyVersion
from ..customers.models import Customer
from ..extensions import db
from ..i18n import day_bounds
from ..incidents.models import CHANNELS, Incident
from .delay import Row, bin_bounds, summarize, summarize_months


class FilterError(ValueError):
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
                return date.fromisoformat(value)
            except ValueError:
                bad(name, value)
                return None

        def pick(name: str, allowed: tuple[str, ...]) -> str:
            value = values.get(name) or ""
            return value if not value or value in allowed else bad(name, value)

        policy = values.get("policy") or ""
        if policy and policy != "default" and not policy.isdigit():
            policy = bad("policy", policy)
        return cls(received_from=day("from"), received_to=day("to"), channel=pick("channel", CHANNELS),
                   lateness=pick("lateness", ("on_time", "late", "unknown")), policy=policy,
                   decision=pick("decision", (*DECISIONS, "none")))

    def args(self) -> dict[str, str]:
        values = {"from": self.received_from.isoformat() if self.received_from else "",
                  "to": self.received_to.isoformat() if self.received_to else "", "channel": self.channel,
                  "lateness": self.lateness, "policy": self.policy, "decision": self.decision}
        return {key: value for key, value in values.items() if value}


def filtered(query: Select[Any], f: DelayFilter) -> Select[Any]:
    start, end = day_bounds(current_app.config["DISPLAY_TIMEZONE"], f.received_from, f.received_to)
    if start is not None:
        query = query.where(Incident.first_received_at >= start)
    if end is not None:
        query = query.where(Incident.first_received_at < end)
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


def fixed_offset_minutes(zone: str) -> int | None:
    """The zone's offset from UTC in minutes if it never changes (Vietnam's does not), else None."""
    tz = ZoneInfo(zone)
    offsets = {datetime(year, month, 1, tzinfo=tz).utcoffset() for year in (2000, 2020, 2030) for month in (1, 7)}
    if len(offsets) != 1:
        return None
    offset = offsets.pop()
    return int(offset.total_seconds() // 60) if offset is not None else 0


def month_expression(minutes: int) -> Any:
    """`YYYY-MM` of the first report's time shifted into the display zone, computed by the database."""
    if db.session.get_bind().dialect.name == "postgresql":
        shifted = Incident.first_received_at + func.make_interval(0, 0, 0, 0, 0, minutes)
        return func.to_char(shifted, "YYYY-MM")
    return func.strftime("%Y-%m", Incident.first_received_at, f"{minutes:+d} minutes")


def build_delay_report(f: DelayFilter) -> dict[str, Any]:
    """Every number of the report, for the page, CSV, JSON and the CLI alike.

    The database counts by month and hands over only the known delays, sorted; a zone with daylight
    saving (never Vietnam's) falls back to reading every row, since its month bounds shift.
    """
    zone = current_app.config["DISPLAY_TIMEZONE"]
    minutes = fixed_offset_minutes(zone)
    if minutes is None:
        query = filtered(select(Incident.first_received_at, Incident.reporting_delay_seconds, Incident.lateness), f)
        report = summarize((Row(*values) for values in db.session.execute(query)), zone)
    else:
        month = month_expression(minutes).label("month")
        counts = filtered(select(month, func.count(), func.sum(case((Incident.lateness == "late", 1), else_=0)),
                                 func.sum(case((Incident.reporting_delay_seconds.is_(None), 1), else_=0)))
                          .group_by(month), f)
        months = {row[0]: (int(row[1]), int(row[2] or 0), int(row[3] or 0)) for row in db.session.execute(counts)}
        known = filtered(select(month, Incident.reporting_delay_seconds)
                         .where(Incident.reporting_delay_seconds.is_not(None))
                         .order_by(month, Incident.reporting_delay_seconds), f)
        delays: dict[str, list[int]] = {}
        for key, value in db.session.execute(known):
            delays.setdefault(key, []).append(value)
        report = summarize_months(months, delays)
    thresholds = db.session.execute(filtered(select(Incident.late_threshold_hours).distinct(), f)).scalars().all()
    report["filters"] = f.args()
    report["thresholds_hours"] = sorted(thresholds)
    return report


def incident_rows(f: DelayFilter, *, bin_index: int | None = None) -> list[dict[str, Any]]:
    """The incidents behind the numbers (optionally one histogram bin), for drill-down and export."""
    query = filtered(select(Incident, Customer.email, PolicyVersion.effective_from)
                     .join(Customer, Incident.customer_id == Customer.id)
                     .outerjoin(PolicyVersion, Incident.policy_version_id == PolicyVersion.id), f)
    if bin_index is not None:
        lower, upper = bin_bounds(bin_index)
        query = query.where(Incident.reporting_delay_seconds.is_not(None))
        if lower is not None:
            query = query.where(Incident.reporting_delay_seconds > lower)
        if upper is not None:
            query = query.where(Incident.reporting_delay_seconds <= upper)
    rows = []
    for incident, email, policy_from in db.session.execute(query.order_by(Incident.first_received_at)):
        rows.append({
            "reference": incident.reference, "customer": email, "channel": incident.first_channel,
            "first_received_at": incident.first_received_at, "discovered_at": incident.effective_discovered_at,
            "delay_seconds": incident.reporting_delay_seconds, "lateness": incident.lateness,
            "threshold_hours": incident.late_threshold_hours, "policy_version": incident.policy_version_id,
            "policy_effective_from": policy_from, "review_decision": incident.review_decision,
            "status": incident.status, "id": incident.id,
        })
    return rows
