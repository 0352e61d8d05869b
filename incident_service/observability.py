"""Structured logs with a request id, and the Prometheus metrics endpoint.

Logs are JSON lines in production (`LOG_FORMAT=json`), readable text in development; every line
logged while serving a request carries its id, which is also sent back as `X-Request-ID`. Nothing
secret is logged: link tokens are redacted (logging_redaction), passwords never reach a log call.
"""

from __future__ import annotations

import ipaddress
import logging
import re
import secrets
import time
from typing import Any, Iterator, TextIO

from flask import Blueprint, Flask, Response, abort, current_app, g, has_request_context, request
from flask.logging import default_handler
from flask.typing import ResponseReturnValue
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from pythonjsonlogger.json import JsonFormatter
from sqlalchemy import func, select

from .extensions import db
from .logging_redaction import redact

REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")
access_log = logging.getLogger("incident_service.access")
bp = Blueprint("observability", __name__)


class RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = g.get("request_id", "-") if has_request_context() else "-"
        return True


class _ServiceHandler(logging.StreamHandler[TextIO]):
    """The service's own handler, to replace (not add to) when logging is configured again."""


def configure_logging(log_format: str) -> None:
    """One handler on the root logger, JSON or text; safe to call again (tests build many apps)."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        if isinstance(handler, _ServiceHandler):
            root.removeHandler(handler)
    handler = _ServiceHandler()
    handler.addFilter(RequestIdFilter())
    if log_format == "json":
        handler.setFormatter(
            JsonFormatter(
                "%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s",
                rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
                datefmt="%Y-%m-%dT%H:%M:%S%z",
            )
        )
        logging.Formatter.converter = time.gmtime  # UTC in every log line (L1)
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"))
    root.addHandler(handler)
    root.setLevel(logging.INFO)


def start_request() -> None:
    incoming = request.headers.get("X-Request-ID", "")
    # A proxy's id is kept only when proxies are trusted; otherwise anyone could forge log lines' ids.
    trusted = current_app.config["TRUSTED_PROXY_COUNT"] > 0 and REQUEST_ID.match(incoming)
    g.request_id = incoming if trusted else secrets.token_hex(8)
    g.request_started = time.perf_counter()


def finish_request(response: Response) -> Response:
    response.headers["X-Request-ID"] = g.get("request_id", "")
    if request.endpoint != "static":
        access_log.info(
            "request",
            extra={
                "method": request.method,
                "path": redact(request.path),
                "status": response.status_code,
                "duration_ms": round((time.perf_counter() - g.get("request_started", time.perf_counter())) * 1000, 1),
                "ip": request.remote_addr,
            },
        )
    return response


class DatabaseCollector:
    """Read the numbers from the database at scrape time, so every process reports the same truth."""

    def collect(self) -> Iterator[Any]:
        from .incidents.models import Incident, Report
        from .intake.models import STATUS_QUARANTINED, InboundMessage
        from .metrics_store import MetricCounter
        from .notifications.models import OutboxMessage

        reports = CounterMetricFamily("incident_service_reports", "Reports received, by channel", labels=["channel"])
        for channel, count in db.session.execute(select(Report.channel, func.count()).group_by(Report.channel)):
            reports.add_metric([channel], count)
        yield reports
        incidents = GaugeMetricFamily("incident_service_incidents", "Incidents, by status", labels=["status"])
        for status, count in db.session.execute(select(Incident.status, func.count()).group_by(Incident.status)):
            incidents.add_metric([status], count)
        yield incidents
        outbox = GaugeMetricFamily("incident_service_outbox_messages", "Outbox messages, by status", labels=["status"])
        for status, count in db.session.execute(
            select(OutboxMessage.status, func.count()).group_by(OutboxMessage.status)
        ):
            outbox.add_metric([status], count)
        yield outbox
        queued = db.session.scalar(
            select(func.count()).select_from(OutboxMessage).where(OutboxMessage.status == "queued")
        )
        yield GaugeMetricFamily("incident_service_outbox_depth", "Emails waiting to be delivered", value=queued or 0)
        failed = db.session.scalar(
            select(func.count()).select_from(OutboxMessage).where(OutboxMessage.status == "failed")
        )
        yield CounterMetricFamily(
            "incident_service_delivery_failures", "Emails that failed permanently", value=failed or 0
        )
        quarantined = db.session.scalar(
            select(func.count()).select_from(InboundMessage).where(InboundMessage.status == STATUS_QUARANTINED)
        )
        yield GaugeMetricFamily("incident_service_quarantine_size", "Emails in quarantine", value=quarantined or 0)
        refusals = CounterMetricFamily(
            "incident_service_intake_refusals", "SMTP/LMTP refusals, by reason", labels=["reason"]
        )
        for name, value in db.session.execute(
            select(MetricCounter.name, MetricCounter.value).where(MetricCounter.name.startswith("intake_refusal:"))
        ):
            refusals.add_metric([name.split(":", 1)[1]], value)
        yield refusals
        invalid = CounterMetricFamily(
            "incident_service_invalid_links",
            "Link tokens that did not verify, by kind (many at once: someone is guessing)",
            labels=["kind"],
        )
        for name, value in db.session.execute(
            select(MetricCounter.name, MetricCounter.value).where(MetricCounter.name.startswith("invalid_link:"))
        ):
            invalid.add_metric([name.split(":", 1)[1]], value)
        yield invalid


def _allowed() -> bool:
    token = current_app.config.get("METRICS_TOKEN")
    if token:
        return secrets.compare_digest(request.headers.get("Authorization", ""), f"Bearer {token}")
    try:
        return ipaddress.ip_address(request.remote_addr or "").is_loopback
    except ValueError:
        return False


@bp.get("/metrics")
def metrics() -> ResponseReturnValue:
    if not _allowed():
        abort(403)
    registry = CollectorRegistry()
    registry.register(DatabaseCollector())
    return Response(generate_latest(registry), mimetype="text/plain; version=0.0.4")


def init_app(app: Flask) -> None:
    # One handler (ours, on the root logger): Flask's own would print every app log line twice.
    app.logger.removeHandler(default_handler)
    configure_logging(app.config["LOG_FORMAT"])
    app.before_request(start_request)
    app.after_request(finish_request)
