"""Opening many incidents at once: the set-based twin of `receive_report`'s opening branch.

After a breach the company may learn of a hundred thousand exposed addresses at once. Each customer
gets exactly what a report opening an incident gives (tests/incidents/test_bulk.py compares them row
by row and event by event): the report, the incident, the lock, the stamp rotation, the one live reset
grant, the queued acknowledgement and the same audit events in the same order. The rows are written
with multi-row inserts and the audit events written in one multi-row insert, instead of one flush per row.

The caller holds the write transaction; the ids are drawn first (PostgreSQL sequences, or after the
highest id under SQLite's write lock), so references and audit data need no second pass.
"""

from __future__ import annotations

import json
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from json.encoder import encode_basestring_ascii
from typing import Any, Callable

from flask import current_app
from sqlalchemy import bindparam, select, update

from ..assessment.service import policy_in_force
from ..audit.actions import Event, tag
from ..audit.service import NewEvent, append_events
from ..customers.models import CREDENTIAL_LOCKED, Customer, new_security_stamp
from ..database import driver_placeholder, insert_rows, insert_values, table_of
from ..extensions import Model, core_execute, db
from ..notifications.emails import acknowledgement_links
from ..notifications.models import OutboxMessage
from ..notifications.service import Ref, customer_email_parts, outbox_row, pending_render, queued_event_data
from ..reactivation.models import ResetGrant
from ..reactivation.service import grant_id_hash
from ..tokens import reset_link
from .models import STATUS_REACTIVATED, Incident, Report, report_year


@dataclass(frozen=True)
class Reported:
    """What one reporter gave, where it is not the batch's: a web, email or staff report for one customer
    (receive_report opens an incident through here too)."""

    claimed_address: str
    address_normalized: str | None  # None: not an address; kept as claimed, it matches nobody
    details: str
    received_at: datetime
    received_at_source: str
    inbound_message_id: int | None
    client_ip: str | None
    user_agent: str | None
    entered_by: str


@dataclass(frozen=True)
class Opening:
    """A customer with no open incident, and what they reported (the batch's report unless `reported`)."""

    customer_id: int
    email: str
    locale: str
    time_zone: str | None
    credential_state: str
    reported: Reported | None = None


REPORT_COLUMNS = [
    "id",
    "reference",
    "channel",
    "received_at",
    "received_at_source",
    "claimed_address",
    "recorded_at",
    "address_normalized",
    "kind",
    "details",
    "customer_id",
    "incident_id",
    "entered_by",
    "inbound_message_id",
    "client_ip",
    "user_agent",
]
_INCIDENT_COLUMNS = [
    "id",
    "reference",
    "customer_reference",
    "customer_id",
    "status",
    "opened_at",
    "first_received_at",
    "first_channel",
    "late_threshold_hours",
    "policy_version_id",
    "last_link_sent_at",
]
_GRANT_COLUMNS = ["id", "customer_id", "incident_id", "grant_id_hash", "issued_at", "expires_at"]


# Stand-ins for what differs between two acknowledgements' render instructions: unlike any real value,
# and each written by the JSON encoder as it is (ASCII, no escapes).
_PENDING_STAND_INS: dict[str, Any] = {
    "locale": "~locale~",
    "zone": "~zone~",
    "customer": 7_000_000_000_000_000_001,
    "incident": 7_000_000_000_000_000_002,
    "report": 7_000_000_000_000_000_003,
    "grant": 7_000_000_000_000_000_004,
    "secret": "~secret~",
    "stamp": "~stamp~",
    "support": "~support~",  # a stand-in too, so no configured text is searched for stand-ins
}
_STAND_IN = re.compile("|".join(re.escape(json.dumps(value)) for value in _PENDING_STAND_INS.values()))


def _acknowledgement_pending_of_app(support_contact: str) -> Callable[[str, str, int, int, int, int, str, str], str]:
    """_acknowledgement_pending, built once per app and support contact: a single report built it under
    SQLite's write lock, 33 us of that lock's hold of about 2 ms in-process (issue 17). Its text depends on
    nothing else."""
    built: dict[str, Callable[[str, str, int, int, int, int, str, str], str]]
    built = current_app.extensions.setdefault("incidents.acknowledgement_pending", {})
    if support_contact not in built:
        built[support_contact] = _acknowledgement_pending(support_contact)
    return built[support_contact]


