"""emails rendered by the worker

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-26 07:40:00

A queued email keeps what to render (`pending`) until the worker renders it just before the first
attempt; its record copy exists from then on.
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('outbox_messages', schema=None) as batch_op:
        batch_op.add_column(sa.Column('pending', sa.Text(), nullable=True))
        batch_op.alter_column('raw_redacted', existing_type=sa.LargeBinary(), nullable=True)


def downgrade():
    # Emails not yet rendered cannot be kept without their record copy: render them first
    # (flask outbox work) before downgrading.
    with op.batch_alter_table('outbox_messages', schema=None) as batch_op:
        batch_op.alter_column('raw_redacted', existing_type=sa.LargeBinary(), nullable=False)
        batch_op.drop_column('pending')
