"""The outbox worker: claim due messages, send them over SMTP, record the outcome (docs/security.md E1, E2).

Delivery is at least once: a message is marked sent only after the relay accepted it, and a worker
that dies mid-send leaves a lease that expires, so another run sends the same bytes (same
Message-ID, same link) again.
"""

from __future__ import annotations

import smtplib
import socket
import ssl
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Callable

from flask import current_app
from flask_mail import Connection
from sqlalchemy import bindparam, or_, select, update

from ..audit.actions import Event, Source, tag
from ..audit.service import NewEvent, append_event, append_events
from ..database import table_of, utcnow
from ..extensions import db
from .models import OUTBOX_FAILED, OUTBOX_QUEUED, OUTBOX_SENT, OutboxMessage
from .service import BodyLines, preload_rows, render_queued


def lease() -> timedelta:
    """How long a claimed message is a worker's before another may retry it (OUTBOX_LEASE_SECONDS)."""
    return timedelta(seconds=current_app.config["OUTBOX_LEASE_SECONDS"])


BACKOFF_BASE_SECONDS = 30
BACKOFF_CEILING = timedelta(hours=1)


class VerifiedConnection(Connection):
    """Flask-Mail's connection with what it lacks by default: timeouts and certificate checks (E2)."""

    def configure_host(self) -> smtplib.SMTP | smtplib.SMTP_SSL:
        config = current_app.config
        timeout = config["MAIL_TIMEOUT_SECONDS"]
        context = ssl.create_default_context(cafile=config.get("MAIL_CA_FILE") or None)
        host: smtplib.SMTP | smtplib.SMTP_SSL
        if self.mail.use_ssl:
            host = smtplib.SMTP_SSL(self.mail.server, self.mail.port, timeout=timeout, context=context)
        else:
            host = smtplib.SMTP(self.mail.server, self.mail.port, timeout=timeout)
        if self.mail.use_tls:
            host.starttls(context=context)
        if self.mail.username and self.mail.password:
            host.login(self.mail.username, self.mail.password)
        return host


class TemporaryFailure(Exception):
    pass


class PermanentFailure(Exception):
    pass


def _reply_text(code: int, text: bytes | str) -> str:
    body = text.decode("utf-8", "replace") if isinstance(text, bytes) else text
    return f"{code} {body}".strip()


def send_raw(host: smtplib.SMTP, sender: str, recipient: str, raw: bytes) -> str:
    """One SMTP transaction; returns the relay's reply to DATA, or raises Temporary/PermanentFailure."""
    host.ehlo_or_helo_if_needed()
    steps: tuple[tuple[str, Callable[[], tuple[int, bytes]], tuple[int, ...]], ...] = (
        ("MAIL FROM", lambda: host.mail(sender), (250,)),
        ("RCPT TO", lambda: host.rcpt(recipient), (250, 251)),
    )
    for step, call, ok in steps:
        code, text = call()
        if code not in ok:
            host.rset()
            failure = PermanentFailure if 500 <= code < 600 else TemporaryFailure
            raise failure(f"{step}: {_reply_text(code, text)}")
    code, text = host.data(raw)
    if code != 250:
        failure = PermanentFailure if 500 <= code < 600 else TemporaryFailure
        raise failure(f"DATA: {_reply_text(code, text)}")
    return _reply_text(code, text)


def backoff(attempts: int) -> timedelta:
    """30 s, 1 min, 2 min, … capped at an hour."""
    return min(timedelta(seconds=BACKOFF_BASE_SECONDS * 2 ** max(attempts - 1, 0)), BACKOFF_CEILING)


@dataclass
class DeliveryRun:
    sent: int = 0
    retried: int = 0
    failed: int = 0

    @property
    def handled(self) -> int:
        return self.sent + self.retried + self.failed