def _acknowledgement_pending(support_contact: str) -> Callable[[str, str, int, int, int, int, str, str], str]:
    """pending_render's text for an acknowledgement, as a function of (locale, zone, customer, incident,
    report, grant ids, the grant's secret, the stamp): pending_render is called once, on stand-ins, and
    each customer's text is its pieces joined with that customer's values (about a tenth of the time of
    building and encoding the context per customer; tests/incidents/test_bulk.py holds the two equal)."""
    mark = _PENDING_STAND_INS
    zone, context, links = customer_email_parts(
        Ref("Customer", mark["customer"]),
        mark["customer"],
        mark["zone"],
        {
            "incident": Ref("Incident", mark["incident"]),
            "report": Ref("Report", mark["report"]),
            "grant": Ref("ResetGrant", mark["grant"]),
            "support_contact": mark["support"],
        },
        acknowledgement_links(
            mark["customer"], mark["incident"], reset_link(mark["customer"], mark["secret"], mark["stamp"])
        ),
    )
    text_with_marks = pending_render(locale=mark["locale"], zone=zone, context=context, links=links)
    order = {json.dumps(value): index for index, value in enumerate(mark.values())}
    pieces = _STAND_IN.split(text_with_marks)
    slots = [order[found] for found in _STAND_IN.findall(text_with_marks)]
    spell = encode_basestring_ascii  # as pending_render's encoder writes a string (ensure_ascii)
    support = spell(support_contact)

    def pending(
        locale: str, zone: str, customer: int, incident: int, report: int, grant: int, secret: str, stamp: str
    ) -> str:
        values = (
            spell(locale),
            spell(zone),
            str(customer),
            str(incident),
            str(report),
            str(grant),
            spell(secret),
            spell(stamp),
            support,
        )
        parts = [pieces[0]]
        for slot, piece in zip(slots, pieces[1:], strict=True):
            parts.append(values[slot])
            parts.append(piece)
        return "".join(parts)

    return pending


def report_values(
    report_id: int,
    reference: str,
    channel: str,
    kind: str,
    received_at: datetime,
    given: Reported,
    customer_id: int | None,
    incident_id: int | None,
    now: datetime,
) -> list[Any]:
    """A report's row, REPORT_COLUMNS' values in their order."""
    return [
        report_id,
        reference,
        channel,
        received_at,
        given.received_at_source,
        given.claimed_address,
        now,
        given.address_normalized,
        kind,
        given.details,
        customer_id,
        incident_id,
        given.entered_by,
        given.inbound_message_id,
        given.client_ip,
        given.user_agent,
    ]


def forget_session_copies(customer_ids: set[int]) -> None:
    """Expire the session's copies of these customers and their grants: set-based statements went past them."""
    for held in list(db.session.identity_map.values()):
        if (isinstance(held, Customer) and held.id in customer_ids) or (
            isinstance(held, ResetGrant) and held.customer_id in customer_ids
        ):
            db.session.expire(held)


def draw_ids(models: tuple[type[Model], ...], count: int) -> list[list[int]]:
    """`count` new ids for each of `models`' tables, in one statement: PostgreSQL's sequences, or after
    the highest id under SQLite's write lock (a statement a table cost a single report a third of a
    millisecond of that lock: issue 17). Flushes what the session holds first."""
    tables = [model.__tablename__ for model in models]
    db.session.flush()
    connection = db.session.connection()
    if connection.dialect.name == "postgresql":
        drawn = connection.exec_driver_sql(
            "SELECT "
            + ", ".join(f"nextval(pg_get_serial_sequence('{table}', 'id'))" for table in tables)
            + f" FROM generate_series(1, {int(count)})"
        ).all()
        return [[row[index] for row in drawn] for index in range(len(tables))]
    highest = connection.exec_driver_sql(
        "SELECT " + ", ".join(f"(SELECT coalesce(max(id), 0) FROM {table})" for table in tables)
    ).one()
    return [list(range(start + 1, start + 1 + count)) for start in highest]


def open_incidents(
    openings: list[Opening], *, channel: str, kind: str, details: str, actor: str, now: datetime, year: int
) -> list[list[Any]]:
    """Report, open, lock, rotate, grant and queue the acknowledgement for every opening; the new reports'
    rows as written (REPORT_COLUMNS' values), in the openings' order. Flushes what the session holds first;
    commits nothing.

    Raises IntegrityError if a concurrent report opened an incident for one of them first (the
    partial unique index decides, as in R2); the caller then takes that batch one by one."""
    written, events = write_openings(
        openings, channel=channel, kind=kind, details=details, actor=actor, now=now, year=year
    )
    append_events([event for each in events for event in each], actor=actor, now=now)
    return written


