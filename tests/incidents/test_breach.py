"""Mass reactivation from a leaked list: the same reactivation as a report, idempotent, with a dry run."""

from __future__ import annotations

import gc

import pytest
from sqlalchemy import func, select, update

from incident_service.audit.models import AuditEvent
from incident_service.audit.sequencer import integrate_all
from incident_service.customers.models import Customer
from incident_service.database import utcnow
from incident_service.extensions import db
from incident_service.incidents import breach
from incident_service.incidents.breach import mass_reactivate, read_breach_list
from incident_service.incidents.bulk import with_open_incident
from incident_service.incidents.models import Incident, Report
from incident_service.notifications.delivery import Pacer
from incident_service.notifications.models import OutboxMessage
from tests.helpers import make_customer, submit


def count(app, model, *where) -> int:  # type: ignore[no-untyped-def]
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(model).where(*where))


def test_reading_lists() -> None:
    plain = read_breach_list("an@example.com\n\n# a comment\nnot an address\nAN@example.com\nbinh@example.com\n")
    assert plain.entries == [(1, "an@example.com"), (6, "binh@example.com")]
    assert plain.invalid == [(4, "not an address")]
    table = read_breach_list("id,email,leaked_at\n1,an@example.com,2026-01-01\n2,,2026-01-02\n3,binh@example.com,x\n")
    assert table.entries == [(2, "an@example.com"), (4, "binh@example.com")] and table.invalid == [(3, "2,,2026-01-02")]


def test_mass_reactivation(app, runner, tmp_path) -> None:  # type: ignore[no-untyped-def]
    for name in ("an", "binh", "chi"):
        make_customer(app, f"{name}@example.com", password=None)
    submit(app.test_client(), "/report", {"email": "chi@example.com", "kind": "lost"})  # chi reported already
    leaked = tmp_path / "leak.txt"
    leaked.write_text("an@example.com\nbinh@example.com\nchi@example.com\nnobody@example.com\n???\n", encoding="utf-8")

    dry = runner.invoke(args=["incidents", "mass-reactivate", str(leaked), "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert "would reactivate 2, already open 1, already done in this breach 0, unknown 1, invalid lines 1" in dry.output
    assert "line 5: not an email address" in dry.output
    assert count(app, Incident) == 1 and count(app, OutboxMessage) == 1  # nothing changed

    done = runner.invoke(args=["incidents", "mass-reactivate", str(leaked), "--reason", "Leak of 2026-11-25"])
    assert "reactivated 2, already open 1" in done.output
    assert count(app, Incident) == 3 and count(app, Report, Report.channel == "breach_list") == 3
    assert count(app, Customer, Customer.credential_state == "locked") == 3
    assert count(app, OutboxMessage) == 3

    # The same list again: nothing changes, even after the customers have reset their passwords.
    with app.app_context():
        for incident in db.session.execute(select(Incident)).scalars():
            incident.status = "resolved"
        db.session.commit()
    again = runner.invoke(args=["incidents", "mass-reactivate", str(leaked), "--reason", "Leak of 2026-11-25"])
    assert "reactivated 0, already open 0, already done in this breach 3" in again.output
    assert count(app, Incident) == 3 and count(app, OutboxMessage) == 3


def test_pacer_spaces_sends() -> None:
    now = [100.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(round(seconds, 6))
        now[0] += seconds

    pacer = Pacer(4, monotonic=lambda: now[0], sleep=sleep)
    for _ in range(3):
        pacer.wait()
    assert slept == [0.25, 0.25]
    unlimited = Pacer(0, monotonic=lambda: now[0], sleep=sleep)
    unlimited.wait()
    unlimited.wait()
    assert slept == [0.25, 0.25]


def leaked_customers(app, count: int) -> list[tuple[int, str]]:  # type: ignore[no-untyped-def]
    for n in range(count):
        make_customer(app, f"ro{n}@example.com", password=None)
    return [(n + 1, f"ro{n}@example.com") for n in range(count)]


def test_the_log_verifies_after_a_mass_reactivation_and_after_sequencing(app, runner) -> None:  # type: ignore[no-untyped-def]
    """Batches big enough for the bulk writes' many-row INSERTs and COPY (tests/test_database.py), one
    smaller: `flask audit verify` passes before the sequencer ran and after, and still catches a change."""
    entries = leaked_customers(app, 70)
    with app.app_context():
        outcome = mass_reactivate(entries, key="leak", dry_run=False, actor="cli", now=utcnow(), batch_size=30)
        assert len(outcome.reactivated) == 70
        events = db.session.execute(
            select(AuditEvent.customer_id, AuditEvent.action)
            .where(AuditEvent.action.like("breach_list:%"))
            .order_by(AuditEvent.id)
        ).all()
        assert len(events) == 70 * 6
        first = events[0].customer_id
        assert [action for customer_id, action in events if customer_id == first] == [
            "breach_list:report:received",
            "breach_list:incident:opened",
            "breach_list:credential:locked",
            "breach_list:sessions:revoked",
            "breach_list:reset_grant:issued",
            "breach_list:email:queued",
        ]
    before = runner.invoke(args=["audit", "verify"])
    assert before.exit_code == 0, before.output
    with app.app_context():
        assert integrate_all() >= 70 * 6
    after = runner.invoke(args=["audit", "verify"])
    assert after.exit_code == 0, after.output
    with app.app_context():
        db.session.execute(
            update(AuditEvent)
            .where(AuditEvent.action == "breach_list:report:received", AuditEvent.customer_id == first)
            .values(data='{"address":"someone@else.example","kind":"leaked","reference":"RPT-2026-000001"}')
        )
        db.session.commit()
    changed = runner.invoke(args=["audit", "verify"])
    assert changed.exit_code != 0


def test_collection_is_paused_for_each_batch_and_resumes_after(app, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    seen: list[bool] = []
    monkeypatch.setattr(breach, "_one_batch", lambda *args, **kwargs: seen.append(gc.isenabled()))
    entries = [(1, "an@example.com"), (2, "binh@example.com"), (3, "chi@example.com")]
    with app.app_context():
        assert gc.isenabled()
        mass_reactivate(entries, key="leak", dry_run=True, actor="cli", now=utcnow(), batch_size=2)
        assert seen == [False, False] and gc.isenabled()

        def fails(*args: object, **kwargs: object) -> None:
            raise RuntimeError("the database went away")

        monkeypatch.setattr(breach, "_one_batch", fails)
        with pytest.raises(RuntimeError):
            mass_reactivate(entries, key="leak", dry_run=True, actor="cli", now=utcnow())
        assert gc.isenabled()
        gc.disable()  # a caller that had turned it off keeps it off
        try:
            monkeypatch.setattr(breach, "_one_batch", lambda *args, **kwargs: None)
            mass_reactivate(entries, key="leak", dry_run=True, actor="cli", now=utcnow())
            assert not gc.isenabled()
        finally:
            gc.enable()


def test_only_open_incidents_count_as_open(app) -> None:  # type: ignore[no-untyped-def]
    """with_open_incident checks the status itself (not in its query): a resolved or closed incident is
    not an open one."""
    ids = [make_customer(app, f"{name}@example.com", password=None) for name in ("an", "binh", "chi", "dung")]
    for name in ("an", "binh", "chi"):
        submit(app.test_client(), "/report", {"email": f"{name}@example.com", "kind": "lost"})
    with app.app_context():
        db.session.execute(update(Incident).where(Incident.customer_id == ids[1]).values(status="resolved"))
        db.session.execute(update(Incident).where(Incident.customer_id == ids[2]).values(status="closed"))
        assert with_open_incident(ids) == {ids[0]}
