"""`flask audit verify`'s tree half: every leaf recomputed from its event, every node from its children,
the root from the nodes; the first break named (an event changed, removed, inserted or reordered). Then
every checkpoint, stored or held outside: its signature, the tree's root at its size, and consistency
between each checkpoint and the next (a history rewritten since any of them)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from itertools import pairwise
from typing import Callable, Iterable, Iterator, Sequence, TypeVar

from sqlalchemy import func, select

from ..extensions import db
from . import merkle
from .actions import Event
from .checkpoint import CheckpointBody, CheckpointInvalid, verify_checkpoint, verify_checkpoint_signature
from .models import TREE_STATE_ID, AuditCheckpoint, AuditEvent, AuditRedaction, AuditTreeNode, AuditTreeState
from .service import ChainVerification, event_details, event_leaf, verify_chain


@dataclass(frozen=True)
class TreeVerification:
    ok: bool
    size: int
    root: str  # hex, as recomputed (the state's when the tree is intact)
    problem: str | None = None
    waiting: int = 0  # events not yet given a leaf by the sequencer


@dataclass(frozen=True)
class HeldCheckpoint:
    """A checkpoint as held outside the service (from its email or `flask audit checkpoint`'s output)."""

    text: str
    signature: str
    name: str  # where it came from, for messages (a file name)


@dataclass(frozen=True)
class CheckpointsVerification:
    ok: bool
    checked: int  # stored checkpoints
    held: int  # checkpoints held outside
    problem: str | None = None


def _stored_nodes() -> dict[tuple[int, int], bytes]:
    return {
        (level, index): bytes(digest)
        for level, index, digest in db.session.execute(
            select(AuditTreeNode.level, AuditTreeNode.index, AuditTreeNode.hash)
        )
    }


def verify_tree() -> TreeVerification:
    """Check the stored tree against itself and the events against the tree's leaves. The stored leaf
    hashes are the tree's record of the log (checkpoints sign its root); an event whose content no longer
    hashes to its leaf, a leaf without its event, an event among the leaves that the tree never held, or
    two events out of the tree's order, are each named with ids and leaf indexes."""
    state = db.session.get(AuditTreeState, TREE_STATE_ID)
    size, stated_root = (state.size, state.root) if state else (0, merkle.EMPTY_ROOT.hex())
    nodes = _stored_nodes()
    problem = _check_nodes(size, nodes)
    if problem:
        return TreeVerification(False, size, stated_root, problem)
    root = merkle.tree_root(size, lambda level, index: nodes[(level, index)]).hex()
    if root != stated_root:
        return TreeVerification(
            False, size, root, f"the tree's stated root {stated_root} is not the root of its nodes, {root}"
        )
    problem = _check_leaves(size, [nodes[(0, index)] for index in range(size)])
    waiting = db.session.scalar(select(func.count()).select_from(AuditEvent).where(AuditEvent.leaf_index.is_(None)))
    return TreeVerification(problem is None, size, root, problem, waiting or 0)


def verify_checkpoints(public_keys: Sequence[str], held: Sequence[HeldCheckpoint] = ()) -> CheckpointsVerification:
    """Every stored checkpoint, oldest first, and every one `held` outside: signed by one of
    `public_keys` (the service's published keys), its root the stored tree's root at its size, and each
    provably extended by the next (an RFC 9162 consistency proof from the stored tree, verified as an
    outside verifier would). Run after verify_tree has found the tree itself sound."""
    state = db.session.get(AuditTreeState, TREE_STATE_ID)
    size = state.size if state else 0
    nodes = _stored_nodes()

    def subtree(level: int, index: int) -> bytes:
        return nodes[(level, index)]

    heads: list[tuple[int, bytes, str]] = []  # (size, root, name), stored then held, checked one by one
    stored = db.session.execute(select(AuditCheckpoint).order_by(AuditCheckpoint.tree_size)).scalars().all()
    for checkpoint in stored:
        name = f"checkpoint {checkpoint.id} (tree size {checkpoint.tree_size})"
        try:
            body = _signed_by_any(
                public_keys,
                lambda key: verify_checkpoint(checkpoint, key),  # noqa: B023 (called at once)
            )
        except CheckpointInvalid as error:
            return CheckpointsVerification(False, len(heads), 0, f"{name}: {error}")
        heads.append((body.size, body.root, name))
    for outside in held:
        try:
            body = _signed_by_any(
                public_keys,
                lambda key: verify_checkpoint_signature(outside.text, outside.signature, key),  # noqa: B023
            )
        except CheckpointInvalid as error:
            return CheckpointsVerification(False, len(stored), len(held), f"the checkpoint in {outside.name}: {error}")
        heads.append((body.size, body.root, f"the checkpoint held outside in {outside.name} (tree size {body.size})"))
    for tree_size, root, name in heads:
        if tree_size > size:
            return CheckpointsVerification(
                False, len(stored), len(held), f"{name}: the log's tree has only {size} leaves (the log was cut short)"
            )
        actual = merkle.tree_root(tree_size, subtree)
        if actual != root:
            return CheckpointsVerification(
                False,
                len(stored),
                len(held),
                f"{name}: the tree's root at that size is now {actual.hex()}, not the signed {root.hex()} "
                "(the history was rewritten after it)",
            )
    for (old_size, old_root, old_name), (new_size, new_root, new_name) in pairwise(sorted(heads)):
        proof = merkle.consistency_proof(old_size, new_size, subtree)
        if not merkle.verify_consistency(old_size, new_size, old_root, new_root, proof):
            return CheckpointsVerification(
                False, len(stored), len(held), f"{new_name} is not an extension of {old_name} (the log was rewritten)"
            )
    return CheckpointsVerification(True, len(stored), len(held))


@dataclass(frozen=True)
class LogVerification:
    """The whole log at once: the events and old chain, the tree, the checkpoints; the first break."""

    chain: ChainVerification
    tree: TreeVerification
    checkpoints: CheckpointsVerification | None  # None when the tree itself is broken

    @property
    def ok(self) -> bool:
        return self.chain.ok and self.tree.ok and self.checkpoints is not None and self.checkpoints.ok

    @property
    def problem(self) -> str | None:
        if not self.chain.ok:
            return f"event {self.chain.broken_at}: {self.chain.problem}"
        if not self.tree.ok:
            return self.tree.problem
        return self.checkpoints.problem if self.checkpoints is not None else None


def verify_log(
    public_keys: Sequence[str],
    held: Sequence[HeldCheckpoint] = (),
    anchors: Sequence[tuple[int, str]] = (),
) -> LogVerification:
    """verify_chain, verify_tree, then (if the tree holds) verify_checkpoints."""
    chain = verify_chain(anchors)
    tree = verify_tree()
    checkpoints = verify_checkpoints(public_keys, held) if tree.ok else None
    return LogVerification(chain, tree, checkpoints)


def _signed_by_any(keys: Sequence[str], check: Callable[[str], CheckpointBody]) -> CheckpointBody:
    """`check` with the first key it holds for; the last key's failure if none does."""
    failure: CheckpointInvalid | None = None
    for key in keys:
        try:
            return check(key)
        except CheckpointInvalid as error:
            failure = error
    raise failure or CheckpointInvalid("no public key to check it with")


def read_held_checkpoint(text: str, name: str) -> HeldCheckpoint:
    """A checkpoint as `flask audit checkpoint` prints it and its email carries: the three lines of its
    text, then a line `signature <base64>` (other lines, such as `public key ...`, are ignored).
    Raises CheckpointInvalid if it is not that."""
    lines = text.replace("\r\n", "\n").split("\n")
    signature = next((line.split(" ", 1)[1].strip() for line in lines if line.startswith("signature ")), None)
    if len(lines) < 4 or signature is None:
        raise CheckpointInvalid(
            f"{name} is not a checkpoint: expected its three lines (origin, tree size, root) and a 'signature ...' line"
        )
    return HeldCheckpoint("".join(line + "\n" for line in lines[:3]), signature, name)


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
    """Walk the events in the tree's order (leaf index) against the tree's leaves, stopping at the first
    one that is not where the tree says. Events with no leaf index yet are waiting for the sequencer."""
    position = {digest: index for index, digest in enumerate(leaves)}
    # An event whose personal data was removed has the leaf hash recorded when it was (audit.redaction),
    # trusted only if an `audit:events_redacted` event of the log itself lists it: a redaction row added
    # by hand does not excuse a changed event.
    listed = _listed_redactions()
    redacted = {
        event_id: (leaf_index, bytes.fromhex(leaf_hash))
        for event_id, leaf_index, leaf_hash in db.session.execute(
            select(AuditRedaction.event_id, AuditRedaction.leaf_index, AuditRedaction.leaf_hash)
        )
        if (event_id, leaf_index, leaf_hash) in listed
    }

    def digest_of(event: AuditEvent) -> bytes:
        if event.id in redacted and redacted[event.id][0] == event.leaf_index:
            return redacted[event.id][1]
        return merkle.leaf_hash(event_leaf(event).encode("utf-8"))

    query = select(AuditEvent).where(AuditEvent.leaf_index.is_not(None)).order_by(AuditEvent.leaf_index)
    rows = db.session.execute(query.execution_options(yield_per=1000))
    try:
        expected = 0  # the leaf the next event should be
        walk = _with_next((event, digest_of(event)) for event in rows.scalars())
        for (event, digest), after in walk:
            index = event.leaf_index
            if index is None or index >= size:
                return (
                    f"event {event.id} is marked as leaf {index}, beyond the tree's {size} leaves "
                    "(its leaf index was changed, or it was inserted)"
                )
            if index == expected and digest == leaves[index]:
                expected += 1
                continue
            found = position.get(digest)  # where its content is, to name what happened (two alike: the last)
            if found is None:
                if after is not None and after[1] == leaves[index]:
                    return (
                        f"event {event.id} was inserted: it is not in the tree, yet it is marked as leaf {index}, "
                        f"whose content is event {after[0].id}'s"
                    )
                return (
                    f"event {event.id} (leaf {index}) was changed: its content no longer hashes to the tree's "
                    f"leaf {index}"
                )
            if index > expected and found == index:
                return (
                    f"the event of leaf {expected} was removed"
                    + (f" (and those of leaves up to {index - 1})" if index - 1 > expected else "")
                    + f": the next event, {event.id}, is leaf {index}"
                )
            return (
                f"events were reordered: event {event.id} holds the content of leaf {found}, "
                f"but is marked as leaf {index}"
            )
    finally:
        rows.close()  # a server-side cursor on PostgreSQL when we stop early
    if expected < size:
        return f"the event of leaf {expected} was removed: the tree has {size} leaves, the log only {expected}"
    return None


def _listed_redactions() -> set[tuple[int, int, str]]:
    """(event id, leaf index, leaf hash) of every redaction the log's own `audit:events_redacted` events
    record (those events are leaves, checked like any other)."""
    listed: set[tuple[int, int, str]] = set()
    query = select(AuditEvent.data).where(
        AuditEvent.action.like(f"%:{Event.EVENTS_REDACTED}"), AuditEvent.leaf_index.is_not(None)
    )
    for data in db.session.execute(query).scalars():
        try:
            entries = json.loads(str(event_details(data).get("events") or "[]"))
        except ValueError:
            continue
        for entry in entries if isinstance(entries, list) else []:
            if isinstance(entry, list) and len(entry) == 3:
                listed.add((int(entry[0]), int(entry[1]), str(entry[2])))
    return listed


Item = TypeVar("Item")


def _with_next(items: Iterable[Item]) -> Iterator[tuple[Item, Item | None]]:
    """Each item with the one after it (None after the last)."""
    iterator = iter(items)
    current = next(iterator, None)
    while current is not None:
        following = next(iterator, None)
        yield current, following
        current = following
