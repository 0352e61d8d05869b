"""Legal holds on incidents, and the tombstones that say what retention or an erasure removed."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from ..database import UTCDateTime
from ..extensions import Model

# The rules, each with its setting (settings.py, RETENTION_*_DAYS), and an erasure asked for by the customer.
RULE_RAW_EMAIL = "raw_email"  # the bytes of an email, its headers, attachments' names
RULE_FREE_TEXT = "free_text"  # what a person wrote: a report's details, an email's subject and text
RULE_IP_ADDRESS = "ip_address"  # client and SMTP peer addresses, in reports, emails and the audit log
RULE_CLOSED_INCIDENT = "closed_incident"  # everything personal of an incident closed that long ago
RULE_ERASURE = "erasure"  # a granted erasure request (data_requests)
RULES = (RULE_RAW_EMAIL, RULE_FREE_TEXT, RULE_IP_ADDRESS, RULE_CLOSED_INCIDENT, RULE_ERASURE)

# What a tombstone stands in for.
SUBJECT_INBOUND_MESSAGE = "inbound_message"
SUBJECT_REPORT = "report"
SUBJECT_DISCOVERY_STATEMENT = "discovery_statement"
SUBJECT_CUSTOMER = "customer"


class LegalHold(Model):
    """Legal's hold on an incident: while it stands (not released), no rule and no erasure removes
    anything of the incident. Placing and releasing are audited; a hold is never deleted."""

    __tablename__ = "legal_holds"

    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id"), index=True)
    reason: Mapped[str] = mapped_column(Text)
    placed_by: Mapped[str] = mapped_column(String(320))
    placed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    released_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    released_by: Mapped[str | None] = mapped_column(String(320), default=None)
    release_reason: Mapped[str | None] = mapped_column(Text, default=None)

    @property
    def active(self) -> bool:
        return self.released_at is None


class Tombstone(Model):
    """What was removed from one row (`subject`, `subject_id`): which fields, when, under which rule. The
    row stays, with its time, reference and hashes; the fields are emptied."""

    __tablename__ = "tombstones"
    __table_args__ = (Index("ix_tombstones_subject", "subject", "subject_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    subject: Mapped[str] = mapped_column(String(40))
    subject_id: Mapped[int] = mapped_column(Integer)
    fields: Mapped[list[str]] = mapped_column(JSON, default=list)
    rule: Mapped[str] = mapped_column(String(40))
    purged_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # Whose and which incident's data it was, for the pages that show it (no foreign keys: plain facts).
    customer_id: Mapped[int | None] = mapped_column(Integer, index=True)
    incident_id: Mapped[int | None] = mapped_column(Integer, index=True)

    def describe(self) -> dict[str, Any]:
        return {
            "fields": list(self.fields),
            "rule": self.rule,
            "purged_at": self.purged_at.isoformat(timespec="microseconds"),
        }
