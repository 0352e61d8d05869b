"""Forms work behind the TLS proxy without a Referer (which our Referrer-Policy suppresses), and a
request a browser says came from another site is refused even with a valid token (S4, T5)."""

from __future__ import annotations

import pytest

from incident_service.same_origin import from_another_origin, origin_of
from tests.helpers import csrf_from

# What the README's nginx sends: the client's address and the scheme it used.
BEHIND_TLS = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.7"}
pytestmark = pytest.mark.settings(TRUSTED_PROXY_COUNT=1)


def post_behind_proxy(client, url: str, data: dict, headers: dict):  # type: ignore[no-untyped-def]
    page = client.get(url, headers=BEHIND_TLS, base_url="http://security.ecc.example")
    token = csrf_from(page.get_data(as_text=True))
    return client.post(
        url,
        data={**data, "csrf_token": token},
        headers={**BEHIND_TLS, **headers},
        base_url="http://security.ecc.example",
    )


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": "https://security.ecc.example", "Sec-Fetch-Site": "same-origin"},  # Chromium
        {"Origin": "https://security.ecc.example"},  # a browser without Fetch Metadata
        {},  # a script: the token alone decides
    ],
)
def test_forms_work_over_https_without_a_referer(client, headers) -> None:  # type: ignore[no-untyped-def]
    answer = post_behind_proxy(client, "/report", {"email": "someone@example.com", "kind": "lost"}, headers)
    assert answer.status_code == 303, answer.status_code  # stored, sent on to the receipt
    sign_in = post_behind_proxy(client, "/login", {"email": "someone@example.com", "password": "x" * 20}, headers)
    assert sign_in.status_code == 400 and 'name="password"' in sign_in.get_data(as_text=True)  # the form, not a refusal
    language = post_behind_proxy(client, "/locale", {"locale": "en", "next": "/report"}, headers)
    assert language.status_code == 302


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": "https://attacker.example", "Sec-Fetch-Site": "cross-site"},
        {"Sec-Fetch-Site": "same-site", "Origin": "https://www.ecc.example"},
        {"Origin": "https://attacker.example"},
        {"Origin": "null"},
    ],
)
def test_cross_site_posts_refused_even_with_a_token(app, client, headers, caplog) -> None:  # type: ignore[no-untyped-def]
    answer = post_behind_proxy(client, "/report", {"email": "someone@example.com", "kind": "lost"}, headers)
    assert answer.status_code == 400
    # Refused for where it came from, not for its token (which was valid).
    assert any("refused a cross-site POST" in record.getMessage() for record in caplog.records)
    from incident_service.extensions import db
    from incident_service.incidents.models import Report

    with app.app_context():
        assert db.session.query(Report).count() == 0


def test_origin_rules() -> None:
    own = {origin_of("https://security.ecc.example/"), origin_of("http://127.0.0.1:5000")}
    assert own == {"https://security.ecc.example", "http://127.0.0.1:5000"}
    assert origin_of("HTTPS://Security.ECC.example:443/x") == "https://security.ecc.example"
    assert not from_another_origin("same-origin", "https://attacker.example", own)  # Fetch Metadata wins
    assert from_another_origin("cross-site", None, own)
    assert not from_another_origin(None, "http://127.0.0.1:5000", own)
    assert from_another_origin(None, "http://127.0.0.1:5001", own)
    assert not from_another_origin(None, None, own)


def test_a_refused_link_post_logs_no_token(app, customer_id, caplog) -> None:  # type: ignore[no-untyped-def]
    """L1: the refusal is logged with the path, and a link's token in that path is redacted."""
    from incident_service.customers.models import Customer
    from incident_service.extensions import db
    from incident_service.notifications.service import customer_report_url

    with app.app_context():
        url = customer_report_url(db.session.get(Customer, customer_id))
    path = url.removeprefix("https://security.ecc.example")
    client = app.test_client()
    token = csrf_from(client.get(path).get_data(as_text=True))
    answer = client.post(
        path, data={"kind": "lost", "csrf_token": token}, headers={"Origin": "https://attacker.example"}
    )
    assert answer.status_code == 400
    logged = " ".join(record.getMessage() for record in caplog.records)
    assert "refused a cross-site POST to /r/[redacted]" in logged and path.rsplit("/", 1)[1] not in logged
