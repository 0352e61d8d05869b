"""indexes for the console and the delay report at a million incidents

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-06 00:00:00

Issue 17: the queue's pages and the filtered delay report read every incident at a million of them.

- `ix_incidents_status_received` (status, first_received_at): a status tab's rows newest first, and its
  count, bounded at 1,000 (console.queries.bounded_count), from the index in order.
- `ix_incidents_channel_delay` and `ix_incidents_received_delay`: covering indexes for the delay report
  filtered by channel or by received time; on PostgreSQL the report's one aggregate reads them only.
- On SQLite, `ix_incidents_channel_month_p420` (reports.month_index): the month index's twin led by the
  channel, an expression index (`create_channel_month_index`), made as the month index is.
- The address search's trigram index (customers.address_search): on SQLite an FTS5 table with the
  `trigram` tokenizer kept in step with `customers` by triggers, filled here from the existing rows; on
  PostgreSQL a GIN index with `gin_trgm_ops`, which needs the `pg_trgm` extension (trusted since
  PostgreSQL 13: the database's owner can create it; otherwise a superuser runs
  `CREATE EXTENSION pg_trgm` first).

No column changes (so no copy of any table on SQLite). Downgrading drops them all.
"""

from alembic import op
from flask import current_app

from incident_service.customers.address_search import create_address_search, drop_address_search
from incident_service.reports.month_index import (
    channel_month_index_name,
    create_channel_month_index,
    fixed_offset_minutes,
)

# revision identifiers, used by Alembic.
revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None

INDEXES = {
    "ix_incidents_status_received": ["status", "first_received_at"],
    "ix_incidents_channel_delay": [
        "first_channel",
        "reporting_delay_seconds",
        "late_threshold_hours",
        "lateness",
        "first_received_at",
    ],
    "ix_incidents_received_delay": ["first_received_at", "reporting_delay_seconds", "lateness", "late_threshold_hours"],
}


def upgrade():
    for name, columns in INDEXES.items():
        op.create_index(name, "incidents", columns)
    create_channel_month_index(op.get_bind(), current_app.config["DISPLAY_TIMEZONE"])
    create_address_search(op.get_bind(), fill=True)


def downgrade():
    drop_address_search(op.get_bind())
    minutes = fixed_offset_minutes(current_app.config["DISPLAY_TIMEZONE"])
    if op.get_bind().dialect.name == "sqlite" and minutes is not None:
        op.execute(f"DROP INDEX IF EXISTS {channel_month_index_name(minutes)}")
    for name in reversed(INDEXES):
        op.drop_index(name, table_name="incidents")
