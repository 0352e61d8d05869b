"""Where webhooks may go: https only in production, public addresses only, checked at subscription time
and again at every delivery (a name that re-resolves to a private address is refused then)."""

from __future__ import annotations

import pytest

from incident_service.database import utcnow
from incident_service.extensions import db
from incident_service.settings import ConfigurationError, load_settings
from incident_service.webhooks.addresses import (
    CREDENTIALS_IN_URL,
    NOT_A_URL,
    NOT_HTTPS,
    PRIVATE_ADDRESS,
    UnsafeTarget,
    check_target,
)
from incident_service.webhooks.service import add_subscription


def resolver(*addresses: str):  # type: ignore[no-untyped-def]
    return lambda host, port: list(addresses)


@pytest.mark.parametrize(
    "url",
    [
        "http://10.0.0.1/hook",
        "http://[::1]/hook",
        "http://169.254.169.254/latest/meta-data/",
        "http://[64:ff9b::a9fe:a9fe]/",  # NAT64: 169.254.169.254 through the gateway
        "http://[64:ff9b::a00:1]/",  # NAT64: 10.0.0.1
        "http://127.0.0.1:8080/",
        "http://192.168.1.10/",
        "http://172.16.0.1/",
        "http://100.64.0.1/",  # carrier-grade NAT
        "http://0.0.0.0/",
        "http://224.0.0.1/",  # multicast
        "http://240.0.0.1/",  # reserved
        "http://[fe80::1]/",  # link-local
        "http://[fc00::1]/",  # unique local
        "http://[::ffff:127.0.0.1]/",  # IPv4-mapped loopback
        "http://[::ffff:10.0.0.1]/",
        "http://[2002:a00:1::]/",  # 6to4 around 10.0.0.1
    ],
)
def test_private_loopback_link_local_and_reserved_addresses_are_refused(url: str) -> None:
    with pytest.raises(UnsafeTarget) as refused:
        check_target(url, require_https=False, allow_private=False)
    assert refused.value.code == PRIVATE_ADDRESS


def test_a_name_is_refused_when_any_address_it_resolves_to_is_private() -> None:
    with pytest.raises(UnsafeTarget):
        check_target(
            "https://hooks.example.com/x",
            require_https=True,
            allow_private=False,
            resolve=resolver("93.184.215.14", "10.1.2.3"),
        )
    target = check_target(
        "https://hooks.example.com:8443/in?tenant=7",
        require_https=True,
        allow_private=False,
        resolve=resolver("93.184.215.14"),
    )
    assert (target.host, target.port, target.path, target.addresses) == (
        "hooks.example.com",
        8443,
        "/in?tenant=7",
        ("93.184.215.14",),
    )


def test_https_only_when_required_and_no_credentials_in_the_url() -> None:
    with pytest.raises(UnsafeTarget) as refused:
        check_target(
            "http://hooks.example.com/", require_https=True, allow_private=False, resolve=resolver("93.184.215.14")
        )
    assert refused.value.code == NOT_HTTPS
    with pytest.raises(UnsafeTarget) as refused:
        check_target("https://user:pw@hooks.example.com/", require_https=True, allow_private=False)
    assert refused.value.code == CREDENTIALS_IN_URL
    for url in ("ftp://hooks.example.com/", "hooks.example.com", "https://", "http://[::1"):
        with pytest.raises(UnsafeTarget) as refused:
            check_target(url, require_https=False, allow_private=False)
        assert refused.value.code == NOT_A_URL, url


def test_private_addresses_allowed_only_by_the_setting() -> None:
    assert check_target("http://127.0.0.1:9/", require_https=False, allow_private=True).addresses == ("127.0.0.1",)


@pytest.mark.settings(APP_ENV="production", WEBHOOK_ALLOW_PRIVATE_ADDRESSES=False)
@pytest.mark.parametrize(
    "url", ["http://10.0.0.1/", "http://[::1]/", "http://169.254.169.254/", "https://10.0.0.1/", "https://[::1]/"]
)
def test_production_refuses_private_targets_and_plain_http(app, runner, url: str) -> None:  # type: ignore[no-untyped-def]
    result = runner.invoke(args=["webhooks", "add", url, "--event", "incident.opened"])
    assert result.exit_code != 0 and "refused" in result.output and "whsec_" not in result.output
    with app.app_context():
        with pytest.raises(UnsafeTarget):
            add_subscription(url, ["incident.opened"], source="cli", actor="test", now=utcnow())
        assert db.session.execute(db.text("SELECT count(*) FROM webhook_subscriptions")).scalar() == 0


@pytest.mark.settings(APP_ENV="production", WEBHOOK_ALLOW_PRIVATE_ADDRESSES=False)
def test_production_refuses_plain_http_even_to_a_public_host(app) -> None:  # type: ignore[no-untyped-def]
    with app.app_context():
        with pytest.raises(UnsafeTarget) as refused:
            add_subscription(
                "http://hooks.example.com/",
                ["incident.opened"],
                source="cli",
                actor="test",
                now=utcnow(),
                resolve=resolver("93.184.215.14"),
            )
        assert refused.value.code == NOT_HTTPS
        subscription, secret = add_subscription(
            "https://hooks.example.com/",
            ["incident.opened"],
            source="cli",
            actor="test",
            now=utcnow(),
            resolve=resolver("93.184.215.14"),
        )
        assert subscription.id and secret.startswith("whsec_")


def test_settings_default_to_refusing_private_addresses_and_are_validated() -> None:
    settings = load_settings({"APP_ENV": "testing"})
    assert settings["WEBHOOK_ALLOW_PRIVATE_ADDRESSES"] is False
    assert settings["WEBHOOK_CONNECT_TIMEOUT_SECONDS"] == 5 and settings["WEBHOOK_READ_TIMEOUT_SECONDS"] == 10
    with pytest.raises(ConfigurationError, match="WEBHOOK_ALLOW_PRIVATE_ADDRESSES"):
        load_settings({"APP_ENV": "testing", "WEBHOOK_ALLOW_PRIVATE_ADDRESSES": "maybe"})
    with pytest.raises(ConfigurationError, match="WEBHOOK_READ_TIMEOUT_SECONDS"):
        load_settings({"APP_ENV": "testing", "WEBHOOK_READ_TIMEOUT_SECONDS": "0"})
