"""Reports (evidence, never edited) and incidents (one open case per customer)."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from flask import current_app
from sqlalchemy import ForeignKey, Index, Integer, String, Text, bindparam, false, select, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..customers.models import Customer
from ..database import UTCDateTime, utcnow
from ..extensions import Model, core_execute, db
from ..staff.models import StaffUser

if TYPE_CHECKING:
    from ..intake.models import InboundMessage

CHANNELS = ("web", "email", "phone", "fax", "post", "in_person", "api", "breach_list")
KINDS = ("lost", "stolen", "leaked", "phished", "suspicious_activity", "other")

STATUS_REACTIVATED = "reactivated"  # open: old password dead, link sent
STATUS_RESOLVED = "resolved"  # the customer set a new password
STATUS_CLOSED = "closed"  # staff closed it: duplicate, spam, withdrawn
STATUSES = (STATUS_REACTIVATED, STATUS_RESOLVED, STATUS_CLOSED)

LATENESS_ON_TIME = "on_time"
LATENESS_LATE = "late"
LATENESS_UNKNOWN = "unknown"


# Late, and awaiting legal's decision: none yet, or waiting for information from the customer. SQL text
# for the partial index below; console.queries.awaiting_review is the same condition as an expression.
AWAITING_REVIEW = "lateness = 'late' AND (review_decision IS NULL OR review_decision = 'needs_information')"


class Incident(Model):
    __tablename__ = "incidents"
    __table_args__ = (
        # R2: at most one open incident per customer, enforced by the database, not by a check.
        Index(
            "uq_incidents_open_customer",
            "customer_id",
            unique=True,
            sqlite_where=text("status = 'reactivated'"),
            postgresql_where=text("status = 'reactivated'"),
        ),
        # The 72-hour clock: breaches whose notice to the authority is not recorded yet, a few among a
        # million incidents (the queue's "clock running" filter, legal's list and tab count). Spelled as
        # the queries spell it (console.queries.breach_clock_running), so both databases match it.
        Index(
            "ix_incidents_breach_clock",
            "first_received_at",
            sqlite_where=text("personal_data_breach IS 1 AND authority_notified_at IS NULL"),
            postgresql_where=text("personal_data_breach IS true AND authority_notified_at IS NULL"),
        ),
        # The queue's status tabs at a million incidents: a tab's rows newest first, and its bounded count
        # (console.queries.bounded_count), read from the index in order rather than sorted.
        Index("ix_incidents_status_received", "status", "first_received_at"),
        # The delay report filtered by channel or by received time (reports.service) reads only these
        # (covering) indexes, never the rows: a channel's delays in order, and a period's incidents.
        Index(
            "ix_incidents_channel_delay",
            "first_channel",
            "reporting_delay_seconds",
            "late_threshold_hours",
            "lateness",
            "first_received_at",
        ),
        Index(
            "ix_incidents_received_delay",
            "first_received_at",
            "reporting_delay_seconds",
            "lateness",
            "late_threshold_hours",
        ),
        # Legal's late incidents oldest first, a page at a time, and their bounded counts
        # (console.queries.late_page), read in order from the index; also the queue's lateness filter.
        Index("ix_incidents_lateness_received", "lateness", "first_received_at"),
        # The same for those awaiting legal's decision (the review tab and the console's badge on every
        # page legal opens): once most are decided, the index above would make them read every late
        # incident, and PostgreSQL every incident. Spelled as console.queries.awaiting_review spells it.
        Index(
            "ix_incidents_awaiting_review",
            "lateness",
            "first_received_at",
            sqlite_where=text(AWAITING_REVIEW),
            postgresql_where=text(AWAITING_REVIEW),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    reference: Mapped[str | None] = mapped_column(String(32), unique=True)
    # The one reference the customer is given to quote: that of the report that opened the incident (the
    # page they reported on showed it; every email about the incident repeats it). Fixed at opening, so a
    # report attached later, even an older one, never changes it. Staff find the incident by either.
    customer_reference: Mapped[str | None] = mapped_column(String(32), default=None)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    status: Mapped[str] = mapped_column(String(16), default=STATUS_REACTIVATED)
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime)
    first_received_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    close_reason: Mapped[str | None] = mapped_column(Text, default=None)
    last_link_sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    # The late threshold in force when the first report was received; never re-judged afterwards.
    late_threshold_hours: Mapped[int] = mapped_column(Integer, index=True)
    # Derived from discovery statements by assessment.service; kept here so reports can query them.
    effective_discovered_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    reporting_delay_seconds: Mapped[int | None] = mapped_column(Integer, default=None, index=True)
    lateness: Mapped[str] = mapped_column(String(10), default=LATENESS_UNKNOWN)
    # The policy version in force at the first report (None: the LATE_REPORT_THRESHOLD_HOURS default).
    policy_version_id: Mapped[int | None] = mapped_column(ForeignKey("policy_versions.id"), index=True)
    # The channel of the first report, kept for the delay report's filters.
    first_channel: Mapped[str | None] = mapped_column(String(16), index=True)
    # Legal's latest review decision, mirrored from review_decisions for filtering.
    review_decision: Mapped[str | None] = mapped_column(String(24), index=True)
    # A personal-data breach (Decree 13/2023/ND-CP): the authority (A05) must hear within 72 hours.
    personal_data_breach: Mapped[bool] = mapped_column(default=False, server_default=false())
    breach_marked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    breach_marked_by: Mapped[str | None] = mapped_column(String(320), default=None)
    authority_notified_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    authority_notification: Mapped[str | None] = mapped_column(Text, default=None)
    # The staff member working the case (support or admin), or None; changed only through
    # incidents.service.assign_incident, which audits each change.
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id"), default=None, index=True)

    customer: Mapped[Customer] = relationship()
    assignee: Mapped[StaffUser | None] = relationship()
    reports: Mapped[list[Report]] = relationship(back_populates="incident", order_by="Report.id")

    @property
    def is_open(self) -> bool:
        return self.status == STATUS_REACTIVATED


class Report(Model):
    __tablename__ = "reports"

    id: Mapped[int] = mapped_column(primary_key=True)
    reference: Mapped[str | None] = mapped_column(String(32), unique=True)
    channel: Mapped[str] = mapped_column(String(16))
    # The company's clock, set by the server when the report reached it (R4). Never from the client.
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    # Which of the company's clocks: this server's, or the company MTA's Received header (imports).
    received_at_source: Mapped[str] = mapped_column(String(20), default="server_clock", server_default="server_clock")
    # For email reports, the stored message it came from.
    inbound_message_id: Mapped[int | None] = mapped_column(ForeignKey("inbound_messages.id"), index=True)
    # The address as the reporter gave it, and its normalised form used for matching.
    claimed_address: Mapped[str] = mapped_column(String(320))
    address_normalized: Mapped[str | None] = mapped_column(String(320))
    kind: Mapped[str] = mapped_column(String(24))
    details: Mapped[str] = mapped_column(Text, default="")
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id"), index=True)
    incident_id: Mapped[int | None] = mapped_column(ForeignKey("incidents.id"), index=True)
    # Request facts, kept as evidence of where the report came from.
    client_ip: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(String(512))
    # Who entered it: "customer" for self-service channels, a staff identifier otherwise.
    entered_by: Mapped[str] = mapped_column(String(320), default="customer")
    # The server's clock when the row was written: equal to received_at for web and SMTP; for staff
    # entries and imports, kept beside the stated or MTA time.
    recorded_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)

    incident: Mapped[Incident | None] = relationship(back_populates="reports")
    customer: Mapped[Customer | None] = relationship()
    inbound_message: Mapped[InboundMessage | None] = relationship()


CLOSE_REASONS = ("duplicate", "spam", "withdrawn")


class IncidentNote(Model):
    """A note by staff on an incident; notes are added, never edited."""

    __tablename__ = "incident_notes"

    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id"), index=True)
    author: Mapped[str] = mapped_column(String(320))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    text: Mapped[str] = mapped_column(Text)


def report_year(moment: datetime) -> int:
    """The year in references: the year of `moment` in the display zone."""
    return moment.astimezone(ZoneInfo(current_app.config["DISPLAY_TIMEZONE"])).year


def has_open_incident(customer_id: int) -> bool:
    """Whether the customer has an open incident (reads its id alone, as a Core statement on the session's
    connection after a flush: the ORM's handling cost more than the query, under the write lock: issue 17)."""
    return core_execute(_OPEN_INCIDENT_ID, {"customer_id": customer_id}).first() is not None


def open_incident_of(customer_id: int, *, for_update: bool = False) -> Incident | None:
    """The customer's open incident, if any (at most one: a unique index says so). With `for_update`,
    its row stays locked until the transaction ends."""
    query = _OPEN_INCIDENT_LOCKED if for_update else _OPEN_INCIDENT
    return db.session.execute(query, {"customer_id": customer_id}).scalar_one_or_none()


# Built once: a report joining an open incident runs it, and building it cost half as much again as
# running it (issue 17).
_OPEN_INCIDENT = select(Incident).where(
    Incident.customer_id == bindparam("customer_id"), Incident.status == STATUS_REACTIVATED
)
_OPEN_INCIDENT_LOCKED = _OPEN_INCIDENT.with_for_update()


_OPEN_INCIDENT_ID = select(Incident.id).where(
    Incident.customer_id == bindparam("customer_id"), Incident.status == STATUS_REACTIVATED
)
