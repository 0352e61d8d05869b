"""Pending changes of the address on record, and the addresses a customer had before."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..customers.models import Customer
from ..database import UTCDateTime
from ..extensions import Model

STATE_PENDING = "pending"  # waiting for one or both confirmations
STATE_DONE = "done"  # both confirmed: the address on record changed
STATE_CANCELLED = "cancelled"  # "this was not me", from one of the emails
STATE_REPLACED = "replaced"  # a newer request took its place
STATE_VOID = "void"  # could not be done any more (an incident opened, the address was taken meanwhile)
STATES = (STATE_PENDING, STATE_DONE, STATE_CANCELLED, STATE_REPLACED, STATE_VOID)

SIDE_OLD = "old"
SIDE_NEW = "new"


class EmailChange(Model):
    """One request to change the address on record. Each of the two emails carries a link holding a
    random nonce; only the nonces' SHA-256 are kept. The change is made when both are confirmed."""

    __tablename__ = "email_changes"
    __table_args__ = (
        # At most one pending change per customer: a new request replaces the old one, and two requests
        # at once cannot both stay pending (a unique index decides, not a check).
        Index(
            "uq_email_changes_pending_customer",
            "customer_id",
            unique=True,
            sqlite_where=text("state = 'pending'"),
            postgresql_where=text("state = 'pending'"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    # Both normalised (customers.addresses.normalize_address).
    old_address: Mapped[str] = mapped_column(String(320))
    new_address: Mapped[str] = mapped_column(String(320))
    old_nonce_hash: Mapped[str] = mapped_column(String(64), unique=True)
    new_nonce_hash: Mapped[str] = mapped_column(String(64), unique=True)
    # The new address was another customer's: its owner was told so instead of getting a link, and the
    # change can never be made. The requester is not told (no enumeration).
    new_address_taken: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    confirmed_old_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    confirmed_new_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    state: Mapped[str] = mapped_column(String(16), default=STATE_PENDING)
    # When it stopped being pending (done, cancelled, replaced or void).
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)

    customer: Mapped[Customer] = relationship()

    def confirmed_at(self, side: str) -> datetime | None:
        return self.confirmed_old_at if side == SIDE_OLD else self.confirmed_new_at


class PreviousAddress(Model):
    """An address that was a customer's address on record until `replaced_at`. For PREVIOUS_ADDRESS_DAYS
    after that, a report from it (email, or typed on the report form) is this customer's."""

    __tablename__ = "previous_addresses"

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    address: Mapped[str] = mapped_column(String(320), index=True)
    # When it became the address on record, as far as the service knows (the customer's creation or the
    # change that brought it), and when the change away from it was made.
    recorded_since: Mapped[datetime] = mapped_column(UTCDateTime)
    replaced_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    email_change_id: Mapped[int | None] = mapped_column(ForeignKey("email_changes.id"), default=None)
