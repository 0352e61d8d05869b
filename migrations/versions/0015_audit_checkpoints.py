"""audit checkpoints: signed (and timestamped) heads of the audit log's Merkle tree

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-04 00:30:00

Issue 15: each checkpoint is the tree's size and root in the C2SP tlog-checkpoint text, its Ed25519
signature and the public key that made it, and an RFC 3161 time-stamp token when a TSA granted one. One
row per tree size. No existing rows change; downgrading drops the checkpoints (copies sent outside the
company by email still verify with the published key).
"""

import sqlalchemy as sa
from alembic import op

import incident_service.database  # noqa: F401  (UTCDateTime in the columns)


# revision identifiers, used by Alembic.
revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "audit_checkpoints",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("created_at", incident_service.database.UTCDateTime(), nullable=False),
        sa.Column("tree_size", sa.Integer(), nullable=False),
        sa.Column("root_hash", sa.String(length=64), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("signature", sa.String(length=128), nullable=False),
        sa.Column("public_key", sa.String(length=64), nullable=False),
        sa.Column("timestamp_token", sa.LargeBinary(), nullable=True),
        sa.Column("tsa_url", sa.String(length=2048), nullable=True),
        sa.Column("emailed_to", sa.String(length=320), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_checkpoints")),
        sa.UniqueConstraint("tree_size", name=op.f("uq_audit_checkpoints_tree_size")),
    )


def downgrade():
    op.drop_table("audit_checkpoints")
