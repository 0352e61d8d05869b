"""One commit for each console action (Indico's request handler is the model): services flush and
never commit; the action's answer decides. A page or a redirect commits; an error answer or an
exception rolls back, and a commit that fails takes back what the action had flashed (L4: never
announce a success that was not stored)."""

from __future__ import annotations

from functools import wraps
from typing import Any, Callable, TypeVar, cast

from flask import current_app, session

from ..extensions import db

F = TypeVar("F", bound=Callable[..., Any])


def commit_on_success(view: F) -> F:
    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            response = current_app.make_response(view(*args, **kwargs))
        except Exception:
            db.session.rollback()
            raise
        if response.status_code >= 400:
            db.session.rollback()
            return response
        try:
            db.session.commit()
        except Exception:
            db.session.rollback()
            session.pop("_flashes", None)
            raise
        return response

    return cast(F, wrapper)
