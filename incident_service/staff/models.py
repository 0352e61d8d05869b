"""The staff user: role, argon2id password, TOTP secret, and a stamp that every console session is bound to."""

from __future__ import annotations

import secrets
from datetime import datetime

from sqlalchemy import Boolean, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from ..database import UTCDateTime
from ..extensions import Model

ROLE_SUPPORT = "support"
ROLE_LEGAL = "legal"
ROLE_ADMIN = "admin"
ROLES = (ROLE_SUPPORT, ROLE_LEGAL, ROLE_ADMIN)


def new_stamp() -> str:
    return secrets.token_hex(16)


class StaffUser(Model):
    __tablename__ = "staff_users"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    role: Mapped[str] = mapped_column(String(10))
    password_hash: Mapped[str] = mapped_column(String(255))
    # Base32 TOTP secret; None until enrolled at first sign-in (or after an admin reset it).
    totp_secret: Mapped[str | None] = mapped_column(String(64), default=None)
    totp_enrolled_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    # The last accepted TOTP time step: a code is never accepted twice.
    totp_last_step: Mapped[int | None] = mapped_column(Integer, default=None)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    # Rotating it ends every console session of this user (deactivation, TOTP reset).
    security_stamp: Mapped[str] = mapped_column(String(64), default=new_stamp)
    locale: Mapped[str | None] = mapped_column(String(5), default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)

    @property
    def label(self) -> str:
        """How the user appears in audit events and notes: their address."""
        return self.email
