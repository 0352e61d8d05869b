"""legal's late incidents a page at a time: an index on (lateness, first_received_at)

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-07 00:00:00

Issue 17: legal's review page listed every late incident (about one in ten: 4 s and 4 MB at 100,000
incidents) and counted them on every console page. It now shows them a page at a time, oldest first,
with counts that stop past 1,000 (console.queries.late_page, bounded_count). `ix_incidents_lateness_received`
gives those rows in order and their counts from the index; it replaces `ix_incidents_lateness`, its first
column, which nothing needs on its own. No column changes. Downgrading restores the single-column index.
"""

from alembic import op

# revision identifiers, used by Alembic.
revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None


def upgrade():
    op.create_index("ix_incidents_lateness_received", "incidents", ["lateness", "first_received_at"])
    op.drop_index("ix_incidents_lateness", table_name="incidents")


def downgrade():
    op.create_index("ix_incidents_lateness", "incidents", ["lateness"])
    op.drop_index("ix_incidents_lateness_received", table_name="incidents")
