"""Storing an import's batch of read messages set-based: the importer's twin of `ingest_read`.

Most of an import's messages take one of a few well-worn paths: mail that cannot be read, a Message-ID
seen before, an auto-reply, a report from an address nobody has, a customer's first report (which opens
their incident, as a mass reactivation opens many: incidents.bulk.write_openings), or their further
reports joining it with their password locked already and a link sent within the resend window. A run of
such messages is written with a multi-row insert per table and one append of all their audit events, in
the messages' order (tests/intake/test_import_bulk.py compares every row and event with storing the same
mail one message at a time). A message that decides something else (reassesses an incident, sends a
link to an open one, locks a password again, comes from a customer's previous address, or is bytes stored
already) goes through
`ingest_read`, in its place, and the batch goes on after it.

The caller holds the write transaction and commits it; nothing here commits.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from sqlalchemy import Column, Connection, Select, bindparam, func, select
from sqlalchemy.sql.schema import CallableColumnDefault, ScalarElementColumnDefault

from ..audit.actions import Event, Source, tag
from ..audit.service import NewEvent, append_events
from ..customers.addresses import InvalidAddress, normalize_address
from ..database import insert_values, table_of
from ..email_change.service import last_replaced, previous_owner_lately
from ..extensions import db
from ..incidents.bulk import REPORT_COLUMNS, Opening, Reported, draw_ids, forget_session_copies, write_openings
from ..incidents.models import Report, report_year
from ..incidents.standing import Standing, quiet_report, standings
from .models import (
    STATUS_DUPLICATE,
    STATUS_NOT_A_REPORT,
    STATUS_QUARANTINED,
    STATUS_REPORTED,
    VIA_IMPORT,
    InboundMessage,
)
from .service import ReadMessage, ingest_read, message_received_data, message_row, report_submission

INTAKE = "intake"  # the actor of the message's own events, as ingest_read's
CUSTOMER = "customer"  # the actor of an emailed report's events


# A run is looked for among this many messages at a time: what is read for them (each address's customer,
# their incident and last link) is read again after every message that goes through ingest_read.
RUN_WINDOW = 64


def store_read(
    messages: list[tuple[str, ReadMessage]],
    *,
    now: datetime,
    until: float,
    addresses: dict[str, str | None] | None = None,
) -> list[str]:
    """Store `(label, message)` in order, each stamped `now`, until time.monotonic() passes `until` (at least
    one is stored); the statuses of those stored, as ingest_read gives them. Imports only (VIA_IMPORT).
    `addresses`: the From addresses normalised so far, kept by a caller that calls again with the rest."""
    statuses: list[str] = []
    addresses = _addresses(messages, {} if addresses is None else addresses)
    index = 0
    while index < len(messages) and (not statuses or time.monotonic() < until):
        run = _quiet_run(messages[index : index + RUN_WINDOW], addresses, now=now)
        if run.count:
            _write(run, now=now)
            statuses += run.statuses
            index += run.count
        else:
            label, message = messages[index]
            statuses.append(ingest_read(message, now=now, import_source=label).status)
            index += 1
    return statuses


@dataclass(frozen=True)
class _Report:
    """A report one of the run's messages makes: from an address nobody has (no `standing`), opening its
    customer's incident (`opens`), or joining it quietly (the incident the run opens, if `standing`'s
    incident id is 0)."""

    row: int  # the message's index in the run
    given: Reported
    standing: Standing | None
    opens: bool = False


@dataclass
class _Run:
    """The leading messages of a batch that take the well-worn paths, ready to write."""

    messages: list[ReadMessage] = field(default_factory=list)
    rows: list[dict[str, Any]] = field(default_factory=list)  # inbound_messages, ids to be drawn
    reports: list[_Report] = field(default_factory=list)  # in the messages' order
    # Each message's events after `email:message:received`: (kind, data without the message's id).
    kinds: list[str] = field(default_factory=list)
    duplicate_of: dict[int, int | tuple[str, int]] = field(default_factory=dict)  # row index -> id, or ("run", index)

    @property
    def count(self) -> int:
        return len(self.rows)

    @property
    def statuses(self) -> list[str]:
        return [row["status"] for row in self.rows]


def _addresses(messages: list[tuple[str, ReadMessage]], addresses: dict[str, str | None]) -> dict[str, str | None]:
    """`addresses` with each From address claimed in `messages` normalised as receive_report does (None: not
    an address)."""
    for _label, message in messages:
        if message.parsed is not None:
            claimed = message.parsed.from_address or ""
            if claimed not in addresses:
                try:
                    addresses[claimed] = normalize_address(claimed)
                except InvalidAddress:
                    addresses[claimed] = None  # kept as claimed; it matches nobody
    return addresses


def _quiet_run(messages: list[tuple[str, ReadMessage]], addresses: dict[str, str | None], *, now: datetime) -> _Run:
    """The longest run of leading messages that take the well-worn paths, as ingest_read would find them now."""
    assert all(message.via == VIA_IMPORT for _label, message in messages)
    db.session.flush()  # what the last ingest_read left in the session is read below
    connection = db.session.connection()
    digests = [message.digest for _label, message in messages]
    stored = set(_scalars(connection, _STORED_DIGESTS, "digests", digests))
    message_ids = sorted({mid for _l, m in messages if m.parsed is not None and (mid := m.parsed.message_id)})
    first_with: dict[str, int | tuple[str, int]] = {}
    for start in range(0, len(message_ids), 500):
        for message_id, first in connection.execute(_FIRST_WITH_IDS, {"ids": message_ids[start : start + 500]}):
            if message_id is not None:
                first_with[message_id] = first
    known = sorted({addresses[m.parsed.from_address or ""] or "" for _l, m in messages if m.parsed is not None} - {""})
    standing = standings(known)
    replaced = last_replaced([address for address in known if address not in standing])

    run = _Run()
    seen: set[str] = set()
    for (label, message), digest in zip(messages, digests, strict=True):
        if digest in stored or digest in seen:
            break  # ingest_read records the bytes as stored already
        row = message_row(message, digest, now=now, import_source=label)
        parsed = message.parsed
        if parsed is None:
            kind = STATUS_QUARANTINED
        elif parsed.message_id and parsed.message_id in first_with:
            kind = row["status"] = STATUS_DUPLICATE
            run.duplicate_of[run.count] = first_with[parsed.message_id]
        elif parsed.not_a_report_reason:
            kind = row["status"] = STATUS_NOT_A_REPORT
            row["not_a_report_reason"] = parsed.not_a_report_reason
        else:
            kind = STATUS_REPORTED
            address = addresses[parsed.from_address or ""]
            who = standing.get(address) if address else None
            opens = who is not None and who.incident_id is None
            if who is not None and not opens and not who.joins_quietly(row["received_at"], now):
                break  # reassesses an incident or sends a link: ingest_read
            if who is None and address and previous_owner_lately(replaced.get(address), row["received_at"]):
                break  # a previous owner's report: ingest_read
            if opens:
                assert who is not None and address
                standing[address] = who.opened(row["received_at"], now)  # what their next report meets
            submission = report_submission(parsed, row, 0)
            given = Reported(
                claimed_address=submission.address[:320],
                address_normalized=address,
                details=submission.details,
                received_at=row["received_at"],
                received_at_source=row["received_at_source"],
                inbound_message_id=None,  # the message's id, once drawn
                client_ip=submission.client_ip,
                user_agent=None,
                entered_by=CUSTOMER,
            )
            run.reports.append(_Report(run.count, given, who, opens))
        if parsed is not None and parsed.message_id and parsed.message_id not in first_with:
            first_with[parsed.message_id] = ("run", run.count)  # a later message with it is its duplicate
        seen.add(digest)
        run.messages.append(message)
        run.rows.append(row)
        run.kinds.append(kind)
    return run


def _write(run: _Run, *, now: datetime) -> None:
    """The run's rows and events, each table's in one multi-row insert, the events in the messages' order."""
    [message_ids] = draw_ids((InboundMessage,), run.count)
    [report_ids] = draw_ids((Report,), len(run.reports)) if run.reports else [[]]
    for index, row in enumerate(run.rows):
        row["id"] = message_ids[index]
        if index in run.duplicate_of:
            first = run.duplicate_of[index]
            row["duplicate_of_id"] = message_ids[first[1]] if isinstance(first, tuple) else first
    # One shape for every row (a multi-row insert takes its columns from the first): a column a row leaves
    # out gets its default, as ingest_read's INSERT of that row alone would give it.
    table = table_of(InboundMessage)
    columns = {name for row in run.rows for name in row}
    defaults: dict[str, Any] = {}
    for row in run.rows:
        for name in columns - row.keys():
            if name not in defaults:
                defaults[name] = _default(table.c[name])  # only for a column some row leaves out
            row[name] = defaults[name]
    connection = db.session.connection()
    connection.execute(table.insert(), run.rows)

    # The reports' ids follow the messages' order, as receive_report draws them one message at a time.
    reports: dict[int, list[NewEvent]] = {}  # each report's events, by its message's index in the run
    opening = [report for report in run.reports if report.opens]
    given_of = {report.row: replace(report.given, inbound_message_id=message_ids[report.row]) for report in run.reports}
    id_of = {report.row: report_id for report, report_id in zip(run.reports, report_ids, strict=True)}
    opened: dict[int, int] = {}  # customer id -> the incident the run opens for them
    opening_rows = {report.row for report in opening}
    if opening:
        written, opening_events = write_openings(
            [replace(_customer(report), reported=given_of[report.row]) for report in opening],
            channel=Source.EMAIL,
            kind="other",
            details="",
            actor=CUSTOMER,
            now=now,
            year=report_year(now),
            report_ids=[id_of[report.row] for report in opening],
        )
        incident_at = REPORT_COLUMNS.index("incident_id")
        for report, values, told in zip(opening, written, opening_events, strict=True):
            reports[report.row] = told
            opened[_customer(report).customer_id] = values[incident_at]
        forget_session_copies(set(opened))  # the statements went past the session's copies
    quiet_rows: list[list[Any]] = []
    for report in run.reports:
        if report.opens:
            continue
        who = report.standing
        if who is not None and who.incident_id == 0:  # joins the incident the run opens
            who = replace(who, incident_id=opened[who.customer_id])
        values, reports[report.row] = quiet_report(
            id_of[report.row],
            given_of[report.row],
            channel=Source.EMAIL,
            kind="other",
            standing=who,
            actor=CUSTOMER,
            now=now,
        )
        quiet_rows.append(values)
    insert_values(connection, table_of(Report), REPORT_COLUMNS, quiet_rows)

    # The events in the messages' order, in one insert; their listeners told of them as ingest_read's own
    # appends would tell them: each event alone, but an opening's all at once (write_openings' append).
    received = tag(Source.EMAIL, Event.MESSAGE_RECEIVED)
    events: list[NewEvent] = []
    appends: list[int] = []
    for index, (message, row, kind) in enumerate(zip(run.messages, run.rows, run.kinds, strict=True)):
        message_id = row["id"]
        data = message_received_data(message_id, row["sha256"], message.raw, message.envelope, message.via)
        events.append(NewEvent(received, data=data, at=now, actor=INTAKE))
        appends.append(1)
        if kind == STATUS_QUARANTINED:
            reason, said = row["quarantine_reason"], row["quarantine_detail"][:500]
            detail = {"inbound_message": message_id, "reason": reason, "detail": said}
            events.append(NewEvent(tag(Source.EMAIL, Event.MESSAGE_QUARANTINED), data=detail, at=now, actor=INTAKE))
        elif kind == STATUS_DUPLICATE:
            detail = {"inbound_message": message_id, "duplicate_of": row["duplicate_of_id"]}
            events.append(NewEvent(tag(Source.EMAIL, Event.MESSAGE_DUPLICATE), data=detail, at=now, actor=INTAKE))
        elif kind == STATUS_NOT_A_REPORT:
            detail = {"inbound_message": message_id, "reason": row["not_a_report_reason"]}
            events.append(NewEvent(tag(Source.EMAIL, Event.MESSAGE_NOT_A_REPORT), data=detail, at=now, actor=INTAKE))
        else:
            events += reports[index]
            appends += [len(reports[index])] if index in opening_rows else [1] * len(reports[index])
            continue
        appends.append(1)
    append_events(events, actor=INTAKE, now=now, appends=appends)


