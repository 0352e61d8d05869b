"""Migration 0010 (incidents.assignee_id, the breach clock's index) on a database that already holds incidents: up, down and up
again, keeping every row, on SQLite and PostgreSQL."""

from __future__ import annotations

import warnings
from typing import Any

import pytest
import sqlalchemy as sa
from flask_migrate import downgrade, upgrade

from incident_service import create_app
from incident_service.extensions import db
from incident_service.reports.month_index import has_month_index

MOMENT = "2026-11-30 03:00:00"


def rows_before_0010(connection: sa.Connection) -> None:
    """A customer, an incident with a report pointing at it, and a staff user, as 0009 stored them."""
    connection.execute(
        sa.text(
            "INSERT INTO customers (id, email, name, locale, credential_state, security_stamp, created_at) "
            "VALUES (1, 'an@example.com', 'An', 'vi', 'locked', 's', :at)"
        ),
        {"at": MOMENT},
    )
    connection.execute(
        sa.text(
            "INSERT INTO incidents (id, reference, customer_id, status, opened_at, first_received_at, "
            "late_threshold_hours, lateness, personal_data_breach) "
            "VALUES (1, 'INC-2026-000001', 1, 'reactivated', :at, :at, 24, 'unknown', :no)"
        ),
        {"at": MOMENT, "no": False},
    )
    connection.execute(
        sa.text(
            "INSERT INTO reports (id, reference, channel, received_at, received_at_source, claimed_address, kind, "
            "details, customer_id, incident_id, entered_by) "
            "VALUES (1, 'RPT-2026-000001', 'web', :at, 'server_clock', 'an@example.com', 'lost', '', 1, 1, 'customer')"
        ),
        {"at": MOMENT},
    )
    connection.execute(
        sa.text(
            "INSERT INTO staff_users (id, email, name, role, password_hash, active, security_stamp, created_at) "
            "VALUES (7, 'lan@ecc.example', 'Lan', 'support', 'h', :yes, 's', :at)"
        ),
        {"at": MOMENT, "yes": True},
    )


def columns(connection: sa.Connection) -> list[str]:
    return [column["name"] for column in sa.inspect(connection).get_columns("incidents")]


def indexes(connection: sa.Connection) -> set[str]:
    return {str(index["name"]) for index in sa.inspect(connection).get_indexes("incidents")}


def counts(connection: sa.Connection) -> tuple[Any, ...]:
    return tuple(
        connection.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar_one()
        for table in ("incidents", "reports", "staff_users")
    )


@pytest.mark.real_commits  # migrates an empty database of its own
def test_assignee_column_up_down_and_up_again_keeps_every_row(empty_database_url) -> None:  # type: ignore[no-untyped-def]
    app = create_app(environ={"APP_ENV": "testing", "DATABASE_URL": empty_database_url})
    sqlite = empty_database_url.startswith("sqlite")
    with app.app_context(), warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Skipped unsupported reflection of expression-based index")
        upgrade(revision="0009")
        with db.engine.begin() as connection:
            rows_before_0010(connection)

        # Batch mode's copy of the table would fail here on SQLite (the reports row references it).
        upgrade(revision="0010")
        with db.engine.begin() as connection:
            inspector = sa.inspect(connection)
            assert "assignee_id" in columns(connection)
            assert {"ix_incidents_assignee_id", "ix_incidents_breach_clock"} <= indexes(connection)
            keys = [
                key for key in inspector.get_foreign_keys("incidents") if key["constrained_columns"] == ["assignee_id"]
            ]
            assert [(key["referred_table"], key["referred_columns"]) for key in keys] == [("staff_users", ["id"])]
            assert counts(connection) == (1, 1, 1)
            assert connection.execute(sa.text("SELECT assignee_id FROM incidents")).scalar_one() is None
            connection.execute(sa.text("UPDATE incidents SET assignee_id = 7"))
        with pytest.raises(sa.exc.IntegrityError), db.engine.begin() as connection:
            connection.execute(sa.text("UPDATE incidents SET assignee_id = 999"))  # no such staff user
        with db.engine.connect() as connection:
            assert has_month_index(connection, 420) == sqlite  # the delay report's index is still there

        downgrade(revision="0009")
        with db.engine.connect() as connection:
            assert "assignee_id" not in columns(connection)
            assert not {"ix_incidents_assignee_id", "ix_incidents_breach_clock"} & indexes(connection)
            assert counts(connection) == (1, 1, 1)

        upgrade()
        with db.engine.connect() as connection:
            assert connection.execute(sa.text("SELECT assignee_id FROM incidents")).scalar_one() is None
            assert has_month_index(connection, 420) == sqlite
        db.engine.dispose()
