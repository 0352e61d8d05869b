"""data requests: customers' requests to access, correct or erase their data, and statement corrections

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-05 00:00:00

Issue 16: `data_requests` holds each request from receipt to answer (kind, what is asked, the customer's
reason, channel, received and due times, state, decision, reason, reply, who decided and when).
`statement_corrections` holds a granted correction of something the customer stated: the statement
itself (a report's text, a discovery statement) is evidence and is never changed; the correction sits
beside it and supersedes it for display. New tables only: no existing row changes, so there is nothing
to do in place on SQLite. Downgrading drops both (each request and correction stays in the audit log).
"""

import sqlalchemy as sa
from alembic import op

import incident_service.database  # noqa: F401  (UTCDateTime in the columns)


# revision identifiers, used by Alembic.
revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "data_requests",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("reference", sa.String(length=32), nullable=True),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("item", sa.String(length=16), nullable=True),
        sa.Column("discovery_statement_id", sa.Integer(), nullable=True),
        sa.Column("report_id", sa.Integer(), nullable=True),
        sa.Column("corrected_value", sa.Text(), nullable=True),
        sa.Column("corrected_time", incident_service.database.UTCDateTime(), nullable=True),
        sa.Column("scope", sa.Text(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("received_at", incident_service.database.UTCDateTime(), nullable=False),
        sa.Column("recorded_at", incident_service.database.UTCDateTime(), nullable=False),
        sa.Column("entered_by", sa.String(length=320), nullable=False),
        sa.Column("due_at", incident_service.database.UTCDateTime(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("started_by", sa.String(length=320), nullable=True),
        sa.Column("started_at", incident_service.database.UTCDateTime(), nullable=True),
        sa.Column("decision", sa.String(length=16), nullable=True),
        sa.Column("decision_reason", sa.Text(), nullable=True),
        sa.Column("reply", sa.Text(), nullable=True),
        sa.Column("decided_by", sa.String(length=320), nullable=True),
        sa.Column("decided_at", incident_service.database.UTCDateTime(), nullable=True),
        sa.Column("outcome", sa.Text(), nullable=True),
        sa.Column("withdrawn_at", incident_service.database.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(["customer_id"], ["customers.id"], name=op.f("fk_data_requests_customer_id_customers")),
        sa.ForeignKeyConstraint(
            ["discovery_statement_id"],
            ["discovery_statements.id"],
            name=op.f("fk_data_requests_discovery_statement_id_discovery_statements"),
        ),
        sa.ForeignKeyConstraint(["report_id"], ["reports.id"], name=op.f("fk_data_requests_report_id_reports")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_data_requests")),
        sa.UniqueConstraint("reference", name=op.f("uq_data_requests_reference")),
    )
    op.create_index(op.f("ix_data_requests_customer_id"), "data_requests", ["customer_id"])
    op.create_index(op.f("ix_data_requests_kind"), "data_requests", ["kind"])
    op.create_index(op.f("ix_data_requests_due_at"), "data_requests", ["due_at"])
    op.create_index(op.f("ix_data_requests_state"), "data_requests", ["state"])
    op.create_table(
        "statement_corrections",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("data_request_id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("report_id", sa.Integer(), nullable=True),
        sa.Column("discovery_statement_id", sa.Integer(), nullable=True),
        sa.Column("corrected_text", sa.Text(), nullable=True),
        sa.Column("correcting_statement_id", sa.Integer(), nullable=True),
        sa.Column("recorded_at", incident_service.database.UTCDateTime(), nullable=False),
        sa.Column("recorded_by", sa.String(length=320), nullable=False),
        sa.ForeignKeyConstraint(
            ["data_request_id"],
            ["data_requests.id"],
            name=op.f("fk_statement_corrections_data_request_id_data_requests"),
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customers.id"], name=op.f("fk_statement_corrections_customer_id_customers")
        ),
        sa.ForeignKeyConstraint(["report_id"], ["reports.id"], name=op.f("fk_statement_corrections_report_id_reports")),
        sa.ForeignKeyConstraint(
            ["discovery_statement_id"],
            ["discovery_statements.id"],
            name=op.f("fk_statement_corrections_discovery_statement_id_discovery_statements"),
        ),
        sa.ForeignKeyConstraint(
            ["correcting_statement_id"],
            ["discovery_statements.id"],
            name=op.f("fk_statement_corrections_correcting_statement_id_discovery_statements"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_statement_corrections")),
        sa.UniqueConstraint("data_request_id", name=op.f("uq_statement_corrections_data_request_id")),
    )
    op.create_index(op.f("ix_statement_corrections_customer_id"), "statement_corrections", ["customer_id"])
    op.create_index(op.f("ix_statement_corrections_report_id"), "statement_corrections", ["report_id"])
    op.create_index(
        op.f("ix_statement_corrections_discovery_statement_id"), "statement_corrections", ["discovery_statement_id"]
    )


def downgrade():
    op.drop_table("statement_corrections")
    op.drop_table("data_requests")
