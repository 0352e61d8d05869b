"""The audit log's Merkle tree, RFC 9162 §2.1: hashing, tree heads, inclusion and consistency proofs.

Pure: no database. A tree of `size` leaves is served by a function returning the hash of a perfect
subtree, `subtree(level, index)`: the 2**level leaves from index * 2**level. Those hashes never change
once the subtree is complete, so storage keeps each once and any proof is O(log size) of them.
"""

from __future__ import annotations

import hashlib
from typing import Callable, Sequence

LEAF_PREFIX = b"\x00"
NODE_PREFIX = b"\x01"
EMPTY_ROOT = hashlib.sha256(b"").digest()  # MTH({}) = HASH()

# (level, index) -> hash of leaves [index * 2**level, (index + 1) * 2**level)
SubtreeHash = Callable[[int, int], bytes]


def leaf_hash(leaf: bytes) -> bytes:
    """SHA-256(0x00 ‖ leaf)."""
    return hashlib.sha256(LEAF_PREFIX + leaf).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """SHA-256(0x01 ‖ left ‖ right)."""
    return hashlib.sha256(NODE_PREFIX + left + right).digest()


def split_point(n: int) -> int:
    """k, the largest power of two smaller than n (n > 1): where RFC 9162 splits D[n]."""
    return 1 << ((n - 1).bit_length() - 1)


def root_of(leaf_hashes: Sequence[bytes]) -> bytes:
    """MTH of a list of leaf hashes (the whole tree in memory: for tests and small trees)."""
    if not leaf_hashes:
        return EMPTY_ROOT
    level = list(leaf_hashes)
    while len(level) > 1:
        # Pairing left to right and carrying an odd last node up is the RFC's split, done bottom-up.
        paired = [node_hash(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            paired.append(level[-1])
        level = paired
    return level[0]


def new_subtrees(size: int, leaf_hashes: Sequence[bytes], subtree: SubtreeHash) -> list[tuple[int, int, bytes]]:
    """The perfect subtrees (level, index, hash) completed by appending `leaf_hashes` to a tree of
    `size` leaves, leaves (level 0) included, children before parents. `subtree` serves the old ones."""
    made: dict[tuple[int, int], bytes] = {}

    def known(level: int, index: int) -> bytes:
        return made.get((level, index)) or subtree(level, index)

    out = []
    for offset, digest in enumerate(leaf_hashes):
        position = size + offset
        made[(0, position)] = digest
        out.append((0, position, digest))
        level, index = 0, position
        while index % 2 == 1:  # a right child completes its parent
            parent = node_hash(known(level, index - 1), known(level, index))
            level, index = level + 1, index // 2
            made[(level, index)] = parent
            out.append((level, index, parent))
    return out


def range_hash(start: int, end: int, subtree: SubtreeHash) -> bytes:
    """MTH(D[start:end]) for a range the RFC's recursion produces: `start` a multiple of a power of
    two at least end - start. Its perfect pieces, largest first, folded from the right."""
    if end <= start:
        return EMPTY_ROOT
    pieces = []
    position = start
    while position < end:
        level = (end - position).bit_length() - 1
        pieces.append(subtree(level, position >> level))
        position += 1 << level
    digest = pieces[-1]
    for piece in reversed(pieces[:-1]):
        digest = node_hash(piece, digest)
    return digest


def tree_root(size: int, subtree: SubtreeHash) -> bytes:
    """MTH of the first `size` leaves."""
    return range_hash(0, size, subtree)


def inclusion_proof(index: int, size: int, subtree: SubtreeHash) -> list[bytes]:
    """PATH(index, D[size]) of RFC 9162 §2.1.3.1, in the order §2.1.3.2 verifies it (leaf's sibling first)."""
    if not 0 <= index < size:
        raise ValueError(f"leaf {index} is not in a tree of {size}")
    path = []
    start, end = 0, size
    while end - start > 1:
        k = split_point(end - start)
        if index < start + k:
            path.append(range_hash(start + k, end, subtree))
            end = start + k
        else:
            path.append(range_hash(start, start + k, subtree))
            start += k
    path.reverse()
    return path


def consistency_proof(old_size: int, new_size: int, subtree: SubtreeHash) -> list[bytes]:
    """PROOF(old_size, D[new_size]) of RFC 9162 §2.1.4.1 (empty when old_size is 0 or equals new_size)."""
    if not 0 <= old_size <= new_size:
        raise ValueError(f"no consistency proof from {old_size} to {new_size}")
    if old_size in (0, new_size):
        return []
    proof = []
    start, end, m, complete = 0, new_size, old_size, True  # SUBPROOF(m, D[start:end], complete)
    while m != end - start:
        k = split_point(end - start)
        if m <= k:
            proof.append(range_hash(start + k, end, subtree))
            end = start + k
        else:
            proof.append(range_hash(start, start + k, subtree))
            m -= k
            start += k
            complete = False
    if not complete:
        proof.append(range_hash(start, end, subtree))
    proof.reverse()
    return proof


def verify_inclusion(index: int, size: int, leaf: bytes, proof: Sequence[bytes], root: bytes) -> bool:
    """RFC 9162 §2.1.3.2: does `proof` show the leaf hash `leaf` at `index` in the tree of `size` with `root`?"""
    if not 0 <= index < size:
        return False
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while not fn & 1 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root


def verify_consistency(old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]) -> bool:
    """RFC 9162 §2.1.4.2: is the tree of `new_size` with `new_root` an extension of the one of `old_size`
    with `old_root`? The RFC leaves out two edge cases, settled as RFC 6962-bis implementations do: an
    empty tree is extended by any tree (empty proof), and a tree only by itself (equal roots, empty proof)."""
    if not 0 <= old_size <= new_size:
        return False
    if old_size == 0:
        return not proof
    if old_size == new_size:
        return not proof and old_root == new_root
    if not proof:
        return False
    path = list(proof)
    if old_size & (old_size - 1) == 0:  # an exact power of two: the old root is itself a node of the new tree
        path.insert(0, old_root)
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while not fn & 1 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return fr == old_root and sr == new_root and sn == 0
