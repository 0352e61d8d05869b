"""Audit actions come from one enumeration: a typo is an error where it is made (issue 12)."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from incident_service.audit.actions import Event, Source, UnknownAuditAction, tag
from incident_service.audit.models import AuditEvent
from incident_service.audit.service import append_event
from incident_service.database import utcnow
from incident_service.extensions import db


def test_tags_are_source_and_event() -> None:
    assert tag("web", Event.REPORT_RECEIVED) == "web:report:received"
    assert tag(Source.CONSOLE, Event.STAFF_CREATED) == "console:staff:created"
    with pytest.raises(ValueError):
        tag("webb", Event.REPORT_RECEIVED)


def test_a_misspelt_action_is_refused_before_it_reaches_the_log(app) -> None:  # type: ignore[no-untyped-def]
    with app.app_context():
        with pytest.raises(UnknownAuditAction):
            append_event("web:report:recieved", actor="x", now=utcnow())
        db.session.rollback()
        assert db.session.scalar(select(AuditEvent.id)) is None


def test_the_source_is_the_real_caller(app, runner) -> None:  # type: ignore[no-untyped-def]
    """Before, the CLI wrote console:staff:created and the dev seed cli:customer:created."""
    made = runner.invoke(
        args=["staff", "create", "lan@ecc.example", "--role", "support"],
        input="nhan vien ho tro mat khau rat dai 2026\n",
    )
    assert made.exit_code == 0, made.output
    with app.app_context():
        assert db.session.scalars(select(AuditEvent.action)).all() == ["cli:staff:created"]
