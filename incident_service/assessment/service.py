"""Recording discovery statements and keeping each incident's delay and lateness up to date."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select

from ..audit.service import append_event
from ..extensions import db
from ..incidents.models import Incident, Report
from .lateness import assess, effective_discovery
from .models import DiscoveryStatement


class DiscoveryAfterReport(ValueError):
    """The stated discovery time is later than the report it explains; the message gives both."""

    def __init__(self, discovered_at: datetime, received_at: datetime) -> None:
        super().__init__(f"discovery {discovered_at.isoformat()} is after the report received {received_at.isoformat()}")
        self.discovered_at = discovered_at
        self.received_at = received_at


def reassess(incident: Incident) -> None:
    """Recompute the effective discovery time, delay and lateness from all of the incident's statements."""
    statements = db.session.execute(
        select(DiscoveryStatement).where(DiscoveryStatement.incident_id == incident.id)
    ).scalars().all()
    result = assess(incident.first_received_at, effective_discovery(statements), incident.late_threshold_hours)
    incident.effective_discovered_at = result.discovered_at
    incident.reporting_delay_seconds = int(result.delay.total_seconds()) if result.delay is not None else None
    incident.lateness = result.lateness


def record_discovery_statement(*, discovered_at: datetime, source: str, actor: str, now: datetime,
                               incident: Incident | None = None, report: Report | None = None,
                               is_override: bool = False, reason: str | None = None) -> DiscoveryStatement:
    """Keep a statement of when the loss was noticed and reassess the incident it belongs to.

    Raises DiscoveryAfterReport when the time is after the first report (or the report) it explains.
    Audits `customer:discovery:stated` (or `staff:`) and, when lateness changes, `system:incident:assessed`.
    """
    reference_time = incident.first_received_at if incident is not None else report.received_at  # type: ignore[union-attr]
    if discovered_at > reference_time:
        raise DiscoveryAfterReport(discovered_at, reference_time)
    statement = DiscoveryStatement(
        incident_id=incident.id if incident is not None else None,
        report_id=report.id if report is not None else None,
        discovered_at=discovered_at,
        source=source,
        is_override=is_override,
        reason=reason,
        stated_at=now,
        actor=actor,
    )
    db.session.add(statement)
    db.session.flush()
    customer_id = incident.customer_id if incident is not None else report.customer_id  # type: ignore[union-attr]
    who = "staff" if source.startswith("staff") else "customer"
    append_event(f"{who}:discovery:stated", actor=actor, now=now, customer_id=customer_id,
                 incident_id=statement.incident_id, report_id=statement.report_id,
                 data={"statement": statement.id, "discovered_at": discovered_at.isoformat(),
                       "override": is_override})
    if incident is not None:
        before = incident.lateness
        reassess(incident)
        if incident.lateness != before:
            append_event("system:incident:assessed", actor="system", now=now, customer_id=incident.customer_id,
                         incident_id=incident.id,
                         data={"lateness": incident.lateness, "delay_seconds": incident.reporting_delay_seconds,
                               "threshold_hours": incident.late_threshold_hours})
    return statement
