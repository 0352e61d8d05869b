"""Audit events: append-only rows, the leaves of a Merkle tree (audit.sequencer) with signed checkpoints."""

from __future__ import annotations

import base64
from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Index, Integer, LargeBinary, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from ..database import UTCDateTime
from ..extensions import Model

GENESIS_HASH = "0" * 64


class AuditEvent(Model):
    __tablename__ = "audit_events"
    # The events the sequencer has yet to integrate (migration 0016): as small as the backlog.
    __table_args__ = (
        Index(
            "ix_audit_events_unsequenced",
            "id",
            sqlite_where=text("leaf_index IS NULL"),
            postgresql_where=text("leaf_index IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    # source:subject:action, e.g. "web:report:received", "system:credential:locked".
    action: Mapped[str] = mapped_column(String(80), index=True)
    actor: Mapped[str] = mapped_column(String(320))
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id"), index=True)
    incident_id: Mapped[int | None] = mapped_column(ForeignKey("incidents.id"), index=True)
    report_id: Mapped[int | None] = mapped_column(ForeignKey("reports.id"), index=True)
    # Canonical JSON of the event's details; part of what is hashed.
    data: Mapped[str] = mapped_column(Text, default="{}")
    # The hash of the event before it for events written before the tree (the chain); empty since
    # (audit.service.UNCHAINED): writers no longer read a head.
    prev_hash: Mapped[str] = mapped_column(String(64))
    # Not unique-indexed: the chain (verify_chain) is what proves integrity, and a unique index on random
    # hashes made every append a random B-tree insert (a sixth of mass reactivation's time).
    hash: Mapped[str] = mapped_column(String(64))
    # Its position in the Merkle tree (audit.sequencer), given after it commits; null until then. Its leaf
    # is `prev_hash ‖ canonical body` (audit.service.event_leaf), the very bytes `hash` is SHA-256 of.
    leaf_index: Mapped[int | None] = mapped_column(Integer, unique=True, index=True)


class AuditTreeNode(Model):
    """The hash of one perfect subtree of the Merkle tree: leaves [index * 2**level, (index + 1) * 2**level).
    Level 0 holds the leaf hashes. Written once, when the subtree is complete; never changed."""

    __tablename__ = "audit_tree_nodes"

    level: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    index: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    hash: Mapped[bytes] = mapped_column(LargeBinary)  # 32 bytes of SHA-256


class AuditTreeState(Model):
    """The one row saying how many events the tree holds and its root (hex): moved by the sequencer."""

    __tablename__ = "audit_tree_state"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)  # always TREE_STATE_ID
    size: Mapped[int] = mapped_column(Integer)
    root: Mapped[str] = mapped_column(String(64))


TREE_STATE_ID = 1


class AuditAnchor(Model):
    """The chain head at a moment, also sent outside the service: a rebuilt chain no longer matches it."""

    __tablename__ = "audit_anchors"

    id: Mapped[int] = mapped_column(primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_event_id: Mapped[int] = mapped_column(Integer)
    event_count: Mapped[int] = mapped_column(Integer)
    head_hash: Mapped[str] = mapped_column(String(64))
    emailed_to: Mapped[str | None] = mapped_column(String(320))


class AuditCheckpoint(Model):
    """A signed tree head (C2SP tlog-checkpoint): the tree's size and root, signed with the service's
    Ed25519 key, timestamped by an RFC 3161 authority when one is configured, and sent outside the
    service. Any later tree must be provably an extension of it (a consistency proof)."""

    __tablename__ = "audit_checkpoints"

    id: Mapped[int] = mapped_column(primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # One checkpoint per tree size: two workers checkpointing the same tree at once make one row.
    tree_size: Mapped[int] = mapped_column(Integer, unique=True)
    root_hash: Mapped[str] = mapped_column(String(64))  # hex
    # The exact signed text (origin, size, base64 root, each line ending in a newline).
    text: Mapped[str] = mapped_column(Text)
    signature: Mapped[str] = mapped_column(String(128))  # base64 Ed25519 signature over `text`
    public_key: Mapped[str] = mapped_column(String(64))  # base64 raw 32-byte Ed25519 key that signed it
    # DER RFC 3161 TimeStampToken over SHA-256(text); null until a TSA has granted one.
    timestamp_token: Mapped[bytes | None] = mapped_column(LargeBinary)
    tsa_url: Mapped[str | None] = mapped_column(String(2048))
    emailed_to: Mapped[str | None] = mapped_column(String(320))

    @property
    def timestamp_token_text(self) -> str | None:
        """The time-stamp token as base64 (as packs and emails carry it), or None."""
        return base64.b64encode(self.timestamp_token).decode() if self.timestamp_token is not None else None


class AuditRedaction(Model):
    """Personal data removed from an event already in the tree (retention, erasure). The event's `data`
    now holds the tombstone; its leaf in the tree, whose hash is recorded here and in the redaction's own
    event, is unchanged, so every proof still verifies; only its content can no longer be recomputed."""

    __tablename__ = "audit_redactions"

    event_id: Mapped[int] = mapped_column(ForeignKey("audit_events.id"), primary_key=True, autoincrement=False)
    leaf_index: Mapped[int] = mapped_column(Integer)
    leaf_hash: Mapped[str] = mapped_column(String(64))  # hex: the tree's level-0 node for that leaf
    fields: Mapped[list[str]] = mapped_column(JSON, default=list)
    rule: Mapped[str] = mapped_column(String(40))
    redacted_at: Mapped[datetime] = mapped_column(UTCDateTime)
