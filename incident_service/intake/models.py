"""Inbound messages: the raw bytes of every email that reached the report address, and what we read in them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from ..database import UTCDateTime
from ..extensions import Model

STATUS_REPORTED = "reported"  # became a report (matched or unmatched)
STATUS_QUARANTINED = "quarantined"  # over a limit or unreadable: kept for staff, no report
STATUS_DUPLICATE = "duplicate"  # same Message-ID as a message already received: kept, no second report
STATUS_NOT_A_REPORT = "not_a_report"  # auto-reply, bounce or list mail: kept, never answered
STATUS_DISMISSED = "dismissed"  # a quarantined message staff looked at and set aside, with a reason

VIA_SMTP = "smtp"
VIA_LMTP = "lmtp"
VIA_IMPORT = "import"

RECEIVED_SERVER_CLOCK = "server_clock"  # our listener's clock, when it stored the bytes
RECEIVED_COMPANY_MTA = "company_mta"  # the Received header added by the company's own MTA
RECEIVED_IMPORT_TIME = "import_time"  # imported with no such header: the time of import


class InboundMessage(Model):
    __tablename__ = "inbound_messages"

    id: Mapped[int] = mapped_column(primary_key=True)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    received_at_source: Mapped[str] = mapped_column(String(20))
    # When this service stored the bytes (for SMTP the same as received_at).
    stored_at: Mapped[datetime] = mapped_column(UTCDateTime)
    via: Mapped[str] = mapped_column(String(10))
    import_source: Mapped[str | None] = mapped_column(Text)

    # M2: the bytes exactly as they arrived, stored before anything reads them.
    raw: Mapped[bytes] = mapped_column(LargeBinary)
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64), unique=True)

    # The SMTP envelope and connection.
    mail_from: Mapped[str | None] = mapped_column(Text)
    rcpt_tos: Mapped[list[str]] = mapped_column(JSON, default=list)
    peer: Mapped[str | None] = mapped_column(String(100))
    helo: Mapped[str | None] = mapped_column(String(255))

    status: Mapped[str] = mapped_column(String(20), index=True)
    quarantine_reason: Mapped[str | None] = mapped_column(String(40))
    quarantine_detail: Mapped[str | None] = mapped_column(Text)
    not_a_report_reason: Mapped[str | None] = mapped_column(String(40))
    duplicate_of_id: Mapped[int | None] = mapped_column(ForeignKey("inbound_messages.id"))
    dismiss_reason: Mapped[str | None] = mapped_column(Text)
    handled_by: Mapped[str | None] = mapped_column(String(320))

    # What was read from the bytes. The address matched on is the parsed addr-spec only (M3).
    from_address: Mapped[str | None] = mapped_column(String(320), index=True)
    from_display_name: Mapped[str | None] = mapped_column(Text)
    from_header: Mapped[str | None] = mapped_column(Text)
    reply_to: Mapped[str | None] = mapped_column(Text)
    sender_header: Mapped[str | None] = mapped_column(Text)
    date_header: Mapped[str | None] = mapped_column(Text)
    date_claimed: Mapped[datetime | None] = mapped_column(UTCDateTime)  # the sender's claim, not evidence
    message_id_header: Mapped[str | None] = mapped_column(String(998), index=True)
    subject: Mapped[str | None] = mapped_column(Text)
    received_headers: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    # M4: only Authentication-Results carrying our own authserv-id; the rest are only counted.
    authentication_results: Mapped[list[str]] = mapped_column(JSON, default=list)
    untrusted_authentication_results: Mapped[int] = mapped_column(Integer, default=0)
    text_body: Mapped[str | None] = mapped_column(Text)
    has_html: Mapped[bool | None] = mapped_column(default=None)
    attachments: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    defects: Mapped[list[str]] = mapped_column(JSON, default=list)
