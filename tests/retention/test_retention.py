"""Retention: personal data past its period is emptied (with a tombstone), an incident under a legal hold and
an open incident keep theirs, `flask audit verify` still passes, and a pack made afterwards verifies and
says what was removed. Erasure on request keeps the proof of each report and what a hold keeps."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select, update

from incident_service.audit.checkpoint import make_checkpoint, service_public_key
from incident_service.audit.models import AuditEvent, AuditRedaction, AuditTreeNode
from incident_service.audit.sequencer import integrate_all
from incident_service.audit.service import append_event, event_hash
from incident_service.customers.models import Customer
from incident_service.database import utcnow
from incident_service.extensions import db
from incident_service.incidents.models import STATUS_REACTIVATED, STATUS_RESOLVED, Incident, Report
from incident_service.intake.models import InboundMessage
from incident_service.intake.service import Envelope, ingest_message
from incident_service.packs.service import pack_archive
from incident_service.packs.verify import verify_pack
from incident_service.retention import cli as retention_cli
from incident_service.retention.erasure import erase_customer
from incident_service.retention.models import LegalHold, Tombstone
from incident_service.retention.service import HoldError, place_hold, release_hold, run_retention
from tests.helpers import make_customer, submit

YEARS_AGO = timedelta(days=4 * 365)


def email_report(app: Flask, address: str, text: str) -> None:
    raw = (
        f"From: {address}\r\nTo: security@ecc.example\r\nSubject: mat khau bi lo\r\n"
        f"Message-ID: <{address}.{time.monotonic_ns()}@mail.example>\r\n"
        f"Date: Mon, 30 Nov 2026 08:00:00 +0700\r\n\r\n{text}\r\n"
    ).encode()
    with app.app_context():
        ingest_message(raw, envelope=Envelope(mail_from=address, peer="203.0.113.9:40000"), via="lmtp", now=utcnow())
        db.session.commit()


def customer_with_history(app: Flask, address: str) -> int:
    """A customer who emailed a report and filled in the web form (details, IP), whose incident is settled
    four years ago; returns the incident id."""
    make_customer(app, address)
    email_report(app, address, f"My password for {address} was stolen.")
    submit(app.test_client(), "/report", {"email": address, "kind": "stolen", "details": "Typed on a fake page."})
    with app.app_context():
        incident = db.session.execute(
            select(Incident).join(Customer, Customer.id == Incident.customer_id).where(Customer.email == address)
        ).scalar_one()
        return incident.id


def age(app: Flask, incident_id: int, *, settled: bool = True) -> None:
    """Move everything of the incident four years back, and settle it (resolved) then, unless not. Its
    audit events, not yet in the tree, are rewritten as if written then (their hashes with them)."""
    then = utcnow() - YEARS_AGO
    with app.app_context():
        reports = select(Report.id).where(Report.incident_id == incident_id)
        messages = select(Report.inbound_message_id).where(Report.incident_id == incident_id)
        db.session.execute(update(Report).where(Report.id.in_(reports)).values(received_at=then))
        db.session.execute(update(InboundMessage).where(InboundMessage.id.in_(messages)).values(received_at=then))
        message_ids = [str(i) for i in db.session.execute(messages).scalars() if i is not None]
        events = db.session.execute(select(AuditEvent).where(AuditEvent.leaf_index.is_(None))).scalars().all()
        for event in events:
            about_a_message = any(f'"inbound_message":{i}' in event.data for i in message_ids)
            if event.incident_id != incident_id and not about_a_message:
                continue
            assert event.prev_hash == ""
            event.occurred_at = then
            event.hash = event_hash(
                "", then, event.action, event.actor, event.customer_id, event.incident_id, event.report_id, event.data
            )
        if settled:
            db.session.execute(
                update(Incident).where(Incident.id == incident_id).values(status=STATUS_RESOLVED, resolved_at=then)
            )
        db.session.commit()


def state(app: Flask, incident_id: int) -> dict[str, Any]:
    with app.app_context():
        report = db.session.execute(
            select(Report).where(Report.incident_id == incident_id, Report.channel == "web")
        ).scalar_one()
        message = db.session.execute(
            select(InboundMessage)
            .join(Report, Report.inbound_message_id == InboundMessage.id)
            .where(Report.incident_id == incident_id)
        ).scalar_one()
        return {
            "details": report.details,
            "client_ip": report.client_ip,
            "raw": bytes(message.raw),
            "subject": message.subject,
            "peer": message.peer,
            "sha256": message.sha256,
            "reference": report.reference,
        }


@pytest.fixture
def two_settled(app: Flask) -> tuple[int, int]:
    first, second = customer_with_history(app, "an@example.com"), customer_with_history(app, "binh@example.com")
    age(app, first)
    age(app, second)
    with app.app_context():
        integrate_all()
    return first, second


def test_data_past_its_period_is_emptied_and_a_held_incident_keeps_everything(
    app: Flask, runner, two_settled: tuple[int, int]
) -> None:  # type: ignore[no-untyped-def]
    purged, held = two_settled
    before = state(app, held)
    with app.app_context():
        incident = db.session.get(Incident, held)
        assert incident is not None
        place_hold(
            incident,
            reason="Dispute with the customer, letter of 2 Dec",
            source="console",
            actor="legal@x",
            now=utcnow(),
        )
        db.session.commit()
    dry = runner.invoke(args=["retention", "run", "--dry-run"])
    assert dry.exit_code == 0 and "would empty" in dry.output and "raw_email" in dry.output
    assert state(app, purged)["raw"]  # the dry run changed nothing
    done = runner.invoke(args=["retention", "run"])
    assert done.exit_code == 0, done.output
    after = state(app, purged)
    assert (after["raw"], after["subject"], after["details"], after["client_ip"], after["peer"]) == (
        b"",
        None,
        "",
        None,
        None,
    )
    assert after["sha256"] and after["reference"]  # what proves the report stays
    assert state(app, held) == before  # the legal hold kept everything
    with app.app_context():
        tombstones = db.session.execute(select(Tombstone).where(Tombstone.incident_id == purged)).scalars().all()
        assert {t.rule for t in tombstones} == {"raw_email", "free_text", "ip_address"}
        assert all(t.purged_at and t.fields for t in tombstones)
        assert db.session.execute(select(Tombstone).where(Tombstone.incident_id == held)).first() is None
        redacted = db.session.execute(select(AuditRedaction)).scalars().all()
        assert redacted  # the IP and addresses in the incident's audit events
        for redaction in redacted:
            event = db.session.get(AuditEvent, redaction.event_id)
            assert event is not None and event.incident_id != held
            data = json.loads(event.data)
            assert all(data[field].startswith("[removed: ") for field in redaction.fields)
        actions = set(db.session.execute(select(AuditEvent.action)).scalars())
        assert {"cli:retention:purged", "cli:audit:events_redacted"} <= actions
        integrate_all()
    # The log still verifies, every leaf and every proof, the removed events by their recorded leaf hashes.
    verified = runner.invoke(args=["audit", "verify"])
    assert verified.exit_code == 0, verified.output
    # Nothing is due twice.
    again = runner.invoke(args=["retention", "run"])
    assert "emptied 0 rows" in again.output


def test_a_pack_made_after_a_purge_verifies_and_says_what_was_removed(
    app: Flask, runner, two_settled: tuple[int, int], tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    purged, _other = two_settled
    with app.app_context():
        run_retention(source="cli", now=utcnow())
        db.session.commit()
        integrate_all()
        make_checkpoint(utcnow())
        db.session.commit()
        incident = db.session.get(Incident, purged)
        assert incident is not None
        data = pack_archive(incident, actor="legal@x", now=utcnow())
        key = service_public_key()
    result = verify_pack(data, public_key=key)
    assert result.problems == [] and result.unproved == [], result.problems
    facts = "\n".join(result.facts)
    assert "raw email of RPT-" in facts and "removed on" in facts and "'raw_email'" in facts
    assert "had personal data removed after they entered the log" in facts
    import io
    import zipfile

    archive = zipfile.ZipFile(io.BytesIO(data))
    document = json.loads(archive.read("evidence.json"))
    emails = [report["email"] for report in document["reports"] if report.get("email")]
    assert emails and all(email["file"] is None and email["removed"] for email in emails)
    assert not [name for name in archive.namelist() if name.endswith(".eml")]
    redacted = [event for event in document["audit_events"] if event.get("redacted")]
    entries = [entry for entry in document["log"]["events"] if entry["leaf"] is None]
    assert redacted and len(entries) == len(redacted)
    assert all(entry["inclusion_proof"] is not None for entry in entries)
    # The expert's script printed in docs/evidence.md proves it too, removed content and all.
    doc = (Path(__file__).parents[2] / "docs" / "evidence.md").read_text(encoding="utf-8")
    script = next(
        body
        for kind, body in re.findall(r"^```(\w*)\n(.*?)^```$", doc, flags=re.DOTALL | re.MULTILINE)
        if kind == "python" and body.startswith("# verify_by_hand.py")
    )
    (tmp_path / "verify_by_hand.py").write_text(script, encoding="utf-8")
    (tmp_path / "pack.zip").write_bytes(data)
    checked = subprocess.run(
        [sys.executable, "verify_by_hand.py", "pack.zip", key],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert checked.returncode == 0 and checked.stdout.startswith("OK: "), checked.stderr


def test_an_open_incident_is_never_due(app: Flask) -> None:
    incident_id = customer_with_history(app, "an@example.com")
    age(app, incident_id, settled=False)
    with app.app_context():
        integrate_all()
        assert db.session.get(Incident, incident_id).status == STATUS_REACTIVATED  # type: ignore[union-attr]
        run_retention(source="cli", now=utcnow())
        db.session.commit()
    assert state(app, incident_id)["raw"] and state(app, incident_id)["details"]


@pytest.mark.settings(
    RETENTION_RAW_EMAIL_DAYS=0,
    RETENTION_FREE_TEXT_DAYS=0,
    RETENTION_IP_ADDRESS_DAYS=0,
    RETENTION_CLOSED_INCIDENT_DAYS=0,
)
def test_zero_days_keeps_for_ever(app: Flask, runner, two_settled: tuple[int, int]) -> None:  # type: ignore[no-untyped-def]
    before = state(app, two_settled[0])
    output = runner.invoke(args=["retention", "run"]).output
    assert output.count("kept for ever (0 days)") == 4 and state(app, two_settled[0]) == before


def test_holds_need_a_reason_and_are_released_on_record(app: Flask) -> None:
    incident_id = customer_with_history(app, "an@example.com")
    with app.app_context():
        incident = db.session.get(Incident, incident_id)
        assert incident is not None
        with pytest.raises(HoldError) as empty:
            place_hold(incident, reason="  ", source="console", actor="legal@x", now=utcnow())
        assert empty.value.code == "empty_reason"
        hold = place_hold(incident, reason="Court order 12/2026", source="console", actor="legal@x", now=utcnow())
        with pytest.raises(HoldError) as twice:
            place_hold(incident, reason="again", source="console", actor="legal@x", now=utcnow())
        assert twice.value.code == "already_held"
        release_hold(hold, reason="Case settled", source="console", actor="legal@y", now=utcnow())
        with pytest.raises(HoldError) as released:
            release_hold(hold, reason="again", source="console", actor="legal@y", now=utcnow())
        assert released.value.code == "released"
        db.session.commit()
        row = db.session.execute(select(LegalHold)).scalar_one()
        assert (row.released_by, row.release_reason) == ("legal@y", "Case settled")
        actions = list(
            db.session.execute(select(AuditEvent.action).where(AuditEvent.incident_id == incident_id)).scalars()
        )
        assert "console:legal_hold:placed" in actions and "console:legal_hold:released" in actions


def test_erasure_keeps_the_proof_and_what_a_hold_keeps(app: Flask, runner) -> None:  # type: ignore[no-untyped-def]
    first = customer_with_history(app, "an@example.com")
    with app.app_context():
        integrate_all()
        incident = db.session.get(Incident, first)
        assert incident is not None
        customer_id = incident.customer_id
        db.session.execute(
            update(Incident).where(Incident.id == first).values(status=STATUS_RESOLVED, resolved_at=utcnow())
        )
        db.session.commit()
    email_report(app, "an@example.com", "Again: my new password leaked too.")  # a second incident
    with app.app_context():
        second = db.session.execute(
            select(Incident.id).where(Incident.customer_id == customer_id, Incident.id != first)
        ).scalar_one()
        place_hold(
            db.session.get(Incident, second), reason="Police request", source="console", actor="legal@x", now=utcnow()
        )
        db.session.commit()
        integrate_all()
        outcome = erase_customer(customer_id, reason="Customer asked", actor="legal@x", now=utcnow())
        db.session.commit()
        assert outcome.reports == 2 and outcome.messages == 1 and outcome.held
        assert any("tạm giữ pháp lý" in line for line in outcome.kept)  # in her language: a hold keeps the second
        assert any("SHA-256" in line for line in outcome.kept)
        customer = db.session.get(Customer, customer_id)
        assert customer is not None and customer.name == "" and customer.email == "an@example.com"
        held_message = db.session.execute(
            select(InboundMessage)
            .join(Report, Report.inbound_message_id == InboundMessage.id)
            .where(Report.incident_id == second)
        ).scalar_one()
        assert held_message.raw  # kept by the hold
        integrate_all()
    assert state(app, first)["raw"] == b"" and state(app, first)["reference"]
    assert runner.invoke(args=["audit", "verify"]).exit_code == 0


def test_erasure_sentences_are_in_the_customers_language(app: Flask) -> None:
    make_customer(app, "binh@example.com", locale="vi")
    with app.app_context():
        customer = db.session.execute(select(Customer).where(Customer.email == "binh@example.com")).scalar_one()
        outcome = erase_customer(customer.id, reason="Yêu cầu", actor="legal@x", now=utcnow())
        assert outcome.erased == ["Họ tên của bạn."]
        assert any("Địa chỉ email đã đăng ký" in line for line in outcome.kept)


def test_the_worker_applies_the_rules_once_a_day(app: Flask, two_settled: tuple[int, int], monkeypatch) -> None:  # type: ignore[no-untyped-def]
    with app.app_context():
        later = retention_cli.time.monotonic() + 1000
        assert retention_cli.run_retention_when_due(later) == later  # not yet
        assert state(app, two_settled[0])["raw"]
        monkeypatch.setattr(retention_cli.time, "monotonic", lambda: 5000.0)
        assert retention_cli.run_retention_when_due(0.0) == 5000.0 + retention_cli.WORKER_INTERVAL_SECONDS
    assert state(app, two_settled[0])["raw"] == b""


def test_a_later_rule_removes_more_from_an_event_already_redacted(app: Flask, runner) -> None:  # type: ignore[no-untyped-def]
    """The IP rule removes `ip` first; an erasure later removes the addresses the same event holds."""
    make_customer(app, "an@example.com")
    with app.app_context():
        customer = db.session.execute(select(Customer).where(Customer.email == "an@example.com")).scalar_one()
        append_event(
            "web:email_change:requested",
            actor="customer",
            now=utcnow() - YEARS_AGO,
            customer_id=customer.id,
            data={"new_address": "an.new@example.com", "ip": "203.0.113.7"},
        )
        db.session.commit()
        integrate_all()
        run_retention(source="cli", now=utcnow())
        db.session.commit()
        event = db.session.execute(
            select(AuditEvent).where(AuditEvent.action == "web:email_change:requested")
        ).scalar_one()
        assert "203.0.113.7" not in event.data and "an.new@example.com" in event.data
        erase_customer(customer.id, reason="Asked", actor="legal@x", now=utcnow())
        db.session.commit()
        db.session.refresh(event)
        assert "an.new@example.com" not in event.data
        redaction = db.session.get(AuditRedaction, event.id)
        assert redaction is not None and redaction.fields == ["ip", "new_address"] and redaction.rule == "erasure"
        integrate_all()
    assert runner.invoke(args=["audit", "verify"]).exit_code == 0


def test_a_redaction_row_added_by_hand_does_not_excuse_a_changed_event(app: Flask, runner) -> None:  # type: ignore[no-untyped-def]
    make_customer(app, "an@example.com")
    with app.app_context():
        integrate_all()
        event = db.session.execute(select(AuditEvent).order_by(AuditEvent.id).limit(1)).scalar_one()
        leaf = db.session.execute(
            select(AuditTreeNode.hash).where(AuditTreeNode.level == 0, AuditTreeNode.index == event.leaf_index)
        ).scalar_one()
        event.actor = "someone else"
        db.session.add(
            AuditRedaction(
                event_id=event.id,
                leaf_index=event.leaf_index,
                leaf_hash=bytes(leaf).hex(),
                fields=["actor"],
                rule="erasure",
                redacted_at=utcnow(),
            )
        )
        db.session.commit()
    result = runner.invoke(args=["audit", "verify"])
    assert result.exit_code == 1 and "was changed" in result.output
