"""retention and legal holds (placeholder: filled in by the change that needs it)

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-05 00:00:00
"""

# revision identifiers, used by Alembic.
revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
