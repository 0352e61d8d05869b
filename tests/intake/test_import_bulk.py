"""An import's batch written set-based (intake.bulk) leaves exactly what storing the same mail one message at
a time leaves: every row of every table and every audit event, ids and order included. The messages that
decide something go through ingest_read in their place, and only those."""

from __future__ import annotations

import logging
import re
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select, update

from incident_service import create_app
from incident_service.customers.models import CREDENTIAL_ACTIVE, Customer
from incident_service.customers.service import add_customer
from incident_service.database import utcnow
from incident_service.email_change.models import PreviousAddress
from incident_service.extensions import db
from incident_service.intake import batches, bulk
from incident_service.intake.batches import import_messages
from incident_service.intake.models import VIA_IMPORT
from incident_service.intake.service import Envelope, record_message
from incident_service.reactivation.models import ResetGrant
from incident_service.webhooks.models import WebhookSubscription
from tests.conftest import throwaway_database
from tests.postgres import PostgresServer

CORPUS = Path(__file__).resolve().parent / "corpus"
ZONE = timezone(timedelta(hours=7))

# Columns whose values are drawn at random each time (secrets, stamps, random ids), or the wall clock of
# a step this test does not give its `now` to: the only ones not compared.
RANDOM = {
    "customers": {"security_stamp"},
    "reset_grants": {"grant_id_hash"},
    "outbox_messages": {"pending", "message_id"},
    "webhook_deliveries": {"message_id", "created_at", "next_attempt_at"},
    "disclosures": {"disclosed_at"},
}


def mail(sender: str, number: int, received: datetime, *, subject: str = "lost password") -> bytes:
    """A message the company's MTA took at `received` (so its received time is the same in both runs)."""
    stamp = received.astimezone(ZONE).strftime("%a, %d %b %Y %H:%M:%S +0700")
    return (
        f"Received: from mail-out.example.net (mail-out.example.net [203.0.113.5])\r\n"
        f"\tby mx.ecc.example (Postfix) with ESMTPS id Q{number}\r\n"
        f"\tfor <security@ecc.example>; {stamp}\r\n"
        f"From: {sender}\r\nTo: security@ecc.example\r\nSubject: {subject} {number}\r\n"
        f"Date: {stamp}\r\nMessage-ID: <bulk-{number}@example.net>\r\nMIME-Version: 1.0\r\n"
        f"Content-Type: text/plain; charset=utf-8\r\n\r\nMật khẩu của tôi bị lộ ({number}).\r\n"
    ).encode()


def seed(app: Flask, now: datetime) -> None:
    """The same customers, in the same order, at the same time, in either database."""
    with app.app_context():
        for address in [
            "an@example.com",
            "binh@example.com",
            "chi@example.com",
            "dung@example.com",
            "em@example.com",
            "hoa@example.com",
        ]:
            add_customer(address, name="", locale="vi", password=None, source="cli", actor="test", now=now)
        giang = add_customer(
            "giang@example.com", name="", locale="vi", password=None, source="cli", actor="test", now=now
        )
        db.session.flush()
        # giang@ had another address until now: mail from it is still hers (a previous owner's report).
        db.session.add(
            PreviousAddress(customer_id=giang.id, address="old-giang@example.com", recorded_since=now, replaced_at=now)
        )
        # A system told of reports and incidents: each append of such events queues deliveries and writes a
        # disclosure to the register.
        db.session.add(
            WebhookSubscription(
                url="https://hooks.example/incidents",
                events="report.received incident.opened",
                secret="whsec_test",
                created_at=now,
                created_by="test",
            )
        )
        db.session.commit()


