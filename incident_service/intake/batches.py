"""Importing many messages: read a batch ahead in child processes, then write it set-based and commit.

The files being imported are the durable copy, so nothing is acknowledged to anyone per message: the
importer commits every `batch` messages (or every BATCH_SECONDS, whichever comes first) instead of
once per message. A run killed mid-batch loses only that batch's uncommitted rows; a re-run stores
them exactly once, since byte-identical mail already stored is recognised by its SHA-256 (unique) and
changes nothing but an `email:message:already_stored` event.

Each message is read in its own child process with its own hard deadline (parser_process.Reading), the
next LOOKAHEAD while one is collected: parsing takes the machine's second core. A message whose reading
overruns is quarantined (`parse_time`), its child killed, and the import goes on with the next one.
Nothing is written while a batch is read; then its messages are written in order by intake.bulk.store_read
(most in a few multi-row inserts, those that decide something one at a time) and committed.
"""

from __future__ import annotations

import os
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Callable, Iterable

from flask import current_app
from sqlalchemy.exc import SQLAlchemyError

from ..database import utcnow
from ..extensions import db
from .bulk import store_read
from .models import VIA_IMPORT
from .parser_process import Reading
from .service import Envelope, ReadMessage, read_message, record_message, start_reading

# Messages being read while one is collected: one per core beside the importer's own. Each reading's deadline
# is wall time, so children competing for fewer cores could quarantine (parse_time) a message that the
# serial importer accepted.
LOOKAHEAD = max(1, (os.cpu_count() or 2) - 1)
# A batch is read for at most this long, and each transaction that writes it starts no further run of
# messages (intake.bulk.RUN_WINDOW at most) after this long: on SQLite a transaction holds the write lock,
# which web reports wait for. Reading holds nothing (nothing is written until the batch is read), so a web
# report arriving during an import waits for the write in progress only (docs/benchmarks.md, issue 17).
BATCH_SECONDS = 0.1
# Then, on SQLite, the lock is left free before the next batch takes it: for 40 % of the time the write held
# it, up to GAP_SECONDS. Without a gap an importer that begins its next batch the moment it commits could
# keep another process's writer waiting until its lock timeout (503). Every writer of the service (web
# workers, the outbox worker, the listener) waiting for the lock asks for it every half millisecond
# (database.WriterTurns, busy timeout 0), so GAP_SECONDS are ten chances: the first writer waiting takes
# the lock at the end of the write in progress, and the importer then waits its turn like any writer. A
# web report waiting during an import waits about one write at most (BATCH_SECONDS and one run at most;
# tests/intake/test_import_batches.py, measured in docs/benchmarks.md). A program outside the service
# writing with SQLite's own busy handler, which sleeps up to 100 ms between tries, would mostly miss such
# gaps; none writes to the service's database. (The cap was 0.1 s while writers backed off as SQLite's
# handler does: a quarter of the import's time, issue 17.) Reading the next messages goes on meanwhile.
GAP_SHARE, GAP_SECONDS = 0.4, 0.005
# A batch whose next message is still being read waits this long for it before the batch is written and
# committed, and the wait goes on with nothing pending. A reading takes a millisecond or two; when the
# importer caught up with the children and committed at once, batches were seven messages long, each commit
# an fsync and a gap (a fifth of the import's time, issue 17). Nothing is locked meanwhile: hostile mail
# read to its deadline keeps only its own batch, already written, from growing.
READING_GRACE_SECONDS = 0.02
DEFAULT_BATCH = 200

FAILED = "failed"  # not stored (the database refused it); the file is still there for a re-run


@dataclass
class _Batch:
    messages: list[tuple[str, bytes]] = field(default_factory=list)
    read: list[tuple[str, ReadMessage]] = field(default_factory=list)
    addresses: dict[str, str | None] = field(default_factory=dict)  # normalised, for store_read
    started: float = 0.0


