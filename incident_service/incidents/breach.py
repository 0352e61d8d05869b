"""Mass reactivation after a breach: every customer on a leaked list gets the same reactivation as a
report, on channel `breach_list`, idempotently (a list run twice changes nothing the second time)."""

from __future__ import annotations

import csv
import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from typing import Callable

from sqlalchemy import select

from ..customers.addresses import InvalidAddress, normalize_address
from ..customers.models import Customer
from ..extensions import db
from .models import STATUS_REACTIVATED, Incident, Report
from .service import ReportSubmission, receive_report


@dataclass
class BreachList:
    entries: list[tuple[int, str]] = field(default_factory=list)  # (line number, normalised address)
    invalid: list[tuple[int, str]] = field(default_factory=list)  # (line number, the text)


def read_breach_list(text: str) -> BreachList:
    """One address per line, or a CSV whose header has an `email` column. Blank lines and lines
    starting with # are skipped; repeated addresses count once."""
    lines = text.splitlines()
    result = BreachList()
    seen: set[str] = set()
    first = next((line for line in lines if line.strip() and not line.lstrip().startswith("#")), "")
    header = [cell.strip().lower() for cell in next(csv.reader([first]))] if first else []
    column = header.index("email") if "email" in header and ("," in first or ";" in first) else None
    for number, line in enumerate(lines, start=1):
        if not line.strip() or line.lstrip().startswith("#") or (column is not None and line == first):
            continue
        if column is not None:
            cells = next(csv.reader([line]))
            value = cells[column].strip() if column < len(cells) else ""
        else:
            value = line.strip()
        try:
            address = normalize_address(value)
        except InvalidAddress:
            result.invalid.append((number, line.strip()[:200]))
            continue
        if address not in seen:
            seen.add(address)
            result.entries.append((number, address))
    return result


def batch_key(text: str, reason: str | None) -> str:
    """What ties the reports of one list together: the reason given, or the list's own SHA-256."""
    return reason.strip() if reason and reason.strip() else f"breach list sha256:{hashlib.sha256(text.encode()).hexdigest()}"


@dataclass
class MassOutcome:
    reactivated: list[str] = field(default_factory=list)
    already_open: list[str] = field(default_factory=list)
    already_done: list[str] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)


def mass_reactivate(entries: list[tuple[int, str]], *, key: str, dry_run: bool, actor: str, now: datetime,
                    commit_every: int = 200, progress: Callable[[int], None] | None = None) -> MassOutcome:
    """Reactivate every known, not yet handled address through receive_report (channel breach_list).

    A customer with an open incident has the breach report joined to it; one already reported under
    `key` is skipped, so running the same list again changes nothing. With `dry_run`, nothing is written.
    Commits every `commit_every` customers, so a long run keeps what it did if interrupted.
    """
    outcome = MassOutcome()
    for done, (_number, address) in enumerate(entries, start=1):
        customer = db.session.execute(select(Customer).where(Customer.email == address)).scalar_one_or_none()
        if customer is None:
            outcome.unknown.append(address)
        elif db.session.execute(select(Report.id).where(Report.customer_id == customer.id,
                                                        Report.channel == "breach_list",
                                                        Report.details == key).limit(1)).scalar() is not None:
            outcome.already_done.append(address)
        else:
            is_open = db.session.execute(select(Incident.id).where(
                Incident.customer_id == customer.id, Incident.status == STATUS_REACTIVATED)).scalar() is not None
            (outcome.already_open if is_open else outcome.reactivated).append(address)
            if not dry_run:
                # An open incident gets the breach report too (as evidence, and so a second run
                # knows this customer was handled); receive_report joins it without a new lock.
                receive_report(ReportSubmission(channel="breach_list", address=customer.email, kind="leaked",
                                                details=key, entered_by=actor), now=now, actor=actor)
        if not dry_run and done % commit_every == 0:
            db.session.commit()
        if progress is not None:
            progress(1)
    if not dry_run:
        db.session.commit()
    return outcome
