"""staff alerts: the alerts sent, the audit-log cursors they are collected from, breach thresholds alerted

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-03 01:00:00

Issue 14: the security team hears by email of new incidents (a digest), undelivered customer email,
quarantined mail, the 72-hour breach clock at 24 and 6 hours left, and disabled webhooks.
`staff_alerts` keeps each alert (its outbox messages by id, for the console); `alert_cursors` says how far
into the audit log each kind has looked (moved by a compare-and-set, so several workers never send the
same events twice); `breach_clock_alerts` holds one row per incident and threshold, its primary key the
guarantee that each threshold is alerted once. No existing rows change; downgrading drops the history.
"""

import sqlalchemy as sa
from alembic import op

import incident_service.database  # noqa: F401  (UTCDateTime in the columns)


# revision identifiers, used by Alembic.
revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "staff_alerts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=24), nullable=False),
        sa.Column("dedupe_key", sa.String(length=80), nullable=False),
        sa.Column("created_at", incident_service.database.UTCDateTime(), nullable=False),
        sa.Column("item_count", sa.Integer(), nullable=False),
        sa.Column("listed", sa.JSON(), nullable=False),
        sa.Column("outbox_ids", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_staff_alerts")),
        sa.UniqueConstraint("dedupe_key", name=op.f("uq_staff_alerts_dedupe_key")),
    )
    op.create_index(op.f("ix_staff_alerts_created_at"), "staff_alerts", ["created_at"], unique=False)
    op.create_table(
        "alert_cursors",
        sa.Column("name", sa.String(length=24), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("last_alert_at", incident_service.database.UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_alert_cursors")),
    )
    op.create_table(
        "breach_clock_alerts",
        sa.Column("incident_id", sa.Integer(), nullable=False),
        sa.Column("hours_left", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("alerted_at", incident_service.database.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["incident_id"], ["incidents.id"], name=op.f("fk_breach_clock_alerts_incident_id_incidents")
        ),
        sa.PrimaryKeyConstraint("incident_id", "hours_left", name=op.f("pk_breach_clock_alerts")),
    )


def downgrade():
    op.drop_table("breach_clock_alerts")
    op.drop_table("alert_cursors")
    op.drop_index(op.f("ix_staff_alerts_created_at"), table_name="staff_alerts")
    op.drop_table("staff_alerts")
