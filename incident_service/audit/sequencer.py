"""The sequencer: gives committed audit events their leaf index in the Merkle tree and stores the tree.

Perfect-subtree hashes (audit.merkle) are stored once each in `audit_tree_nodes`, so a tree head or a
proof is a few reads. One sequencer at a time (PostgreSQL: an advisory lock; SQLite: its single writer).
"""

from __future__ import annotations

from typing import Callable, NamedTuple

from sqlalchemy import insert, select, text, tuple_

from ..domain_errors import DomainError
from ..extensions import db
from . import merkle
from .models import TREE_STATE_ID, AuditEvent, AuditTreeNode, AuditTreeState
from .service import event_leaf

# Any constant: only sequencers take it; writers of events take no lock at all.
SEQUENCER_LOCK_KEY = 0x5E0_7EE


class TreeHead(NamedTuple):
    size: int
    root: bytes


class NoSuchTree(DomainError):
    """A proof was asked for a tree size the log has not reached (or a leaf outside it)."""


def _hold_sequencer() -> None:
    # On SQLite the transaction already holds the only write lock (BEGIN IMMEDIATE, database.py).
    session = db.session
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": SEQUENCER_LOCK_KEY})


def _stored_subtree(level: int, index: int) -> bytes:
    digest = db.session.scalar(
        select(AuditTreeNode.hash).where(AuditTreeNode.level == level, AuditTreeNode.index == index)
    )
    if digest is None:
        raise LookupError(f"the tree has no node ({level}, {index})")
    return bytes(digest)


def integrate(batch: int = 1000) -> int:
    """Give the next `batch` committed events not yet in the tree the next leaf indexes, in id order
    (an event whose transaction commits after a later id was integrated comes in the next batch: the
    order is the one they became visible in); store the subtrees they complete and the new size and
    root. Flushes; the caller commits, so a sequencer killed before its commit leaves nothing behind and
    the next run does the same work again. Returns how many events it integrated."""
    _hold_sequencer()
    state = db.session.get(AuditTreeState, TREE_STATE_ID, populate_existing=True)
    size = state.size if state else 0
    # The waiting events are found by a partial index (migration 0016): no scan of the integrated ones.
    query = select(AuditEvent).where(AuditEvent.leaf_index.is_(None)).order_by(AuditEvent.id).limit(batch)
    events = list(db.session.execute(query).scalars())
    if not events:
        return 0
    leaves = [merkle.leaf_hash(event_leaf(event).encode("utf-8")) for event in events]
    nodes = merkle.new_subtrees(size, leaves, _stored_subtree)
    db.session.execute(
        insert(AuditTreeNode), [{"level": level, "index": index, "hash": digest} for level, index, digest in nodes]
    )
    for offset, event in enumerate(events):  # one executemany UPDATE at the flush
        event.leaf_index = size + offset
    new_size = size + len(events)
    made = {(level, index): digest for level, index, digest in nodes}
    root = merkle.tree_root(new_size, lambda level, index: made.get((level, index)) or _stored_subtree(level, index))
    if state is None:
        db.session.add(AuditTreeState(id=TREE_STATE_ID, size=new_size, root=root.hex()))
    else:
        state.size, state.root = new_size, root.hex()
    db.session.flush()
    return len(events)


def integrate_all(batch: int = 1000) -> int:
    """Integrate every event waiting, committing after each batch; returns how many."""
    total = 0
    while added := integrate(batch):
        db.session.commit()
        total += added
    db.session.commit()
    return total


def tree_head() -> TreeHead:
    """The tree's size and root as the sequencer last left them."""
    state = db.session.get(AuditTreeState, TREE_STATE_ID)
    return TreeHead(state.size, bytes.fromhex(state.root)) if state else TreeHead(0, merkle.EMPTY_ROOT)


def _served(compute: Callable[[merkle.SubtreeHash], list[bytes]]) -> list[bytes]:
    """Run a proof's algorithm twice: once to learn the nodes it needs, then on those, read in one query."""
    wanted: list[tuple[int, int]] = []

    def note(level: int, index: int) -> bytes:
        wanted.append((level, index))
        return merkle.EMPTY_ROOT

    unread = compute(note)
    if not wanted:
        return unread  # needed no node: the empty tree's root, or an empty proof
    rows = db.session.execute(
        select(AuditTreeNode.level, AuditTreeNode.index, AuditTreeNode.hash).where(
            tuple_(AuditTreeNode.level, AuditTreeNode.index).in_(wanted)
        )
    )
    found = {(level, index): bytes(digest) for level, index, digest in rows}

    def stored(level: int, index: int) -> bytes:
        if (level, index) not in found:
            raise LookupError(f"the tree has no node ({level}, {index})")
        return found[(level, index)]

    return compute(stored)


def _check_size(tree_size: int) -> None:
    if not 0 <= tree_size <= tree_head().size:
        raise NoSuchTree(f"the tree has not reached {tree_size} leaves")


def inclusion_proof_for(leaf_index: int, tree_size: int) -> list[bytes]:
    """The RFC 9162 inclusion proof of leaf `leaf_index` in the tree of `tree_size` leaves."""
    _check_size(tree_size)
    if not 0 <= leaf_index < tree_size:
        raise NoSuchTree(f"leaf {leaf_index} is not in a tree of {tree_size}")
    return _served(lambda subtree: merkle.inclusion_proof(leaf_index, tree_size, subtree))


def consistency_proof(old_size: int, new_size: int) -> list[bytes]:
    """The RFC 9162 consistency proof from the tree of `old_size` leaves to the one of `new_size`."""
    _check_size(new_size)
    if not 0 <= old_size <= new_size:
        raise NoSuchTree(f"no consistency proof from {old_size} to {new_size}")
    return _served(lambda subtree: merkle.consistency_proof(old_size, new_size, subtree))


def root_at(tree_size: int) -> bytes:
    """The root of the tree when it had `tree_size` leaves (a checkpoint's), from the stored nodes."""
    _check_size(tree_size)
    return _served(lambda subtree: [merkle.tree_root(tree_size, subtree)])[0]