def claim_due(now: datetime, limit: int) -> list[int]:
    """Lease up to `limit` due messages to this worker and commit the lease."""
    query = (
        select(OutboxMessage)
        .where(
            OutboxMessage.status == OUTBOX_QUEUED,
            OutboxMessage.next_attempt_at <= now,
            or_(OutboxMessage.leased_until.is_(None), OutboxMessage.leased_until < now),
        )
        .order_by(OutboxMessage.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    messages = db.session.execute(query).scalars().all()
    for message in messages:
        message.leased_until = now + lease()
    ids = [message.id for message in messages]
    db.session.commit()
    return ids


class _Accepted:
    """What the relay accepted, written in groups: marked sent, live bytes cleared (the record keeps
    raw_redacted, so no working link stays in the database), audited with the time of each acceptance.
    Delivery is at-least-once (E1): a worker killed before a group is committed re-sends at most that
    group, with the same Message-ID and link; one commit per email would halve the sending rate."""

    def __init__(self, clock: Callable[[], datetime], run: DeliveryRun, size: int = 20) -> None:
        self.clock, self.run, self.size = clock, run, size
        self.items: list[tuple[Any, str, datetime]] = []

    def add(self, message: Any, reply: str) -> None:
        self.items.append((message, reply[:1000], self.clock()))
        if len(self.items) >= self.size:
            self.flush()

    def flush(self) -> None:
        if not self.items:
            return
        db.session.execute(
            update(table_of(OutboxMessage))
            .where(OutboxMessage.id == bindparam("b_id"))
            .values(
                attempts=OutboxMessage.attempts + 1,
                leased_until=None,
                status=OUTBOX_SENT,
                sent_at=bindparam("b_at"),
                smtp_reply=bindparam("b_reply"),
                raw=None,
            ),
            [{"b_id": message.id, "b_at": at, "b_reply": reply} for message, reply, at in self.items],
        )
        append_events(
            [
                NewEvent(
                    tag(Source.WORKER, Event.EMAIL_SENT),
                    message.customer_id,
                    message.incident_id,
                    at=at,
                    data={"outbox_id": message.id, "message_id": message.message_id, "smtp_reply": reply},
                )
                for message, reply, at in self.items
            ],
            actor="outbox-worker",
            now=self.items[-1][2],
        )
        db.session.commit()
        self.run.sent += len(self.items)
        self.items = []


def _record(message_id: int, outcome: Exception, clock: Callable[[], datetime], run: DeliveryRun) -> None:
    """The relay (or rendering) failed: retry later with backoff, or fail for good."""
    now = clock()
    message = db.session.get(OutboxMessage, message_id)
    assert message is not None
    message.attempts += 1
    message.leased_until = None
    message.last_error = f"{type(outcome).__name__}: {outcome}"[:1000]
    permanent = isinstance(outcome, PermanentFailure)
    if permanent or message.attempts >= current_app.config["OUTBOX_MAX_ATTEMPTS"]:
        message.status = OUTBOX_FAILED
        action, run.failed = tag(Source.WORKER, Event.EMAIL_FAILED), run.failed + 1
    else:
        message.next_attempt_at = now + backoff(message.attempts)
        action, run.retried = tag(Source.WORKER, Event.EMAIL_DEFERRED), run.retried + 1
    current_app.logger.warning("outbox: message %s %s: %s", message.id, action.rsplit(":", 1)[1], message.last_error)
    append_event(
        action,
        actor="outbox-worker",
        now=now,
        customer_id=message.customer_id,
        incident_id=message.incident_id,
        data={"outbox_id": message.id, "attempts": message.attempts, "error": message.last_error},
    )
    db.session.commit()


def _render_batch(ids: list[int], clock: Callable[[], datetime], run: DeliveryRun) -> None:
    """Render the claimed emails not yet rendered and commit their bytes in one go, before the first
    attempt: a retry, or a worker that restarts after dying mid-send, sends the same message. An email
    that cannot be rendered (a row it names was deleted, a template error) fails for good, visibly."""
    messages = (
        db.session.execute(select(OutboxMessage).where(OutboxMessage.id.in_(ids), OutboxMessage.raw.is_(None)))
        .scalars()
        .all()
    )
    held = preload_rows(messages)  # the identity map keeps rows only while someone holds them
    lines = BodyLines()  # the batch's emails share most body lines: each is encoded once
    broken: list[tuple[int, Exception]] = []
    for message in messages:
        try:
            render_queued(message, lines)  # changes the row only once everything rendered: no savepoint needed
        except Exception as exc:  # noqa: BLE001 - whatever it is, the email must show as failed, not vanish
            current_app.logger.exception("outbox: message %s could not be rendered", message.id)
            broken.append((message.id, exc))
    db.session.commit()
    del held, lines
    for message_id, error in broken:
        _record(message_id, PermanentFailure(f"could not be rendered: {type(error).__name__}: {error}"), clock, run)


class Pacer:
    """Spaces sends so that no more than `rate` go out per second (0: no limit), so a burst after a
    breach does not flood the relay. Time and sleep are injected for tests."""

    def __init__(
        self, rate: float, monotonic: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep
    ) -> None:
        self.interval = 1.0 / rate if rate > 0 else 0.0
        self.monotonic, self.sleep = monotonic, sleep
        self.next_at: float | None = None

    def wait(self) -> None:
        if not self.interval:
            return
        now = self.monotonic()
        if self.next_at is not None and now < self.next_at:
            self.sleep(self.next_at - now)
            now = self.next_at
        self.next_at = now + self.interval


def deliver_due(*, clock: Callable[[], datetime] = utcnow, limit: int = 100, pacer: Pacer | None = None) -> DeliveryRun:
    """Send every due message once over one SMTP connection. Each failure is committed as it happens,
    acceptances in small groups (_Accepted); a worker stopped mid-batch commits what was accepted."""
    run = DeliveryRun()
    pacer = pacer or Pacer(float(current_app.config["OUTBOX_MAX_PER_SECOND"]))
    ids = claim_due(clock(), limit)
    if not ids:
        return run
    try:
        connection = VerifiedConnection(current_app.extensions["mail"])
        connection.host = connection.configure_host()
    except (OSError, smtplib.SMTPException, ssl.SSLError) as exc:
        current_app.logger.warning("mail relay unavailable: %s", exc)
        for message_id in ids:
            _record(message_id, TemporaryFailure(f"relay unavailable: {exc}"), clock, run)
        return run
    host = connection.host
    accepted = _Accepted(clock, run)
    try:
        _render_batch(ids, clock, run)
        ready = db.session.execute(
            select(
                OutboxMessage.id,
                OutboxMessage.sender,
                OutboxMessage.to_address,
                OutboxMessage.raw,
                OutboxMessage.customer_id,
                OutboxMessage.incident_id,
                OutboxMessage.message_id,
            )
            .where(OutboxMessage.id.in_(ids), OutboxMessage.status == OUTBOX_QUEUED, OutboxMessage.raw.is_not(None))
            .order_by(OutboxMessage.id)
        ).all()
        db.session.commit()
        for message in ready:
            if pacer.interval:
                accepted.flush()  # a paced worker waits anyway: nothing is gained by holding outcomes
            pacer.wait()
            try:
                outcome: Exception | str = send_raw(host, message.sender, message.to_address, message.raw)
            except (TemporaryFailure, PermanentFailure) as exc:
                outcome = exc
            except (OSError, smtplib.SMTPException, socket.timeout) as exc:
                outcome = TemporaryFailure(str(exc) or type(exc).__name__)
            if isinstance(outcome, str):
                accepted.add(message, outcome)
            else:
                accepted.flush()  # the audit log keeps the order things happened in
                _record(message.id, outcome, clock, run)
        accepted.flush()
    except BaseException:
        accepted.flush()  # a worker told to stop (or failing) still records what the relay took
        raise
    finally:
        try:
            host.quit()
        except (OSError, smtplib.SMTPException):
            pass
    return run
