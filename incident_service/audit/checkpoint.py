"""Checkpoints of the audit log's Merkle tree: the C2SP tlog-checkpoint text (origin, size, base64 root),
signed with the service's Ed25519 key, time-stamped by an RFC 3161 authority when one is configured.

The text, signature and public key are the fields DESIGN.md fixes for evidence packs ("Evidence pack
proofs"): an expert checks them with any Ed25519 implementation and the key published in the README's
deployment steps.
"""

from __future__ import annotations

import base64
import binascii
import hmac
from dataclasses import dataclass
from datetime import datetime
from typing import Callable, Protocol, Sequence

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat, PublicFormat
from flask import current_app
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from ..domain_errors import DomainError
from ..extensions import db
from .merkle import verify_consistency
from .models import AuditCheckpoint
from .timestamping import TimestampError, TimestampInvalid, request_timestamp, verify_timestamp_token


class CheckpointInvalid(DomainError):
    """A checkpoint that does not hold: malformed text, a signature that does not verify with the
    published key, fields that differ from the signed text, or a time-stamp for other text."""


class Head(Protocol):
    """A tree head as the sequencer gives it (sequencer.TreeHead)."""

    @property
    def size(self) -> int: ...
    @property
    def root(self) -> bytes: ...


# (old size, new size) -> the RFC 9162 consistency proof between those trees
ConsistencyProver = Callable[[int, int], Sequence[bytes]]


@dataclass(frozen=True)
class CheckpointBody:
    """What a checkpoint's text says."""

    origin: str
    size: int
    root: bytes


def checkpoint_text(origin: str, size: int, root: bytes) -> str:
    """The C2SP tlog-checkpoint body: the origin line, the tree size in decimal, the root hash in
    standard base64, each followed by a newline. This exact text is what is signed and time-stamped."""
    if not origin or "\n" in origin or origin != origin.strip():
        raise ValueError(f"a checkpoint's origin is one line with no surrounding spaces, not {origin!r}")
    if size < 0 or len(root) != 32:
        raise ValueError("a checkpoint has a size of zero or more and a 32-byte SHA-256 root")
    return f"{origin}\n{size}\n{base64.b64encode(root).decode()}\n"


def parse_checkpoint_text(text: str) -> CheckpointBody:
    """Read a checkpoint body back; raises CheckpointInvalid if it is not exactly what checkpoint_text
    writes (so one tree head has one spelling, and nothing else rides along under the signature)."""
    lines = text.split("\n")
    if len(lines) != 4 or lines[3] != "":
        raise CheckpointInvalid("the checkpoint text is not three lines, each ending in a newline")
    origin, size_line, root_line = lines[:3]
    if not size_line.isascii() or not size_line.isdigit() or (size_line != "0" and size_line.startswith("0")):
        raise CheckpointInvalid(f"the checkpoint's tree size {size_line!r} is not a decimal number")
    try:
        root = base64.b64decode(root_line, validate=True)
    except (binascii.Error, ValueError):
        raise CheckpointInvalid(f"the checkpoint's root hash {root_line!r} is not standard base64") from None
    if len(root) != 32:
        raise CheckpointInvalid(f"the checkpoint's root hash is {len(root)} bytes, not 32")
    body = CheckpointBody(origin, int(size_line), root)
    try:
        canonical = checkpoint_text(origin, body.size, root)
    except ValueError as error:
        raise CheckpointInvalid(f"the checkpoint text is malformed: {error}") from None
    if canonical != text:
        raise CheckpointInvalid("the checkpoint text is not in its one canonical form")
    return body


def load_signing_key(encoded: str) -> Ed25519PrivateKey:
    """The private key from base64 of its raw 32-byte seed (the AUDIT_SIGNING_KEY setting)."""
    return Ed25519PrivateKey.from_private_bytes(base64.b64decode(encoded, validate=True))


def generate_signing_key() -> str:
    """A new private key, as AUDIT_SIGNING_KEY takes it."""
    seed = Ed25519PrivateKey.generate().private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
    return base64.b64encode(seed).decode()


