"""audit tree: each event's leaf index, the Merkle tree's perfect-subtree hashes, the tree's size and root

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-04 00:00:00

Issue 15: the audit log becomes an RFC 9162 Merkle tree (incident_service/audit/merkle.py). An event's leaf
is its `prev_hash` followed by its canonical JSON body: the very bytes its chain hash is SHA-256 of, so
the old chain stays inside the tree and `flask audit verify` still checks it against earlier anchors.
`audit_events.leaf_index` is given by the sequencer (audit/sequencer.py) after the event commits;
`audit_tree_nodes` keeps every complete perfect subtree's hash once (level 0: the leaf hashes, which stay
when content is purged); `audit_tree_state` is the one row with the tree's size and root.

No data step: the existing events start with no leaf index, and the first sequencer run (the worker, or
`flask audit sequence`) makes them the first leaves, in id order (their chain order). The sequencer
creates the state row itself. Downgrading forgets the tree; the chain is untouched either way.

On SQLite the column is added in place (ALTER TABLE ADD COLUMN, which Alembic emits for a plain nullable
column) rather than by batch mode's copy of `audit_events` (see 0010); uniqueness is a unique index.
"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

LEAF_INDEX = "ix_audit_events_leaf_index"


def upgrade():
    op.add_column("audit_events", sa.Column("leaf_index", sa.Integer(), nullable=True))
    op.create_index(LEAF_INDEX, "audit_events", ["leaf_index"], unique=True)
    op.create_table(
        "audit_tree_nodes",
        sa.Column("level", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("index", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("hash", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("level", "index", name=op.f("pk_audit_tree_nodes")),
    )
    op.create_table(
        "audit_tree_state",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("root", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_tree_state")),
    )


def downgrade():
    op.drop_table("audit_tree_state")
    op.drop_table("audit_tree_nodes")
    op.drop_index(LEAF_INDEX, table_name="audit_events")
    if op.get_bind().dialect.name == "sqlite":
        op.execute("ALTER TABLE audit_events DROP COLUMN leaf_index")  # SQLite 3.35 and later
    else:
        op.drop_column("audit_events", "leaf_index")