def import_messages(
    messages: Iterable[tuple[str, bytes]], *, batch: int = DEFAULT_BATCH, done: Callable[[str, str], None]
) -> None:
    """Store every (label, raw) in order, as ingest_message would, committing in batches of `batch`
    messages or BATCH_SECONDS. `done(label, status)` is called for each message once its batch is committed.

    A batch is read first (its messages in child processes, nothing written meanwhile), then written
    set-based (intake.bulk.store_read) and committed. If a statement or a commit fails, or processing hits a
    bug, the batch is rolled back and its messages stored again one at a time with record_message (a
    commit each, a bug's message kept quarantined, a database failure reported as FAILED): nothing is
    counted that was not committed."""
    envelope = Envelope()
    ahead: deque[tuple[str, bytes, Reading | None]] = deque()
    open_batch = _Batch()
    try:
        for label, raw in messages:
            ahead.append((label, raw, _start(raw, envelope)))
            if len(ahead) > LOOKAHEAD:
                _collect(*ahead.popleft(), open_batch, batch, done)
        while ahead:
            _collect(*ahead.popleft(), open_batch, batch, done)
        _write(open_batch, done, last=True)
    finally:
        for _label, _raw, reading in ahead:
            if reading is not None:
                reading.cancel()  # an import stopped early leaves no child reading
        db.session.rollback()  # nothing half-stored stays in the session (a no-op after the last commit)


def _start(raw: bytes, envelope: Envelope) -> Reading | None:
    try:
        return start_reading(raw, envelope=envelope, via=VIA_IMPORT)
    except Exception:  # noqa: BLE001 - no child could start: read_message reads it itself
        current_app.logger.exception("intake import: could not start reading a message ahead")
        return None


def _collect(
    label: str, raw: bytes, reading: Reading | None, open_batch: _Batch, batch: int, done: Callable[[str, str], None]
) -> None:
    if open_batch.messages and (reading is None or not reading.ready(within=_grace(open_batch))):
        # What the batch holds is written and committed before waiting longer than READING_GRACE_SECONDS for
        # untrusted mail to be read (a child still reading, one that died, or none reading it), so that
        # hostile mail read to its deadline keeps nothing waiting.
        _write(open_batch, done)
    if not open_batch.messages:
        open_batch.started = time.monotonic()
    open_batch.messages.append((label, raw))
    try:
        open_batch.read.append((label, read_message(raw, envelope=Envelope(), via=VIA_IMPORT, reading=reading)))
    except Exception:  # noqa: BLE001 - a bug: the batch is stored one by one, which keeps this message quarantined
        current_app.logger.exception("intake import: reading %s failed; storing its batch one message at a time", label)
        _one_by_one(open_batch, done)
        return
    if len(open_batch.messages) >= batch or time.monotonic() - open_batch.started >= BATCH_SECONDS:
        _write(open_batch, done)


def _grace(open_batch: _Batch) -> float:
    """How long the open batch may wait for the next message's reading before it is written: at most
    READING_GRACE_SECONDS, and never past the batch's BATCH_SECONDS."""
    return max(0.0, min(READING_GRACE_SECONDS, open_batch.started + BATCH_SECONDS - time.monotonic()))


def _write(open_batch: _Batch, done: Callable[[str, str], None], *, last: bool = False) -> None:
    """Write the batch's messages and commit, in as many transactions as keep each under BATCH_SECONDS of
    the write lock, with a gap after each on SQLite."""
    while open_batch.read:
        began = time.monotonic()
        try:
            statuses = store_read(
                open_batch.read, now=utcnow(), until=began + BATCH_SECONDS, addresses=open_batch.addresses
            )
            db.session.commit()
        except Exception:  # noqa: BLE001 - a database failure or a bug: the batch is stored again, one by one
            current_app.logger.exception("intake import: storing a batch failed; storing it one message at a time")
            _one_by_one(open_batch, done)
            return
        for (label, _read), status in zip(open_batch.read, statuses, strict=False):
            done(label, status)
        del open_batch.read[: len(statuses)]
        del open_batch.messages[: len(statuses)]
        if (open_batch.read or not last) and db.engine.dialect.name == "sqlite":
            time.sleep(min((time.monotonic() - began) * GAP_SHARE, GAP_SECONDS))
    open_batch.addresses.clear()


def _one_by_one(open_batch: _Batch, done: Callable[[str, str], None]) -> None:
    db.session.rollback()
    for label, raw in open_batch.messages:
        try:
            status = record_message(raw, envelope=Envelope(), via=VIA_IMPORT, now=utcnow(), import_source=label)
        except SQLAlchemyError:
            status = FAILED
        done(label, status)
    open_batch.messages.clear()
    open_batch.read.clear()