def public_key_text(key: Ed25519PrivateKey) -> str:
    """The public key as published: base64 of its raw 32 bytes."""
    return base64.b64encode(key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)).decode()


def service_signing_key() -> Ed25519PrivateKey:
    return load_signing_key(current_app.config["AUDIT_SIGNING_KEY"])


def service_public_key() -> str:
    """The service's public key (`flask audit public-key`), base64 of the raw 32 bytes."""
    return public_key_text(service_signing_key())


def sign_checkpoint(text: str, key: Ed25519PrivateKey) -> str:
    """Base64 of the Ed25519 signature over the UTF-8 text."""
    return base64.b64encode(key.sign(text.encode())).decode()


def verify_checkpoint_signature(text: str, signature: str, public_key: str) -> CheckpointBody:
    """Check that `signature` (base64) is `public_key`'s (base64, raw 32 bytes) Ed25519 signature over
    `text`, and that the text is a well-formed checkpoint; returns what it says. Raises CheckpointInvalid."""
    body = parse_checkpoint_text(text)
    try:
        key = Ed25519PublicKey.from_public_bytes(base64.b64decode(public_key, validate=True))
    except (binascii.Error, ValueError):
        raise CheckpointInvalid("the public key is not base64 of a raw 32-byte Ed25519 key") from None
    try:
        key.verify(base64.b64decode(signature, validate=True), text.encode())
    except (InvalidSignature, binascii.Error, ValueError):
        raise CheckpointInvalid(
            f"the signature of the checkpoint at tree size {body.size} does not verify with public key {public_key}"
        ) from None
    return body


def verify_checkpoint(checkpoint: AuditCheckpoint, public_key: str, *, origin: str | None = None) -> CheckpointBody:
    """Check a stored (or packed) checkpoint against the published `public_key`: the signature over its
    text, its size and root fields equal to what the text says, its origin (when given), and its
    time-stamp token (when it has one) over that same text. Raises CheckpointInvalid naming the first
    failure."""
    if not hmac.compare_digest(checkpoint.public_key, public_key):
        raise CheckpointInvalid(
            f"checkpoint at tree size {checkpoint.tree_size} was signed with key {checkpoint.public_key}, "
            f"not the published key {public_key}"
        )
    body = verify_checkpoint_signature(checkpoint.text, checkpoint.signature, public_key)
    if body.size != checkpoint.tree_size or body.root.hex() != checkpoint.root_hash:
        raise CheckpointInvalid(
            f"checkpoint {checkpoint.id} says tree size {checkpoint.tree_size}, root {checkpoint.root_hash}, "
            f"but its signed text says tree size {body.size}, root {body.root.hex()}"
        )
    if origin is not None and body.origin != origin:
        raise CheckpointInvalid(f"checkpoint {checkpoint.id} is for log {body.origin!r}, not {origin!r}")
    if checkpoint.timestamp_token is not None:
        try:
            verify_timestamp_token(checkpoint.timestamp_token, checkpoint.text.encode())
        except TimestampInvalid as error:
            raise CheckpointInvalid(f"checkpoint {checkpoint.id}'s time-stamp token does not hold: {error}") from None
    return body


def latest_checkpoint() -> AuditCheckpoint | None:
    return db.session.execute(
        select(AuditCheckpoint).order_by(AuditCheckpoint.tree_size.desc()).limit(1)
    ).scalar_one_or_none()


# Checkpoints still without a token are retried, newest first, this many per turn.
TIMESTAMP_RETRY_BATCH = 10


def checkpoints_to_timestamp() -> list[tuple[int, int, str]]:
    """(id, tree size, text) of the newest checkpoints still without a time-stamp token, when a TSA is
    configured. The caller ends its transaction before asking the TSA: on SQLite every transaction holds
    the write lock, and no writer should wait on a TSA's answer."""
    if not current_app.config.get("AUDIT_TSA_URL"):
        return []
    rows = db.session.execute(
        select(AuditCheckpoint.id, AuditCheckpoint.tree_size, AuditCheckpoint.text)
        .where(AuditCheckpoint.timestamp_token.is_(None))
        .order_by(AuditCheckpoint.tree_size.desc())
        .limit(TIMESTAMP_RETRY_BATCH)
    ).all()
    return [(row[0], row[1], row[2]) for row in rows]


