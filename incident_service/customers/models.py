"""The customer account: address on record, locale, argon2id hash, credential state, security stamp."""

from __future__ import annotations

import secrets
from datetime import datetime

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from ..database import UTCDateTime, utcnow
from ..extensions import Model

CREDENTIAL_ACTIVE = "active"
CREDENTIAL_LOCKED = "locked"


def new_security_stamp() -> str:
    return secrets.token_hex(16)


class Customer(Model):
    __tablename__ = "customers"

    id: Mapped[int] = mapped_column(primary_key=True)
    # Stored normalised (see customers.addresses.normalize_address), so uniqueness is case-insensitive.
    email: Mapped[str] = mapped_column(String(320), unique=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    locale: Mapped[str] = mapped_column(String(5), default="vi")
    # None: show times in DISPLAY_TIMEZONE.
    time_zone: Mapped[str | None] = mapped_column(String(64), default=None)
    # None until the customer sets a password (e.g. imported without one).
    password_hash: Mapped[str | None] = mapped_column(String(255), default=None)
    credential_state: Mapped[str] = mapped_column(String(10), default=CREDENTIAL_ACTIVE)
    # Every session and reset link is bound to this; rotating it ends all of them at once (S1).
    security_stamp: Mapped[str] = mapped_column(String(64), default=new_security_stamp)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    password_changed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)

    @property
    def is_locked(self) -> bool:
        return self.credential_state == CREDENTIAL_LOCKED

    def __repr__(self) -> str:
        return f"<Customer {self.id}>"