def write_openings(
    openings: list[Opening],
    *,
    channel: str,
    kind: str,
    details: str,
    actor: str,
    now: datetime,
    year: int,
    report_ids: list[int] | None = None,
) -> tuple[list[list[Any]], list[list[NewEvent]]]:
    """open_incidents' rows, without its audit events: the reports' rows as written, and each opening's
    events (each naming `actor`), for a caller that appends them among others of its own (the importer's batch, in its messages'
    order). `report_ids`: drawn by the caller (its reports' ids follow its messages' order); drawn here
    otherwise."""
    if not openings:
        return [], []
    source, count = channel, len(openings)
    db.session.flush()
    threshold_hours, policy_version_id = policy_in_force(now)
    expires_at = now + timedelta(seconds=current_app.config["RESET_LINK_MAX_AGE_SECONDS"])
    support_contact = current_app.config["SUPPORT_CONTACT"]
    default_zone, sender_setting = current_app.config["DISPLAY_TIMEZONE"], current_app.config["MAIL_DEFAULT_SENDER"]
    if report_ids is None:
        report_ids, incident_ids, grant_ids, outbox_ids = draw_ids((Report, Incident, ResetGrant, OutboxMessage), count)
    else:
        assert len(report_ids) == count
        incident_ids, grant_ids, outbox_ids = draw_ids((Incident, ResetGrant, OutboxMessage), count)
    # The same six actions for every opening, and `now` given as each event's time, spare the audit
    # append a copy of each event (append_events): a hundred thousand openings make six hundred thousand.
    received_action, opened_action, locked_action, revoked_action, issued_action, queued_action = (
        tag(source, event)
        for event in (
            Event.REPORT_RECEIVED,
            Event.INCIDENT_OPENED,
            Event.CREDENTIAL_LOCKED,
            Event.SESSIONS_REVOKED,
            Event.RESET_GRANT_ISSUED,
            Event.EMAIL_QUEUED,
        )
    )
    expires_iso = expires_at.isoformat()
    pending = _acknowledgement_pending_of_app(support_contact)
    reports, incidents, grants, stamps, outbox = [], [], [], [], []
    events: list[list[NewEvent]] = []
    for n, who in enumerate(openings):
        cid, report_id, incident_id, grant_id = who.customer_id, report_ids[n], incident_ids[n], grant_ids[n]
        given = who.reported or Reported(who.email, who.email, details, now, "server_clock", None, None, None, actor)
        received, threshold, policy_id, in_year = now, threshold_hours, policy_version_id, year
        if given.received_at != now:  # an imported message's own time: its year, the policy then in force
            received, in_year = given.received_at, report_year(given.received_at)
            threshold, policy_id = policy_in_force(received)
        report_reference, incident_reference = f"RPT-{in_year}-{report_id:06d}", f"INC-{in_year}-{incident_id:06d}"
        reports.append(
            report_values(report_id, report_reference, channel, kind, received, given, cid, incident_id, now)
        )
        incidents.append(
            [
                incident_id,
                incident_reference,
                report_reference,
                cid,
                STATUS_REACTIVATED,
                now,
                received,
                channel,
                threshold,
                policy_id,
                now,
            ]
        )
        stamp, secret = new_security_stamp(), secrets.token_urlsafe(16)  # 128 random bits (T2)
        stamps.append((cid, stamp))
        grants.append([grant_id, cid, incident_id, grant_id_hash(secret), now, expires_at])
        row = outbox_row(
            "acknowledgement",
            to_address=who.email,
            now=now,
            customer_id=cid,
            incident_id=incident_id,
            pending=pending(
                who.locale, who.time_zone or default_zone, cid, incident_id, report_id, grant_id, secret, stamp
            ),
            sender_setting=sender_setting,
        )
        row["id"] = outbox_ids[n]
        outbox.append(row)
        mine = [
            NewEvent(
                received_action,
                cid,
                None,
                report_id,
                {"reference": report_reference, "kind": kind, "address": given.address_normalized},
                now,
                actor,
            ),
            NewEvent(opened_action, cid, incident_id, report_id, {"reference": incident_reference}, now, actor),
        ]
        if who.credential_state != CREDENTIAL_LOCKED:
            mine.append(NewEvent(locked_action, cid, incident_id, None, None, now, actor))
        mine += [
            NewEvent(revoked_action, cid, incident_id, None, None, now, actor),
            NewEvent(issued_action, cid, incident_id, None, {"grant": grant_id, "expires_at": expires_iso}, now, actor),
            NewEvent(
                queued_action,
                cid,
                incident_id,
                None,
                queued_event_data(row["id"], "acknowledgement", row["message_id"]),
                now,
                actor,
            ),
        ]
        events.append(mine)
    written = [list(values) for values in reports]  # insert_values converts its lists in place
    connection = db.session.connection()
    insert_values(connection, table_of(Incident), _INCIDENT_COLUMNS, incidents)  # first: the unique index on
    insert_values(connection, table_of(Report), REPORT_COLUMNS, reports)  # open incidents decides
    customer_ids = [who.customer_id for who in openings]
    for start in range(0, count, 500):
        connection.execute(_REVOKE_LIVE_GRANTS, {"customer_ids": customer_ids[start : start + 500], "now": now})
    insert_values(connection, table_of(ResetGrant), _GRANT_COLUMNS, grants)
    mark = driver_placeholder(connection)
    connection.exec_driver_sql(
        f"UPDATE customers SET credential_state = {mark}, security_stamp = {mark} WHERE id = {mark}",
        [(CREDENTIAL_LOCKED, stamp, cid) for cid, stamp in stamps],
    )
    insert_rows(connection, table_of(OutboxMessage), outbox)
    return written, events