def _scalars(connection: Connection, statement: Select[Any], name: str, values: list[str]) -> list[Any]:
    found: list[Any] = []
    unique = sorted(set(values))
    for start in range(0, len(unique), 500):
        found += connection.execute(statement, {name: unique[start : start + 500]}).scalars()
    return found


def _default(column: Column[Any]) -> Any:
    """A column's default as Core would give a row that leaves the column out (ingest_read's INSERT): a
    Python value or callable of no context. A default of another kind (SQL, the server's) would be given
    differently there, so it is refused rather than guessed (review, issue 17)."""
    default = column.default
    if column.server_default is None:
        if default is None:
            return None
        if isinstance(default, ScalarElementColumnDefault):
            return default.arg
        if isinstance(default, CallableColumnDefault):
            made: Any = default.arg  # SQLAlchemy's wrapper of a function of no arguments: its context goes unread
            return made(None)
    raise TypeError(f"{column.name}: a default a multi-row insert cannot give as the one-row insert does")


# Built once, as ingest_read's own statements are.
_STORED_DIGESTS = select(InboundMessage.sha256).where(InboundMessage.sha256.in_(bindparam("digests", expanding=True)))
_FIRST_WITH_IDS = (
    select(InboundMessage.message_id_header, func.min(InboundMessage.id))
    .where(InboundMessage.message_id_header.in_(bindparam("ids", expanding=True)))
    .group_by(InboundMessage.message_id_header)
)


def _customer(report: _Report) -> Opening:
    assert report.standing is not None
    return report.standing.customer
