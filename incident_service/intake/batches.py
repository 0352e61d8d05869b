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
BATCH_SECONDS = 0.25
# Then the lock is left free for 40 % of the time it was held, up to GAP_SECONDS. Another process's writer
# waiting for it polls (every half millisecond for the service's own, database.WriterTurns; SQLite's busy
# handler, sleeping up to 100 ms between tries, for any other program): without such a gap, an importer
# that begins its next batch the moment it commits could keep a web report waiting until its lock
# timeout (503). Reading the next messages in children goes on meanwhile.
GAP_SHARE, GAP_SECONDS = 0.4, 0.1
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
    if open_batch.messages and reading is not None and not reading.ready():
        # Nothing is locked while untrusted mail is read (ingest_message): what the batch holds is
        # committed before waiting for a child still reading, not kept under the write lock meanwhile.
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
