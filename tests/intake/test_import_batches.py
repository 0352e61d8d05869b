"""`flask intake import` commits in batches and reads ahead in child processes (issue 17): a run killed
mid-batch, then run again, stores every message exactly once; hostile mail still stops at its deadline;
a bug or a database failure in a batch loses nothing that was counted."""

from __future__ import annotations

import mailbox
import multiprocessing
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select, update

from incident_service.audit.models import AuditEvent
from incident_service.customers.models import Customer
from incident_service.database import WriterTurns
from incident_service.extensions import db
from incident_service.incidents.models import Incident, Report
from incident_service.intake.models import InboundMessage
from incident_service.intake.parser_process import PARSERS
from tests.helpers import make_customer
from tests.intake.test_parser_process import GOOD, SLOW

ROOT = Path(__file__).resolve().parents[2]


def count(app, model, *where) -> int:  # type: ignore[no-untyped-def]
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(model).where(*where)) or 0


def events(app, action: str) -> int:  # type: ignore[no-untyped-def]
    return count(app, AuditEvent, AuditEvent.action == action)


def write_mbox(path: Path, messages: int) -> None:
    box = mailbox.mbox(str(path), create=True)
    for n in range(messages):
        box.add(
            f"From: c{n % 7}@example.com\nTo: security@ecc.example\nSubject: report {n}\n"
            f"Message-ID: <crash{n}@example.com>\nDate: Mon, 23 Nov 2026 10:{n % 60:02d}:00 +0700\n\nleaked {n}\n"
        )
    box.close()


