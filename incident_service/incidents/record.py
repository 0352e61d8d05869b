"""Everything recorded about one incident, read once for the console page and the evidence pack."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from ..assessment.models import DiscoveryStatement, PolicyVersion, ReviewDecision
from ..audit.models import AuditEvent
from ..audit.service import incident_events
from ..extensions import db
from ..notifications.models import OutboxMessage
from ..reactivation.models import ResetGrant
from .models import Incident, IncidentNote, Report


@dataclass(frozen=True)
class IncidentRecord:
    incident: Incident
    reports: list[Report]
    statements: list[DiscoveryStatement]
    grants: list[ResetGrant]
    emails: list[OutboxMessage]
    notes: list[IncidentNote]
    decisions: list[ReviewDecision]
    policy: PolicyVersion | None
    events: list[AuditEvent]  # the incident's, its reports' and its stored emails', in chain order


def _of(model: Any, incident_id: int) -> list[Any]:
    return list(db.session.execute(select(model).where(model.incident_id == incident_id).order_by(model.id)).scalars())


def incident_record(incident: Incident) -> IncidentRecord:
    reports = _of(Report, incident.id)
    return IncidentRecord(
        incident=incident,
        reports=reports,
        statements=_of(DiscoveryStatement, incident.id),
        grants=_of(ResetGrant, incident.id),
        emails=_of(OutboxMessage, incident.id),
        notes=_of(IncidentNote, incident.id),
        decisions=_of(ReviewDecision, incident.id),
        policy=db.session.get(PolicyVersion, incident.policy_version_id) if incident.policy_version_id else None,
        events=incident_events(
            incident.id, [r.id for r in reports], [r.inbound_message_id for r in reports if r.inbound_message_id]
        ),
    )
