"""What the data-request pages read: the statements a customer may ask to correct, their requests and
corrections, the customer staff mean by an address or a reference, the console's queue."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Select, or_, select

from ..assessment.models import CUSTOMER_SOURCES, DiscoveryStatement
from ..customers.addresses import InvalidAddress, normalize_address
from ..customers.models import Customer
from ..customers.service import find_customer
from ..extensions import db
from ..incidents.models import Incident, Report
from .models import (
    ITEM_DISCOVERY,
    ITEM_REPORT_DETAILS,
    KINDS,
    OPEN_STATES,
    STATE_ANSWERED,
    STATE_IN_PROGRESS,
    STATE_RECEIVED,
    STATE_WITHDRAWN,
    DataRequest,
    StatementCorrection,
)


@dataclass(frozen=True)
class StatementChoice:
    """A statement the customer made, as they can point at it: its key, kind, when it was made, what it said."""

    key: str
    item: str
    stated_at: datetime
    discovered_at: datetime | None
    text: str
    reference: str | None


def statement_key(item: str, row_id: int) -> str:
    return f"{'discovery' if item == ITEM_DISCOVERY else 'report'}:{row_id}"


def customer_statements(customer_id: int) -> list[StatementChoice]:
    """Everything the customer stated that they may ask to correct: their discovery statements (not
    staff overrides, not corrections already made) and the text of their reports, oldest first."""
    discoveries = db.session.execute(
        select(DiscoveryStatement, Incident.customer_reference, Report.reference)
        .outerjoin(Incident, Incident.id == DiscoveryStatement.incident_id)
        .outerjoin(Report, Report.id == DiscoveryStatement.report_id)
        .where(
            or_(Incident.customer_id == customer_id, Report.customer_id == customer_id),
            DiscoveryStatement.source.in_(CUSTOMER_SOURCES),
            DiscoveryStatement.is_override.is_(False),
        )
    ).all()
    choices = [
        StatementChoice(
            statement_key(ITEM_DISCOVERY, statement.id),
            ITEM_DISCOVERY,
            statement.stated_at,
            statement.discovered_at,
            "",
            incident_reference or report_reference,
        )
        for statement, incident_reference, report_reference in discoveries
    ]
    reports = db.session.execute(
        select(Report).where(Report.customer_id == customer_id, Report.details != "").order_by(Report.id)
    ).scalars()
    choices += [
        StatementChoice(
            statement_key(ITEM_REPORT_DETAILS, report.id),
            ITEM_REPORT_DETAILS,
            report.received_at,
            None,
            report.details,
            report.reference,
        )
        for report in reports
    ]
    return sorted(choices, key=lambda choice: (choice.stated_at, choice.key))


def corrections_of(customer_id: int) -> list[StatementCorrection]:
    """The customer's granted statement corrections, oldest first: what supersedes each statement for display."""
    return list(
        db.session.execute(
            select(StatementCorrection)
            .where(StatementCorrection.customer_id == customer_id)
            .order_by(StatementCorrection.id)
        ).scalars()
    )


def requests_of(customer_id: int) -> list[DataRequest]:
    return list(
        db.session.execute(
            select(DataRequest).where(DataRequest.customer_id == customer_id).order_by(DataRequest.id.desc())
        ).scalars()
    )


def customer_by_address_or_reference(text: str) -> Customer | None:
    """The customer staff mean: by the address on record, or the reference of one of their incidents,
    reports or data requests (as a customer reads it out on the phone)."""
    text = text.strip()
    if not text:
        return None
    if "@" in text:
        try:
            return find_customer(normalize_address(text))
        except InvalidAddress:
            return None
    key = text.upper()
    customer_id = (
        db.session.execute(
            select(Incident.customer_id).where(or_(Incident.reference == key, Incident.customer_reference == key))
        ).scalar()
        or db.session.execute(select(Report.customer_id).where(Report.reference == key)).scalar()
        or db.session.execute(select(DataRequest.customer_id).where(DataRequest.reference == key)).scalar()
    )
    return db.session.get(Customer, customer_id) if customer_id is not None else None


@dataclass(frozen=True)
class QueueFilter:
    state: str = "open"  # open, received, in_progress, answered, withdrawn, all
    kind: str = ""
    overdue: bool = False


def queue_query(filters: QueueFilter, now: datetime) -> Select[DataRequest]:
    """The console queue: open requests by due date (the most urgent first), others newest first."""
    query = select(DataRequest)
    if filters.state == "open":
        query = query.where(DataRequest.state.in_(OPEN_STATES))
    elif filters.state in (STATE_RECEIVED, STATE_IN_PROGRESS, STATE_ANSWERED, STATE_WITHDRAWN):
        query = query.where(DataRequest.state == filters.state)
    if filters.kind in KINDS:
        query = query.where(DataRequest.kind == filters.kind)
    if filters.overdue:
        query = query.where(DataRequest.state.in_(OPEN_STATES), DataRequest.due_at < now)
    if filters.state in ("open", STATE_RECEIVED, STATE_IN_PROGRESS) or filters.overdue:
        return query.order_by(DataRequest.due_at, DataRequest.id)
    return query.order_by(DataRequest.id.desc())
