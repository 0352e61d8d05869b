"""legal's late incidents a page at a time: indexes for late incidents, and for those awaiting a decision

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-07 00:00:00

Issue 17: legal's review page listed every late incident (about one in ten: 4 s and 4 MB at 100,000
incidents) and counted them on every console page. It now shows them a page at a time, oldest first,
with counts that stop past 1,000 (console.queries.late_page, bounded_count). `ix_incidents_lateness_received`
gives those rows in order and their counts from the index; it replaces `ix_incidents_lateness`, its first
column, which nothing needs on its own. `ix_incidents_awaiting_review` (first_received_at, partial: late
and no decision yet, or waiting for information) does the same for the tab awaiting a decision and the
console's badge on every page legal opens: once most late incidents are decided, the first index would
have them read every late incident, and PostgreSQL every incident (a review found it). No column changes.
Downgrading restores the single-column index.
"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None


AWAITING_REVIEW = "lateness = 'late' AND (review_decision IS NULL OR review_decision = 'needs_information')"


def upgrade():
    op.create_index("ix_incidents_lateness_received", "incidents", ["lateness", "first_received_at"])
    op.create_index(
        "ix_incidents_awaiting_review",
        "incidents",
        ["lateness", "first_received_at"],
        sqlite_where=sa.text(AWAITING_REVIEW),
        postgresql_where=sa.text(AWAITING_REVIEW),
    )
    op.drop_index("ix_incidents_lateness", table_name="incidents")


def downgrade():
    op.create_index("ix_incidents_lateness", "incidents", ["lateness"])
    op.drop_index("ix_incidents_awaiting_review", table_name="incidents")
    op.drop_index("ix_incidents_lateness_received", table_name="incidents")
