"""Importing many messages: read ahead in child processes, store in order, commit in batches.

The files being imported are the durable copy, so nothing is acknowledged to anyone per message: the
importer commits every `batch` messages (or every BATCH_SECONDS, whichever comes first) instead of
once per message. A run killed mid-batch loses only that batch's uncommitted rows; a re-run stores
them exactly once, since byte-identical mail already stored is recognised by its SHA-256 (unique) and
changes nothing but an `email:message:already_stored` event.

While one message is stored, the next LOOKAHEAD are being read, each in its own child process with
its own hard deadline (parser_process.Reading): parsing takes the machine's second core instead of
being waited for. A message whose reading overruns is quarantined (`parse_time`), its child killed,
and the import goes on with the next one.
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
from .models import VIA_IMPORT
from .parser_process import Reading
from .service import Envelope, ingest_message, record_message, start_reading

# Messages being read while one is stored: one per core beside the importer's own. Each reading's deadline
# is wall time, so children competing for fewer cores could quarantine (parse_time) a message that the
# serial importer accepted.
LOOKAHEAD = max(1, (os.cpu_count() or 2) - 1)
# At most this long between commits: on SQLite a batch holds the write lock, which web reports wait for.
# With the short gap below, a web report arriving during an import waits for the batch in progress: about
# half a batch, a batch at most (0.25 s gave 116 ms and 248 ms; 0.1 s gives 61 ms and 104 ms, for about
# 4 % of the import's speed: docs/benchmarks.md, issue 17).
BATCH_SECONDS = 0.1
# Then, on SQLite, the lock is left free before the next batch takes it: for 40 % of the time the batch held
# it, up to GAP_SECONDS. Without a gap an importer that begins its next batch the moment it commits could
# keep another process's writer waiting until its lock timeout (503). Every writer of the service (web
# workers, the outbox worker, the listener) waiting for the lock asks for it every half millisecond
# (database.WriterTurns, busy timeout 0), so GAP_SECONDS are ten chances: the first writer waiting takes
# the lock at the end of the batch in progress, and the importer then waits its turn like any writer. A
# web report waiting during an import waits about one batch at most (BATCH_SECONDS and a message;
# tests/intake/test_import_batches.py, measured in docs/benchmarks.md). A program outside the service
# writing with SQLite's own busy handler, which sleeps up to 100 ms between tries, would mostly miss such
# gaps; none writes to the service's database. (The cap was 0.1 s while writers backed off as SQLite's
# handler does: a quarter of the import's time, issue 17.) Reading the next messages goes on meanwhile.
GAP_SHARE, GAP_SECONDS = 0.4, 0.005
# A batch whose next message is still being read waits this long for it, holding the lock, before it
# commits and waits without the lock. A reading takes a few milliseconds; when the importer caught up with
# the children and committed at once, batches were seven messages long, each commit an fsync and a gap
# (a fifth of the import's time, issue 17). Hostile mail read to its deadline keeps the lock this much
# longer at most, within the batch's BATCH_SECONDS, which still bounds how long other writers wait.
READING_GRACE_SECONDS = 0.02
DEFAULT_BATCH = 200

FAILED = "failed"  # not stored (the database refused it); the file is still there for a re-run


@dataclass
class _Batch:
    messages: list[tuple[str, bytes]] = field(default_factory=list)
    statuses: list[str] = field(default_factory=list)
    started: float = 0.0


def import_messages(
    messages: Iterable[tuple[str, bytes]], *, batch: int = DEFAULT_BATCH, done: Callable[[str, str], None]
) -> None:
    """Store every (label, raw) in order through ingest_message, committing in batches of `batch`
    messages or BATCH_SECONDS. `done(label, status)` is called for each message once its batch is committed.

    If a statement or a commit fails, or processing hits a bug, the open batch is rolled back and its
    messages stored again one at a time with record_message (a commit each, a bug's message kept
    quarantined, a database failure reported as FAILED): nothing is counted that was not committed."""
    envelope = Envelope()
    ahead: deque[tuple[str, bytes, Reading | None]] = deque()
    open_batch = _Batch()
    try:
        for label, raw in messages:
            ahead.append((label, raw, _start(raw, envelope)))
            if len(ahead) > LOOKAHEAD:
                _store(*ahead.popleft(), open_batch, batch, done)
        while ahead:
            _store(*ahead.popleft(), open_batch, batch, done)
        _commit(open_batch, done, last=True)
    finally:
        for _label, _raw, reading in ahead:
            if reading is not None:
                reading.cancel()  # an import stopped early leaves no child reading
        db.session.rollback()  # nothing half-stored stays in the session (a no-op after the last commit)


def _start(raw: bytes, envelope: Envelope) -> Reading | None:
    try:
        return start_reading(raw, envelope=envelope, via=VIA_IMPORT)
    except Exception:  # noqa: BLE001 - no child could start: ingest_message reads it itself (and fails as a bug)
        current_app.logger.exception("intake import: could not start reading a message ahead")
        return None


def _store(
    label: str, raw: bytes, reading: Reading | None, open_batch: _Batch, batch: int, done: Callable[[str, str], None]
) -> None:
    if open_batch.messages and (reading is None or not reading.ready(within=_grace(open_batch))):
        # The write lock is not held while waiting for untrusted mail to be read (ingest_message), beyond
        # READING_GRACE_SECONDS: what the batch holds is committed before waiting for a child still reading,
        # one that died (the message is read again), or, with no child reading it, before ingest_message
        # reads it itself.
        _commit(open_batch, done)
    if not open_batch.messages:
        open_batch.started = time.monotonic()
    open_batch.messages.append((label, raw))
    try:
        outcome = ingest_message(
            raw, envelope=Envelope(), via=VIA_IMPORT, now=utcnow(), import_source=label, reading=reading
        )
    except Exception:  # noqa: BLE001 - a database failure or a bug: the batch is stored again, one by one
        if reading is not None:
            reading.cancel()
        current_app.logger.exception("intake import: storing %s failed; storing its batch one message at a time", label)
        _one_by_one(open_batch, done)
        return
    open_batch.statuses.append(outcome.status)
    if len(open_batch.messages) >= batch or time.monotonic() - open_batch.started >= BATCH_SECONDS:
        _commit(open_batch, done)


def _grace(open_batch: _Batch) -> float:
    """How long the open batch may wait, holding the lock, for the next message's reading: at most
    READING_GRACE_SECONDS, and never past the batch's BATCH_SECONDS."""
    return max(0.0, min(READING_GRACE_SECONDS, open_batch.started + BATCH_SECONDS - time.monotonic()))


def _commit(open_batch: _Batch, done: Callable[[str, str], None], *, last: bool = False) -> None:
    if not open_batch.messages:
        return
    try:
        db.session.commit()
    except SQLAlchemyError:
        current_app.logger.exception("intake import: a batch commit failed; storing it one message at a time")
        _one_by_one(open_batch, done)
        return
    for (label, _raw), status in zip(open_batch.messages, open_batch.statuses, strict=True):
        done(label, status)
    open_batch.messages.clear()
    open_batch.statuses.clear()
    if not last and db.engine.dialect.name == "sqlite":
        time.sleep(min((time.monotonic() - open_batch.started) * GAP_SHARE, GAP_SECONDS))


def _one_by_one(open_batch: _Batch, done: Callable[[str, str], None]) -> None:
    db.session.rollback()
    for label, raw in open_batch.messages:
        try:
            status = record_message(raw, envelope=Envelope(), via=VIA_IMPORT, now=utcnow(), import_source=label)
        except SQLAlchemyError:
            status = FAILED
        done(label, status)
    open_batch.messages.clear()
    open_batch.statuses.clear()
