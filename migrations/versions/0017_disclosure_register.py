"""disclosure register: disclosures, the customers each concerned, and an API key's purpose and legal basis

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-05 00:00:00

Issue 16: every handing-out of customers' personal data beyond the customer and support staff doing their
job is recorded (incident_service/disclosures): an evidence pack export, the delay report's incident CSV,
an API read of incidents or audit events, webhook events queued for a subscription. `disclosures` has one
row per handing-out (recipient, purpose, legal basis, what and when, by whom); `disclosure_subjects` one
row per customer (and incident) it carried, so a customer's own disclosures and legal's filter by
customer are indexed reads. Both are appended to, never changed. A webhook subscription that is removed
leaves its disclosures, with the subscription's number and host in `recipient` (the link is set null).

`api_keys` gains the purpose and legal basis of the system holding the key (optional; the register says
"not stated" for keys without), copied into each disclosure the key makes.

No data step: nothing disclosed before this revision was recorded, and the register says from when it
holds records. On SQLite the two api_keys columns are added in place (ALTER TABLE ADD COLUMN, plain
nullable columns; see 0010 and 0014), and dropped in place (SQLite 3.35 and later).
"""

import sqlalchemy as sa
from alembic import op

import incident_service.database  # noqa: F401  (UTCDateTime in the columns)

# revision identifiers, used by Alembic.
revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "disclosures",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("disclosed_at", incident_service.database.UTCDateTime(), nullable=False),
        sa.Column("actor", sa.String(length=320), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("reference", sa.Text(), nullable=False),
        sa.Column("recipient", sa.String(length=320), nullable=False),
        sa.Column("purpose", sa.Text(), nullable=False),
        sa.Column("legal_basis", sa.String(length=20), nullable=True),
        sa.Column("customer_count", sa.Integer(), nullable=False),
        sa.Column("api_key_id", sa.Integer(), nullable=True),
        sa.Column("webhook_subscription_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["api_key_id"], ["api_keys.id"], name=op.f("fk_disclosures_api_key_id_api_keys")),
        sa.ForeignKeyConstraint(
            ["webhook_subscription_id"],
            ["webhook_subscriptions.id"],
            name=op.f("fk_disclosures_webhook_subscription_id_webhook_subscriptions"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_disclosures")),
    )
    op.create_index(op.f("ix_disclosures_disclosed_at"), "disclosures", ["disclosed_at"], unique=False)
    op.create_index(op.f("ix_disclosures_kind"), "disclosures", ["kind"], unique=False)
    op.create_index(op.f("ix_disclosures_recipient"), "disclosures", ["recipient"], unique=False)
    op.create_index(op.f("ix_disclosures_api_key_id"), "disclosures", ["api_key_id"], unique=False)
    op.create_index(
        op.f("ix_disclosures_webhook_subscription_id"), "disclosures", ["webhook_subscription_id"], unique=False
    )
    op.create_table(
        "disclosure_subjects",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("disclosure_id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("incident_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["disclosure_id"], ["disclosures.id"], name=op.f("fk_disclosure_subjects_disclosure_id_disclosures")
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customers.id"], name=op.f("fk_disclosure_subjects_customer_id_customers")
        ),
        sa.ForeignKeyConstraint(
            ["incident_id"], ["incidents.id"], name=op.f("fk_disclosure_subjects_incident_id_incidents")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_disclosure_subjects")),
    )
    op.create_index(
        op.f("ix_disclosure_subjects_disclosure_id"), "disclosure_subjects", ["disclosure_id"], unique=False
    )
    op.create_index(op.f("ix_disclosure_subjects_customer_id"), "disclosure_subjects", ["customer_id"], unique=False)
    op.add_column("api_keys", sa.Column("purpose", sa.Text(), nullable=True))
    op.add_column("api_keys", sa.Column("legal_basis", sa.String(length=20), nullable=True))


def downgrade():
    if op.get_bind().dialect.name == "sqlite":
        op.execute("ALTER TABLE api_keys DROP COLUMN legal_basis")  # SQLite 3.35 and later
        op.execute("ALTER TABLE api_keys DROP COLUMN purpose")
    else:
        op.drop_column("api_keys", "legal_basis")
        op.drop_column("api_keys", "purpose")
    op.drop_table("disclosure_subjects")
    op.drop_table("disclosures")
