"""The audit chain verifies after the flow and detects any changed, removed or inserted row."""

from __future__ import annotations

from sqlalchemy import bindparam, select, text

from incident_service.audit.models import AuditEvent
from incident_service.audit.service import verify_chain
from incident_service.extensions import db
from tests.helpers import submit


def flow(app) -> None:  # type: ignore[no-untyped-def]
    submit(app.test_client(), "/report", {"email": "an@example.com", "kind": "stolen"})
    submit(app.test_client(), "/report", {"email": "nobody@example.com", "kind": "lost"})


def actions(app) -> list[str]:  # type: ignore[no-untyped-def]
    with app.app_context():
        return list(db.session.execute(select(AuditEvent.action).order_by(AuditEvent.id)).scalars())


def test_flow_is_audited_and_verifies(app, runner, customer_id) -> None:  # type: ignore[no-untyped-def]
    flow(app)
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


def test_changed_row_is_detected(app, runner, customer_id) -> None:  # type: ignore[no-untyped-def]
    flow(app)
    with app.app_context():
        db.session.execute(text("UPDATE audit_events SET actor = 'someone else' WHERE id = 3"))
        db.session.commit()
    result = runner.invoke(args=["audit", "verify"])
    assert result.exit_code == 1 and "event 3" in result.output and "changed" in result.output


def test_changed_time_is_detected(app, customer_id) -> None:  # type: ignore[no-untyped-def]
    flow(app)
    with app.app_context():
        event = db.session.get(AuditEvent, 4)
        event.occurred_at = event.occurred_at.replace(year=2020)
        db.session.commit()
        result = verify_chain()
        assert not result.ok and result.broken_at == 4


def test_removed_row_is_detected(app, runner, customer_id) -> None:  # type: ignore[no-untyped-def]
    flow(app)
    with app.app_context():
        db.session.execute(text("DELETE FROM audit_events WHERE id = 2"))
        db.session.commit()
    result = runner.invoke(args=["audit", "verify"])
    assert result.exit_code == 1 and "event 3" in result.output and "removed or inserted" in result.output


def test_inserted_row_is_detected(app, customer_id) -> None:  # type: ignore[no-untyped-def]
    flow(app)
    with app.app_context():
        second = db.session.get(AuditEvent, 2)
        db.session.execute(
            text(
                "INSERT INTO audit_events (id, occurred_at, action, actor, data, prev_hash, hash) "
                "VALUES (1000, :at, 'forged', 'x', '{}', :prev, :hash)"
            ).bindparams(bindparam("at", type_=AuditEvent.__table__.c.occurred_at.type)),
            {"at": second.occurred_at, "prev": second.hash, "hash": "f" * 64},
        )
        db.session.commit()
        # The forged row sits at the head, linking to row 2, whose real successor also links to it.
        result = verify_chain()
        assert not result.ok


def test_spelled_out_event_json_equals_the_canonical_json() -> None:
    """event_hash writes the canonical JSON by hand for speed; it must be byte for byte json.dumps'."""
    import hashlib
    import random
    from datetime import datetime, timezone

    from incident_service.audit.service import canonical_event_body, event_hash

    rng = random.Random(5)
    alphabet = ["a", "Đ", "ữ", '"', "\\", "\n", "\t", "\x00", "\x1f", "\u2028", "😀", "/", "<", " ", "{", "}"]
    for _ in range(300):
        text = lambda: "".join(rng.choice(alphabet) for _ in range(rng.randrange(0, 12)))  # noqa: E731
        number = lambda: rng.choice([None, 0, 1, rng.randrange(1, 10**12)])  # noqa: E731
        moment = datetime(2026, 1, 1, tzinfo=timezone.utc).replace(microsecond=rng.choice([0, 1, 999999]))
        values = (moment, text(), text(), number(), number(), number(), text())
        assert (
            event_hash("p" * 64, *values)
            == hashlib.sha256(("p" * 64 + canonical_event_body(*values)).encode()).hexdigest()
        )


def test_flat_canonical_json_equals_the_encoder() -> None:
    import json
    import random

    from incident_service.audit.service import canonical_json

    def reference(value: object) -> str:
        return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)

    rng = random.Random(9)
    alphabet = ["a", "Đ", '"', "\\", "\n", "\x00", "\u2028", "😀", ":", ",", "{"]
    pick = lambda: "".join(rng.choice(alphabet) for _ in range(rng.randrange(0, 6)))  # noqa: E731
    for _ in range(500):
        value = {
            pick(): rng.choice([pick(), rng.randrange(-(10**15), 10**15), None, True, 1.5, [1], {"x": 1}])
            for _ in range(rng.randrange(0, 5))
        }
        assert canonical_json(value) == reference(value), value
    for other in ([1, "a"], "text", 5, None, {1: "a"}, {"a": {"b": [1, None]}}):
        assert canonical_json(other) == reference(other)
