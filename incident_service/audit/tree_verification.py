"""`flask audit verify`'s tree half: every leaf recomputed from its event, every node from its children,
the root from the nodes; the first break named (an event changed, removed, inserted or reordered)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Iterator, TypeVar

from sqlalchemy import func, or_, select

from ..extensions import db
from . import merkle
from .models import TREE_STATE_ID, AuditEvent, AuditTreeNode, AuditTreeState
from .service import event_leaf


@dataclass(frozen=True)
class TreeVerification:
    ok: bool
    size: int
    root: str  # hex, as recomputed (the state's when the tree is intact)
    problem: str | None = None


def verify_tree() -> TreeVerification:
    """Check the stored tree against itself and the events against the tree's leaves. The stored leaf
    hashes are the tree's record of the log (checkpoints sign its root); an event whose content no longer
    hashes to its leaf, a leaf without its event, an event among the leaves that the tree never held, or
    two events out of the tree's order, are each named with ids and leaf indexes."""
    state = db.session.get(AuditTreeState, TREE_STATE_ID)
    size, stated_root = (state.size, state.root) if state else (0, merkle.EMPTY_ROOT.hex())
    nodes = {
        (level, index): bytes(digest)
        for level, index, digest in db.session.execute(
            select(AuditTreeNode.level, AuditTreeNode.index, AuditTreeNode.hash)
        )
    }
    problem = _check_nodes(size, nodes)
    if problem:
        return TreeVerification(False, size, stated_root, problem)
    root = merkle.tree_root(size, lambda level, index: nodes[(level, index)]).hex()
    if root != stated_root:
        return TreeVerification(
            False, size, root, f"the tree's stated root {stated_root} is not the root of its nodes, {root}"
        )
    problem = _check_leaves(size, [nodes[(0, index)] for index in range(size)])
    return TreeVerification(problem is None, size, root, problem)


def _check_nodes(size: int, nodes: dict[tuple[int, int], bytes]) -> str | None:
    """Exactly the perfect subtrees of a tree of `size` leaves are stored, each the hash of its children."""
    for level, index in sorted(nodes):
        if index >= size >> level:
            return f"the tree holds node ({level}, {index}) beyond its {size} leaves (the tree was rewritten)"
        if level and nodes[(level, index)] != merkle.node_hash(
            nodes.get((level - 1, 2 * index), b""), nodes.get((level - 1, 2 * index + 1), b"")
        ):
            return f"node ({level}, {index}) is not the hash of its two children (the tree was rewritten)"
    level = 0
    while size >> level:
        for index in range(size >> level):
            if (level, index) not in nodes:
                return f"the tree lacks node ({level}, {index}) of its {size} leaves (the tree was cut)"
        level += 1
    return None


def _check_leaves(size: int, leaves: list[bytes]) -> str | None:
    """Walk the events in id order (their chain order) against the tree's leaves, stopping at the first
    one that is not where the tree says: the events the tree holds, and any event with a lower id than the
    last of them (one added among them afterwards); later events are still waiting for the sequencer."""
    position = {digest: index for index, digest in enumerate(leaves)}
    last_id = db.session.scalar(select(func.max(AuditEvent.id)).where(AuditEvent.leaf_index.is_not(None)))
    if last_id is None:
        return f"the tree has {size} leaves but no event is in it (the events were removed)" if size else None
    query = select(AuditEvent).where(or_(AuditEvent.leaf_index.is_not(None), AuditEvent.id < last_id))
    rows = db.session.execute(query.order_by(AuditEvent.id).execution_options(yield_per=1000))
    try:
        expected = 0  # the leaf the next event should be
        walk = _with_next((event, merkle.leaf_hash(event_leaf(event).encode("utf-8"))) for event in rows.scalars())
        for (event, digest), after in walk:
            found = position.get(digest)
            if found == expected:
                if event.leaf_index != expected:
                    return (
                        f"event {event.id} is leaf {expected}, but says it is leaf {event.leaf_index} "
                        "(its leaf index was changed)"
                    )
                expected += 1
                continue
            if expected >= size:
                return (
                    f"event {event.id} is marked as leaf {event.leaf_index}, "
                    f"beyond the tree's {size} leaves (it was inserted)"
                )
            if found is None:
                if after is not None and after[1] == leaves[expected]:
                    return (
                        f"event {event.id} was inserted: it is not in the tree, yet it comes before leaf "
                        f"{expected} (event {after[0].id})"
                    )
                return (
                    f"event {event.id} (leaf {expected}) was changed: its content no longer hashes to the "
                    f"tree's leaf {expected}"
                )
            if found < expected or _row_of_leaf(expected) is not None:
                return (
                    f"events were reordered: event {event.id} holds the content of leaf {found}, "
                    f"where leaf {expected} should come"
                )
            return (
                f"the event of leaf {expected} was removed"
                + (f" (and those of leaves up to {found - 1})" if found - 1 > expected else "")
                + f": the next event, {event.id}, is leaf {found}"
            )
    finally:
        rows.close()  # a server-side cursor on PostgreSQL when we stop early
    if expected < size:
        return f"the event of leaf {expected} was removed: the tree has {size} leaves, the log only {expected}"
    return None


def _row_of_leaf(leaf_index: int) -> int | None:
    return db.session.scalar(select(AuditEvent.id).where(AuditEvent.leaf_index == leaf_index))


Item = TypeVar("Item")


def _with_next(items: Iterable[Item]) -> Iterator[tuple[Item, Item | None]]:
    """Each item with the one after it (None after the last)."""
    iterator = iter(items)
    current = next(iterator, None)
    while current is not None:
        following = next(iterator, None)
        yield current, following
        current = following