def timestamp_text(text: str, *, tree_size: int) -> bytes | None:
    """A checked RFC 3161 token over `text` from AUDIT_TSA_URL, or None (no TSA configured, or it failed:
    logged with the reason; the checkpoint stays signed and is tried again at the next turn). Touches no
    database."""
    url = current_app.config.get("AUDIT_TSA_URL")
    if not url:
        return None
    try:
        stamp = request_timestamp(
            text.encode(), url=url, timeout=float(current_app.config["AUDIT_TSA_TIMEOUT_SECONDS"])
        )
    except TimestampError as error:
        current_app.logger.warning(
            "audit: checkpoint at tree size %d not time-stamped (%s); trying again at the next turn", tree_size, error
        )
        return None
    return stamp.token


def record_timestamp(checkpoint_id: int, token: bytes) -> bool:
    """Store `token` on the checkpoint if it has none yet (another worker may have been first). Flushes."""
    checkpoint = db.session.get(AuditCheckpoint, checkpoint_id)
    if checkpoint is None or checkpoint.timestamp_token is not None:
        return False
    checkpoint.timestamp_token = token
    checkpoint.tsa_url = current_app.config["AUDIT_TSA_URL"]
    db.session.flush()
    return True


def make_checkpoint(
    now: datetime,
    email_to: str | None = None,
    *,
    head: Head | None = None,
    prove: ConsistencyProver | None = None,
) -> AuditCheckpoint | None:
    """Sign the tree's current head (sequencer.tree_head(), or `head`) once it is proved to extend the
    last checkpoint (sequencer.consistency_proof, or `prove`), and store it, recording `email_to` (the
    caller queues that email, as for anchors: notifications.emails.send_audit_checkpoint_email). It has
    no time-stamp yet: the caller commits, then asks the TSA (checkpoints_to_timestamp, timestamp_text,
    record_timestamp), so no lock is held while the TSA answers; the email is rendered when it is sent,
    by which time the token is there. Returns None, making nothing, if the log is empty or has not
    changed since the last checkpoint, or another process checkpointed this size meanwhile. Raises
    CheckpointInvalid, signing nothing, if the tree does not extend the last checkpoint. Flushes."""
    if head is None:
        from .sequencer import consistency_proof, tree_head

        head, prove = tree_head(), consistency_proof
    if head.size == 0:
        return None  # an empty log: nothing to vouch for yet
    last = latest_checkpoint()
    if last is not None and last.tree_size == head.size and last.root_hash == head.root.hex():
        return None
    if last is not None and head.size <= last.tree_size:
        # The same size with another root, or a smaller tree: the log was rewritten. Never sign that.
        raise CheckpointInvalid(
            f"the tree (size {head.size}, root {head.root.hex()}) does not extend the last checkpoint "
            f"(size {last.tree_size}, root {last.root_hash}): refusing to sign it"
        )
    if last is not None and prove is not None:
        old_root = bytes.fromhex(last.root_hash)
        if not verify_consistency(last.tree_size, head.size, old_root, head.root, prove(last.tree_size, head.size)):
            raise CheckpointInvalid(
                f"the tree (size {head.size}, root {head.root.hex()}) is not an extension of the last checkpoint "
                f"(size {last.tree_size}, root {last.root_hash}): the log was rewritten; refusing to sign it"
            )
    key = service_signing_key()
    text = checkpoint_text(current_app.config["AUDIT_LOG_ORIGIN"], head.size, head.root)
    checkpoint = AuditCheckpoint(
        created_at=now,
        tree_size=head.size,
        root_hash=head.root.hex(),
        text=text,
        signature=sign_checkpoint(text, key),
        public_key=public_key_text(key),
        timestamp_token=None,
        tsa_url=None,
        emailed_to=email_to,
    )
    try:
        with db.session.begin_nested():
            db.session.add(checkpoint)
    except IntegrityError:  # another worker checkpointed this very size a moment ago
        return None
    return checkpoint
