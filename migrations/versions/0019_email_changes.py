"""email address changes: pending changes of the address on record, and previous addresses

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-05 00:00:00

Issue 16: a change of the address on record is a row in email_changes (the old and new address, the
SHA-256 of each side's link nonce, when each side confirmed, its expiry and state), at most one pending
per customer (a partial unique index, as for open incidents). When it is made, the old address goes to
previous_addresses, from which a report still reaches the customer for PREVIOUS_ADDRESS_DAYS. New tables
only: no existing row changes; downgrading drops both (the audit log keeps every change made).
"""

import sqlalchemy as sa
from alembic import op

import incident_service.database  # noqa: F401  (UTCDateTime in the columns)

# revision identifiers, used by Alembic.
revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "email_changes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("old_address", sa.String(length=320), nullable=False),
        sa.Column("new_address", sa.String(length=320), nullable=False),
        sa.Column("old_nonce_hash", sa.String(length=64), nullable=False),
        sa.Column("new_nonce_hash", sa.String(length=64), nullable=False),
        sa.Column("new_address_taken", sa.Boolean(), nullable=False),
        sa.Column("created_at", incident_service.database.UTCDateTime(), nullable=False),
        sa.Column("expires_at", incident_service.database.UTCDateTime(), nullable=False),
        sa.Column("confirmed_old_at", incident_service.database.UTCDateTime(), nullable=True),
        sa.Column("confirmed_new_at", incident_service.database.UTCDateTime(), nullable=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("finished_at", incident_service.database.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(["customer_id"], ["customers.id"], name=op.f("fk_email_changes_customer_id_customers")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_email_changes")),
        sa.UniqueConstraint("old_nonce_hash", name=op.f("uq_email_changes_old_nonce_hash")),
        sa.UniqueConstraint("new_nonce_hash", name=op.f("uq_email_changes_new_nonce_hash")),
    )
    op.create_index(op.f("ix_email_changes_customer_id"), "email_changes", ["customer_id"])
    op.create_index(
        "uq_email_changes_pending_customer",
        "email_changes",
        ["customer_id"],
        unique=True,
        sqlite_where=sa.text("state = 'pending'"),
        postgresql_where=sa.text("state = 'pending'"),
    )
    op.create_table(
        "previous_addresses",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("address", sa.String(length=320), nullable=False),
        sa.Column("recorded_since", incident_service.database.UTCDateTime(), nullable=False),
        sa.Column("replaced_at", incident_service.database.UTCDateTime(), nullable=False),
        sa.Column("email_change_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customers.id"], name=op.f("fk_previous_addresses_customer_id_customers")
        ),
        sa.ForeignKeyConstraint(
            ["email_change_id"], ["email_changes.id"], name=op.f("fk_previous_addresses_email_change_id_email_changes")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_previous_addresses")),
    )
    op.create_index(op.f("ix_previous_addresses_customer_id"), "previous_addresses", ["customer_id"])
    op.create_index(op.f("ix_previous_addresses_address"), "previous_addresses", ["address"])
    op.create_index(op.f("ix_previous_addresses_replaced_at"), "previous_addresses", ["replaced_at"])


def downgrade():
    op.drop_table("previous_addresses")
    op.drop_index("uq_email_changes_pending_customer", table_name="email_changes")
    op.drop_table("email_changes")
