"""A customer's data request (access, correction, erasure) and the corrections of statements it made."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, Text, select
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..assessment.models import DiscoveryStatement
from ..customers.models import Customer
from ..database import UTCDateTime
from ..extensions import Model, db
from ..incidents.models import Report

KIND_ACCESS = "access"
KIND_CORRECTION = "correction"
KIND_ERASURE = "erasure"
KINDS = (KIND_ACCESS, KIND_CORRECTION, KIND_ERASURE)

# What a correction is about.
ITEM_NAME = "name"
ITEM_LOCALE = "locale"
ITEM_DISCOVERY = "discovery"  # a statement of when the customer noticed the loss
ITEM_REPORT_DETAILS = "report_details"  # the free text the customer gave with a report
ITEMS = (ITEM_NAME, ITEM_LOCALE, ITEM_DISCOVERY, ITEM_REPORT_DETAILS)
STATEMENT_ITEMS = (ITEM_DISCOVERY, ITEM_REPORT_DETAILS)

CHANNEL_WEB = "web"  # asked by the customer, signed in
STAFF_CHANNELS = ("phone", "post", "email", "in_person")
CHANNELS = (CHANNEL_WEB, *STAFF_CHANNELS)

STATE_RECEIVED = "received"
STATE_IN_PROGRESS = "in_progress"
STATE_ANSWERED = "answered"
STATE_WITHDRAWN = "withdrawn"
STATES = (STATE_RECEIVED, STATE_IN_PROGRESS, STATE_ANSWERED, STATE_WITHDRAWN)
OPEN_STATES = (STATE_RECEIVED, STATE_IN_PROGRESS)

DECISION_GRANTED = "granted"
DECISION_PARTLY_GRANTED = "partly_granted"
DECISION_REFUSED = "refused"
DECISIONS = (DECISION_GRANTED, DECISION_PARTLY_GRANTED, DECISION_REFUSED)


class DataRequest(Model):
    """One request, from receipt to answer. Its changes go through data_requests.service, which audits each."""

    __tablename__ = "data_requests"

    id: Mapped[int] = mapped_column(primary_key=True)
    # DR-<year>-<id>, given when the row is first written; what the customer quotes.
    reference: Mapped[str | None] = mapped_column(String(32), unique=True)
    kind: Mapped[str] = mapped_column(String(16), index=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    # A correction: which item, and the statement when it is one (exactly one of the two ids then).
    item: Mapped[str | None] = mapped_column(String(16), default=None)
    discovery_statement_id: Mapped[int | None] = mapped_column(ForeignKey("discovery_statements.id"), default=None)
    report_id: Mapped[int | None] = mapped_column(ForeignKey("reports.id"), default=None)
    # The corrected value as asked: a name, a locale code or a report's text; a discovery time is in
    # corrected_time (UTC).
    corrected_value: Mapped[str | None] = mapped_column(Text, default=None)
    corrected_time: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    # Access and erasure: what the customer asks for, in their words (may be empty: everything).
    scope: Mapped[str] = mapped_column(Text, default="")
    reason: Mapped[str] = mapped_column(Text)
    channel: Mapped[str] = mapped_column(String(16))
    # The web: this server's clock. Staff entry: when staff say it reached us (recorded_at is the entry).
    received_at: Mapped[datetime] = mapped_column(UTCDateTime)
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime)
    entered_by: Mapped[str] = mapped_column(String(320))
    due_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    state: Mapped[str] = mapped_column(String(16), index=True)
    started_by: Mapped[str | None] = mapped_column(String(320), default=None)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    decision: Mapped[str | None] = mapped_column(String(16), default=None)
    decision_reason: Mapped[str | None] = mapped_column(Text, default=None)
    # What the customer is told, in staff's words (the email adds what was done, e.g. an erasure's outcome).
    reply: Mapped[str | None] = mapped_column(Text, default=None)
    decided_by: Mapped[str | None] = mapped_column(String(320), default=None)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    # An erasure's outcome as told to the customer: JSON {"erased": [...], "kept": [...]}.
    outcome: Mapped[str | None] = mapped_column(Text, default=None)
    withdrawn_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)

    customer: Mapped[Customer] = relationship()
    discovery_statement: Mapped[DiscoveryStatement | None] = relationship()
    report: Mapped[Report | None] = relationship()

    @property
    def is_open(self) -> bool:
        return self.state in OPEN_STATES

    def overdue(self, now: datetime) -> bool:
        return self.is_open and now > self.due_at


class StatementCorrection(Model):
    """A granted correction of something the customer stated. The statement itself is evidence and is
    never changed: this row supersedes it for display, the original stays beside it."""

    __tablename__ = "statement_corrections"

    id: Mapped[int] = mapped_column(primary_key=True)
    data_request_id: Mapped[int] = mapped_column(ForeignKey("data_requests.id"), unique=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    # The statement corrected: a report's text, or a discovery statement.
    report_id: Mapped[int | None] = mapped_column(ForeignKey("reports.id"), index=True, default=None)
    discovery_statement_id: Mapped[int | None] = mapped_column(
        ForeignKey("discovery_statements.id"), index=True, default=None
    )
    corrected_text: Mapped[str | None] = mapped_column(Text, default=None)
    # A discovery time's correction is also a new statement (source "correction"), so the incident's
    # delay is reassessed from it by the usual rule; this is that statement.
    correcting_statement_id: Mapped[int | None] = mapped_column(ForeignKey("discovery_statements.id"), default=None)
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime)
    recorded_by: Mapped[str] = mapped_column(String(320))

    request: Mapped[DataRequest] = relationship()


def report_corrections(report_ids: list[int]) -> dict[int, StatementCorrection]:
    """For each of these reports whose text was corrected, the latest correction: what pages show instead
    of the text (the original stays on record, and is shown beside it to staff)."""
    if not report_ids:
        return {}
    rows = db.session.execute(
        select(StatementCorrection)
        .where(StatementCorrection.report_id.in_(report_ids))
        .order_by(StatementCorrection.id)
    ).scalars()
    return {row.report_id: row for row in rows if row.report_id is not None}
