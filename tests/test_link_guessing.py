"""Guessing link tokens is throttled, counted and recorded (issue 18, item 5); every 429 says when to
come back (item 6)."""

from __future__ import annotations

import secrets

import pytest
from sqlalchemy import select

from incident_service.audit.models import AuditEvent
from incident_service.extensions import db

pytestmark = pytest.mark.settings(
    RATELIMIT_ENABLED=True, LIMIT_LINK_PER_IP="12 per minute", LINK_GUESSING_THRESHOLD="5 per 10 minutes"
)


def guess() -> str:
    return f"{secrets.token_urlsafe(24)}.{secrets.token_urlsafe(8)}.{secrets.token_urlsafe(20)}"


@pytest.mark.parametrize("path", ["/discovery/{t}", "/r/{t}"])
def test_guessing_is_throttled_and_recorded_once(app, path) -> None:  # type: ignore[no-untyped-def]
    client = app.test_client()
    codes = [
        client.get(path.format(t=guess()), environ_base={"REMOTE_ADDR": "198.51.100.7"}).status_code for _ in range(14)
    ]
    assert codes == [400] * 12 + [429] * 2
    refused = client.get(path.format(t=guess()), environ_base={"REMOTE_ADDR": "198.51.100.7"})
    assert 1 <= int(refused.headers["Retry-After"]) <= 61
    # Someone else, on another address, is not held up by it.
    assert client.get(path.format(t=guess()), environ_base={"REMOTE_ADDR": "198.51.100.8"}).status_code == 400
    with app.app_context():
        recorded = (
            db.session.execute(select(AuditEvent).where(AuditEvent.action == "web:link:guessing_suspected"))
            .scalars()
            .all()
        )
        assert len(recorded) == 1 and '"ip":"198.51.100.7"' in recorded[0].data
    kind = path.split("/")[1] if path.startswith("/discovery") else "report"
    metrics = client.get("/metrics").get_data(as_text=True)
    assert f'incident_service_invalid_links_total{{kind="{kind}"}} 13.0' in metrics


def test_reset_links_count_too_and_a_reloaded_page_does_not(app) -> None:  # type: ignore[no-untyped-def]
    client = app.test_client()
    for _ in range(3):
        assert client.get(f"/reset/{guess()}").status_code == 302
        assert client.get("/reset").status_code == 400  # the guessed token, refused
    assert client.get("/reset").status_code == 400  # nothing in the session: not a guess
    assert 'incident_service_invalid_links_total{kind="reset"} 3.0' in client.get("/metrics").get_data(as_text=True)


def test_every_429_says_when_to_retry(app) -> None:  # type: ignore[no-untyped-def]
    from tests.helpers import csrf_from

    client = app.test_client()
    token = csrf_from(client.get("/login").get_data(as_text=True))
    answers = [
        client.post("/login", data={"email": "a@example.com", "password": "x" * 20, "csrf_token": token})
        for _ in range(12)
    ]
    limited = [answer for answer in answers if answer.status_code == 429]
    assert limited and all(1 <= int(answer.headers["Retry-After"]) <= 901 for answer in limited)


def test_a_guessed_link_asking_for_a_new_reset_link_is_refused_and_counted(app) -> None:  # type: ignore[no-untyped-def]
    """POST /r/<token>/new-link (the in-hand page's button) treats a bad token as every link route
    does (L2, T3): refused plainly, counted as a guess, nothing issued."""
    from incident_service.reactivation.models import ResetGrant
    from tests.helpers import csrf_from

    client = app.test_client()
    token = csrf_from(client.get("/report").get_data(as_text=True))
    answer = client.post(f"/r/{guess()}/new-link", data={"csrf_token": token})
    assert answer.status_code == 400
    assert 'incident_service_invalid_links_total{kind="report"} 1.0' in client.get("/metrics").get_data(as_text=True)
    with app.app_context():
        assert db.session.execute(select(ResetGrant)).first() is None