def corpus(now: datetime) -> list[tuple[str, bytes]]:
    at = lambda minutes: now - timedelta(days=2) + timedelta(minutes=minutes)  # noqa: E731
    messages = [
        mail("an@example.com", 1, at(0)),  # opens an@'s incident
        mail("an@example.com", 2, at(5)),  # joins quietly
        mail("nobody@example.com", 3, at(6)),  # an address nobody has
        mail("binh@example.com", 4, at(10)),  # opens binh@'s
        mail("binh@example.com", 5, at(2)),  # older than binh@'s first: reassesses
        mail("an@example.com", 6, at(20)),  # joins quietly
        mail("not an address", 7, at(21)),  # kept as claimed
        mail("old-giang@example.com", 8, at(22)),  # giang@'s previous address
        (CORPUS / "auto_reply.eml").read_bytes(),  # not a report
        (CORPUS / "missing_boundary.eml").read_bytes(),  # read as far as it goes: an@'s report
        (CORPUS / "dsn_bounce.eml").read_bytes(),
        b"From: an@example.com\r\nSubject: cut\r\n\r\na NUL \x00 byte: never read\r\n",  # quarantined
        mail("chi@example.com", 9, at(30)),  # opens chi@'s
        mail("chi@example.com", 9, at(30)),  # the same bytes again
        mail("chi@example.com", 10, at(31)).replace(b"<bulk-10@", b"<bulk-9@"),  # the same Message-ID: duplicate
        mail("dung@example.com", 11, at(40)),  # dung@ has an open incident whose link went long ago: a new link
        mail("em@example.com", 12, at(41)),  # em@ has one with a link just sent: joins quietly
        mail("an@example.com", 13, at(42)),
        mail("nobody@example.com", 14, at(43)),
        mail("ANOTHER@Example.com", 15, at(44)),
        mail("an@example.com", 16, at(45)).replace(b"<bulk-16@", b"<bulk-1@"),  # a Message-ID stored before
        mail("hoa@example.com", 19, at(45)),  # hoa@'s password works again: locked again
        mail("em@example.com", 17, at(46)),
        mail("nobody@example.com", 18, at(47)).replace(b"<bulk-18@", b"<bulk-17@"),  # the one just before's
    ]
    return [(f"mailbox:{n}", raw) for n, raw in enumerate(messages)]


# Those that reassess an incident, send a link to an open one, lock a password again, are a previous owner's or the same bytes
# again, which go through ingest_read one at a time; every other message, openings included, is written
# set-based.
DECIDING = {"mailbox:4", "mailbox:7", "mailbox:13", "mailbox:15", "mailbox:21"}
RUNS = [4, 2, 5, 1, 5, 2]  # the messages between them


def open_incidents_before(app: Flask, now: datetime) -> None:
    """dung@, em@ and hoa@ reported on the web three days ago; dung@'s link went out long before the resend
    window; hoa@'s password works again (their incident still open), so a report locks it again."""
    from incident_service.incidents.service import ReportSubmission, receive_report

    with app.app_context():
        for address in ["dung@example.com", "em@example.com", "hoa@example.com"]:
            receive_report(ReportSubmission(channel="web", address=address, kind="other"), now=now - timedelta(days=3))
        dung = db.session.execute(select(Customer.id).where(Customer.email == "dung@example.com")).scalar_one()
        db.session.execute(
            update(ResetGrant).where(ResetGrant.customer_id == dung).values(issued_at=now - timedelta(days=1))
        )
        em = db.session.execute(select(Customer.id).where(Customer.email == "em@example.com")).scalar_one()
        db.session.execute(update(ResetGrant).where(ResetGrant.customer_id == em).values(issued_at=now))
        hoa = db.session.execute(select(Customer.id).where(Customer.email == "hoa@example.com")).scalar_one()
        db.session.execute(update(ResetGrant).where(ResetGrant.customer_id == hoa).values(issued_at=now))
        db.session.execute(update(Customer).where(Customer.id == hoa).values(credential_state=CREDENTIAL_ACTIVE))
        db.session.commit()


def everything(app: Flask) -> dict[str, list[dict[str, Any]]]:
    """Every row of every table, in id order, but for the random columns."""
    with app.app_context():
        tables: dict[str, list[dict[str, Any]]] = {}
        for table in db.metadata.sorted_tables:
            skip = RANDOM.get(table.name, set())
            order = [table.c.id] if "id" in table.c else list(table.primary_key.columns)
            rows = db.session.execute(select(table).order_by(*order)).mappings().all()
            kept = [{k: v for k, v in row.items() if k not in skip} for row in rows]
            if table.name == "audit_events":  # an event whose data had a random id: its hash is random too
                for row in kept:
                    drawn = _drawn(row["data"])
                    if drawn != row["data"]:
                        row["data"] = drawn
                        del row["hash"]
            tables[table.name] = kept
        return tables


def _drawn(data: str) -> str:
    """An audit event's data with a queued email's random Message-ID taken out."""
    return MESSAGE_ID.sub('"message_id":"_"', data)


