"""Everything held about one customer, read once for their data page and their download.

Every query is keyed on the customer's own id (their reports, their incidents, their outbox messages,
the disclosure subject rows naming them), never on an address or a text match: another customer's
report that mentions this customer's address, or an email sent from it by someone else, stays theirs.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import or_, select

from ..assessment.models import DiscoveryStatement, PolicyVersion
from ..customers.models import Customer
from ..disclosures.service import CustomerDisclosure, disclosures_of
from ..extensions import db
from ..incidents.models import Incident, Report
from ..intake.models import InboundMessage
from ..notifications.models import OutboxMessage


@dataclass(frozen=True)
class CustomerData:
    customer: Customer
    incidents: list[Incident]
    policies: dict[int, PolicyVersion]  # by id, for the incidents' policy versions
    reports: list[Report]
    messages: list[InboundMessage]  # the emails they sent us that became their reports
    statements: list[DiscoveryStatement]
    emails_sent: list[OutboxMessage]
    disclosures: list[CustomerDisclosure]

    def message_of(self, report: Report) -> InboundMessage | None:
        return next((m for m in self.messages if m.id == report.inbound_message_id), None)

    def policy_of(self, incident: Incident) -> PolicyVersion | None:
        return self.policies.get(incident.policy_version_id) if incident.policy_version_id else None


def customer_data(customer: Customer) -> CustomerData:
    """Read everything held about `customer` (changes nothing)."""
    incidents = list(
        db.session.execute(
            select(Incident).where(Incident.customer_id == customer.id).order_by(Incident.id.desc())
        ).scalars()
    )
    reports = list(
        db.session.execute(select(Report).where(Report.customer_id == customer.id).order_by(Report.id)).scalars()
    )
    message_ids = [r.inbound_message_id for r in reports if r.inbound_message_id is not None]
    messages = (
        list(
            db.session.execute(
                select(InboundMessage).where(InboundMessage.id.in_(message_ids)).order_by(InboundMessage.id)
            ).scalars()
        )
        if message_ids
        else []
    )
    incident_ids = [i.id for i in incidents]
    report_ids = [r.id for r in reports]
    statements = (
        list(
            db.session.execute(
                select(DiscoveryStatement)
                .where(
                    or_(DiscoveryStatement.incident_id.in_(incident_ids), DiscoveryStatement.report_id.in_(report_ids))
                )
                .order_by(DiscoveryStatement.id)
            ).scalars()
        )
        if incident_ids or report_ids
        else []
    )
    policy_ids = {i.policy_version_id for i in incidents if i.policy_version_id is not None}
    policies = (
        {p.id: p for p in db.session.execute(select(PolicyVersion).where(PolicyVersion.id.in_(policy_ids))).scalars()}
        if policy_ids
        else {}
    )
    emails_sent = list(
        db.session.execute(
            select(OutboxMessage).where(OutboxMessage.customer_id == customer.id).order_by(OutboxMessage.id)
        ).scalars()
    )
    return CustomerData(
        customer=customer,
        incidents=incidents,
        policies=policies,
        reports=reports,
        messages=messages,
        statements=statements,
        emails_sent=emails_sent,
        disclosures=disclosures_of(customer.id),
    )


def own_message(customer: Customer, message_id: int) -> InboundMessage | None:
    """The stored email `message_id` if it became one of this customer's reports, else None."""
    return db.session.execute(
        select(InboundMessage)
        .join(Report, Report.inbound_message_id == InboundMessage.id)
        .where(InboundMessage.id == message_id, Report.customer_id == customer.id)
        .limit(1)
    ).scalar_one_or_none()
