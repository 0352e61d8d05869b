"""`flask intake import` (Maildir, mbox, .eml) and `flask intake quarantine`."""

from __future__ import annotations

import mailbox
import shutil
from pathlib import Path

from sqlalchemy import func, select

from incident_service.extensions import db
from incident_service.incidents.models import Incident, Report
from incident_service.intake.models import InboundMessage
from tests.helpers import make_customer

CORPUS = Path(__file__).parent / "corpus"


def count(app, model) -> int:  # type: ignore[no-untyped-def]
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(model))


def test_maildir_twice_gives_no_duplicates(app, runner, customer_id, tmp_path) -> None:  # type: ignore[no-untyped-def]
    box = mailbox.Maildir(str(tmp_path / "Maildir"), create=True)
    names = ["plain.eml", "alternative.eml", "unknown_sender.eml", "auto_reply.eml", "spoof_bidi.eml"]
    for name in names:
        box.add((CORPUS / name).read_bytes())
    first = runner.invoke(args=["intake", "import", str(tmp_path / "Maildir")])
    assert first.exit_code == 0, first.output
    assert "imported 5 messages" in first.output
    assert "1 not a report" in first.output and "1 quarantined" in first.output and "3 reported" in first.output
    second = runner.invoke(args=["intake", "import", str(tmp_path / "Maildir")])
    assert second.exit_code == 0 and "5 already stored" in second.output
    assert count(app, InboundMessage) == 5 and count(app, Report) == 3 and count(app, Incident) == 1


def test_mbox_of_1000_messages_shows_progress_and_finishes(app, runner, tmp_path) -> None:  # type: ignore[no-untyped-def]
    for n in range(5):
        make_customer(app, f"c{n}@example.com", password=None)
    path = tmp_path / "export.mbox"
    box = mailbox.mbox(str(path), create=True)
    for n in range(1000):
        box.add(
            f"From: c{n % 7}@example.com\nTo: security@ecc.example\nSubject: report {n}\n"
            f"Message-ID: <m{n}@example.com>\nDate: Mon, 23 Nov 2026 10:{n % 60:02d}:00 +0700\n\nleaked {n}\n"
        )
    box.close()
    result = runner.invoke(args=["intake", "import", str(path)])
    assert result.exit_code == 0, result.output
    assert "Importing: 100/1000" in result.output and "Importing: 1000/1000" in result.output  # progress
    assert "imported 1000 messages: 1000 reported" in result.output
    assert count(app, InboundMessage) == 1000 and count(app, Report) == 1000
    assert count(app, Incident) == 5  # one per known customer; c5 and c6 are unknown


def test_company_mta_received_time_is_used(app, runner, customer_id, tmp_path) -> None:  # type: ignore[no-untyped-def]
    shutil.copy(CORPUS / "plain.eml", tmp_path / "a.eml")
    shutil.copy(CORPUS / "alternative.eml", tmp_path / "b.eml")
    result = runner.invoke(args=["intake", "import", str(tmp_path)])
    assert result.exit_code == 0, result.output
    with app.app_context():
        by_file = {m.import_source.rsplit("/", 1)[1]: m for m in db.session.execute(select(InboundMessage)).scalars()}
        plain, alternative = by_file["a.eml"], by_file["b.eml"]
        # plain.eml was received by mx.ecc.example at 09:15:02 +07:00; alternative.eml has no such hop.
        assert plain.received_at_source == "company_mta"
        assert plain.received_at.isoformat() == "2026-11-24T02:15:02+00:00"
        assert alternative.received_at_source == "import_time"
        reports = {r.inbound_message_id: r for r in db.session.execute(select(Report)).scalars()}
        assert reports[plain.id].received_at == plain.received_at
        assert reports[plain.id].received_at_source == "company_mta"
        incident = db.session.execute(select(Incident)).scalar_one()
        assert incident.first_received_at == plain.received_at  # the earlier report counts


def test_single_eml_file(app, runner, customer_id) -> None:  # type: ignore[no-untyped-def]
    result = runner.invoke(args=["intake", "import", str(CORPUS / "html_only.eml")])
    assert result.exit_code == 0 and "1 reported" in result.output


def test_bad_paths_are_named(runner, tmp_path) -> None:  # type: ignore[no-untyped-def]
    missing = runner.invoke(args=["intake", "import", str(tmp_path / "nope")])
    assert missing.exit_code != 0 and "no such file or folder" in missing.output.lower()
    (tmp_path / "empty").mkdir()
    empty = runner.invoke(args=["intake", "import", str(tmp_path / "empty")])
    assert empty.exit_code != 0 and "neither a Maildir nor holds .eml files" in empty.output
    assert "Traceback" not in missing.output + empty.output


def test_quarantine_lists_kept_messages(app, runner, tmp_path) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "nul.eml").write_bytes(b"From: an@example.com\nSubject: x\n\nbad\x00byte\n")
    shutil.copy(CORPUS / "spoof_bidi.eml", tmp_path / "bidi.eml")
    runner.invoke(args=["intake", "import", str(tmp_path)])
    listing = runner.invoke(args=["intake", "quarantine"])
    assert listing.exit_code == 0
    assert "nul_bytes" in listing.output and "no_sender" in listing.output
    assert "2 quarantined" in listing.output
