"""Rate limits (S6): per IP and per account, answered alike for known and unknown accounts; the client
IP comes from X-Forwarded-For only when a proxy is trusted."""

from __future__ import annotations

import re

import pytest

from tests.helpers import csrf_from


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
def app_settings(request, app_settings):  # type: ignore[no-untyped-def]
    """Every limit test runs with per-process counters and with Redis, the storage several workers share."""
    if request.param == "redis":
        server = request.getfixturevalue("redis_server")
        server.flush()
        return {**app_settings, "RATELIMIT_STORAGE_URI": server.url}
    return app_settings


pytestmark = pytest.mark.settings(
    RATELIMIT_ENABLED=True,
    LIMIT_REPORT_PER_ACCOUNT="3 per hour",
    LIMIT_REPORT_PER_IP="6 per minute",
    LIMIT_SIGN_IN_PER_ACCOUNT="3 per hour",
    LIMIT_FRESH_LINK_PER_ACCOUNT="2 per hour",
)


def post(client, url: str, data: dict, **kwargs):  # type: ignore[no-untyped-def]
    token = csrf_from(client.get(url).get_data(as_text=True))
    return client.post(url, data={**data, "csrf_token": token}, **kwargs)


def statuses(app, url: str, data: dict, times: int, **kwargs) -> list[int]:  # type: ignore[no-untyped-def]
    client = app.test_client()
    return [post(client, url, data, **kwargs).status_code for _ in range(times)]


def test_report_per_account_alike_for_known_and_unknown(app, customer_id) -> None:  # type: ignore[no-untyped-def]
    known = statuses(
        app, "/report", {"email": "an@example.com", "kind": "lost"}, 4, environ_base={"REMOTE_ADDR": "10.0.0.1"}
    )
    unknown = statuses(
        app, "/report", {"email": "nobody@example.com", "kind": "lost"}, 4, environ_base={"REMOTE_ADDR": "10.0.0.2"}
    )
    assert known == unknown == [303, 303, 303, 429]  # stored: sent on to the receipt
    # The bucket is the account, whatever the case or the client.
    other_ip = statuses(
        app, "/report", {"email": "AN@EXAMPLE.COM", "kind": "lost"}, 1, environ_base={"REMOTE_ADDR": "10.0.0.3"}
    )
    assert other_ip == [429]


def test_report_per_ip(app) -> None:  # type: ignore[no-untyped-def]
    client = app.test_client()
    codes = [
        post(
            client, "/report", {"email": f"x{n}@example.com", "kind": "lost"}, environ_base={"REMOTE_ADDR": "10.0.0.9"}
        ).status_code
        for n in range(7)
    ]
    assert codes == [303] * 6 + [429]


def test_sign_in_and_fresh_link_limits(app, customer_id) -> None:  # type: ignore[no-untyped-def]
    assert statuses(app, "/login", {"email": "an@example.com", "password": "wrong password entirely"}, 4) == [
        400,
        400,
        400,
        429,
    ]
    assert statuses(app, "/reset/new", {"email": "nobody@example.com"}, 3) == [200, 200, 429]


def test_limit_page_is_generic(app) -> None:  # type: ignore[no-untyped-def]
    client = app.test_client()
    for _ in range(3):
        post(client, "/report", {"email": "a@example.com", "kind": "lost"})
    answer = post(client, "/report", {"email": "a@example.com", "kind": "lost"}, headers={"Accept-Language": "en"})
    assert answer.status_code == 429 and "Too many attempts" in answer.get_data(as_text=True)
    # It says how long to wait, the same time as Retry-After (the report limit's window is an hour).
    wait = int(answer.headers["Retry-After"])
    assert 3500 < wait <= 3601
    assert re.search(r"Please try again in (59 minutes|60 minutes|1 hour)\.", answer.get_data(as_text=True))
    vi = post(client, "/report", {"email": "a@example.com", "kind": "lost"}, headers={"Accept-Language": "vi"})
    assert re.search(r"Vui lòng thử lại sau (59 phút|60 phút|1 giờ)\.", vi.get_data(as_text=True))
    assert "Content-Security-Policy" in answer.headers and "Traceback" not in answer.get_data(as_text=True)


def test_forwarded_for_ignored_without_a_trusted_proxy(app) -> None:  # type: ignore[no-untyped-def]
    client = app.test_client()
    codes = [
        post(
            client,
            "/report",
            {"email": f"y{n}@example.com", "kind": "lost"},
            headers={"X-Forwarded-For": f"203.0.113.{n}"},
        ).status_code
        for n in range(7)
    ]
    assert codes[-1] == 429  # spoofed addresses all count as the one real client


@pytest.mark.settings(TRUSTED_PROXY_COUNT=1)
def test_forwarded_for_used_behind_a_trusted_proxy(app) -> None:  # type: ignore[no-untyped-def]
    client = app.test_client()
    codes = [
        post(
            client,
            "/report",
            {"email": f"z{n}@example.com", "kind": "lost"},
            headers={"X-Forwarded-For": f"203.0.113.{n}"},
        ).status_code
        for n in range(7)
    ]
    assert codes == [303] * 7  # seven different clients behind the proxy


@pytest.mark.settings(LIMIT_RESET_PER_LINK="2 per hour", LIMIT_RESET_PER_IP="100 per minute")
def test_reset_attempts_are_limited_per_link(app, smtp_sink, customer_id) -> None:  # type: ignore[no-untyped-def]
    from tests.helpers import deliver, links_in, path_of, submit

    submit(app.test_client(), "/report", {"email": "an@example.com", "kind": "lost"})
    deliver(app)
    link = path_of(links_in(smtp_sink.to("an@example.com")[0])["reset"])
    codes = []
    for n in range(3):  # three guesses from three addresses, on one link
        client = app.test_client()
        client.get(link)
        codes.append(
            post(
                client,
                "/reset",
                {"password": "short", "password_confirm": "short"},
                environ_base={"REMOTE_ADDR": f"10.0.1.{n}"},
            ).status_code
        )
    assert codes == [400, 400, 429]


@pytest.mark.parametrize(
    ("seconds", "english", "vietnamese"),
    [
        (1, "1 second", "1 giây"),
        (59, "59 seconds", "59 giây"),
        (61, "1 minute", "1 phút"),
        (90, "2 minutes", "2 phút"),
        (3601, "1 hour", "1 giờ"),
        (3700, "1 hour 2 minutes", "1 giờ 2 phút"),
    ],
)
def test_waits_are_said_in_words_never_shorter_than_they_are(app, seconds: int, english: str, vietnamese: str) -> None:  # type: ignore[no-untyped-def]
    from flask_babel import force_locale

    from incident_service.i18n import format_wait

    with app.test_request_context():
        with force_locale("en"):
            assert format_wait(seconds) == english
        with force_locale("vi"):
            assert format_wait(seconds) == vietnamese
