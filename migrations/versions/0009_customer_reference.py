"""the reference customers quote, fixed when the incident opens

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-29 21:55:00

Customers quote one reference: the report's they were shown. An incident keeps the reference of the
report that opened it, so a report attached later (even an older one) never changes what the customer
was told. Existing incidents take their first report's.
"""
import sqlalchemy as sa
from alembic import op


# revision identifiers, used by Alembic.
revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('incidents', schema=None) as batch_op:
        batch_op.add_column(sa.Column('customer_reference', sa.String(length=32), nullable=True))
    op.execute(
        "UPDATE incidents SET customer_reference = (SELECT reports.reference FROM reports "
        "WHERE reports.incident_id = incidents.id ORDER BY reports.id LIMIT 1)"
    )


def downgrade():
    with op.batch_alter_table('incidents', schema=None) as batch_op:
        batch_op.drop_column('customer_reference')
