"""Request ids, structured logs without secrets, and the Prometheus endpoint."""

from __future__ import annotations

import json
import logging
import smtplib

import pytest

from incident_service.intake.smtpd import IntakeController
from incident_service.observability import configure_logging
from tests.helpers import deliver, free_port, submit


def test_every_response_has_a_request_id(client) -> None:  # type: ignore[no-untyped-def]
    first, second = client.get("/"), client.get("/healthz")
    assert len(first.headers["X-Request-ID"]) == 16 and first.headers["X-Request-ID"] != second.headers["X-Request-ID"]
    # Without a trusted proxy, an id sent by the client is not taken.
    assert client.get("/", headers={"X-Request-ID": "forged-id-123"}).headers["X-Request-ID"] != "forged-id-123"


@pytest.mark.settings(TRUSTED_PROXY_COUNT=1)
def test_proxy_request_id_kept_when_trusted(client) -> None:  # type: ignore[no-untyped-def]
    assert client.get("/", headers={"X-Request-ID": "edge-abc-12345"}).headers["X-Request-ID"] == "edge-abc-12345"


def test_json_log_lines_carry_the_request_id_and_no_token(app, capfd, customer_id) -> None:  # type: ignore[no-untyped-def]
    configure_logging("json")
    try:
        client = app.test_client()
        answer = client.get("/reset/abcdefghijklmnopqrstuvwxyz.secret-token-part")
        request_id = answer.headers["X-Request-ID"]
        logged = capfd.readouterr().err
    finally:
        configure_logging("text")
    lines = [json.loads(line) for line in logged.splitlines() if line.startswith("{")]
    access = [line for line in lines if line.get("logger") == "incident_service.access"]
    assert access and access[-1]["request_id"] == request_id and access[-1]["status"] == 302
    assert access[-1]["path"] == "/reset/[redacted]" and "secret-token-part" not in logged
    assert {"time", "level", "message"} <= set(access[-1])


def metrics_text(client, **kwargs) -> str:  # type: ignore[no-untyped-def]
    answer = client.get("/metrics", **kwargs)
    assert answer.status_code == 200
    return answer.get_data(as_text=True)


@pytest.mark.real_commits  # the listener counts its refusal in a worker thread
def test_metrics(app, client, smtp_sink, customer_id) -> None:  # type: ignore[no-untyped-def]
    submit(app.test_client(), "/report", {"email": "an@example.com", "kind": "lost"})
    submit(app.test_client(), "/report", {"email": "nobody@example.com", "kind": "lost"})
    text = metrics_text(client)
    assert 'incident_service_reports_total{channel="web"} 2.0' in text
    assert 'incident_service_incidents{status="reactivated"} 1.0' in text
    assert "incident_service_outbox_depth 1.0" in text
    deliver(app)
    text = metrics_text(client)
    assert "incident_service_outbox_depth 0.0" in text and 'incident_service_outbox_messages{status="sent"} 1.0' in text
    assert "incident_service_delivery_failures_total 0.0" in text
    assert "incident_service_quarantine_size 0.0" in text

    port = free_port()
    controller = IntakeController(app, host="127.0.0.1", port=port)
    controller.start()
    try:
        with smtplib.SMTP("127.0.0.1", port, timeout=10) as smtp:
            smtp.ehlo()
            smtp.mail("an@example.com")
            assert smtp.rcpt("boss@ecc.example")[0] == 550
    finally:
        controller.stop()
    assert 'incident_service_intake_refusals_total{reason="recipient"} 1.0' in metrics_text(client)


def test_metrics_access(app, client) -> None:  # type: ignore[no-untyped-def]
    assert client.get("/metrics", environ_base={"REMOTE_ADDR": "203.0.113.9"}).status_code == 403
    app.config["METRICS_TOKEN"] = "s3cret-scrape-token"
    assert client.get("/metrics").status_code == 403
    assert (
        client.get(
            "/metrics",
            headers={"Authorization": "Bearer s3cret-scrape-token"},
            environ_base={"REMOTE_ADDR": "203.0.113.9"},
        ).status_code
        == 200
    )


def test_unreachable_relay_is_logged(app, client, customer_id, caplog) -> None:  # type: ignore[no-untyped-def]
    submit(app.test_client(), "/report", {"email": "an@example.com", "kind": "lost"})
    app.extensions["mail"].port = free_port()
    with caplog.at_level(logging.WARNING):
        deliver(app)
    assert any("mail relay unavailable" in record.getMessage() for record in caplog.records)
