"""Faults survived with nothing lost, with real processes where it matters (issue 6)."""

from __future__ import annotations

import asyncio
import email
import os
import signal
import smtplib
import subprocess
import sys
import threading
import time
from email import policy
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import func, select

from incident_service.audit.models import AuditEvent
from incident_service.audit.service import verify_chain
from incident_service.extensions import db
from incident_service.incidents.models import Incident, Report
from incident_service.intake.smtpd import IntakeController
from incident_service.notifications.models import OutboxMessage
from incident_service.reactivation.models import ResetGrant
from tests.helpers import LINK_RE, CollectingHandler, csrf_from, deliver, free_port, submit

ROOT = Path(__file__).resolve().parents[2]


class StallThenAccept(CollectingHandler):
    """Holds the first DATA until released (never accepting it), then accepts everything."""

    def __init__(self) -> None:
        super().__init__()
        self.stalled = threading.Event()
        self.release: asyncio.Event | None = None
        self.first = True

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.first:
            self.first = False
            self.release = asyncio.Event()
            self.stalled.set()
            await self.release.wait()
            return "451 4.3.0 Gave up waiting"
        return await super().handle_DATA(server, session, envelope)


def worker(database_url: str, mail_port: int) -> subprocess.Popen[str]:
    env = {
        **os.environ,
        "APP_ENV": "testing",
        "DATABASE_URL": database_url,
        "MAIL_PORT": str(mail_port),
        "PUBLIC_BASE_URL": "https://security.ecc.example",
        "OUTBOX_LEASE_SECONDS": "2",
    }
    return subprocess.Popen(
        [sys.executable, "-m", "flask", "--app", "wsgi", "outbox", "work", "--interval", "0.2"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_until(check, what: str, seconds: float = 30.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.1)
    pytest.fail(f"timed out waiting for {what}")


def test_worker_killed_mid_send_delivers_after_restart(app, database_url, customer_id) -> None:  # type: ignore[no-untyped-def]
    submit(app.test_client(), "/report", {"email": "an@example.com", "kind": "stolen"})
    with app.app_context():
        queued = db.session.execute(select(OutboxMessage)).scalar_one()
        message_id = queued.message_id
        assert queued.raw is None  # rendered by the worker, before its first attempt
    handler = StallThenAccept()
    port = free_port()
    relay = Controller(handler, hostname="127.0.0.1", port=port)
    relay.start()
    try:
        first = worker(database_url, port)
        try:
            assert handler.stalled.wait(30), "the worker never started sending"
        finally:
            first.send_signal(signal.SIGKILL)
            first.communicate(timeout=10)
        with app.app_context():
            # The bytes the dead worker was sending were committed before it began: a restart sends them.
            link = LINK_RE.search(
                email.message_from_bytes(
                    db.session.execute(select(OutboxMessage.raw)).scalar_one(), policy=policy.default
                )
                .get_body(("plain",))
                .get_content()
            ).group(0)
        relay.loop.call_soon_threadsafe(handler.release.set)  # type: ignore[union-attr]
        assert handler.messages == []
        second = worker(database_url, port)
        try:
            wait_until(lambda: len(handler.messages) == 1, "delivery after the restart")
            time.sleep(1)  # nothing more arrives: sent once
        finally:
            second.terminate()
            second.communicate(timeout=10)
    finally:
        relay.stop()
    assert len(handler.messages) == 1
    delivered = handler.messages[0][2]
    assert delivered["Message-ID"] == message_id
    assert LINK_RE.search(delivered.get_body(("plain",)).get_content()).group(0) == link  # type: ignore[union-attr]
    with app.app_context():
        assert db.session.execute(select(OutboxMessage.status)).scalar_one() == "sent"


def test_fifty_concurrent_reports_through_web_and_email(app, customer_id) -> None:  # type: ignore[no-untyped-def]
    port = free_port()
    listener = IntakeController(app, host="127.0.0.1", port=port)
    listener.start()
    clients = [app.test_client() for _ in range(25)]
    tokens = [csrf_from(c.get("/report").get_data(as_text=True)) for c in clients]
    barrier = threading.Barrier(50)
    outcomes: list[int] = []

    def by_web(client, token) -> None:  # type: ignore[no-untyped-def]
        barrier.wait()
        outcomes.append(
            client.post("/report", data={"email": "an@example.com", "kind": "stolen", "csrf_token": token}).status_code
        )

    def by_email(n: int) -> None:
        raw = (
            f"From: an@example.com\r\nTo: security@ecc.example\r\nSubject: lost {n}\r\n"
            f"Message-ID: <burst-{n}@example.com>\r\n\r\nmy password leaked\r\n"
        ).encode()
        barrier.wait()
        with smtplib.SMTP("127.0.0.1", port, timeout=30) as smtp:
            outcomes.append(smtp.sendmail("an@example.com", ["security@ecc.example"], raw) and 500 or 250)

    threads = [threading.Thread(target=by_web, args=pair) for pair in zip(clients, tokens, strict=False)]
    threads += [threading.Thread(target=by_email, args=(n,)) for n in range(25)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
    finally:
        listener.stop()
    assert sorted(outcomes) == [250] * 25 + [303] * 25  # SMTP accepted; web sent on to the receipt
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Report)) == 50
        assert db.session.scalar(select(func.count()).select_from(Incident)) == 1
        assert (
            db.session.scalar(
                select(func.count())
                .select_from(ResetGrant)
                .where(ResetGrant.used_at.is_(None), ResetGrant.revoked_at.is_(None))
            )
            == 1
        )
        # One acknowledgement, and one short "already in hand" reply to the emails that joined it (once
        # per resend window, however many emails raced in).
        templates = sorted(db.session.execute(select(OutboxMessage.template)).scalars())
        assert templates == ["acknowledgement", "report_in_hand"]
        assert db.session.scalar(select(func.count()).select_from(Report).where(Report.incident_id.is_(None))) == 0
        assert verify_chain().ok  # concurrent writers, still one line
        # Each state change is recorded once, however many reports raced for it (issue 11, item 7).
        actions = db.session.scalars(select(AuditEvent.action)).all()
        for change in ("incident:opened", "credential:locked", "sessions:revoked", "reset_grant:issued"):
            assert sum(action.endswith(change) for action in actions) == 1, change
        assert sum(action.endswith("report:received") for action in actions) == 50


@pytest.mark.settings(MAIL_PORT=0)
def test_permanent_failure_is_visible_in_console_and_metrics(app, staff_login, customer_id) -> None:  # type: ignore[no-untyped-def]
    class Refuse(CollectingHandler):
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            return "550 5.1.1 No such user"

    port = free_port()
    relay = Controller(Refuse(), hostname="127.0.0.1", port=port)
    relay.start()
    app.extensions["mail"].port = port
    try:
        submit(app.test_client(), "/report", {"email": "an@example.com", "kind": "stolen"})
        deliver(app)
    finally:
        relay.stop()
    with app.app_context():
        incident_id = db.session.execute(select(Incident.id)).scalar_one()
    page = staff_login("support").get(f"/console/incidents/{incident_id}", headers={"Accept-Language": "en"})
    html = page.get_data(as_text=True)
    assert 'badge-failed">Failed' in html and "550 5.1.1 No such user" in html
    queue = staff_login("support").get("/console/incidents", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert "could not be delivered" in queue and "an@example.com" in queue.split("undelivered")[1]
    assert "incident_service_delivery_failures_total 1.0" in app.test_client().get("/metrics").get_data(as_text=True)


def test_relay_down_while_reports_arrive(app, customer_id) -> None:  # type: ignore[no-untyped-def]
    from tests.helpers import make_customer

    for n in range(3):
        make_customer(app, f"c{n}@example.com", password=None)
    app.extensions["mail"].port = port = free_port()  # nothing listens: the relay is down
    for n in range(3):
        assert submit(app.test_client(), "/report", {"email": f"c{n}@example.com", "kind": "lost"}).status_code == 303
    with app.app_context():
        from incident_service.customers.models import Customer

        assert all(c.is_locked for c in db.session.execute(select(Customer).where(Customer.email.like("c%"))).scalars())
    deliver(app)  # every message deferred
    handler = CollectingHandler()
    relay = Controller(handler, hostname="127.0.0.1", port=port)
    relay.start()
    try:
        with app.app_context():
            for message in db.session.execute(select(OutboxMessage)).scalars():
                message.next_attempt_at = message.created_at  # the backoff has passed
            db.session.commit()
        deliver(app)
        deliver(app)
    finally:
        relay.stop()
    assert sorted(rcpts[0] for _s, rcpts, _m in handler.messages) == [
        "c0@example.com",
        "c1@example.com",
        "c2@example.com",
    ]


def test_two_workers_never_send_a_message_twice(app, smtp_sink) -> None:  # type: ignore[no-untyped-def]
    from incident_service.notifications.delivery import deliver_due
    from tests.helpers import make_customer

    for n in range(40):
        make_customer(app, f"w{n}@example.com", password=None)
        submit(app.test_client(), "/report", {"email": f"w{n}@example.com", "kind": "lost"})
    barrier = threading.Barrier(2)

    def work() -> None:
        with app.app_context():
            barrier.wait()
            while deliver_due(limit=5).handled:
                pass

    workers = [threading.Thread(target=work) for _ in range(2)]
    for thread in workers:
        thread.start()
    for thread in workers:
        thread.join(timeout=120)
    ids = [message["Message-ID"] for _sender, _rcpts, message in smtp_sink.messages]
    assert len(ids) == 40 and len(set(ids)) == 40


@pytest.mark.settings(LINK_RESEND_WINDOW_SECONDS=0)
def test_resets_and_reports_racing_on_one_customer(app, smtp_sink, customer_id) -> None:  # type: ignore[no-untyped-def]
    """Review of issue 11: a reset used to lock its grant, spend its argon2 time, then wait for the
    audit chain, while a report held the chain and waited for the grant (a deadlock on PostgreSQL). Now
    argon2 runs with nothing held and every writer takes chain, customer, grant in that order: two
    resets through one link and reports at the same moment give one reset, and nobody errs."""
    submit(app.test_client(), "/report", {"email": "an@example.com", "kind": "stolen"})
    deliver(app)
    link = LINK_RE.search(smtp_sink.to("an@example.com")[0].get_body(("plain",)).get_content()).group(0)  # type: ignore[union-attr]
    path = link.removeprefix("https://security.ecc.example")
    resetters = [app.test_client() for _ in range(2)]
    tokens = []
    for client in resetters:
        client.get(path)
        tokens.append(csrf_from(client.get("/reset").get_data(as_text=True)))
    reporters = [app.test_client() for _ in range(4)]
    report_tokens = [csrf_from(c.get("/report").get_data(as_text=True)) for c in reporters]
    barrier = threading.Barrier(6)
    outcomes: list[tuple[str, int]] = []

    def reset(client, token, n) -> None:  # type: ignore[no-untyped-def]
        password = f"a whole new passphrase number {n}"
        barrier.wait()
        outcomes.append(
            (
                "reset",
                client.post(
                    "/reset", data={"password": password, "password_confirm": password, "csrf_token": token}
                ).status_code,
            )
        )

    def report(client, token) -> None:  # type: ignore[no-untyped-def]
        barrier.wait()
        outcomes.append(
            (
                "report",
                client.post(
                    "/report", data={"email": "an@example.com", "kind": "lost", "csrf_token": token}
                ).status_code,
            )
        )

    threads = [
        threading.Thread(target=reset, args=(c, t, n)) for n, (c, t) in enumerate(zip(resetters, tokens, strict=False))
    ]
    threads += [threading.Thread(target=report, args=pair) for pair in zip(reporters, report_tokens, strict=False)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert sorted(code for kind, code in outcomes if kind == "report") == [303] * 4
    assert sorted(code for kind, code in outcomes if kind == "reset") in ([200, 400], [400, 400])
    with app.app_context():
        actions = db.session.scalars(select(AuditEvent.action)).all()
        assert sum(action.endswith("password:reset") for action in actions) <= 1
        assert verify_chain().ok