MESSAGE_ID = re.compile(r'"message_id":"<[^"]*>"')


@pytest.mark.real_commits
def test_a_batch_stored_set_based_leaves_what_one_message_at_a_time_leaves(
    app: Flask,
    postgres: PostgresServer | None,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    now = utcnow().replace(microsecond=0)
    messages = corpus(now)

    # One message at a time, each with its own commit, as the listener stores mail.
    told: list[str] = []  # each message's status, one at a time
    (tmp_path / "one").mkdir()
    with throwaway_database(tmp_path / "one", postgres, "template_app") as url:
        one = create_app(
            {"MAIL_PORT": 1},
            environ={"APP_ENV": "testing", "DATABASE_URL": url, "PUBLIC_BASE_URL": "https://security.ecc.example"},
        )
        if postgres is None:
            with one.app_context():
                db.create_all()
        seed(one, now)
        open_incidents_before(one, now)
        with one.app_context():
            for label, raw in messages:
                told.append(record_message(raw, envelope=Envelope(), via=VIA_IMPORT, now=now, import_source=label))
        expected = everything(one)
        with one.app_context():
            db.session.remove()
            db.engine.dispose()

    # The importer's batches, on a database seeded the same way.
    seed(app, now)
    open_incidents_before(app, now)
    monkeypatch.setattr(batches, "utcnow", lambda: now)
    # One batch, one transaction, however slow the machine: the runs fall where the mail puts them.
    monkeypatch.setattr(batches, "BATCH_SECONDS", 600.0)
    monkeypatch.setattr(batches, "READING_GRACE_SECONDS", 600.0)
    runs: list[int] = []
    real_write = bulk._write

    def write(run, *, now):  # type: ignore[no-untyped-def]
        runs.append(run.count)
        return real_write(run, now=now)

    monkeypatch.setattr(bulk, "_write", write)
    decided: list[str] = []
    real = bulk.ingest_read

    def one_at_a_time(message, *, now, import_source=None):  # type: ignore[no-untyped-def]
        decided.append(import_source)
        return real(message, now=now, import_source=import_source)

    monkeypatch.setattr(bulk, "ingest_read", one_at_a_time)
    statuses: list[tuple[str, str]] = []
    with caplog.at_level(logging.ERROR), app.app_context():
        import_messages(messages, batch=len(messages), done=lambda label, status: statuses.append((label, status)))
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], "a batch fell back to one at a time"
    assert set(decided) == DECIDING, sorted(decided)
    assert statuses == list(zip([label for label, _raw in messages], told, strict=True))
    # The runs between the deciding messages, each written set-based (so an in-run duplicate and several
    # customers' appends in one run are really met).
    assert runs == RUNS, runs

    got = everything(app)
    assert got.keys() == expected.keys()
    for name in expected:
        assert len(got[name]) == len(expected[name]), name
        for mine, theirs in zip(got[name], expected[name], strict=True):
            assert mine == theirs, (name, {k: (v, theirs.get(k)) for k, v in mine.items() if theirs.get(k) != v})
    # Not vacuous: the mail made reports, incidents and events in both.
    assert len(got["reports"]) >= 12 and len(got["incidents"]) == 7 and len(got["audit_events"]) > 50
    assert len(got["disclosures"]) > 10 and len(got["webhook_deliveries"]) > 10
    assert sum(1 for event in got["audit_events"] if "hash" in event) > 40
    assert sum(1 for message in got["inbound_messages"] if message["status"] == "duplicate") == 3


def test_a_column_left_out_of_a_multi_row_insert_gets_only_a_python_default() -> None:
    """A default the one-row INSERT would give differently (the server's, or SQL) is refused, not guessed."""
    from sqlalchemy import Column, Integer, MetaData, Table, Text, func, text

    from incident_service.intake.bulk import _default

    table = Table(
        "t",
        MetaData(),
        Column("plain", Integer),
        Column("scalar", Integer, default=0),
        Column("made", Text, default=list),
        Column("server", Integer, server_default=text("0")),
        Column("sql", Integer, default=func.now()),
    )
    assert [_default(table.c[name]) for name in ("plain", "scalar", "made")] == [None, 0, []]
    for name in ("server", "sql"):
        with pytest.raises(TypeError, match=name):
            _default(table.c[name])
