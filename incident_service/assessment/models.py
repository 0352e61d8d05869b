"""Discovery statements: when someone says the customer noticed or suspected the loss."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from ..database import UTCDateTime
from ..extensions import Model

SOURCE_REPORT_FORM = "report_form"  # the customer, on the report itself
SOURCE_DISCOVERY_LINK = "discovery_link"  # the customer, later, through the signed link
SOURCE_STAFF_CALL = "staff_call"  # staff writing down what the customer said
SOURCE_STAFF_OVERRIDE = "staff_override"  # staff overriding the customer's statements, with a reason
# The customer, through a correction request that staff granted (incident_service/data_requests).
SOURCE_CORRECTION = "correction"
CUSTOMER_SOURCES = (SOURCE_REPORT_FORM, SOURCE_DISCOVERY_LINK, SOURCE_STAFF_CALL, SOURCE_CORRECTION)


class DiscoveryStatement(Model):
    __tablename__ = "discovery_statements"

    id: Mapped[int] = mapped_column(primary_key=True)
    # A statement belongs to an incident; one given with an unmatched report only to that report.
    incident_id: Mapped[int | None] = mapped_column(ForeignKey("incidents.id"), index=True)
    report_id: Mapped[int | None] = mapped_column(ForeignKey("reports.id"), index=True)
    discovered_at: Mapped[datetime] = mapped_column(UTCDateTime)
    source: Mapped[str] = mapped_column(String(20))
    is_override: Mapped[bool] = mapped_column(Boolean, default=False)
    reason: Mapped[str | None] = mapped_column(Text, default=None)
    # Server time the statement was recorded: a statement is a claim, this is when we got it.
    stated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    actor: Mapped[str] = mapped_column(String(320))


class PolicyVersion(Model):
    """The late threshold and when it took effect. Incidents keep the version in force at their first report."""

    __tablename__ = "policy_versions"

    id: Mapped[int] = mapped_column(primary_key=True)
    threshold_hours: Mapped[int] = mapped_column(Integer)
    effective_from: Mapped[datetime] = mapped_column(UTCDateTime, unique=True)
    note: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_by: Mapped[str] = mapped_column(String(320))


DECISION_ASSERTED = "exemption_asserted"
DECISION_WAIVED = "exemption_waived"
DECISION_NEEDS_INFORMATION = "needs_information"
DECISIONS = (DECISION_ASSERTED, DECISION_WAIVED, DECISION_NEEDS_INFORMATION)


class ReviewDecision(Model):
    """Legal's decision on a late incident. Appended, never overwritten: the latest one stands."""

    __tablename__ = "review_decisions"

    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id"), index=True)
    decision: Mapped[str] = mapped_column(String(24))
    rationale: Mapped[str] = mapped_column(Text)
    decided_by: Mapped[str] = mapped_column(String(320))
    decided_at: Mapped[datetime] = mapped_column(UTCDateTime)
    customer_asked: Mapped[bool] = mapped_column(Boolean, default=False)
