"""Mass reactivation after a breach: every customer on a leaked list gets the same reactivation as a
report, on channel `breach_list`, idempotently (a list run twice changes nothing the second time)."""

from __future__ import annotations

import csv
import gc
import hashlib
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Callable, Iterator

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from ..customers.addresses import InvalidAddress, normalize_address
from ..extensions import db
from .bulk import open_incidents, openings_for, with_open_incident
from .models import Report, report_year
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
    return (
        reason.strip()
        if reason and reason.strip()
        else f"breach list sha256:{hashlib.sha256(text.encode()).hexdigest()}"
    )


@dataclass
class MassOutcome:
    reactivated: list[str] = field(default_factory=list)
    already_open: list[str] = field(default_factory=list)
    already_done: list[str] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)


def _already_reported(customer_ids: list[int], key: str) -> set[int]:
    db.session.flush()
    connection = db.session.connection()  # Core, as bulk.openings_for
    found: set[int] = set()
    for start in range(0, len(customer_ids), 500):
        found.update(
            customer_id
            for customer_id in connection.execute(
                select(Report.customer_id).where(
                    Report.customer_id.in_(customer_ids[start : start + 500]),
                    Report.channel == "breach_list",
                    Report.details == key,
                )
            ).scalars()
            if customer_id is not None
        )
    return found


def mass_reactivate(
    entries: list[tuple[int, str]],
    *,
    key: str,
    dry_run: bool,
    actor: str,
    now: datetime,
    batch_size: int = 5000,
    progress: Callable[[int], None] | None = None,
) -> MassOutcome:
    """Reactivate every known, not yet handled address on channel breach_list, a batch at a time.

    Customers without an open incident are opened together by `open_incidents`, the set-based twin
    of receive_report; one with an open incident has the breach report joined to it by receive_report
    (as evidence, and so a second run knows this customer was handled); one already reported under
    `key` is skipped, so running the same list again changes nothing. With `dry_run`, nothing is
    written. Each batch commits, so a long run keeps what it did if interrupted, and the database's
    write lock is never held for long.
    """
    outcome = MassOutcome()
    year = report_year(now)
    for start in range(0, len(entries), batch_size):
        batch = entries[start : start + batch_size]
        with _large_page_cache(), _collector_paused():
            _one_batch(batch, outcome, key=key, dry_run=dry_run, actor=actor, now=now, year=year)
        if not dry_run:
            db.session.commit()
        if progress is not None:
            progress(len(batch))
    return outcome


@contextmanager
def _large_page_cache() -> Iterator[None]:
    """SQLite keeps 2 MB of pages per connection by default; a batch of thousands of customers' rows
    and their indexes goes about 8 % faster with 64 MB. Set and given back inside the transaction, on
    the connection that runs it (a pool may hand the next batch another one)."""
    connection = db.session.connection()
    if connection.dialect.name != "sqlite":
        yield
        return
    before = int(connection.exec_driver_sql("PRAGMA cache_size").scalar_one())
    connection.exec_driver_sql("PRAGMA cache_size = -65536")
    try:
        yield
    finally:
        connection.exec_driver_sql(f"PRAGMA cache_size = {before}")


@contextmanager
def _collector_paused() -> Iterator[None]:
    """No cyclic garbage collection while a batch is built and written. A batch makes hundreds of
    thousands of rows, tuples and strings that all live until it is written, and each few hundred new
    ones start a collection that walks them again (and now and then everything the process holds): a
    fifth of a hundred thousand customers' time (issue 17). Reference counting still frees what is
    dropped; what a batch leaves in cycles is collected when the collector resumes after it."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _one_batch(
    batch: list[tuple[int, str]], outcome: MassOutcome, *, key: str, dry_run: bool, actor: str, now: datetime, year: int
) -> None:
    """Sort one batch of the list and, unless a dry run, open and join; the caller commits."""
    addresses = [address for _number, address in batch]
    customers = openings_for(addresses, lock=not dry_run)
    ids = [who.customer_id for who in customers.values()]
    done, already_open = _already_reported(ids, key), with_open_incident(ids)
    openings, joins = [], []
    for address in addresses:
        who = customers.get(address)
        if who is None:
            outcome.unknown.append(address)
        elif who.customer_id in done:
            outcome.already_done.append(address)
        elif who.customer_id in already_open:
            outcome.already_open.append(address)
            joins.append(who)
        else:
            outcome.reactivated.append(address)
            openings.append(who)
    if not dry_run:
        try:
            with db.session.begin_nested():
                open_incidents(
                    openings, channel="breach_list", kind="leaked", details=key, actor=actor, now=now, year=year
                )
        except IntegrityError:
            # A report opened an incident for one of them meanwhile (R2): take this batch one by one.
            joins = openings + joins
        for who in joins:
            receive_report(
                ReportSubmission(
                    channel="breach_list", address=who.email, kind="leaked", details=key, entered_by=actor
                ),
                now=now,
                actor=actor,
            )
