"""webhooks: subscriptions, deliveries queued with the change that caused them, and every attempt

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-29 23:35:00

Three new tables (issue 14, incident_service/webhooks); nothing existing changes. Deliveries and
attempts go with their subscription (ON DELETE CASCADE): removing a subscription is audited, and its
log is not evidence of a customer's case. Downgrading drops the three tables with every secret in them.
"""
import sqlalchemy as sa
from alembic import op

import incident_service.database  # noqa: F401  (UTCDateTime)


# revision identifiers, used by Alembic.
revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'webhook_subscriptions',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('url', sa.Text(), nullable=False),
        sa.Column('events', sa.Text(), nullable=False),
        sa.Column('status', sa.String(length=10), nullable=False),
        sa.Column('secret', sa.String(length=100), nullable=False),
        sa.Column('previous_secret', sa.String(length=100), nullable=True),
        sa.Column('previous_secret_until', incident_service.database.UTCDateTime(), nullable=True),
        sa.Column('created_at', incident_service.database.UTCDateTime(), nullable=False),
        sa.Column('created_by', sa.String(length=320), nullable=False),
        sa.Column('consecutive_failures', sa.Integer(), nullable=False),
        sa.Column('failing_since', incident_service.database.UTCDateTime(), nullable=True),
        sa.Column('disabled_at', incident_service.database.UTCDateTime(), nullable=True),
        sa.Column('disabled_reason', sa.String(length=20), nullable=True),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_webhook_subscriptions')),
    )
    op.create_index(op.f('ix_webhook_subscriptions_status'), 'webhook_subscriptions', ['status'], unique=False)
    op.create_table(
        'webhook_deliveries',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('subscription_id', sa.Integer(), nullable=False),
        sa.Column('message_id', sa.String(length=40), nullable=False),
        sa.Column('event_type', sa.String(length=40), nullable=False),
        sa.Column('payload', sa.Text(), nullable=False),
        sa.Column('status', sa.String(length=10), nullable=False),
        sa.Column('attempts', sa.Integer(), nullable=False),
        sa.Column('created_at', incident_service.database.UTCDateTime(), nullable=False),
        sa.Column('next_attempt_at', incident_service.database.UTCDateTime(), nullable=False),
        sa.Column('leased_until', incident_service.database.UTCDateTime(), nullable=True),
        sa.Column('delivered_at', incident_service.database.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ['subscription_id'],
            ['webhook_subscriptions.id'],
            name=op.f('fk_webhook_deliveries_subscription_id_webhook_subscriptions'),
            ondelete='CASCADE',
        ),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_webhook_deliveries')),
        sa.UniqueConstraint('message_id', name=op.f('uq_webhook_deliveries_message_id')),
    )
    op.create_index(
        op.f('ix_webhook_deliveries_subscription_id'), 'webhook_deliveries', ['subscription_id'], unique=False
    )
    op.create_index(op.f('ix_webhook_deliveries_status'), 'webhook_deliveries', ['status'], unique=False)
    op.create_index(
        op.f('ix_webhook_deliveries_next_attempt_at'), 'webhook_deliveries', ['next_attempt_at'], unique=False
    )
    op.create_table(
        'webhook_attempts',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('delivery_id', sa.Integer(), nullable=False),
        sa.Column('subscription_id', sa.Integer(), nullable=False),
        sa.Column('attempted_at', incident_service.database.UTCDateTime(), nullable=False),
        sa.Column('number', sa.Integer(), nullable=False),
        sa.Column('status_code', sa.Integer(), nullable=True),
        sa.Column('error', sa.String(length=40), nullable=True),
        sa.Column('duration_ms', sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ['delivery_id'],
            ['webhook_deliveries.id'],
            name=op.f('fk_webhook_attempts_delivery_id_webhook_deliveries'),
            ondelete='CASCADE',
        ),
        sa.ForeignKeyConstraint(
            ['subscription_id'],
            ['webhook_subscriptions.id'],
            name=op.f('fk_webhook_attempts_subscription_id_webhook_subscriptions'),
            ondelete='CASCADE',
        ),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_webhook_attempts')),
    )
    op.create_index(op.f('ix_webhook_attempts_delivery_id'), 'webhook_attempts', ['delivery_id'], unique=False)
    op.create_index(
        op.f('ix_webhook_attempts_subscription_id'), 'webhook_attempts', ['subscription_id'], unique=False
    )


def downgrade():
    op.drop_table('webhook_attempts')
    op.drop_table('webhook_deliveries')
    op.drop_table('webhook_subscriptions')
