"""The audit log verifies after the flow and names any changed, removed or inserted event."""

from __future__ import annotations

from sqlalchemy import bindparam, select, text

from incident_service.audit.models import AuditEvent
from incident_service.audit.service import verify_chain
from incident_service.extensions import db
from tests.helpers import submit


def flow(app, runner) -> None:  # type: ignore[no-untyped-def]
    submit(app.test_client(), "/report", {"email": "an@example.com", "kind": "stolen"})
    submit(app.test_client(), "/report", {"email": "nobody@example.com", "kind": "lost"})
    assert runner.invoke(args=["audit", "sequence"]).exit_code == 0


def actions(app) -> list[str]:  # type: ignore[no-untyped-def]
    with app.app_context():
        return list(db.session.execute(select(AuditEvent.action).order_by(AuditEvent.id)).scalars())


def test_flow_is_audited_and_verifies(app, runner, customer_id) -> None:  # type: ignore[no-untyped-def]
    flow(app, runner)
    recorded = actions(app)
    for expected in (
        "cli:customer:created",
        "web:report:received",
        "web:incident:opened",
        "web:credential:locked",
        "web:sessions:revoked",
        "web:reset_grant:issued",
        "web:email:queued",
    ):
        assert expected in recorded
    result = runner.invoke(args=["audit", "verify"])
    assert result.exit_code == 0 and f"{len(recorded)} events" in result.output
    assert f"audit tree intact: {len(recorded)} leaves" in result.output


def test_changed_row_is_detected(app, runner, customer_id) -> None:  # type: ignore[no-untyped-def]
    flow(app, runner)
    with app.app_context():
        db.session.execute(text("UPDATE audit_events SET actor = 'someone else' WHERE id = 3"))
        db.session.commit()
    result = runner.invoke(args=["audit", "verify"])
    assert result.exit_code == 1 and "event 3" in result.output and "changed" in result.output


def test_changed_time_is_detected(app, runner, customer_id) -> None:  # type: ignore[no-untyped-def]
    flow(app, runner)
    with app.app_context():
        event = db.session.get(AuditEvent, 4)
        event.occurred_at = event.occurred_at.replace(year=2020)
        db.session.commit()
        result = verify_chain()
        assert not result.ok and result.broken_at == 4


def test_removed_row_is_detected(app, runner, customer_id) -> None:  # type: ignore[no-untyped-def]
    flow(app, runner)
    with app.app_context():
        db.session.execute(text("DELETE FROM audit_events WHERE id = 2"))
        db.session.commit()
    result = runner.invoke(args=["audit", "verify"])
    assert result.exit_code == 1 and "the event of leaf 1 was removed" in result.output


def test_inserted_row_is_detected(app, runner, customer_id) -> None:  # type: ignore[no-untyped-def]
    """A forged row written with no leaf yet is not in any checkpoint, and its hash must still be its own."""
    flow(app, runner)
    with app.app_context():
        second = db.session.get(AuditEvent, 2)
        db.session.execute(
            text(
                "INSERT INTO audit_events (id, occurred_at, action, actor, data, prev_hash, hash) "
                "VALUES (1000, :at, 'forged', 'x', '{}', '', :hash)"
            ).bindparams(bindparam("at", type_=AuditEvent.__table__.c.occurred_at.type)),
            {"at": second.occurred_at, "hash": "f" * 64},
        )
        db.session.commit()
        result = verify_chain()
        assert not result.ok and result.broken_at == 1000
