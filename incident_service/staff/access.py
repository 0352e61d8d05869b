"""Console access: every route needs a signed-in staff user, and each action its permission (S3)."""

from __future__ import annotations

from functools import wraps
from typing import Any, Callable, TypeVar, cast

from flask import Blueprint, abort, g, redirect, request, url_for
from flask.typing import ResponseReturnValue

from ..staff.models import StaffUser
from ..staff.permissions import allowed

F = TypeVar("F", bound=Callable[..., Any])


def current_staff() -> StaffUser:
    staff: StaffUser | None = g.get("staff")
    if staff is None:
        raise RuntimeError("a console route ran without a signed-in staff user")
    return staff


def require_sign_in(blueprint: Blueprint) -> None:
    """Anonymous requests to any route of `blueprint` go to the console sign-in page."""

    @blueprint.before_request
    def _signed_in() -> ResponseReturnValue | None:
        if g.get("staff") is None:
            return redirect(url_for("console_auth.login", next=request.full_path if request.method == "GET" else None))
        return None


def require(permission: str) -> Callable[[F], F]:
    """403 unless the signed-in user's role grants `permission`."""

    def decorate(view: F) -> F:
        @wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if not allowed(current_staff().role, permission):
                abort(403)
            return view(*args, **kwargs)

        return cast(F, wrapper)

    return decorate


def can(permission: str) -> bool:
    staff = g.get("staff")
    return staff is not None and allowed(staff.role, permission)
