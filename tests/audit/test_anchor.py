"""Anchors of the chain the log was before the Merkle tree: the old events keep their links, and an
anchor taken then still catches a chain rebuilt by someone with database access."""

from __future__ import annotations

from sqlalchemy import delete, text

from incident_service.audit.models import AuditEvent
from incident_service.audit.service import append_event, verify_chain
from incident_service.database import utcnow
from incident_service.extensions import db
from tests.audit.legacy import anchor_head, rebuild_chain_after_changing, write_chain


def old_log_then_new_events() -> tuple[list[int], str]:
    """Five chained events with an anchor of the third, then two written as the service writes now;
    (the chained ids, the anchor as `--anchor` takes it)."""
    ids = write_chain(3)
    event_id, head = anchor_head()
    ids += write_chain(2)
    for number in range(2):
        append_event("cli:customer:created", actor=f"new {number}", now=utcnow())
    db.session.commit()
    return ids, f"{event_id}:{head}"


def test_old_chain_and_new_events_verify_together(app_context, runner) -> None:  # type: ignore[no-untyped-def]
    old_log_then_new_events()
    result = verify_chain()
    assert result.ok and result.events == 7 and result.anchors_checked == 1
    output = runner.invoke(args=["audit", "verify"]).output
    assert "audit events intact: 7 events" in output and "1 anchors matched" in output


def test_anchor_detects_a_rebuilt_chain(app_context, runner) -> None:  # type: ignore[no-untyped-def]
    ids, external = old_log_then_new_events()
    rebuild_chain_after_changing(ids[1])
    db.session.commit()
    result = runner.invoke(args=["audit", "verify"])
    assert result.exit_code == 1 and "differs from an anchor" in result.output

    # Even if the anchors table is wiped too, the anchor held outside still catches it.
    db.session.execute(text("DELETE FROM audit_anchors"))
    db.session.commit()
    assert verify_chain().ok  # nothing inside can tell any more
    outside = runner.invoke(args=["audit", "verify", "--anchor", external])
    assert outside.exit_code == 1 and "differs from an anchor" in outside.output


def test_a_changed_removed_or_late_chained_event_is_named(app_context, runner) -> None:  # type: ignore[no-untyped-def]
    ids, _external = old_log_then_new_events()
    db.session.execute(text(f"UPDATE audit_events SET actor = 'someone else' WHERE id = {ids[3]}"))
    db.session.commit()
    result = verify_chain()
    assert not result.ok and result.broken_at == ids[3] and "contents do not match its hash" in (result.problem or "")
    db.session.execute(delete(AuditEvent).where(AuditEvent.id == ids[3]))
    db.session.commit()
    result = verify_chain()
    assert not result.ok and result.broken_at == ids[4] and "removed or inserted" in (result.problem or "")


def test_a_chained_event_after_the_chain_ended_is_named(app_context) -> None:  # type: ignore[no-untyped-def]
    old_log_then_new_events()
    forged = write_chain(1)  # linked to the old head, but written after the first unchained event
    db.session.commit()
    result = verify_chain()
    assert not result.ok and result.broken_at == forged[0] and "chain, which ended before it" in (result.problem or "")


def test_truncated_chain_is_detected(app_context) -> None:  # type: ignore[no-untyped-def]
    ids, _external = old_log_then_new_events()
    db.session.execute(delete(AuditEvent).where(AuditEvent.id >= ids[2]))
    db.session.commit()
    result = verify_chain()
    assert not result.ok and "an anchored event is missing" in (result.problem or "")


def test_bad_anchor_argument(runner) -> None:  # type: ignore[no-untyped-def]
    result = runner.invoke(args=["audit", "verify", "--anchor", "12:nothex"])
    assert result.exit_code == 2 and "EVENT_ID:SHA256" in result.output


def test_the_old_anchor_command_makes_a_checkpoint(app_context, runner) -> None:  # type: ignore[no-untyped-def]
    append_event("cli:customer:created", actor="someone", now=utcnow())
    db.session.commit()
    assert runner.invoke(args=["audit", "sequence"]).exit_code == 0
    result = runner.invoke(args=["audit", "anchor", "--email", "notary@lawfirm.example"])
    assert result.exit_code == 0, result.output
    assert "anchors are now signed checkpoints" in result.output and "queued to notary@lawfirm.example" in result.output
