"""Anchors: a chain rebuilt by someone with database access no longer matches an earlier anchor."""

from __future__ import annotations

from sqlalchemy import select, text

from incident_service.audit.models import AuditEvent
from incident_service.audit.service import event_hash
from incident_service.extensions import db
from incident_service.notifications.models import OutboxMessage
from tests.helpers import submit


def rebuild_chain_after_changing(app, event_id: int) -> None:  # type: ignore[no-untyped-def]
    """What an attacker with the database would do: change a row, then recompute every later hash."""
    with app.app_context():
        events = db.session.execute(select(AuditEvent).order_by(AuditEvent.id)).scalars().all()
        previous = "0" * 64
        for event in events:
            if event.id == event_id:
                event.actor = "someone else"
            event.prev_hash = previous
            event.hash = event_hash(
                previous,
                event.occurred_at,
                event.action,
                event.actor,
                event.customer_id,
                event.incident_id,
                event.report_id,
                event.data,
            )
            previous = event.hash
        db.session.commit()


def test_anchor_detects_a_rebuilt_chain(app, runner, customer_id) -> None:  # type: ignore[no-untyped-def]
    submit(app.test_client(), "/report", {"email": "an@example.com", "kind": "stolen"})
    anchored = runner.invoke(args=["audit", "anchor"])
    assert anchored.exit_code == 0
    external = anchored.output.split("--anchor ")[1].strip()
    submit(app.test_client(), "/report", {"email": "nobody@example.com", "kind": "lost"})
    assert "1 anchors matched" in runner.invoke(args=["audit", "verify"]).output

    rebuild_chain_after_changing(app, 3)
    result = runner.invoke(args=["audit", "verify"])
    assert result.exit_code == 1 and "differs from an anchor" in result.output

    # Even if the anchors table is wiped too, the anchor held outside still catches it.
    with app.app_context():
        db.session.execute(text("DELETE FROM audit_anchors"))
        db.session.commit()
    assert runner.invoke(args=["audit", "verify"]).exit_code == 0  # nothing inside can tell any more
    outside = runner.invoke(args=["audit", "verify", "--anchor", external])
    assert outside.exit_code == 1 and "differs from an anchor" in outside.output


def test_anchor_is_emailed_outside(app, runner) -> None:  # type: ignore[no-untyped-def]
    result = runner.invoke(args=["audit", "anchor", "--email", "notary@lawfirm.example"])
    assert result.exit_code == 0 and "queued to notary@lawfirm.example" in result.output
    with app.app_context():
        message = db.session.execute(select(OutboxMessage)).scalar_one()
        assert message.to_address == "notary@lawfirm.example" and message.template == "audit_anchor"


def test_truncated_chain_is_detected(app, runner, customer_id) -> None:  # type: ignore[no-untyped-def]
    submit(app.test_client(), "/report", {"email": "an@example.com", "kind": "stolen"})
    runner.invoke(args=["audit", "anchor"])
    with app.app_context():
        last = db.session.execute(select(AuditEvent.id).order_by(AuditEvent.id.desc()).limit(1)).scalar()
        db.session.execute(text(f"DELETE FROM audit_events WHERE id >= {last - 1}"))
        db.session.commit()
    result = runner.invoke(args=["audit", "verify"])
    assert result.exit_code == 1 and "missing" in result.output


def test_bad_anchor_argument(runner) -> None:  # type: ignore[no-untyped-def]
    result = runner.invoke(args=["audit", "verify", "--anchor", "12:nothex"])
    assert result.exit_code == 2 and "EVENT_ID:SHA256" in result.output
