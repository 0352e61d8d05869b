"""In-process benchmarks: the reset POST against its argon2 work, mass reactivation, outbox delivery."""

from __future__ import annotations

import logging
import socket
import time

from aiosmtpd.controller import Controller
from sqlalchemy import insert, select

from incident_service.customers.models import Customer
from incident_service.customers.password_policy import near_forms
from incident_service.customers.passwords import hashing
from incident_service.database import utcnow
from incident_service.extensions import db
from incident_service.incidents.breach import mass_reactivate
from incident_service.incidents.service import ReportSubmission, receive_report
from incident_service.notifications.delivery import deliver_due
from incident_service.reactivation.service import issue_reset_grant

from .common import best_of, throwaway_app

PASSWORD = "correct horse battery staple"


logging.getLogger("incident_service.access").setLevel(logging.WARNING)  # benchmarks print their own lines


def reset_post(runs: int = 5) -> dict[str, float]:
    """A reset POST end to end (CSRF form, grant check, P1–P3 incl. verifying each near form of the new
    password against the compromised hash, hashing, stamp, resolve, queue) against the argon2 work it
    must do: those verifications and one hash."""
    with throwaway_app(WTF_CSRF_ENABLED=False) as app:
        with app.test_request_context():
            customer = Customer(
                email="an@example.com",
                name="An",
                locale="vi",
                password_hash=hashing().hash(PASSWORD),
                security_stamp="s",
                created_at=utcnow(),
            )
            db.session.add(customer)
            db.session.commit()
        timings, argon = [], []
        for n in range(runs):
            with app.test_request_context():
                customer = db.session.execute(select(Customer)).scalar_one()
                customer.credential_state = "locked"
                _grant, link = issue_reset_grant(
                    customer, incident_id=None, source="console", actor="bench", now=utcnow()
                )
                db.session.commit()
                path = link.url().removeprefix(app.config["PUBLIC_BASE_URL"])
            client = app.test_client()
            client.get(path)
            new = f"a brand new passphrase number {n}"
            started = time.perf_counter()
            answer = client.post("/reset", data={"password": new, "password_confirm": new})
            timings.append(time.perf_counter() - started)
            assert answer.status_code == 200, answer.status_code
            with app.app_context():
                stored = db.session.execute(select(Customer.password_hash)).scalar_one()
                # P3 verifies each near form of the new password against the compromised hash (issue 11).
                forms = near_forms(new)
                argon.append(
                    best_of(
                        1,
                        lambda stored=stored, forms=forms, new=new: (
                            [hashing().verify(stored, form) for form in forms],
                            hashing().hash(new),
                        ),
                    )
                )
    reset_s, argon_s = min(timings), min(argon)
    return {"reset_s": reset_s, "argon2_s": argon_s, "ratio": reset_s / argon_s}


def seed_customers(count: int) -> None:
    now = utcnow()
    batch = []
    for n in range(count):
        batch.append(
            {
                "email": f"leaked{n}@example.com",
                "name": "",
                "locale": "vi",
                "credential_state": "active",
                "security_stamp": f"s{n}",
                "created_at": now,
            }
        )
        if len(batch) == 10_000:
            db.session.execute(insert(Customer), batch)
            batch = []
    if batch:
        db.session.execute(insert(Customer), batch)
    db.session.commit()


def mass(count: int = 100_000) -> dict[str, float]:
    with throwaway_app() as app, app.test_request_context():
        seed_customers(count)
        entries = [(n + 1, f"leaked{n}@example.com") for n in range(count)]
        started = time.perf_counter()
        outcome = mass_reactivate(entries, key="bench leak", dry_run=False, actor="bench", now=utcnow())
        elapsed = time.perf_counter() - started
        assert len(outcome.reactivated) == count
    return {"customers": count, "seconds": elapsed, "per_second": count / elapsed}


class Sink:
    def __init__(self) -> None:
        self.count = 0

    async def handle_DATA(self, server, session, envelope):  # type: ignore[no-untyped-def]
        self.count += 1
        return "250 OK"


def outbox(count: int = 2000) -> dict[str, float]:
    sink = Sink()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        with throwaway_app(MAIL_PORT=port) as app, app.test_request_context():
            seed_customers(count)
            now = utcnow()
            for n in range(count):
                receive_report(ReportSubmission(channel="web", address=f"leaked{n}@example.com", kind="lost"), now=now)
                if n % 500 == 0:
                    db.session.commit()
            db.session.commit()
            started = time.perf_counter()
            while deliver_due(limit=500).handled:
                pass
            elapsed = time.perf_counter() - started
    finally:
        controller.stop()
    assert sink.count == count, sink.count
    return {"emails": count, "seconds": elapsed, "per_second": count / elapsed}


if __name__ == "__main__":
    print(reset_post())
    print(outbox(300))
    print(mass(1000))
