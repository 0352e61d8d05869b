"""audit events written without the chain: the waiting ones found by a partial index; alert cursors in
log positions

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-05 00:00:00

Issue 15: writing an audit event no longer takes the chain's lock or reads its head. An event written
from now on has an empty `prev_hash`: its leaf is its canonical body alone and `hash` is the SHA-256 of
that (audit.service.UNCHAINED). The events written before keep their chain, which `flask audit verify`
still walks against the anchors taken then. No column changes (so no copy of `audit_events` on SQLite).

The sequencer finds the events it has not yet integrated through `ix_audit_events_unsequenced`, a partial
index on `id` where `leaf_index` is null: it stays as small as the backlog (both databases support
partial indexes).

The staff alerts' cursors (alerts.service) counted audit event ids; ids no longer say the order events
became visible in, so they count positions in the log (leaf indexes) instead. An old position (the id of
the last event looked at) becomes the number of events up to it; the events before this release are the
first leaves in id order, so that is the same place in the log.
"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

UNSEQUENCED = "ix_audit_events_unsequenced"


def upgrade():
    op.create_index(
        UNSEQUENCED,
        "audit_events",
        ["id"],
        postgresql_where=sa.text("leaf_index IS NULL"),
        sqlite_where=sa.text("leaf_index IS NULL"),
    )
    op.execute(
        "UPDATE alert_cursors SET position = "
        "(SELECT COUNT(*) FROM audit_events WHERE audit_events.id <= alert_cursors.position)"
    )


def downgrade():
    # Positions back to ids: the id of the event at that position (0 before the first).
    op.execute(
        "UPDATE alert_cursors SET position = COALESCE("
        "(SELECT audit_events.id FROM audit_events WHERE audit_events.leaf_index = alert_cursors.position - 1), 0)"
    )
    op.drop_index(UNSEQUENCED, table_name="audit_events")
