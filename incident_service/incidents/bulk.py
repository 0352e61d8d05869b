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

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import select, text, update

from ..assessment.service import policy_in_force
from ..audit.actions import Event, tag
from ..audit.service import NewEvent, append_events
from ..customers.models import CREDENTIAL_LOCKED, Customer, new_security_stamp
from ..database import driver_placeholder, insert_rows, insert_values, table_of
from ..extensions import Model, db
from ..notifications.emails import acknowledgement_links
from ..notifications.models import OutboxMessage
from ..notifications.service import Ref, customer_email_parts, outbox_row, pending_render, queued_event_data
from ..reactivation.models import ResetGrant
from ..reactivation.service import grant_id_hash
from ..tokens import reset_link
from .models import STATUS_REACTIVATED, Incident, Report


@dataclass(frozen=True)
class Opening:
    """A customer with no open incident, and what they reported."""

    customer_id: int
    email: str
    locale: str
    time_zone: str | None
    credential_state: str


_REPORT_COLUMNS = [
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


def _draw_ids(model: type[Model], count: int) -> list[int]:
    table = model.__tablename__
    session = db.session
    if session.get_bind().dialect.name == "postgresql":
        return list(
            session.execute(
                text(f"SELECT nextval(pg_get_serial_sequence('{table}', 'id')) FROM generate_series(1, :n)"),
                {"n": count},
            ).scalars()
        )
    highest = session.execute(text(f"SELECT coalesce(max(id), 0) FROM {table}")).scalar_one()
    return list(range(highest + 1, highest + 1 + count))


def open_incidents(
    openings: list[Opening], *, channel: str, kind: str, details: str, actor: str, now: datetime, year: int
) -> None:
    """Report, open, lock, rotate, grant and queue the acknowledgement for every opening, as
    `receive_report` does for one; flushes nothing of the caller's and commits nothing.

    Raises IntegrityError if a concurrent report opened an incident for one of them first (the
    partial unique index decides, as in R2); the caller then takes that batch one by one."""
    if not openings:
        return
    source, count = channel, len(openings)
    db.session.flush()
    threshold_hours, version = policy_in_force(now)
    expires_at = now + timedelta(seconds=current_app.config["RESET_LINK_MAX_AGE_SECONDS"])
    support_contact = current_app.config["SUPPORT_CONTACT"]
    policy_version_id = version.id if version else None
    default_zone, sender_setting = current_app.config["DISPLAY_TIMEZONE"], current_app.config["MAIL_DEFAULT_SENDER"]
    report_ids, incident_ids = _draw_ids(Report, count), _draw_ids(Incident, count)
    grant_ids, outbox_ids = _draw_ids(ResetGrant, count), _draw_ids(OutboxMessage, count)
    reports, incidents, grants, stamps, outbox, events = [], [], [], [], [], []
    for n, who in enumerate(openings):
        cid, report_id, incident_id, grant_id = who.customer_id, report_ids[n], incident_ids[n], grant_ids[n]
        report_reference, incident_reference = f"RPT-{year}-{report_id:06d}", f"INC-{year}-{incident_id:06d}"
        reports.append(
            [
                report_id,
                report_reference,
                channel,
                now,
                "server_clock",
                who.email,
                now,
                who.email,
                kind,
                details,
                cid,
                incident_id,
                actor,
            ]
        )
        incidents.append(
            [
                incident_id,
                incident_reference,
                report_reference,
                cid,
                STATUS_REACTIVATED,
                now,
                now,
                channel,
                threshold_hours,
                policy_version_id,
                now,
            ]
        )
        stamp, secret = new_security_stamp(), secrets.token_urlsafe(16)  # 128 random bits (T2)
        stamps.append((cid, stamp))
        grants.append([grant_id, cid, incident_id, grant_id_hash(secret), now, expires_at])
        zone, context, links = customer_email_parts(
            Ref("Customer", cid),
            cid,
            who.time_zone or default_zone,
            {
                "incident": Ref("Incident", incident_id),
                "report": Ref("Report", report_id),
                "grant": Ref("ResetGrant", grant_id),
                "support_contact": support_contact,
            },
            acknowledgement_links(cid, incident_id, reset_link(cid, secret, stamp)),
        )
        row = outbox_row(
            "acknowledgement",
            to_address=who.email,
            now=now,
            customer_id=cid,
            incident_id=incident_id,
            pending=pending_render(locale=who.locale, zone=zone, context=context, links=links),
            sender_setting=sender_setting,
        )
        row["id"] = outbox_ids[n]
        outbox.append(row)
        events += [
            NewEvent(
                tag(source, Event.REPORT_RECEIVED),
                cid,
                None,
                report_id,
                {"reference": report_reference, "kind": kind, "address": who.email},
            ),
            NewEvent(
                tag(source, Event.INCIDENT_OPENED), cid, incident_id, report_id, {"reference": incident_reference}
            ),
        ]
        if who.credential_state != CREDENTIAL_LOCKED:
            events.append(NewEvent(tag(source, Event.CREDENTIAL_LOCKED), cid, incident_id))
        events += [
            NewEvent(tag(source, Event.SESSIONS_REVOKED), cid, incident_id),
            NewEvent(
                tag(source, Event.RESET_GRANT_ISSUED),
                cid,
                incident_id,
                data={"grant": grant_id, "expires_at": expires_at.isoformat()},
            ),
            NewEvent(
                tag(source, Event.EMAIL_QUEUED),
                cid,
                incident_id,
                data=queued_event_data(row["id"], "acknowledgement", row["message_id"]),
            ),
        ]
    connection = db.session.connection()
    insert_values(connection, table_of(Incident), _INCIDENT_COLUMNS, incidents)  # first: the unique index on
    insert_values(connection, table_of(Report), _REPORT_COLUMNS, reports)  # open incidents decides
    customer_ids = [who.customer_id for who in openings]
    for start in range(0, count, 500):
        db.session.execute(
            update(table_of(ResetGrant))
            .where(
                ResetGrant.customer_id.in_(customer_ids[start : start + 500]),
                ResetGrant.used_at.is_(None),
                ResetGrant.revoked_at.is_(None),
            )
            .values(revoked_at=now)
        )
    insert_values(connection, table_of(ResetGrant), _GRANT_COLUMNS, grants)
    mark = driver_placeholder(connection)
    connection.exec_driver_sql(
        f"UPDATE customers SET credential_state = {mark}, security_stamp = {mark} WHERE id = {mark}",
        [(CREDENTIAL_LOCKED, stamp, cid) for cid, stamp in stamps],
    )
    insert_rows(connection, table_of(OutboxMessage), outbox)
    append_events(events, actor=actor, now=now)


def openings_for(addresses: list[str]) -> dict[str, Opening]:
    """The customers at `addresses` (normalised), by address."""
    found: dict[str, Opening] = {}
    for start in range(0, len(addresses), 500):
        for row in db.session.execute(
            select(Customer.id, Customer.email, Customer.locale, Customer.time_zone, Customer.credential_state).where(
                Customer.email.in_(addresses[start : start + 500])
            )
        ):
            found[row.email] = Opening(row.id, row.email, row.locale, row.time_zone, row.credential_state)
    return found


def with_open_incident(customer_ids: list[int]) -> set[int]:
    found: set[int] = set()
    for start in range(0, len(customer_ids), 500):
        found.update(
            db.session.execute(
                select(Incident.customer_id).where(
                    Incident.customer_id.in_(customer_ids[start : start + 500]), Incident.status == STATUS_REACTIVATED
                )
            ).scalars()
        )
    return found
