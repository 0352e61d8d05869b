"""What a report from an address would meet, read for many addresses at once, and the rows of a report that
opens nothing: the importer's batch (intake.bulk) decides with these which of its messages take the
well-worn paths of receive_report, and writes those set-based."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from flask import current_app
from sqlalchemy import bindparam, func, select

from ..audit.actions import Event, tag
from ..audit.service import NewEvent
from ..customers.models import CREDENTIAL_LOCKED
from ..extensions import db
from ..reactivation.models import ResetGrant
from .bulk import Opening, Reported, openings_for, report_values
from .models import STATUS_REACTIVATED, Incident, report_year


@dataclass(frozen=True)
class Standing:
    """What a report from one address would meet: the customer at it, their open incident, whether their
    password is locked already, and until when no new link may go to them (R1)."""

    customer: Opening
    incident_id: int | None
    first_received_at: datetime | None
    locked: bool
    no_link_until: datetime | None

    @property
    def customer_id(self) -> int:
        return self.customer.customer_id

    def opened(self, received_at: datetime, now: datetime, incident_id: int = 0) -> Standing:
        """What their next report meets once one received at `received_at` opened their incident `now`
        (write_openings: the password locked, a link sent now). `incident_id`: 0 until it is drawn."""
        window = timedelta(seconds=current_app.config["LINK_RESEND_WINDOW_SECONDS"])
        return replace(
            self, incident_id=incident_id, first_received_at=received_at, locked=True, no_link_until=now + window
        )

    def joins_quietly(self, received_at: datetime, now: datetime) -> bool:
        """Whether a report received at `received_at` would only join the open incident: it is not older
        than the incident's first report (which would reassess it), the password is locked already, and a
        link went out within the resend window (so none is sent). receive_report writes exactly the
        report, its incident and two events for it then (tests/intake/test_import_bulk.py)."""
        return (
            self.incident_id is not None
            and self.first_received_at is not None
            and received_at >= self.first_received_at
            and self.locked
            and self.no_link_until is not None
            and now < self.no_link_until
        )


def standings(addresses: list[str]) -> dict[str, Standing]:
    """Standing of the customers at `addresses` (normalised), by address. Their rows are locked until the
    transaction ends, in id order (openings_for), and so are their open incidents, as receive_report's
    join locks both, so that what is read here holds until the commit."""
    customers = openings_for(sorted(set(addresses)), lock=True)
    by_id = {opening.customer_id: opening for opening in customers.values()}
    ids = sorted(by_id)
    connection = db.session.connection()
    incidents: dict[int, tuple[int, datetime]] = {}
    last_link: dict[int, datetime] = {}
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        for open_id, customer_id, first_at in connection.execute(_OPEN_INCIDENTS_LOCKED, {"customer_ids": chunk}):
            incidents[customer_id] = (open_id, first_at)
        for customer_id, last_at in connection.execute(_LAST_ISSUED_OF, {"customer_ids": chunk}):
            last_link[customer_id] = last_at
    window = timedelta(seconds=current_app.config["LINK_RESEND_WINDOW_SECONDS"])
    found = {}
    for address, opening in customers.items():
        incident_id: int | None = None
        first_received_at: datetime | None = None
        if opening.customer_id in incidents:
            incident_id, first_received_at = incidents[opening.customer_id]
        issued_at = last_link.get(opening.customer_id)
        found[address] = Standing(
            opening,
            incident_id,
            first_received_at,
            opening.credential_state == CREDENTIAL_LOCKED,
            issued_at + window if issued_at is not None else None,
        )
    return found


_OPEN_INCIDENTS_LOCKED = (
    select(Incident.id, Incident.customer_id, Incident.first_received_at)
    .where(Incident.customer_id.in_(bindparam("customer_ids", expanding=True)), Incident.status == STATUS_REACTIVATED)
    .order_by(Incident.id)
    .with_for_update()
)
_LAST_ISSUED_OF = (
    select(ResetGrant.customer_id, func.max(ResetGrant.issued_at))
    .where(ResetGrant.customer_id.in_(bindparam("customer_ids", expanding=True)))
    .group_by(ResetGrant.customer_id)
)


def quiet_report(
    report_id: int, given: Reported, *, channel: str, kind: str, standing: Standing | None, actor: str, now: datetime
) -> tuple[list[Any], list[NewEvent]]:
    """The row (REPORT_COLUMNS' values) and the events of a report that opens nothing: from an address
    nobody has (no `standing`, and none had it lately: email_change.service.previous_owners), or joining
    its customer's open incident quietly (Standing.joins_quietly). What receive_report writes for it."""
    reference = f"RPT-{report_year(given.received_at)}-{report_id:06d}"
    customer_id = standing.customer_id if standing is not None else None
    incident_id = standing.incident_id if standing is not None else None
    row = report_values(report_id, reference, channel, kind, given.received_at, given, customer_id, incident_id, now)
    events = [
        NewEvent(
            tag(channel, Event.REPORT_RECEIVED),
            customer_id,
            None,
            report_id,
            {"reference": reference, "kind": kind, "address": given.address_normalized or given.claimed_address},
            now,
            actor,
        )
    ]
    if incident_id is not None:
        events.append(
            NewEvent(tag(channel, Event.REPORT_ATTACHED), customer_id, incident_id, report_id, None, now, actor)
        )
    return row, events
