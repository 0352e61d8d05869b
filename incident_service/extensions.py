"""Flask extensions, created unbound here and bound to the app in `create_app` with `init_app`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from flask_babel import Babel
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_mail import Mail
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf import CSRFProtect
from sqlalchemy import CursorResult, Executable, MetaData
from sqlalchemy.orm import DeclarativeBase

# Named constraints so Alembic migrations are the same on SQLite and PostgreSQL.
NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


db = SQLAlchemy(model_class=Base)

# The class every table derives from. Flask-SQLAlchemy builds `db.Model` at run time from Base, so a type
# checker cannot see it; to the checker it is Base, whose declarative typing it understands.
if TYPE_CHECKING:
    Model = Base
else:
    Model = db.Model


def core_execute(statement: Executable, params: dict[str, Any] | None = None) -> CursorResult[Any]:
    """`statement` (SQLAlchemy Core) on the session's connection, in its transaction, after the flush the
    session's own `execute` would make: without the ORM's handling of the statement and its rows, which
    cost more than the query on the paths that run under SQLite's write lock (issue 17)."""
    db.session.flush()
    return db.session.connection().execute(statement, params)


migrate = Migrate()
babel = Babel()
csrf = CSRFProtect()
mail = Mail()
# Storage from RATELIMIT_STORAGE_URI (memory by default, Redis across hosts).
limiter = Limiter(key_func=get_remote_address)
