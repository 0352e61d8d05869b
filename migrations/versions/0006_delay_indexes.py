"""delay report indexes

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-26 07:10:00

The delay report reads a million incidents through two indexes instead of their rows: one on the
delay, one on the threshold, and on SQLite one on the month of the first report in the display zone (reports.month_index).
"""
from alembic import op
from flask import current_app

from incident_service.reports.month_index import create_month_index, fixed_offset_minutes, month_index_name


# revision identifiers, used by Alembic.
revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade():
    op.create_index(op.f('ix_incidents_reporting_delay_seconds'), 'incidents', ['reporting_delay_seconds'], unique=False)
    op.create_index(op.f('ix_incidents_late_threshold_hours'), 'incidents', ['late_threshold_hours'], unique=False)
    create_month_index(op.get_bind(), current_app.config["DISPLAY_TIMEZONE"])


def downgrade():
    minutes = fixed_offset_minutes(current_app.config["DISPLAY_TIMEZONE"])
    if op.get_bind().dialect.name == "sqlite" and minutes is not None:
        op.execute(f"DROP INDEX IF EXISTS {month_index_name(minutes)}")
    op.drop_index(op.f('ix_incidents_late_threshold_hours'), table_name='incidents')
    op.drop_index(op.f('ix_incidents_reporting_delay_seconds'), table_name='incidents')
