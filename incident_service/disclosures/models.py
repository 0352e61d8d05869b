"""The disclosure register: one row per handing-out of personal data, one subject row per customer it concerned."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..database import UTCDateTime
from ..extensions import Model

# What was handed out (pages say it in words: disclosures.labels).
KIND_EVIDENCE_PACK = "evidence_pack"  # an incident's evidence pack archive, exported from the console
KIND_INCIDENTS_CSV = "incidents_csv"  # the delay report's incident rows (customer addresses), as CSV
KIND_API_READ = "api_read"  # another system read incidents or audit events through the API
KIND_WEBHOOK = "webhook"  # webhook events (references, times) queued for a subscription
KINDS = (KIND_EVIDENCE_PACK, KIND_INCIDENTS_CSV, KIND_API_READ, KIND_WEBHOOK)

# The legal basis, one of the categories of the privacy policy (POLICY.md, "We protect your personal
# information"), plus the customer's own consent, which the policy names as the general exception.
BASIS_STATE_AUTHORITY = "state_authority"  # required by a state agency or law enforcement
BASIS_AUDITORS_LAWYERS = "auditors_lawyers"  # ECC's internal or external auditors or lawyers
BASIS_SERVICE_PROVIDER = "service_provider"  # a contracted service provider bound to ECC's standards
BASIS_CUSTOMER_CONSENT = "customer_consent"  # the customer agreed
LEGAL_BASES = (BASIS_STATE_AUTHORITY, BASIS_AUDITORS_LAWYERS, BASIS_SERVICE_PROVIDER, BASIS_CUSTOMER_CONSENT)


class Disclosure(Model):
    """One handing-out: to whom, why, on what basis, what, when and by whom. Appended, never changed."""

    __tablename__ = "disclosures"

    id: Mapped[int] = mapped_column(primary_key=True)
    disclosed_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    # Who handed it out: a staff label, `api:<key name>` (the system itself reading), or `system` (webhooks).
    actor: Mapped[str] = mapped_column(String(320))
    kind: Mapped[str] = mapped_column(String(20), index=True)
    # Which one: the pack's incident and SHA-256, the export's filters, the API operation, the webhook events.
    reference: Mapped[str] = mapped_column(Text)
    recipient: Mapped[str] = mapped_column(String(320), index=True)
    purpose: Mapped[str] = mapped_column(Text, default="")
    # One of LEGAL_BASES, or None when nobody stated it (an API key or webhook made without one).
    legal_basis: Mapped[str | None] = mapped_column(String(20), default=None)
    # How many customers it concerned (the subject rows), so the register's list needs no count query.
    customer_count: Mapped[int] = mapped_column(Integer, default=0)
    api_key_id: Mapped[int | None] = mapped_column(ForeignKey("api_keys.id"), default=None, index=True)
    webhook_subscription_id: Mapped[int | None] = mapped_column(
        ForeignKey("webhook_subscriptions.id", ondelete="SET NULL"), default=None, index=True
    )

    subjects: Mapped[list[DisclosureSubject]] = relationship(order_by="DisclosureSubject.id", viewonly=True)


class DisclosureSubject(Model):
    """One customer whose data a disclosure carried (and the incident it was about, when it was one)."""

    __tablename__ = "disclosure_subjects"

    id: Mapped[int] = mapped_column(primary_key=True)
    disclosure_id: Mapped[int] = mapped_column(ForeignKey("disclosures.id"), index=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    incident_id: Mapped[int | None] = mapped_column(ForeignKey("incidents.id"), default=None)