def test_killed_mid_import_then_run_again_stores_each_message_once(app, database_url, runner, tmp_path) -> None:  # type: ignore[no-untyped-def]
    for n in range(5):
        make_customer(app, f"c{n}@example.com", password=None)
    total = 600
    path = tmp_path / "export.mbox"
    write_mbox(path, total)
    env = {
        **os.environ,
        "APP_ENV": "testing",
        "DATABASE_URL": database_url,
        "PUBLIC_BASE_URL": "https://security.ecc.example",
    }
    importer = subprocess.Popen(
        [sys.executable, "-m", "flask", "--app", "wsgi", "intake", "import", "--batch", "20", str(path)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 120
        while count(app, InboundMessage) < 40 and importer.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        importer.send_signal(signal.SIGKILL)  # no clean-up, no last commit: a crash
        importer.wait(timeout=30)
    stored_before = count(app, InboundMessage)
    assert 40 <= stored_before < total, "the importer was not killed mid-import"
    # What was committed is whole: every stored message has its report and its received event.
    assert count(app, Report) == stored_before == events(app, "email:message:received")

    again = runner.invoke(args=["intake", "import", str(path)])
    assert again.exit_code == 0, again.output
    assert f"{stored_before} already stored" in again.output
    assert f"{total - stored_before} reported" in again.output
    assert count(app, InboundMessage) == total and count(app, Report) == total
    assert events(app, "email:message:received") == total  # each message received exactly once
    assert events(app, "email:message:already_stored") == stored_before
    assert count(app, Incident) == 5  # one per customer; c5 and c6 are unknown
    assert count(app, InboundMessage, InboundMessage.received_at.is_(None)) == 0
    verified = runner.invoke(args=["audit", "verify"])
    assert verified.exit_code == 0, verified.output


@pytest.mark.sqlite_only  # SQLite's single writer: PostgreSQL writers wait only on the rows they touch
def test_another_process_writes_between_two_batches(app, database_url, tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """While `flask intake import` runs in its own process, writers here (as a web worker writes: this
    process's engine and database.WriterTurns) each get SQLite's write lock at the end of the batch in
    progress when they asked, not after the import or their timeout: the importer leaves the lock free for
    batches.GAP_SECONDS after each commit. They poll every millisecond, half as often as the service's
    writers do, so that they cannot get in by luck between the importer's commit and its next statement
    (well under a millisecond when the next message is read already): only the gap lets them in."""
    monkeypatch.setattr(WriterTurns, "POLL_SECONDS", 2 * WriterTurns.POLL_SECONDS)
    for n in range(5):
        make_customer(app, f"c{n}@example.com", password=None)
    total, batch = 1500, 20
    path = tmp_path / "export.mbox"
    write_mbox(path, total)
    env = {**os.environ, "APP_ENV": "testing", "DATABASE_URL": database_url, "PUBLIC_BASE_URL": "https://x.example"}
    importer = subprocess.Popen(
        [sys.executable, "-m", "flask", "--app", "wsgi", "intake", "import", "--batch", str(batch), str(path)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    file = database_url.removeprefix("sqlite:///")
    reader = sqlite3.connect(file)  # WAL: reads what is committed without asking for the lock

    def committed() -> int:
        return int(reader.execute("SELECT count(*) FROM inbound_messages").fetchone()[0])

    turns: list[tuple[int, int, float]] = []  # messages committed when asked, when the lock came; seconds
    try:
        deadline = time.monotonic() + 120
        while committed() < 2 * batch and importer.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        with app.app_context():
            db.engine.dispose()  # the fixture's connections: this process's writers start afresh
            for n in range(8):
                asked, started = committed(), time.perf_counter()
                with db.engine.begin() as connection:  # BEGIN IMMEDIATE, through database.WriterTurns
                    waited = time.perf_counter() - started
                    stored = connection.execute(select(func.count()).select_from(InboundMessage)).scalar_one()
                    connection.execute(update(Customer).where(Customer.email == "c0@example.com").values(name=f"{n}"))
                turns.append((asked, stored, waited))
                time.sleep(0.05)
        assert importer.wait(timeout=300) == 0
    finally:
        if importer.poll() is None:
            importer.kill()
            importer.wait(timeout=30)
        reader.close()
    print("writer turns during the import (committed when asked, when locked, seconds waited):", turns)
    for asked, stored, _waited in turns:
        # Got in while the import went on, within the batch in progress when it asked (batches end on
        # `batch` messages, or sooner: BATCH_SECONDS, or a message whose reading is not done yet).
        assert asked <= stored <= asked + batch < total
    assert count(app, InboundMessage) == total


@pytest.mark.real_commits
@pytest.mark.settings(INTAKE_PARSE_SECONDS=2)
def test_a_batch_is_committed_before_a_long_wait_for_a_reading(app, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """The next message is still being read past batches.READING_GRACE_SECONDS: what the batch holds is
    committed, and the write lock left free, while the importer waits for it (here for hostile mail read
    to its deadline): another connection writes meanwhile, and finds the first message committed."""
    from incident_service.intake import batches
    from incident_service.intake.batches import LOOKAHEAD, import_messages
    from incident_service.intake.parser_process import read_ahead
    from incident_service.intake.parsing import Limits

    monkeypatch.setattr(batches, "BATCH_SECONDS", 60.0)  # only the wait for the reading ends the batch
    # Children started first (a start takes about a second), so that the first batch is not committed
    # early for its BATCH_SECONDS while its first message waits for one.
    for reading in [read_ahead(GOOD, authserv_id="mx.ecc.example", limits=Limits()) for _ in range(LOOKAHEAD + 1)]:
        reading.result()
    seen: list[tuple[int, bool]] = []  # messages committed, as another writer saw them; import running?

    def run_import() -> None:
        with app.app_context():
            import_messages([("1", GOOD), ("2", SLOW), ("3", GOOD + b"again\r\n")], done=lambda *_: None)

    importer = threading.Thread(target=run_import)
    importer.start()
    with app.app_context():
        while importer.is_alive():
            with db.engine.begin() as connection:  # a writer (SQLite: BEGIN IMMEDIATE, the write lock)
                stored = connection.execute(select(func.count()).select_from(InboundMessage)).scalar_one()
                connection.execute(update(Customer).values(name="x"))
            seen.append((stored, importer.is_alive()))
            time.sleep(0.01)
    importer.join()
    # While the hostile message was being read (up to its 2 s deadline), the first was committed and
    # this writer got in again and again; holding the lock meanwhile would show 0, then 3 at the end.
    assert sum(1 for stored, running in seen if stored == 1 and running) >= 10, seen
    assert count(app, InboundMessage) == 3


@pytest.mark.settings(INTAKE_PARSE_SECONDS=1)
def test_hostile_mail_stops_at_its_deadline_and_the_import_goes_on(app, runner, tmp_path) -> None:  # type: ignore[no-untyped-def]
    folder = tmp_path / "mail"
    folder.mkdir()
    (folder / "1.eml").write_bytes(GOOD)
    (folder / "2.eml").write_bytes(SLOW)
    for n in range(3, 6):
        (folder / f"{n}.eml").write_bytes(GOOD.replace(b"Subject: lost", f"Subject: lost {n}".encode()))
    result = runner.invoke(args=["intake", "import", str(folder)])
    assert result.exit_code == 0, result.output
    assert "1 quarantined, 4 reported" in result.output
    with app.app_context():
        hostile = db.session.execute(select(InboundMessage).where(InboundMessage.raw == SLOW)).scalar_one()
        assert hostile.quarantine_reason == "parse_time" and (hostile.import_source or "").endswith("2.eml")
    # The child that read it was killed, not left reading in the background: every child still
    # running is an idle one, and nothing is being read.
    running = {child.pid for child in multiprocessing.active_children() if child.name == "intake-parser"}
    assert running <= {child.process.pid for child in PARSERS._idle}
    assert PARSERS.reading == 0


def test_a_bug_in_a_batch_keeps_that_message_and_stores_the_others(app, runner, monkeypatch, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """The batch is rolled back and stored again a message at a time: the bug's message is kept
    quarantined with the error, the others reported, each counted once."""
    import incident_service.intake.service as intake

    real = intake._details

    def buggy(parsed):  # type: ignore[no-untyped-def]
        if parsed.from_address == "bug@example.com":
            raise RuntimeError("a bug")
        return real(parsed)

    # Where both paths pass (the batch's set-based one, and a message at a time): the report's details.
    monkeypatch.setattr(intake, "_details", buggy)
    folder = tmp_path / "mail"
    folder.mkdir()
    for n, sender in enumerate(["a@example.com", "bug@example.com", "b@example.com"]):
        (folder / f"{n}.eml").write_bytes(GOOD.replace(b"an@example.com", sender.encode()))
    result = runner.invoke(args=["intake", "import", str(folder)])
    assert result.exit_code == 0, result.output
    assert "imported 3 messages: 1 quarantined, 2 reported" in result.output
    with app.app_context():
        kept = db.session.execute(select(InboundMessage).order_by(InboundMessage.id)).scalars().all()
        assert [(m.from_address, m.status) for m in kept] == [
            ("a@example.com", "reported"),
            (None, "quarantined"),
            ("b@example.com", "reported"),
        ]
        assert kept[1].quarantine_reason == "processing_error" and "a bug" in (kept[1].quarantine_detail or "")
    assert count(app, Report) == 2 and events(app, "email:message:received") == 2  # as record_message does
    assert events(app, "email:message:quarantined") == 1


def test_a_reading_whose_child_died_is_read_again_once() -> None:
    """A child killed from outside while it holds a message read ahead costs no report; cancel stops a
    child still reading."""
    from incident_service.intake.parser_process import read_ahead
    from incident_service.intake.parsing import Limits

    reading = read_ahead(GOOD, authserv_id="mx.ecc.example", limits=Limits())
    child = reading._child
    assert child is not None and child.process.pid is not None
    os.kill(child.process.pid, signal.SIGKILL)
    child.process.join(10)
    assert reading.result().subject == "lost"
    assert PARSERS.reading == 0

    slow = read_ahead(SLOW, authserv_id="mx.ecc.example", limits=Limits(max_seconds=60))
    assert slow._child is not None and PARSERS.reading == 1
    slow.cancel()  # the child reading it is killed (and joined), not left reading
    assert PARSERS.reading == 0
    running = {child.pid for child in multiprocessing.active_children() if child.name == "intake-parser"}
    assert running <= {child.process.pid for child in PARSERS._idle}


def test_a_batch_whose_commit_fails_is_stored_one_message_at_a_time(app, runner, monkeypatch, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """The batch commit fails (the disk, the server): nothing of it is counted from that commit, and
    each of its messages is stored again with its own commit, once."""
    from sqlalchemy.exc import OperationalError

    real_commit = db.session.commit
    failures: list[bool] = []

    def commit_failing_once() -> None:
        if not failures:
            failures.append(True)
            db.session.rollback()
            raise OperationalError("COMMIT", None, Exception("disk I/O error"))
        real_commit()

    monkeypatch.setattr(db.session, "commit", commit_failing_once)
    folder = tmp_path / "mail"
    folder.mkdir()
    for n in range(3):
        (folder / f"{n}.eml").write_bytes(GOOD.replace(b"Subject: lost", f"Subject: lost {n}".encode()))
    result = runner.invoke(args=["intake", "import", str(folder)])
    assert result.exit_code == 0, result.output
    assert failures and "imported 3 messages: 3 reported" in result.output
    assert count(app, InboundMessage) == 3 and count(app, Report) == 3
    assert events(app, "email:message:received") == 3
