"""Mass reactivation from a leaked list: the same reactivation as a report, idempotent, with a dry run."""

from __future__ import annotations

from sqlalchemy import func, select

from incident_service.customers.models import Customer
from incident_service.extensions import db
from incident_service.incidents.breach import read_breach_list
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
