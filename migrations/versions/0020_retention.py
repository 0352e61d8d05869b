"""retention: legal holds on incidents, tombstones of what was removed, redactions of audit events

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-05 00:00:00

Issue 16: personal data is kept no longer than its rule says (incident_service/retention), unless legal
holds the incident. `legal_holds` has one row per hold placed (released ones stay, with who released
them and why). `tombstones` says, for each row whose personal fields were emptied, which fields, when
and under which rule; the rows themselves stay with their times, references and hashes.
`audit_redactions` records an audit event whose personal data was replaced by a tombstone after it
entered the Merkle tree: its leaf hash (unchanged in the tree) is kept there, so `flask audit verify`
and evidence packs still prove its place in the log.

No data step, no change to existing tables (so no copy of any table on SQLite). Downgrading drops the
three tables; emptied fields stay empty.
"""

import sqlalchemy as sa
from alembic import op

import incident_service.database  # noqa: F401  (UTCDateTime in the columns)

# revision identifiers, used by Alembic.
revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "legal_holds",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("incident_id", sa.Integer(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("placed_by", sa.String(length=320), nullable=False),
        sa.Column("placed_at", incident_service.database.UTCDateTime(), nullable=False),
        sa.Column("released_at", incident_service.database.UTCDateTime(), nullable=True),
        sa.Column("released_by", sa.String(length=320), nullable=True),
        sa.Column("release_reason", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["incident_id"], ["incidents.id"], name=op.f("fk_legal_holds_incident_id_incidents")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_legal_holds")),
    )
    op.create_index(op.f("ix_legal_holds_incident_id"), "legal_holds", ["incident_id"], unique=False)
    op.create_table(
        "tombstones",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("subject", sa.String(length=40), nullable=False),
        sa.Column("subject_id", sa.Integer(), nullable=False),
        sa.Column("fields", sa.JSON(), nullable=False),
        sa.Column("rule", sa.String(length=40), nullable=False),
        sa.Column("purged_at", incident_service.database.UTCDateTime(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=True),
        sa.Column("incident_id", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tombstones")),
    )
    op.create_index("ix_tombstones_subject", "tombstones", ["subject", "subject_id"], unique=False)
    op.create_index(op.f("ix_tombstones_customer_id"), "tombstones", ["customer_id"], unique=False)
    op.create_index(op.f("ix_tombstones_incident_id"), "tombstones", ["incident_id"], unique=False)
    op.create_table(
        "audit_redactions",
        sa.Column("event_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("leaf_index", sa.Integer(), nullable=False),
        sa.Column("leaf_hash", sa.String(length=64), nullable=False),
        sa.Column("fields", sa.JSON(), nullable=False),
        sa.Column("rule", sa.String(length=40), nullable=False),
        sa.Column("redacted_at", incident_service.database.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["event_id"], ["audit_events.id"], name=op.f("fk_audit_redactions_event_id_audit_events")
        ),
        sa.PrimaryKeyConstraint("event_id", name=op.f("pk_audit_redactions")),
    )


def downgrade():
    op.drop_table("audit_redactions")
    op.drop_index(op.f("ix_tombstones_incident_id"), table_name="tombstones")
    op.drop_index(op.f("ix_tombstones_customer_id"), table_name="tombstones")
    op.drop_index("ix_tombstones_subject", table_name="tombstones")
    op.drop_table("tombstones")
    op.drop_index(op.f("ix_legal_holds_incident_id"), table_name="legal_holds")
    op.drop_table("legal_holds")
