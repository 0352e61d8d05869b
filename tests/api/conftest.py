"""API fixtures: keys made through the service (as `flask api-keys create` does), and a client that sends one."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Callable

import pytest
from flask import Flask
from flask.testing import FlaskClient

from incident_service.api.models import SCOPES
from incident_service.api.service import create_api_key
from incident_service.database import utcnow
from incident_service.extensions import db

MakeKey = Callable[..., str]


def make_key(app: Flask, name: str, scopes: tuple[str, ...] = SCOPES, expires_at: datetime | None = None) -> str:
    with app.app_context():
        made = create_api_key(name, scopes=scopes, expires_at=expires_at, source="cli", actor="test", now=utcnow())
        db.session.commit()
        return made.secret


@pytest.fixture
def api_key(app: Flask) -> MakeKey:
    """api_key(name="…", scopes=(…)) → a new key's value; every scope unless told."""
    count = [0]

    def make(name: str | None = None, scopes: tuple[str, ...] = SCOPES, expires_at: datetime | None = None) -> str:
        count[0] += 1
        return make_key(app, name or f"system-{count[0]}", scopes, expires_at)

    return make


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


class ApiClient:
    """The test client with a key on every request."""

    def __init__(self, client: FlaskClient, key: str) -> None:
        self.client, self.key = client, key

    def __getattr__(self, method: str) -> Callable[..., Any]:
        call = getattr(self.client, method)

        def send(*args: Any, **kwargs: Any) -> Any:
            kwargs["headers"] = {**bearer(self.key), **kwargs.get("headers", {})}
            return call(*args, **kwargs)

        return send


@pytest.fixture
def api(app: Flask, api_key: MakeKey) -> ApiClient:
    """A client with a key of every scope, named `integration`."""
    return ApiClient(app.test_client(), api_key("integration"))


# A live server (a thread serving the app on loopback), for the guide's curl examples.
from tests.browser.conftest import live_server  # noqa: E402,F401
