"""`flask api-keys create | list | revoke`: the key printed once, never listed."""

from __future__ import annotations

from tests.api.conftest import bearer


def test_create_list_and_revoke(app, runner) -> None:  # type: ignore[no-untyped-def]
    made = runner.invoke(
        args=[
            "api-keys",
            "create",
            "crm",
            "--scope",
            "customers:write",
            "--scope",
            "links:write",
            "--expires-in-days",
            "30",
        ]
    )
    assert made.exit_code == 0, made.output
    key = made.stdout.strip()
    assert key.startswith("isk_") and len(key) == 47
    client = app.test_client()
    assert (
        client.post("/api/v1/customers/an@example.com/report-link", headers=bearer(key)).status_code == 404
    )  # no such customer
    listed = runner.invoke(args=["api-keys", "list"])
    assert "crm\tisk_" in listed.output and "customers:write links:write\tactive" in listed.output
    assert key not in listed.output and "last used 20" in listed.output
    assert runner.invoke(args=["api-keys", "create", "crm", "--scope", "events:read"]).exit_code != 0
    assert runner.invoke(args=["api-keys", "create", "bad name", "--scope", "events:read"]).exit_code != 0
    assert runner.invoke(args=["api-keys", "create", "x", "--scope", "admin"]).exit_code != 0
    revoked = runner.invoke(args=["api-keys", "revoke", "crm"])
    assert revoked.exit_code == 0
    assert client.post("/api/v1/customers/an@example.com/report-link", headers=bearer(key)).status_code == 401
    assert "revoked 20" in runner.invoke(args=["api-keys", "list"]).output
    assert runner.invoke(args=["api-keys", "revoke", "nobody"]).exit_code != 0
