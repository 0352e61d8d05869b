"""The Merkle tree core against RFC 9162 §2.1 written out plainly here, pymerkle, and published vectors."""

from __future__ import annotations

import hashlib

import pytest
from pymerkle import InmemoryTree

from incident_service.audit.merkle import (
    EMPTY_ROOT,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    new_subtrees,
    node_hash,
    root_of,
    tree_root,
    verify_consistency,
    verify_inclusion,
)

SIZES = range(1, 71)


# RFC 9162 §2.1.1, §2.1.3.1 and §2.1.4.1 as the RFC writes them: recursive, over the list of leaf inputs.
def rfc_hash(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def rfc_k(n: int) -> int:
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def rfc_mth(d: list[bytes]) -> bytes:
    if not d:
        return rfc_hash(b"")
    if len(d) == 1:
        return rfc_hash(b"\x00" + d[0])
    k = rfc_k(len(d))
    return rfc_hash(b"\x01" + rfc_mth(d[:k]) + rfc_mth(d[k:]))


def rfc_path(m: int, d: list[bytes]) -> list[bytes]:
    if len(d) == 1:
        return []
    k = rfc_k(len(d))
    if m < k:
        return rfc_path(m, d[:k]) + [rfc_mth(d[k:])]
    return rfc_path(m - k, d[k:]) + [rfc_mth(d[:k])]


def rfc_subproof(m: int, d: list[bytes], b: bool) -> list[bytes]:
    n = len(d)
    if m == n:
        return [] if b else [rfc_mth(d)]
    k = rfc_k(n)
    if m <= k:
        return rfc_subproof(m, d[:k], b) + [rfc_mth(d[k:])]
    return rfc_subproof(m - k, d[k:], False) + [rfc_mth(d[:k])]


def rfc_proof(m: int, d: list[bytes]) -> list[bytes]:
    return rfc_subproof(m, d, True)


LEAVES = [f'event {i}: {{"action":"web:report:received"}}'.encode() for i in range(max(SIZES))]


def stored(leaves: list[bytes]):  # type: ignore[no-untyped-def]
    """The perfect subtrees of `leaves`, built as the sequencer builds them (new_subtrees, one leaf at a
    time), served as storage serves them."""
    nodes: dict[tuple[int, int], bytes] = {}
    for size, leaf in enumerate(leaves):
        for level, index, digest in new_subtrees(size, [leaf_hash(leaf)], lambda lv, ix: nodes[(lv, ix)]):
            assert (level, index) not in nodes  # each written once, never changed
            nodes[(level, index)] = digest
    return lambda level, index: nodes[(level, index)]


SUBTREE = stored(LEAVES)


def test_hashing_prefixes() -> None:
    assert leaf_hash(b"abc") == hashlib.sha256(b"\x00abc").digest()
    assert node_hash(b"l" * 32, b"r" * 32) == hashlib.sha256(b"\x01" + b"l" * 32 + b"r" * 32).digest()
    assert root_of([]) == EMPTY_ROOT == rfc_mth([]) and tree_root(0, SUBTREE) == EMPTY_ROOT


def test_roots_agree_with_the_rfc_and_pymerkle_for_every_size() -> None:
    reference = InmemoryTree(algorithm="sha256")  # RFC 9162 prefixes (pymerkle's default "security")
    for size in SIZES:
        reference.append_entry(LEAVES[size - 1])
        expected = rfc_mth(LEAVES[:size])
        assert tree_root(size, SUBTREE) == expected
        assert root_of([leaf_hash(leaf) for leaf in LEAVES[:size]]) == expected
        assert reference.get_root() == expected, size
    for size in SIZES:  # pymerkle's historic roots too
        assert reference.get_root(size) == tree_root(size, SUBTREE)


def test_batches_store_the_same_nodes_as_one_at_a_time() -> None:
    nodes: dict[tuple[int, int], bytes] = {}
    size = 0
    for batch in (1, 2, 5, 3, 8, 13, 38):
        hashes = [leaf_hash(leaf) for leaf in LEAVES[size : size + batch]]
        for level, index, digest in new_subtrees(size, hashes, lambda lv, ix: nodes[(lv, ix)]):
            assert (level, index) not in nodes
            nodes[(level, index)] = digest
        size += batch
    assert size == 70
    assert all(SUBTREE(level, index) == digest for (level, index), digest in nodes.items())
    assert len(nodes) == 70 + 35 + 17 + 8 + 4 + 2 + 1


def test_inclusion_proofs_for_every_leaf_of_every_size() -> None:
    for size in SIZES:
        root = rfc_mth(LEAVES[:size])
        for index in range(size):
            proof = inclusion_proof(index, size, SUBTREE)
            assert proof == rfc_path(index, LEAVES[:size]), (index, size)
            leaf = leaf_hash(LEAVES[index])
            assert verify_inclusion(index, size, leaf, proof, root)
            assert not verify_inclusion(index, size, leaf_hash(b"other"), proof, root)
            if size > 1:
                assert not verify_inclusion((index + 1) % size, size, leaf, proof, root)
                assert not verify_inclusion(index, size, leaf, proof, rfc_mth(LEAVES[: size - 1]) if size > 1 else root)
                assert not verify_inclusion(index, size, leaf, proof[:-1], root)
                assert not verify_inclusion(index, size, leaf, [*proof, proof[0]], root)
                for position in range(len(proof)):
                    tampered = list(proof)
                    tampered[position] = bytes([tampered[position][0] ^ 1]) + tampered[position][1:]
                    assert not verify_inclusion(index, size, leaf, tampered, root)
        assert not verify_inclusion(size, size, leaf_hash(LEAVES[0]), [], root)


def test_consistency_proofs_for_every_pair_of_sizes() -> None:
    for new_size in SIZES:
        new_root = rfc_mth(LEAVES[:new_size])
        for old_size in range(0, new_size + 1):
            old_root = rfc_mth(LEAVES[:old_size])
            proof = consistency_proof(old_size, new_size, SUBTREE)
            expected = [] if old_size == 0 else rfc_proof(old_size, LEAVES[:new_size])
            assert proof == expected, (old_size, new_size)
            assert verify_consistency(old_size, new_size, old_root, new_root, proof)
            if 0 < old_size < new_size:
                # A rewritten history: another old root, another new root, or any hash of the proof changed.
                forged = rfc_mth([b"rewritten", *LEAVES[1:old_size]])
                assert not verify_consistency(old_size, new_size, forged, new_root, proof)
                assert not verify_consistency(old_size, new_size, old_root, forged, proof)
                assert not verify_consistency(old_size, new_size, old_root, new_root, [])
                assert not verify_consistency(old_size, new_size, old_root, new_root, proof[:-1])
                assert not verify_consistency(old_size, new_size, old_root, new_root, [*proof, proof[0]])
                for position in range(len(proof)):
                    tampered = list(proof)
                    tampered[position] = bytes([tampered[position][0] ^ 1]) + tampered[position][1:]
                    assert not verify_consistency(old_size, new_size, old_root, new_root, tampered)
    assert not verify_consistency(5, 4, EMPTY_ROOT, EMPTY_ROOT, [])
    assert not verify_consistency(3, 3, rfc_mth(LEAVES[:3]), rfc_mth(LEAVES[:2]), [])


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(ValueError):
        inclusion_proof(3, 3, SUBTREE)
    with pytest.raises(ValueError):
        consistency_proof(4, 3, SUBTREE)


# RFC 6962 reference data as published by transparency-dev/merkle (testonly/constants.go) and the
# certificate-transparency test suites: the leaf inputs, every perfect subtree's hash, and proofs.
VECTOR_LEAVES = [
    bytes.fromhex(h)
    for h in ("", "00", "10", "2021", "3031", "40414243", "5051525354555657", "606162636465666768696a6b6c6d6e6f")
]
VECTOR_NODES = [
    [
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
        "0298d122906dcfc10892cb53a73992fc5b9f493ea4c9badb27b791b4127a7fe7",
        "07506a85fd9dd2f120eb694f86011e5bb4662e5c415a62917033d4a9624487e7",
        "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        "4271a26be0d8a84f0bd54c8c302e7cb3a3b5d1fa6780a40bcce2873477dab658",
        "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
        "46f6ffadd3d06a09ff3c5860d2755c8b9819db7df44251788c7d8e3180de8eb1",
    ],
    [
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
        "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
    ],
    [
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
    ],
    ["5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"],
]
VECTOR_ROOTS = [
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]
VECTOR_INCLUSION = [
    (
        0,
        8,
        [
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        5,
        8,
        [
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
]
VECTOR_CONSISTENCY = [
    (
        2,
        8,
        [
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        6,
        8,
        [
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
    (
        2,
        5,
        [
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    ),
]


def test_published_vectors() -> None:
    subtree = stored(VECTOR_LEAVES)
    for level, hashes in enumerate(VECTOR_NODES):
        for index, digest in enumerate(hashes):
            assert subtree(level, index).hex() == digest
    for size, root in enumerate(VECTOR_ROOTS):
        assert tree_root(size, subtree).hex() == root
    for index, size, proof in VECTOR_INCLUSION:
        assert [h.hex() for h in inclusion_proof(index, size, subtree)] == proof
        leaf = leaf_hash(VECTOR_LEAVES[index])
        assert verify_inclusion(index, size, leaf, [bytes.fromhex(h) for h in proof], bytes.fromhex(VECTOR_ROOTS[size]))
    for old, new, proof in VECTOR_CONSISTENCY:
        assert [h.hex() for h in consistency_proof(old, new, subtree)] == proof
        assert verify_consistency(
            old,
            new,
            bytes.fromhex(VECTOR_ROOTS[old]),
            bytes.fromhex(VECTOR_ROOTS[new]),
            [bytes.fromhex(h) for h in proof],
        )
