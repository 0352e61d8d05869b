"""The sequencer puts committed events into the Merkle tree; `flask audit verify` names any break in it."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import OperationalError

from incident_service.audit import merkle
from incident_service.audit.models import AuditEvent, AuditTreeNode, AuditTreeState
from incident_service.audit.sequencer import (
    NoSuchTree,
    consistency_proof,
    inclusion_proof_for,
    integrate,
    integrate_all,
    root_at,
    tree_head,
)
from incident_service.audit.service import append_event, event_leaf, verify_chain
from incident_service.audit.tree_verification import verify_tree
from incident_service.database import utcnow
from incident_service.extensions import db
from tests.audit.legacy import write_chain


def append(count: int, start: int = 0) -> list[int]:
    """`count` events, as the service writes them; their ids."""
    now = utcnow()
    ids = []
    for number in range(start, start + count):
        append_event(
            "cli:customer:created", actor=f"tester {number}", now=now + timedelta(seconds=number), data={"n": number}
        )
        ids.append(db.session.scalar(select(func.max(AuditEvent.id))))
    return ids


def leaves() -> list[bytes]:
    events = db.session.execute(select(AuditEvent).order_by(AuditEvent.id)).scalars()
    return [event_leaf(event).encode("utf-8") for event in events]


def test_the_leaf_is_the_hash_preimage(app_context) -> None:  # type: ignore[no-untyped-def]
    """An event's leaf is its canonical body (and, for an event of the chain before the tree, its link
    first): exactly what its `hash` is the SHA-256 of."""
    old = write_chain(2)
    append(3)
    for event in db.session.execute(select(AuditEvent)).scalars():
        leaf = event_leaf(event)
        body = leaf[64:] if event.id in old else leaf
        assert leaf.startswith(event.prev_hash) and body.startswith('{"action":"cli:customer:created"')
        assert (event.prev_hash != "") == (event.id in old)
        assert merkle.hashlib.sha256(leaf.encode("utf-8")).hexdigest() == event.hash


def test_old_events_become_the_first_leaves_in_batches(app_context) -> None:  # type: ignore[no-untyped-def]
    ids = write_chain(11)  # the log as it was before the tree
    assert tree_head() == (0, merkle.EMPTY_ROOT)
    assert [integrate(batch=4) for _ in range(4)] == [4, 4, 3, 0]
    hashes = [merkle.leaf_hash(leaf) for leaf in leaves()]
    assert tree_head() == (11, merkle.root_of(hashes))
    assert list(db.session.execute(select(AuditEvent.leaf_index).order_by(AuditEvent.id)).scalars()) == list(range(11))
    # Later events go on after them; the old chain still verifies alongside.
    ids += append(6, start=11)
    assert integrate() == 6 and integrate() == 0
    hashes = [merkle.leaf_hash(leaf) for leaf in leaves()]
    assert tree_head() == (17, merkle.root_of(hashes))
    assert verify_chain().ok and verify_tree().ok
    # Proofs from the stored nodes, checked by the RFC's verifiers.
    for size in range(1, 18):
        root = root_at(size)
        assert root == merkle.root_of(hashes[:size])
        for index in range(size):
            assert merkle.verify_inclusion(index, size, hashes[index], inclusion_proof_for(index, size), root)
        for old in range(size + 1):
            proof = consistency_proof(old, size)
            assert merkle.verify_consistency(old, size, merkle.root_of(hashes[:old]), root, proof)
    with pytest.raises(NoSuchTree):
        inclusion_proof_for(0, 18)
    with pytest.raises(NoSuchTree):
        inclusion_proof_for(5, 5)
    with pytest.raises(NoSuchTree):
        consistency_proof(6, 5)
    assert root_at(0) == merkle.EMPTY_ROOT and consistency_proof(0, 17) == []


def test_a_sequencer_killed_half_way_leaves_nothing_and_the_next_run_resumes(app_context) -> None:  # type: ignore[no-untyped-def]
    append(5)
    assert integrate(batch=2) == 2
    db.session.commit()
    before = db.session.scalar(select(func.count()).select_from(AuditTreeNode))
    assert integrate(batch=2) == 2  # killed before its commit: the transaction rolls back
    db.session.rollback()
    assert tree_head().size == 2
    assert db.session.scalar(select(func.count()).select_from(AuditTreeNode)) == before
    assert db.session.scalar(select(func.count()).where(AuditEvent.leaf_index.is_not(None))) == 2
    assert integrate(batch=10) == 3
    db.session.commit()
    assert tree_head() == (5, merkle.root_of([merkle.leaf_hash(leaf) for leaf in leaves()]))
    assert verify_tree().ok


def sequenced(runner, count: int = 8) -> list[int]:  # type: ignore[no-untyped-def]
    ids = append(count)
    db.session.commit()
    result = runner.invoke(args=["audit", "sequence", "--batch", "3"])
    assert result.exit_code == 0 and f"integrated {count} events; tree of {count} leaves" in result.output
    return ids


def verify(runner) -> tuple[int, str]:  # type: ignore[no-untyped-def]
    result = runner.invoke(args=["audit", "verify"])
    return result.exit_code, result.output


def test_an_intact_tree_verifies(app_context, runner) -> None:  # type: ignore[no-untyped-def]
    sequenced(runner)
    code, output = verify(runner)
    assert code == 0 and "audit tree intact: 8 leaves, root " + tree_head().root.hex() in output


def test_a_changed_event_is_named(app_context, runner) -> None:  # type: ignore[no-untyped-def]
    ids = sequenced(runner)
    db.session.execute(update(AuditEvent).where(AuditEvent.id == ids[3]).values(data='{"n":99}'))
    db.session.commit()
    code, output = verify(runner)
    assert code == 1
    assert f"audit tree BROKEN: event {ids[3]} (leaf 3) was changed: its content no longer hashes" in output


def test_a_removed_event_is_named(app_context, runner) -> None:  # type: ignore[no-untyped-def]
    ids = sequenced(runner)
    db.session.execute(delete(AuditEvent).where(AuditEvent.id == ids[5]))
    db.session.commit()
    code, output = verify(runner)
    assert code == 1
    assert f"audit tree BROKEN: the event of leaf 5 was removed: the next event, {ids[6]}, is leaf 6" in output
    db.session.execute(delete(AuditEvent).where(AuditEvent.id >= ids[6]))
    db.session.commit()
    assert "the event of leaf 5 was removed: the tree has 8 leaves, the log only 5" in verify(runner)[1]


def test_an_inserted_event_is_named(app_context, runner) -> None:  # type: ignore[no-untyped-def]
    # A forged event slipped in at leaf 2, the later events' leaf indexes moved up to make room.
    ids = sequenced(runner)
    for event_id in reversed(ids[2:]):  # from the end: leaf indexes are unique
        db.session.execute(
            update(AuditEvent).where(AuditEvent.id == event_id).values(leaf_index=AuditEvent.leaf_index + 1)
        )
    forged = append(1, start=50)[0]
    db.session.execute(update(AuditEvent).where(AuditEvent.id == forged).values(leaf_index=2))
    db.session.commit()
    code, output = verify(runner)
    assert code == 1
    assert (
        f"audit tree BROKEN: event {forged} was inserted: it is not in the tree, yet it is marked as leaf 2, "
        f"whose content is event {ids[2]}'s" in output
    )


def test_reordered_events_are_named(app_context, runner) -> None:  # type: ignore[no-untyped-def]
    ids = sequenced(runner)
    first, second = db.session.get(AuditEvent, ids[2]), db.session.get(AuditEvent, ids[4])
    assert first is not None and second is not None
    for column in ("occurred_at", "actor", "data", "prev_hash", "hash"):
        one, other = getattr(first, column), getattr(second, column)
        setattr(first, column, other)
        setattr(second, column, one)
    db.session.commit()
    code, output = verify(runner)
    assert code == 1
    assert (
        f"audit tree BROKEN: events were reordered: event {ids[2]} holds the content of leaf 4, "
        "but is marked as leaf 2" in output
    )
    # Swapping the leaf indexes back the other way round is the same reordering.
    db.session.execute(update(AuditEvent).where(AuditEvent.id == ids[2]).values(leaf_index=None))
    db.session.execute(update(AuditEvent).where(AuditEvent.id == ids[4]).values(leaf_index=2))
    db.session.execute(update(AuditEvent).where(AuditEvent.id == ids[2]).values(leaf_index=4))
    db.session.commit()
    assert verify(runner)[0] == 0


def test_a_rewritten_tree_is_named(app_context, runner) -> None:  # type: ignore[no-untyped-def]
    sequenced(runner)
    db.session.execute(
        update(AuditTreeNode).where(AuditTreeNode.level == 1, AuditTreeNode.index == 2).values(hash=b"\0" * 32)
    )
    db.session.commit()
    assert "audit tree BROKEN: node (1, 2) is not the hash of its two children" in verify(runner)[1]


def test_a_changed_root_or_leaf_index_is_named(app_context, runner) -> None:  # type: ignore[no-untyped-def]
    ids = sequenced(runner)
    db.session.execute(update(AuditTreeState).values(root="ab" * 32))
    db.session.commit()
    assert (
        "audit tree BROKEN: the tree's stated root " + "ab" * 32 + " is not the root of its nodes" in verify(runner)[1]
    )
    db.session.execute(
        update(AuditTreeState).values(root=merkle.root_of([merkle.leaf_hash(x) for x in leaves()]).hex())
    )
    db.session.execute(update(AuditEvent).where(AuditEvent.id == ids[7]).values(leaf_index=70))
    db.session.commit()
    assert f"event {ids[7]} is marked as leaf 70, beyond the tree's 8 leaves" in verify(runner)[1]


def test_the_worker_sequences_as_it_runs(app_context, runner) -> None:  # type: ignore[no-untyped-def]
    append(3)
    db.session.commit()
    assert runner.invoke(args=["outbox", "work", "--once"]).exit_code == 0
    assert tree_head().size == 3


@pytest.mark.real_commits  # the sequencers are threads, each with its own connection
def test_concurrent_sequencers_integrate_each_event_once(app, runner) -> None:  # type: ignore[no-untyped-def]
    sequencers = 4
    with app.app_context():
        append(40)
        db.session.commit()
    start = threading.Barrier(sequencers)
    counts: list[int] = []
    errors: list[BaseException] = []

    def sequencer() -> None:
        try:
            with app.app_context():
                start.wait()
                while added := integrate(batch=3):
                    db.session.commit()
                    counts.append(added)
                db.session.commit()
        except BaseException as error:  # noqa: BLE001 - reported below
            errors.append(error)

    threads = [threading.Thread(target=sequencer) for _ in range(sequencers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    assert sum(counts) == 40
    with app.app_context():
        assert tree_head() == (40, merkle.root_of([merkle.leaf_hash(leaf) for leaf in leaves()]))
        assert verify_tree().ok


def test_a_failing_sequencer_is_logged_and_retried(app_context, monkeypatch, caplog) -> None:  # type: ignore[no-untyped-def]
    from sqlalchemy.exc import OperationalError

    import incident_service.audit.sequencer as sequencer
    from incident_service.audit.cli import run_sequencer

    append(2)
    db.session.commit()

    def fails(batch: int = 1000) -> int:
        raise OperationalError("SELECT pg_advisory_xact_lock", {}, Exception("lock timeout"))

    monkeypatch.setattr(sequencer, "integrate", fails)
    assert run_sequencer() == 0
    assert "integrating events into the tree failed; trying again later" in caplog.text
    monkeypatch.undo()
    assert run_sequencer() == 2 and tree_head().size == 2


@pytest.mark.settings(DATABASE_LOCK_TIMEOUT_MS=300)
@pytest.mark.real_commits  # two transactions open at once, each in its own thread
def test_writing_an_event_waits_for_no_other_writer(app) -> None:  # type: ignore[no-untyped-def]
    """Writers of audit events take no lock and read no head: on PostgreSQL an event commits while
    another transaction that wrote one is still open. SQLite has one writer at a time whatever we do:
    there the second waits, and gives up after the lock timeout."""
    written, finish = threading.Event(), threading.Event()

    def slow_writer() -> None:
        with app.app_context():
            append_event("cli:customer:created", actor="slow", now=utcnow())
            written.set()
            finish.wait(timeout=30)
            db.session.commit()

    thread = threading.Thread(target=slow_writer)
    thread.start()
    try:
        assert written.wait(timeout=30)
        with app.app_context():
            postgresql = db.session.get_bind().dialect.name == "postgresql"
            try:
                append_event("cli:customer:created", actor="quick", now=utcnow())
                db.session.commit()
                committed = True
                integrate()  # while the slow one is still open: the log has the quick one only
                db.session.commit()
            except OperationalError:
                db.session.rollback()
                committed = False
    finally:
        finish.set()
        thread.join(timeout=30)
    assert committed == postgresql
    with app.app_context():
        integrate_all()
        actors = list(db.session.execute(select(AuditEvent.actor).order_by(AuditEvent.leaf_index)).scalars())
        # The quick one committed first, so it is first in the log although its id is the later one.
        assert actors == (["quick", "slow"] if postgresql else ["slow"])
        assert verify_tree().ok


@pytest.mark.real_commits  # writers and a sequencer in threads of their own
def test_concurrent_writers_and_a_sequencer_lose_nothing(app) -> None:  # type: ignore[no-untyped-def]
    writers, each = 4, 15
    errors: list[BaseException] = []
    done = threading.Event()

    def writer(number: int) -> None:
        try:
            with app.app_context():
                for n in range(each):
                    append_event("cli:customer:created", actor=f"w{number}", now=utcnow(), data={"n": n})
                    db.session.commit()
        except BaseException as error:  # noqa: BLE001 - reported below
            errors.append(error)

    def sequencer() -> None:
        try:
            with app.app_context():
                while not done.is_set():
                    integrate(batch=7)
                    db.session.commit()
        except BaseException as error:  # noqa: BLE001 - reported below
            errors.append(error)

    running = [threading.Thread(target=writer, args=(n,)) for n in range(writers)]
    order = threading.Thread(target=sequencer)
    order.start()
    for thread in running:
        thread.start()
    for thread in running:
        thread.join(timeout=60)
    done.set()
    order.join(timeout=60)
    assert errors == []
    with app.app_context():
        integrate_all()
        indexes = list(db.session.execute(select(AuditEvent.leaf_index).order_by(AuditEvent.leaf_index)).scalars())
        assert indexes == list(range(writers * each))
        assert verify_tree().ok and verify_chain().ok


def test_two_events_alike_verify(app_context, runner) -> None:  # type: ignore[no-untyped-def]
    """Two events with the same content (one transaction can write them: same time, same data) are two
    leaves with one hash; neither is taken for the other."""
    now = utcnow()
    for _ in range(2):
        append_event("cli:customer:created", actor="twice", now=now, data={"n": 1})
    db.session.commit()
    assert runner.invoke(args=["audit", "sequence"]).exit_code == 0
    code, output = verify(runner)
    assert code == 0, output
