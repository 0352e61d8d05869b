"""`flask db upgrade` builds exactly the schema the models describe."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import upgrade

from incident_service import create_app
from incident_service.extensions import db


def test_migrations_match_models(empty_database_url) -> None:  # type: ignore[no-untyped-def]
    app = create_app(environ={"APP_ENV": "testing", "DATABASE_URL": empty_database_url})
    with app.app_context():
        upgrade()
        with db.engine.connect() as connection:
            differences = compare_metadata(MigrationContext.configure(connection), db.metadata)
        db.engine.dispose()
    assert differences == []
