"""Recording disclosures (in the transaction of the handing-out, two inserts at most) and reading the register.

Each recording point calls one function here: the evidence pack export, the delay report's incident CSV,
the API's reads of incidents and audit events, and webhook queueing. A disclosure that concerned no
customer (an API page with no incidents, an event of an unmatched report) is not recorded: there is no
customer whose data left.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from typing import Iterable
from urllib.parse import urlsplit

from sqlalchemy import Select, func, or_, select

from ..customers.models import Customer
from ..database import insert_rows, table_of, within
from ..domain_errors import DomainError
from ..extensions import db
from ..incidents.models import Incident, Report
from ..webhooks.models import WebhookSubscription
from .models import KIND_WEBHOOK, LEGAL_BASES, Disclosure, DisclosureSubject

# The recipient an evidence pack or export is for unless legal says otherwise (POLICY.md: the company's
# lawyers). Stored as this fixed text; pages show it in the reader's language (labels.recipient_label).
DEFAULT_PACK_RECIPIENT = "company lawyers"
RECIPIENT_MAX = 320
PURPOSE_MAX = 500


class DisclosureError(DomainError):
    """A disclosure that cannot be recorded as stated (no recipient, an unknown legal basis)."""


Subject = tuple[int, int | None]  # (customer id, incident id or None)


def check_statement(recipient: str, purpose: str, legal_basis: str | None) -> tuple[str, str, str | None]:
    """The recipient, purpose and basis as they will be stored, or DisclosureError saying what is wrong."""
    recipient, purpose = " ".join(recipient.split()), purpose.strip()
    if not recipient:
        raise DisclosureError("a disclosure needs a recipient")
    if len(recipient) > RECIPIENT_MAX or len(purpose) > PURPOSE_MAX:
        raise DisclosureError("recipient or purpose too long")
    if legal_basis is not None and legal_basis not in LEGAL_BASES:
        raise DisclosureError(f"unknown legal basis {legal_basis!r}")
    return recipient, purpose, legal_basis


def record_disclosure(
    *,
    kind: str,
    reference: str,
    recipient: str,
    purpose: str,
    legal_basis: str | None,
    subjects: Iterable[Subject],
    actor: str,
    now: datetime,
    api_key_id: int | None = None,
    webhook_subscription_id: int | None = None,
) -> Disclosure | None:
    """Append one disclosure and its subject rows (one row per distinct customer and incident), flushed in
    the caller's transaction; None, and nothing written, when it concerned no customer. Raises
    DisclosureError for a missing recipient or an unknown basis."""
    recipient, purpose, legal_basis = check_statement(recipient, purpose, legal_basis)
    distinct = sorted(set(subjects), key=lambda s: (s[0], s[1] or 0))
    if not distinct:
        return None
    disclosure = Disclosure(
        disclosed_at=now,
        actor=actor,
        kind=kind,
        reference=reference,
        recipient=recipient,
        purpose=purpose,
        legal_basis=legal_basis,
        customer_count=len({customer_id for customer_id, _incident in distinct}),
        api_key_id=api_key_id,
        webhook_subscription_id=webhook_subscription_id,
    )
    db.session.add(disclosure)
    db.session.flush()
    insert_rows(
        db.session.connection(),
        table_of(DisclosureSubject),
        [
            {"disclosure_id": disclosure.id, "customer_id": customer_id, "incident_id": incident_id}
            for customer_id, incident_id in distinct
        ],
    )
    return disclosure


# --- reading ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RegisterFilter:
    """The register page's filters: a customer (address or incident/report reference), recipient, days."""

    customer: str = ""
    recipient: str = ""
    start: datetime | None = None
    end: datetime | None = None


PAGE_SIZE = 100


def register_query(f: RegisterFilter) -> Select[Disclosure]:
    query = select(Disclosure)
    needle = f.customer.strip().lower()
    if needle:
        # An address (as stored, normalised and lower-case) or an incident's or report's reference.
        matching_customers = select(Customer.id).where(Customer.email == needle)
        matching_incidents = select(Incident.id).where(
            or_(
                func.lower(Incident.reference) == needle,
                func.lower(Incident.customer_reference) == needle,
                Incident.id.in_(select(Report.incident_id).where(func.lower(Report.reference) == needle)),
            )
        )
        query = query.where(
            Disclosure.id.in_(
                select(DisclosureSubject.disclosure_id).where(
                    or_(
                        DisclosureSubject.customer_id.in_(matching_customers),
                        DisclosureSubject.incident_id.in_(matching_incidents),
                    )
                )
            )
        )
    if f.recipient.strip():
        query = query.where(func.lower(Disclosure.recipient).contains(f.recipient.strip().lower(), autoescape=True))
    return within(query, Disclosure.disclosed_at, f.start, f.end)


