"""Staff alerts: a digest of new incidents, undelivered email, quarantined mail, the breach clock at 24 and
6 hours left, disabled webhooks; each once, through the outbox and a real SMTP sink; none with no team."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from email.message import EmailMessage

import pytest
from sqlalchemy import func, select, update

from incident_service.alerts.models import AlertCursor, BreachClockAlert, StaffAlert
from incident_service.alerts.service import LISTED, collect_alerts
from incident_service.audit.actions import Event, Source, tag
from incident_service.audit.checkpoint import latest_checkpoint
from incident_service.audit.cli import run_checkpoints_when_due
from incident_service.audit.models import AuditEvent, AuditTreeNode
from incident_service.audit.sequencer import integrate_all
from incident_service.audit.service import append_event, verify_chain
from incident_service.database import utcnow
from incident_service.extensions import db
from incident_service.intake.service import Envelope, ingest_message
from incident_service.notifications.delivery import deliver_due
from incident_service.notifications.models import OutboxMessage
from tests.alerts.conftest import (
    TEAM,
    incident_ids,
    later,
    mark_breach_received,
    reactivate_many,
    run_alerts,
    start_alerts,
)
from tests.helpers import deliver, make_customer, submit
from tests.intake.test_ingest import CORPUS

REFERENCE = re.compile(r"INC-\d{4}-\d{6}")
alerting = pytest.mark.settings(SECURITY_TEAM_ADDRESSES=TEAM, ALERT_DIGEST_MINUTES=15)


def text_of(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain",))
    assert part is not None
    return str(part.get_content())


def html_of(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("html",))
    assert part is not None
    return str(part.get_content())


URL = re.compile(r"https?://[^\s<>\"']+")


def links_are_alike(message: EmailMessage) -> None:
    """As in every email the service sends: each address in the HTML is a link, the text part gives the
    same links in the same order, each on a line of its own."""
    text, html = text_of(message), html_of(message)
    hrefs = list(dict.fromkeys(re.findall(r'<a href="([^"]+)"', html)))
    assert hrefs == list(dict.fromkeys(URL.findall(text)))
    assert all(href.startswith("https://security.ecc.example/console/") for href in hrefs)
    shown = re.sub(r"<a href=\"[^\"]+\"[^>]*>[^<]*</a>", "", html)
    assert URL.findall(re.sub(r"<[^>]+>", " ", shown)) == []  # no address shown that is not a link
    lines = [line.strip() for line in text.splitlines()]
    for url in hrefs:
        assert all(line == url for line in lines if url in line.split()), f"{url} is not on a line of its own"


def count_rows(app, model, *where) -> int:  # type: ignore[no-untyped-def]
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(model).where(*where)) or 0


@alerting
def test_a_mass_reactivation_makes_one_digest(app, runner, smtp_sink, tmp_path) -> None:  # type: ignore[no-untyped-def]
    start_alerts(app)
    reactivate_many(app, runner, tmp_path, 50)

    assert run_alerts(app, utcnow()) == [("new_incidents", 50)]
    assert run_alerts(app, utcnow()) == []  # nothing new: nothing again
    deliver(app)

    for address in TEAM:
        [message] = smtp_sink.to(address)  # one email each, not fifty
        assert message["Subject"] == "[ECC] Sự cố mới: 50" or "50" in message["Subject"]
        assert message["Auto-Submitted"] == "auto-generated"
        text, html = text_of(message), html_of(message)
        listed = REFERENCE.findall(text)
        assert len(listed) == LISTED == len(set(listed))  # the first twenty, each once
        assert "30" in text  # … and 30 more
        assert "https://security.ecc.example/console/incidents?status=reactivated" in text
        assert "https://security.ecc.example/console/alerts" in text
        # The HTML part lists the same references, each a link to its incident, and the button's link.
        assert REFERENCE.findall(re.sub(r"<[^>]+>", "", html)).count(listed[0]) == 1
        assert re.search(r'<a href="https://security\.ecc\.example/console/incidents/\d+"', html)
        assert 'href="https://security.ecc.example/console/incidents?status=reactivated"' in html
        assert "/r/" not in text and "/reset/" not in text  # no customer's link in a staff email
        links_are_alike(message)
    with app.app_context():
        [alert] = db.session.scalars(select(StaffAlert)).all()
        assert (alert.kind, alert.item_count, len(alert.listed)) == ("new_incidents", 50, LISTED)
        sent = db.session.scalars(select(OutboxMessage).where(OutboxMessage.id.in_(alert.outbox_ids))).all()
        assert sorted(message.to_address for message in sent) == sorted(TEAM)
        assert {message.status for message in sent} == {"sent"}
        assert verify_chain().ok


@alerting
def test_digest_waits_for_its_interval(app, runner, tmp_path) -> None:  # type: ignore[no-untyped-def]
    start_alerts(app)
    reactivate_many(app, runner, tmp_path, 2, prefix="a")
    now = utcnow()
    assert run_alerts(app, now) == [("new_incidents", 2)]  # the first after a quiet spell goes at once
    reactivate_many(app, runner, tmp_path, 3, prefix="b")
    assert run_alerts(app, now + timedelta(minutes=5)) == []  # within 15 minutes: waits
    assert run_alerts(app, now + timedelta(minutes=15)) == [("new_incidents", 3)]
    assert run_alerts(app, now + timedelta(minutes=40)) == []


def test_no_alerts_without_team_addresses(app, runner, tmp_path) -> None:  # type: ignore[no-untyped-def]
    assert app.config["SECURITY_TEAM_ADDRESSES"] == []
    reactivate_many(app, runner, tmp_path, 3)
    [incident_id, *_] = incident_ids(app)
    mark_breach_received(app, incident_id, utcnow() - timedelta(hours=70))
    assert run_alerts(app, utcnow()) == []
    assert run_alerts(app, later(60)) == []
    assert count_rows(app, StaffAlert) == 0 and count_rows(app, AlertCursor) == 0
    assert count_rows(app, OutboxMessage, OutboxMessage.template == "staff_alert") == 0
    answer = runner.invoke(args=["alerts", "run"])
    assert answer.exit_code == 0 and "SECURITY_TEAM_ADDRESSES is empty" in answer.output


@alerting
def test_breach_clock_thresholds_fire_once_each(app, smtp_sink) -> None:  # type: ignore[no-untyped-def]
    make_customer(app, "an@example.com")
    submit(app.test_client(), "/report", {"email": "an@example.com", "kind": "leaked"})
    [incident_id] = incident_ids(app)
    start_alerts(app)
    received = utcnow() - timedelta(hours=71)  # every run below is in the past: its emails are due at once
    mark_breach_received(app, incident_id, received)
    deadline = received + timedelta(hours=72)

    assert run_alerts(app, deadline - timedelta(hours=25)) == []  # 25 hours left: not yet
    assert run_alerts(app, deadline - timedelta(hours=24)) == [("breach_clock", 1)]
    assert run_alerts(app, deadline - timedelta(hours=23)) == []  # once, however often it runs
    assert run_alerts(app, deadline - timedelta(hours=7)) == []
    assert run_alerts(app, deadline - timedelta(hours=6)) == [("breach_clock", 1)]
    assert run_alerts(app, deadline - timedelta(hours=5)) == []
    assert run_alerts(app, deadline + timedelta(hours=1)) == []
    with app.app_context():
        thresholds = db.session.scalars(select(BreachClockAlert.hours_left).order_by(BreachClockAlert.hours_left))
        assert list(thresholds) == [6, 24]
    deliver(app)
    messages = smtp_sink.to(TEAM[0])
    assert len(messages) == 2
    first, second = (text_of(message) for message in messages)
    assert "24" in first and "6" in second and REFERENCE.search(first) and REFERENCE.search(second)
    assert "https://security.ecc.example/console/incidents/" in second
    for message in messages:
        links_are_alike(message)


@alerting
def test_a_breach_marked_late_is_listed_once(app) -> None:  # type: ignore[no-untyped-def]
    make_customer(app, "an@example.com")
    submit(app.test_client(), "/report", {"email": "an@example.com", "kind": "leaked"})
    [incident_id] = incident_ids(app)
    start_alerts(app)
    mark_breach_received(app, incident_id, utcnow() - timedelta(hours=69))  # 3 hours left when marked
    assert run_alerts(app, utcnow()) == [("breach_clock", 1)]  # one alert, not one per threshold
    assert run_alerts(app, utcnow()) == []
    assert count_rows(app, BreachClockAlert) == 2 and count_rows(app, StaffAlert) == 1


def relay_port(app, port: int) -> None:  # type: ignore[no-untyped-def]
    """Point the outbox at another relay (Flask-Mail keeps the port it was started with)."""
    app.extensions["mail"].port = port


@alerting
@pytest.mark.settings(OUTBOX_MAX_ATTEMPTS=1)
def test_undelivered_customer_email_is_alerted(app, smtp_sink) -> None:  # type: ignore[no-untyped-def]
    start_alerts(app)
    make_customer(app, "an@example.com")
    make_customer(app, "binh@example.com")
    relay_port(app, 1)  # nothing listens: the acknowledgement fails for good (one attempt allowed)
    submit(app.test_client(), "/report", {"email": "an@example.com", "kind": "lost"})
    deliver(app)
    assert count_rows(app, OutboxMessage, OutboxMessage.status == "failed") == 1

    assert run_alerts(app, utcnow()) == [("new_incidents", 1), ("delivery_failed", 1)]
    deliver(app)  # the alerts cannot be delivered either: they fail, and raise no alert about themselves
    assert (
        count_rows(app, OutboxMessage, OutboxMessage.template == "staff_alert", OutboxMessage.status == "failed") == 4
    )
    assert run_alerts(app, later(60)) == []

    # A second failure, alerted once the relay is back: read back from the sink.
    submit(app.test_client(), "/report", {"email": "binh@example.com", "kind": "lost"})
    deliver(app)
    relay_port(app, smtp_sink.port)
    assert run_alerts(app, later(60)) == [("new_incidents", 1), ("delivery_failed", 1)]
    with app.app_context():
        deliver_due(clock=lambda: later(61))  # the alerts were queued "an hour from now"
    [_new, message] = smtp_sink.to(TEAM[0])
    text = text_of(message)
    assert "1" in message["Subject"] and "Khách hàng" not in text
    assert REFERENCE.search(text) and "https://security.ecc.example/console/incidents/" in text
    assert "binh@example.com" not in text  # references, not customers' addresses
    links_are_alike(message)


@alerting
def test_quarantined_message_is_alerted(app, smtp_sink) -> None:  # type: ignore[no-untyped-def]
    start_alerts(app)
    with app.app_context():
        raw = (CORPUS / "spoof_bidi.eml").read_bytes()
        outcome = ingest_message(raw, envelope=Envelope(), via="smtp", now=utcnow())
        db.session.commit()
        assert outcome.status == "quarantined"
    assert run_alerts(app, utcnow()) == [("quarantined", 1)]
    assert run_alerts(app, later(60)) == []
    deliver(app)
    [message] = smtp_sink.to(TEAM[1])
    text = text_of(message)
    assert f"https://security.ecc.example/console/messages/{outcome.message_id}" in text
    assert 'href="https://security.ecc.example/console/quarantine"' in html_of(message)
    links_are_alike(message)


@alerting
def test_disabled_webhook_is_alerted(app, smtp_sink) -> None:  # type: ignore[no-untyped-def]
    start_alerts(app)
    with app.app_context():
        # What incident_service.webhooks audits when the worker gives up on a subscription.
        append_event(
            tag(Source.WORKER, Event("webhook:disabled")),
            actor="outbox-worker",
            now=utcnow(),
            data={
                "subscription": 7,
                "url": "https://crm.ecc.example/hooks?token=s3cret",
                "reason": "failures",
                "failures": 50,
            },
        )
        db.session.commit()
    assert run_alerts(app, utcnow()) == [("webhook_disabled", 1)]
    deliver(app)
    [message] = smtp_sink.to(TEAM[0])
    text = text_of(message)
    assert "crm.ecc.example" in text and "s3cret" not in text and "50" in text
    links_are_alike(message)


@pytest.mark.settings(
    SECURITY_TEAM_ADDRESSES=TEAM, ALERT_DIGEST_MINUTES=15, AUDIT_ANCHOR_EMAIL="notary@lawfirm.example"
)
def test_a_rewritten_log_is_alerted(app, smtp_sink) -> None:  # type: ignore[no-untyped-def]
    """A checkpoint the worker refuses to sign (the tree no longer extends the last one) is audited, and
    the security team hears of it with the reason."""
    start_alerts(app)
    with app.app_context():
        for number in range(3):
            append_event("cli:customer:created", actor=f"a{number}", now=utcnow())
        db.session.commit()
        integrate_all()
        assert run_checkpoints_when_due(0.0) > 0 and latest_checkpoint() is not None
        # Someone with the database rewrites a leaf of the tree and the state that sums it up.
        db.session.execute(update(AuditTreeNode).where(AuditTreeNode.level == 0).values(hash=b"\1" * 32))
        append_event("cli:customer:created", actor="later", now=utcnow())
        db.session.commit()
        integrate_all()
        run_checkpoints_when_due(0.0)
        refused = db.session.execute(
            select(AuditEvent).where(AuditEvent.action == "worker:audit:checkpoint_refused")
        ).scalar_one()
        assert "is not an extension of the last checkpoint" in json.loads(refused.data)["problem"]
    assert ("log_rewritten", 1) in run_alerts(app, utcnow())
    deliver(app)
    [message] = smtp_sink.to(TEAM[0])
    assert "is not an extension of the last checkpoint" in text_of(message)
    links_are_alike(message)


@alerting
def test_dry_run_changes_nothing(app, runner, tmp_path) -> None:  # type: ignore[no-untyped-def]
    start_alerts(app)
    reactivate_many(app, runner, tmp_path, 4)
    dry = runner.invoke(args=["alerts", "run", "--dry-run"])
    assert dry.exit_code == 0 and "new_incidents: 4" in dry.output and "would queue 1 alert" in dry.output
    assert count_rows(app, StaffAlert) == 0
    done = runner.invoke(args=["alerts", "run"])
    assert done.exit_code == 0 and "new_incidents: 4" in done.output and "queued 1 alert" in done.output
    again = runner.invoke(args=["alerts", "run"])
    assert "queued 0 alert" in again.output
    assert count_rows(app, StaffAlert) == 1
    assert count_rows(app, OutboxMessage, OutboxMessage.template == "staff_alert") == len(TEAM)


@alerting
def test_first_run_starts_at_the_head_of_the_log(app, runner, tmp_path) -> None:  # type: ignore[no-untyped-def]
    reactivate_many(app, runner, tmp_path, 3)  # before alerts were on: not news
    with app.app_context():
        assert collect_alerts(now=utcnow(), source="cli") == []
        db.session.commit()
    assert run_alerts(app, later(60)) == []
