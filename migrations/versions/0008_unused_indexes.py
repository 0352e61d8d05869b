"""unused random-key indexes dropped

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-26 07:30:00

Nothing looks an event up by its hash, and `flask audit verify` (the chain of prev_hash and hash) is
what proves the log intact; the unique index on random hashes made every append a random B-tree
insert, about a sixth of a mass reactivation's time. No query reads reports by their normalised address
either (matching goes through customers.email; the console searches claimed addresses by substring).
"""
from alembic import op


# revision identifiers, used by Alembic.
revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.drop_constraint('uq_audit_events_hash', type_='unique')
    with op.batch_alter_table('reports', schema=None) as batch_op:
        batch_op.drop_index('ix_reports_address_normalized')


def downgrade():
    with op.batch_alter_table('reports', schema=None) as batch_op:
        batch_op.create_index('ix_reports_address_normalized', ['address_normalized'], unique=False)
    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.create_unique_constraint('uq_audit_events_hash', ['hash'])
