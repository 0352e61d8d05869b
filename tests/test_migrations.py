"""`flask db upgrade` builds exactly the schema the models describe."""

from __future__ import annotations

import warnings

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import upgrade

from incident_service import create_app
from incident_service.customers.address_search import compared_with_the_models, has_address_search
from incident_service.extensions import db
from incident_service.reports.month_index import has_channel_month_index, has_month_index


@pytest.mark.real_commits  # migrates an empty database of its own
def test_migrations_match_models(empty_database_url) -> None:  # type: ignore[no-untyped-def]
    app = create_app(environ={"APP_ENV": "testing", "DATABASE_URL": empty_database_url})
    with app.app_context(), warnings.catch_warnings():
        # The delay report's month index is an expression SQLAlchemy does not reflect (batch migrations
        # reflect the tables around the one they rebuild); it is checked by name below.
        warnings.filterwarnings("ignore", "Skipped unsupported reflection of expression-based index")
        upgrade()
        with db.engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"include_object": compared_with_the_models})
            differences = compare_metadata(context, db.metadata)
            has_index = has_month_index(connection, 420)
            has_channel_index = has_channel_month_index(connection, 420)
            has_trigrams = has_address_search(connection)
        db.engine.dispose()
    assert differences == []
    assert has_index == has_channel_index == empty_database_url.startswith("sqlite")
    assert has_trigrams
