"""API keys for the JSON API (/api/v1)

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-03 00:00:00

Issue 14: other systems call the API with `Authorization: Bearer <key>`. A key is shown once when it is
created; the table keeps only its SHA-256 (`key_hash`, hex) and a short non-secret `prefix` that lets a
person tell keys apart in lists and audit events. Keys are 256-bit random values, so a fast hash is
right: there is nothing to brute-force that a slow hash would protect. `scopes` is the space-separated
list of the key's scopes (DESIGN: reports:write, reports:read, incidents:read, customers:write,
links:write, events:read). A revoked key keeps its row (its name stays taken; the audit log refers to it).
"""

import sqlalchemy as sa
from alembic import op

import incident_service.database  # noqa: F401  (UTCDateTime in the columns)


# revision identifiers, used by Alembic.
revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "api_keys",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("prefix", sa.String(length=16), nullable=False),
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("scopes", sa.String(length=200), nullable=False),
        sa.Column("created_at", incident_service.database.UTCDateTime(), nullable=False),
        sa.Column("created_by", sa.String(length=320), nullable=False),
        sa.Column("expires_at", incident_service.database.UTCDateTime(), nullable=True),
        sa.Column("last_used_at", incident_service.database.UTCDateTime(), nullable=True),
        sa.Column("revoked_at", incident_service.database.UTCDateTime(), nullable=True),
        sa.Column("revoked_by", sa.String(length=320), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_keys")),
        sa.UniqueConstraint("name", name=op.f("uq_api_keys_name")),
        sa.UniqueConstraint("key_hash", name=op.f("uq_api_keys_key_hash")),
    )


def downgrade():
    op.drop_table("api_keys")
