"""`flask db upgrade` builds exactly the schema the models describe."""

from __future__ import annotations

import warnings
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import upgrade
from sqlalchemy import delete, select, text

from incident_service import create_app
from incident_service.audit.models import AuditEvent
from incident_service.console.queries import awaiting_review_ids, bounded_count, late_page
from incident_service.customers.address_search import (
    TRIGRAMS,
    compared_with_the_models,
    customers_whose_address_contains,
    has_address_search,
)
from incident_service.customers.models import Customer
from incident_service.customers.service import add_customer
from incident_service.database import utcnow
from incident_service.extensions import db
from incident_service.reports.month_index import has_channel_month_index, has_month_index


@pytest.mark.real_commits  # migrates an empty database of its own
def test_migrations_match_models(empty_database_url) -> None:  # type: ignore[no-untyped-def]
    app = create_app(environ={"APP_ENV": "testing", "DATABASE_URL": empty_database_url})
    with app.app_context(), warnings.catch_warnings():
        # The delay report's month index is an expression SQLAlchemy does not reflect (batch migrations
        # reflect the tables around the one they rebuild); it is checked by name below.
        warnings.filterwarnings("ignore", "Skipped unsupported reflection of expression-based index")
        try:
            upgrade()
            with db.engine.connect() as connection:
                context = MigrationContext.configure(connection, opts={"include_object": compared_with_the_models})
                differences = compare_metadata(context, db.metadata)
                has_index = has_month_index(connection, 420)
                has_channel_index = has_channel_month_index(connection, 420)
                has_trigrams = has_address_search(connection)
            found = _address_search_follows_changes()
            # On SQLite these name ix_incidents_awaiting_review (INDEXED BY), which fails outright if the
            # migrated index is missing or its condition is no longer the query's.
            awaiting = (bounded_count(awaiting_review_ids()), late_page(pending_only=True, page=1).rows)
        finally:
            db.session.remove()  # closed even when a step fails: Python 3.13 turns a leaked one into an error
            db.engine.dispose()
    assert differences == []
    assert has_index == has_channel_index == empty_database_url.startswith("sqlite")
    assert has_trigrams
    assert awaiting == (0, [])
    lan, found_in_trigrams = found.pop("lan"), found.pop("trigrams", None)
    assert found == {"before": ["lan.tran@example.com"], "changed": ["lan.pham@example.com"], "removed": []}
    if empty_database_url.startswith("sqlite"):
        assert found_in_trigrams == {"tran@ex": [], "pham@ex": [lan], "minh.le": []}


def _address_search_follows_changes() -> dict[str, Any]:
    """What the console's address search finds on the migrated database as addresses are added, changed
    and removed, and on SQLite what the trigram table itself holds afterwards: the migration's triggers
    keep it in step (an address changed or removed must leave no stale row behind), which the schema
    comparison above cannot see. PostgreSQL's GIN index is kept by the server; the search shows the
    migrated index answers."""

    def found(text: str) -> list[str]:
        ids = customers_whose_address_contains(text)
        return list(
            db.session.execute(select(Customer.email).where(Customer.id.in_(ids)).order_by(Customer.email)).scalars()
        )

    now = utcnow()
    lan = add_customer("lan.tran@example.com", name="", locale="vi", password=None, source="cli", actor="test", now=now)
    other = add_customer(
        "minh.le@example.com", name="", locale="vi", password=None, source="cli", actor="test", now=now
    )
    db.session.commit()
    seen: dict[str, Any] = {"lan": lan.id, "before": found("tran@ex")}
    lan.email = "lan.pham@example.com"
    db.session.commit()
    seen["changed"] = found("pham@ex") + found("tran@ex")
    db.session.execute(delete(AuditEvent).where(AuditEvent.customer_id == other.id))
    db.session.delete(other)
    db.session.commit()
    seen["removed"] = found("minh.le")
    if db.engine.dialect.name == "sqlite":
        seen["trigrams"] = {
            phrase: list(
                db.session.execute(
                    text(f"SELECT rowid FROM {TRIGRAMS} WHERE {TRIGRAMS} MATCH :phrase ORDER BY rowid"),
                    {"phrase": f'"{phrase}"'},
                ).scalars()
            )
            for phrase in ("tran@ex", "pham@ex", "minh.le")
        }
    return seen