def opening_to_lock(address: str) -> Opening | None:
    """The customer at `address` (normalised), their row locked until the transaction ends, as
    customers.service.lock_customer locks it: FOR NO KEY UPDATE, reading what the last writer committed.
    A Core statement on the session's connection after a flush, as openings_for."""
    row = core_execute(_OPENING_TO_LOCK, {"address": address}).one_or_none()
    return None if row is None else Opening(row.id, row.email, row.locale, row.time_zone, row.credential_state)


# Built once, as the statements below: every report runs it, and building the statement cost as much as
# running it (issue 17).
_REVOKE_LIVE_GRANTS = (
    update(table_of(ResetGrant))
    .where(
        ResetGrant.customer_id.in_(bindparam("customer_ids", expanding=True)),
        ResetGrant.used_at.is_(None),
        ResetGrant.revoked_at.is_(None),
    )
    .values(revoked_at=bindparam("now", type_=table_of(ResetGrant).c.revoked_at.type))
)
_OPENING_TO_LOCK = (
    select(Customer.id, Customer.email, Customer.locale, Customer.time_zone, Customer.credential_state)
    .where(Customer.email == bindparam("address"))
    .with_for_update(key_share=True)
)


def openings_for(addresses: list[str], *, lock: bool = False) -> dict[str, Opening]:
    """The customers at `addresses` (normalised), by address. Core statements on the session's connection
    (after a flush, as the session's own would): the ORM's handling of a plain select of columns cost
    three times the query itself (1.4 s of a hundred thousand customers, issue 17).

    With `lock`, their rows are locked until the transaction ends, in id order, as a report locks its
    customer's (FOR NO KEY UPDATE) before it opens an incident: on PostgreSQL a batch that opened
    incidents first and locked customers after deadlocked with a report for one of them."""
    db.session.flush()
    connection = db.session.connection()
    found: dict[str, Opening] = {}
    for start in range(0, len(addresses), 500):
        query = select(
            Customer.id, Customer.email, Customer.locale, Customer.time_zone, Customer.credential_state
        ).where(Customer.email.in_(addresses[start : start + 500]))
        if lock:
            query = query.order_by(Customer.id).with_for_update(key_share=True)
        for customer_id, email, locale, time_zone, credential_state in connection.execute(query):
            found[email] = Opening(customer_id, email, locale, time_zone, credential_state)
    return found


def with_open_incident(customer_ids: list[int]) -> set[int]:
    """Those of `customer_ids` with an open incident. The status is checked here, not in the query: with
    hundreds of ids and no statistics, SQLite would rather walk ix_incidents_status_received's every open
    incident for `status =` than look the ids up (1.7 s of a hundred thousand customers' run, issue 17)."""
    db.session.flush()
    connection = db.session.connection()  # as in openings_for
    found: set[int] = set()
    for start in range(0, len(customer_ids), 500):
        found.update(
            customer_id
            for customer_id, status in connection.execute(
                select(Incident.customer_id, Incident.status).where(
                    Incident.customer_id.in_(customer_ids[start : start + 500])
                )
            )
            if status == STATUS_REACTIVATED
        )
    return found
