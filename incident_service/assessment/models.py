"""Discovery statements: when someone says the customer noticed or suspected the loss."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from ..database import UTCDateTime
from ..extensions import db

SOURCE_REPORT_FORM = "report_form"  # the customer, on the report itself
SOURCE_DISCOVERY_LINK = "discovery_link"  # the customer, later, through the signed link
SOURCE_STAFF_CALL = "staff_call"  # staff writing down what the customer said
SOURCE_STAFF_OVERRIDE = "staff_override"  # staff overriding the customer's statements, with a reason
CUSTOMER_SOURCES = (SOURCE_REPORT_FORM, SOURCE_DISCOVERY_LINK, SOURCE_STAFF_CALL)


class DiscoveryStatement(db.Model):
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
