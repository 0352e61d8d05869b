"""The delay report from the database: filters, rows, numbers, and the incidents behind them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any, Mapping

from flask import current_app
from sqlalchemy import Select, select

from ..assessment.models import DECISIONS, PolicyVersion
from ..console.queries import day_bounds
from ..customers.models import Customer
from ..extensions import db
from ..incidents.models import CHANNELS, Incident
from .delay import Row, bin_bounds, summarize


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


def build_delay_report(f: DelayFilter) -> dict[str, Any]:
    """Every number of the report, for the page, CSV, JSON and the CLI alike."""
    query = filtered(select(Incident.first_received_at, Incident.reporting_delay_seconds, Incident.lateness), f)
    rows = (Row(*values) for values in db.session.execute(query))
    report = summarize(rows, current_app.config["DISPLAY_TIMEZONE"])
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
