"""who works an incident: incidents.assignee_id; an index for the running 72-hour clocks

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02 10:00:00

A support or admin staff member can take an incident (issue 13); the queue filters on it ("assigned to
me", "unassigned"), hence the index. Existing incidents start unassigned. Downgrading forgets who had
which incident; each change stays in the audit log.

The queue also filters on the 72-hour clock (breaches whose authority notice is not recorded yet): a
partial index holds just those few rows, for the filter and for legal's tab count on every console page.

On SQLite the column is added and dropped in place (ALTER TABLE ADD/DROP COLUMN, the foreign key written
on the column) rather than by batch mode's copy of the table: that copy drops the old `incidents`, which
reports, grants and audit events reference, and with foreign keys on SQLite refuses it ("FOREIGN KEY
constraint failed") as soon as the table holds a row; it would also lose the delay report's month index.
"""
import sqlalchemy as sa
from alembic import op


# revision identifiers, used by Alembic.
revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None

FOREIGN_KEY = 'fk_incidents_assignee_id_staff_users'
INDEX = 'ix_incidents_assignee_id'
BREACH_CLOCK = 'ix_incidents_breach_clock'


def upgrade():
    if op.get_bind().dialect.name == 'sqlite':
        op.execute(
            f'ALTER TABLE incidents ADD COLUMN assignee_id INTEGER '
            f'CONSTRAINT {FOREIGN_KEY} REFERENCES staff_users (id)'
        )
    else:
        op.add_column('incidents', sa.Column('assignee_id', sa.Integer(), nullable=True))
        op.create_foreign_key(FOREIGN_KEY, 'incidents', 'staff_users', ['assignee_id'], ['id'])
    op.create_index(INDEX, 'incidents', ['assignee_id'], unique=False)
    op.create_index(
        BREACH_CLOCK,
        'incidents',
        ['first_received_at'],
        unique=False,
        sqlite_where=sa.text('personal_data_breach IS 1 AND authority_notified_at IS NULL'),
        postgresql_where=sa.text('personal_data_breach IS true AND authority_notified_at IS NULL'),
    )


def downgrade():
    op.drop_index(BREACH_CLOCK, table_name='incidents')
    op.drop_index(INDEX, table_name='incidents')
    if op.get_bind().dialect.name == 'sqlite':
        op.execute('ALTER TABLE incidents DROP COLUMN assignee_id')  # SQLite 3.35 and later
    else:
        op.drop_constraint(FOREIGN_KEY, 'incidents', type_='foreignkey')
        op.drop_column('incidents', 'assignee_id')
