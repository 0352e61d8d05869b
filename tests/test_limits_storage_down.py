"""A report is never lost to the rate limiter's storage (review of issue 11): with Redis unreachable the
limits count in memory, in this process, until it is back."""

from __future__ import annotations

import pytest

from tests.test_limits import post


@pytest.mark.settings(
    RATELIMIT_ENABLED=True, LIMIT_REPORT_PER_IP="6 per minute", RATELIMIT_STORAGE_URI="redis://127.0.0.1:1/0"
)
def test_reports_are_taken_while_redis_is_down(app) -> None:  # type: ignore[no-untyped-def]
    client = app.test_client()
    codes = [
        post(
            client,
            "/report",
            {"email": f"down{n}@example.com", "kind": "lost"},
            environ_base={"REMOTE_ADDR": "10.0.9.1"},
        ).status_code
        for n in range(7)
    ]
    assert codes == [303] * 6 + [429]
    assert client.get("/discovery/not.a.token").status_code == 400