# A disclosure about a few customers names their incidents on the register's page; a bigger one gives the count.
NAMED_SUBJECTS = 3


@dataclass(frozen=True)
class NamedSubject:
    customer_email: str
    incident_id: int | None
    incident_reference: str | None


def register_page(
    f: RegisterFilter, *, before: int | None = None
) -> tuple[list[Disclosure], bool, dict[int, list[NamedSubject]]]:
    """Up to PAGE_SIZE disclosures matching `f`, newest first (ids below `before`), whether more follow, and
    for each that concerned at most NAMED_SUBJECTS customers, whom (one query for the page)."""
    query = register_query(f)
    if before is not None:
        query = query.where(Disclosure.id < before)
    rows = list(db.session.execute(query.order_by(Disclosure.id.desc()).limit(PAGE_SIZE + 1)).scalars())
    page = rows[:PAGE_SIZE]
    few = [d.id for d in page if d.customer_count <= NAMED_SUBJECTS]
    named: dict[int, list[NamedSubject]] = {}
    if few:
        for disclosure_id, email, incident_id, reference in db.session.execute(
            select(DisclosureSubject.disclosure_id, Customer.email, Incident.id, Incident.reference)
            .join(Customer, Customer.id == DisclosureSubject.customer_id)
            .outerjoin(Incident, Incident.id == DisclosureSubject.incident_id)
            .where(DisclosureSubject.disclosure_id.in_(few))
            .order_by(DisclosureSubject.id)
        ):
            named.setdefault(disclosure_id, []).append(NamedSubject(email, incident_id, reference))
    return page, len(rows) > PAGE_SIZE, named


@dataclass(frozen=True)
class CustomerDisclosure:
    """One disclosure as its customer sees it: never the other customers it concerned."""

    disclosure: Disclosure
    incident_reference: str | None


def disclosures_of(customer_id: int) -> list[CustomerDisclosure]:
    """Every disclosure that carried this customer's data, newest first, with their own incident's reference."""
    rows = db.session.execute(
        select(Disclosure, Incident.customer_reference)
        .join(DisclosureSubject, DisclosureSubject.disclosure_id == Disclosure.id)
        .outerjoin(Incident, Incident.id == DisclosureSubject.incident_id)
        .where(DisclosureSubject.customer_id == customer_id)
        .order_by(Disclosure.id.desc(), DisclosureSubject.id)
    )
    return [CustomerDisclosure(disclosure, reference) for disclosure, reference in rows]


def webhook_recipient(subscription_id: int, url: str) -> str:
    """How the register names a webhook subscription: its number and the host it posts to (never the
    URL's path or query, which may carry the receiver's own secret)."""
    return f"webhook {subscription_id} ({urlsplit(url).hostname or '?'})"


def record_webhook_disclosures(queued: dict[int, list[tuple[str, Subject]]], *, now: datetime) -> None:
    """For each subscription, the events queued for it in this transaction (event type, subject) as one
    disclosure: a reactivation of thousands makes one disclosure and one multi-row insert per subscription."""
    wanted = {sid: items for sid, items in queued.items() if items}
    if not wanted:
        return
    urls: dict[int, str] = {
        subscription_id: url
        for subscription_id, url in db.session.execute(
            select(WebhookSubscription.id, WebhookSubscription.url).where(WebhookSubscription.id.in_(wanted))
        )
    }
    for subscription_id, items in wanted.items():
        counts = Counter(event_type for event_type, _subject in items)
        record_disclosure(
            kind=KIND_WEBHOOK,
            reference=", ".join(f"{event_type} ×{count}" for event_type, count in sorted(counts.items())),
            recipient=webhook_recipient(subscription_id, urls.get(subscription_id, "")),
            purpose="",
            legal_basis=None,
            subjects=[subject for _t, subject in items],
            actor="system",
            now=now,
            webhook_subscription_id=subscription_id,
        )
