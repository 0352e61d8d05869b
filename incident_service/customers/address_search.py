"""Finding customers by a part of their address without reading every customer: a trigram index
(SQLite's FTS5 `trigram` tokenizer, PostgreSQL's `pg_trgm`), made with the customers table.

A B-tree cannot answer "contains": at a million customers the console's search read every address
(0.3 s on SQLite). A trigram index finds the few addresses holding every three-letter piece of the
text; the query then keeps only those that really contain it, so the answer is exactly the scan's.
Neither index is in the models (SQLAlchemy knows neither an FTS5 table nor an operator class index on
both databases); `create_address_search` makes them for `create_all`, and migration 0021 for existing
databases, as reports.month_index does for its index.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Integer, Select, column, event, select, text
from sqlalchemy.engine import Connection

from ..extensions import db
from .models import Customer

TRIGRAMS = "customers_email_trigrams"  # SQLite: the FTS5 table; PostgreSQL: the GIN index
SHORTEST = 3  # a trigram index cannot narrow a search for fewer characters: those read every address

_SQLITE = (
    f"CREATE VIRTUAL TABLE IF NOT EXISTS {TRIGRAMS} USING fts5(email, content='customers', content_rowid='id', "
    "tokenize='trigram')",
    # External content: the FTS table holds only the index; triggers keep it in step with customers.
    f"CREATE TRIGGER IF NOT EXISTS {TRIGRAMS}_insert AFTER INSERT ON customers BEGIN "
    f"INSERT INTO {TRIGRAMS} (rowid, email) VALUES (new.id, new.email); END",
    f"CREATE TRIGGER IF NOT EXISTS {TRIGRAMS}_delete AFTER DELETE ON customers BEGIN "
    f"INSERT INTO {TRIGRAMS} ({TRIGRAMS}, rowid, email) VALUES ('delete', old.id, old.email); END",
    f"CREATE TRIGGER IF NOT EXISTS {TRIGRAMS}_update AFTER UPDATE OF email ON customers BEGIN "
    f"INSERT INTO {TRIGRAMS} ({TRIGRAMS}, rowid, email) VALUES ('delete', old.id, old.email); "
    f"INSERT INTO {TRIGRAMS} (rowid, email) VALUES (new.id, new.email); END",
)
_POSTGRESQL = (
    "CREATE EXTENSION IF NOT EXISTS pg_trgm",  # a trusted extension: the database's owner may create it
    f"CREATE INDEX IF NOT EXISTS {TRIGRAMS} ON customers USING gin (email gin_trgm_ops)",
)


def create_address_search(connection: Connection, *, fill: bool = False) -> None:
    """Make the trigram index on either database; `fill` indexes the customers already there (SQLite's
    FTS5 table starts empty; PostgreSQL's index is built from the rows as it is made)."""
    statements = _SQLITE if connection.dialect.name == "sqlite" else _POSTGRESQL
    for statement in statements:
        connection.exec_driver_sql(statement)
    if fill and connection.dialect.name == "sqlite":
        connection.exec_driver_sql(f"INSERT INTO {TRIGRAMS} ({TRIGRAMS}) VALUES ('rebuild')")


def drop_address_search(connection: Connection) -> None:
    if connection.dialect.name == "sqlite":
        for suffix in ("insert", "delete", "update"):
            connection.exec_driver_sql(f"DROP TRIGGER IF EXISTS {TRIGRAMS}_{suffix}")
        connection.exec_driver_sql(f"DROP TABLE IF EXISTS {TRIGRAMS}")
    else:
        connection.exec_driver_sql(f"DROP INDEX IF EXISTS {TRIGRAMS}")


def compared_with_the_models(
    _object: object, name: str | None, _type: str, reflected: bool, _compare_to: object
) -> bool:
    """Alembic's `include_object`: the trigram index's objects are not in the models (see above), so
    autogenerate and the models-against-migrations test leave them out rather than drop them."""
    return not (reflected and name is not None and name.startswith(TRIGRAMS))


def has_address_search(connection: Connection) -> bool:
    if connection.dialect.name == "sqlite":
        query = "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?"
    else:
        query = "SELECT 1 FROM pg_indexes WHERE indexname = %s"
    return connection.exec_driver_sql(query, (TRIGRAMS,)).first() is not None


def customers_whose_address_contains(needle: str) -> Select[Any]:
    """The ids of the customers whose address contains `needle` (lower-case, as addresses are stored)."""
    contains = Customer.email.contains(needle, autoescape=True)
    if len(needle) >= SHORTEST and db.session.get_bind().dialect.name == "sqlite":
        # The phrase finds every address holding the text, case folded (a superset); `contains` keeps
        # exactly the scan's answer. PostgreSQL's planner uses its trigram index for `contains` itself.
        phrase = '"' + needle.replace('"', '""') + '"'
        candidates = (
            text(f"SELECT rowid FROM {TRIGRAMS} WHERE {TRIGRAMS} MATCH :phrase")
            .bindparams(phrase=phrase)
            .columns(column("rowid", Integer))
        )
        return select(Customer.id).where(Customer.id.in_(candidates), contains)
    return select(Customer.id).where(contains)


@event.listens_for(Customer.__table__, "after_create")
def _create_with_the_table(_table: object, connection: Connection, **_kw: object) -> None:
    create_address_search(connection)


@event.listens_for(Customer.__table__, "after_drop")
def _drop_with_the_table(_table: object, connection: Connection, **_kw: object) -> None:
    drop_address_search(connection)  # the FTS5 table would outlive its content table
