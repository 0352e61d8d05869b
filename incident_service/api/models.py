"""API keys: what another system presents as `Authorization: Bearer <key>`; only the key's hash is kept."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String, Text
from sqlalchemy.orm import Mapped, mapped_column

from ..database import UTCDateTime
from ..extensions import Model

# DESIGN "JSON API": what a key may do. One scope per kind of access, so a system gets only what it needs.
SCOPE_REPORTS_WRITE = "reports:write"
SCOPE_REPORTS_READ = "reports:read"
SCOPE_INCIDENTS_READ = "incidents:read"
SCOPE_CUSTOMERS_WRITE = "customers:write"
SCOPE_LINKS_WRITE = "links:write"
SCOPE_EVENTS_READ = "events:read"
SCOPES = (
    SCOPE_REPORTS_WRITE,
    SCOPE_REPORTS_READ,
    SCOPE_INCIDENTS_READ,
    SCOPE_CUSTOMERS_WRITE,
    SCOPE_LINKS_WRITE,
    SCOPE_EVENTS_READ,
)


class ApiKey(Model):
    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(primary_key=True)
    # How people and the audit log name the key (actor `api:<name>`); unique, kept after revocation.
    name: Mapped[str] = mapped_column(String(64), unique=True)
    # The key's first characters (`isk_` and a few more): not a secret, enough to tell keys apart.
    prefix: Mapped[str] = mapped_column(String(16))
    # SHA-256 of the whole key, hex. The key is 256 random bits, so a fast hash is right: nobody can
    # guess through 2**256 values, and a slow hash would only make every API call slower.
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    # Space-separated scopes, each one of SCOPES.
    scopes: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_by: Mapped[str] = mapped_column(String(320))
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    revoked_by: Mapped[str | None] = mapped_column(String(320), default=None)
    # What the system holding the key uses customers' data for, and the legal basis (one of
    # disclosures.models.LEGAL_BASES): copied into the disclosure register at each read. Optional.
    purpose: Mapped[str | None] = mapped_column(Text, default=None)
    legal_basis: Mapped[str | None] = mapped_column(String(20), default=None)

    @property
    def scope_list(self) -> list[str]:
        return self.scopes.split()

    @property
    def actor(self) -> str:
        """Who the audit log says acted when this key was used."""
        return f"api:{self.name}"

    def usable_at(self, now: datetime) -> bool:
        return self.revoked_at is None and (self.expires_at is None or now < self.expires_at)
