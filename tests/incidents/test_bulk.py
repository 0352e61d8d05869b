"""The set-based opening of incidents gives each customer exactly what a report opening one gives."""

from __future__ import annotations

import json
import re

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from incident_service.audit.models import AuditEvent
from incident_service.audit.service import verify_chain
from incident_service.customers.models import Customer
from incident_service.database import utcnow
from incident_service.extensions import db
from incident_service.incidents import breach, bulk
from incident_service.incidents.bulk import open_incidents, openings_for
from incident_service.incidents.models import Incident, Report
from incident_service.incidents.service import ReportSubmission, receive_report, report_year
from incident_service.notifications.emails import acknowledgement_links
from incident_service.notifications.models import OutboxMessage
from incident_service.notifications.service import Ref, customer_email_parts, pending_render
from incident_service.reactivation.models import ResetGrant
from incident_service.tokens import reset_link
from tests.helpers import PASSWORD, deliver, links_in, make_customer, path_of, submit

SKIP = {
    "id",
    "reference",
    "customer_reference",  # an id-bearing reference: checked to be the opening report's in test_service
    "customer_id",
    "incident_id",
    "claimed_address",
    "address_normalized",
    "message_id",
    "grant_id_hash",
    "to_address",
}


def columns(row: object) -> dict[str, object]:
    return {c.name: getattr(row, c.key) for c in row.__table__.columns if c.name not in SKIP}  # type: ignore[attr-defined]


def shape(pending: str) -> str:
    """A queued email's render instructions with the ids, secrets and stamps taken out."""
    return re.sub(r'("id"|"c"|"i"|"g"|"s"):("[^"]*"|\d+)', r"\1:_", pending)


def state_of(customer_id: int) -> dict[str, object]:
    one = lambda model: db.session.execute(select(model).where(model.customer_id == customer_id)).scalar_one()  # noqa: E731
    events = (
        db.session.execute(
            select(AuditEvent)
            .where(AuditEvent.customer_id == customer_id, AuditEvent.action.like("breach_list:%"))
            .order_by(AuditEvent.id)
        )
        .scalars()
        .all()
    )
    outbox = one(OutboxMessage)
    return {
        "report": columns(one(Report)),
        "incident": columns(one(Incident)),
        "grant": columns(one(ResetGrant)),
        "outbox": {**columns(outbox), "pending": shape(outbox.pending)},
        "credential": db.session.get(Customer, customer_id).credential_state,
        "events": [
            (e.action, e.incident_id is not None, e.report_id is not None, sorted(json.loads(e.data))) for e in events
        ],
    }


def test_bulk_opening_equals_a_report_opening(app, smtp_sink) -> None:  # type: ignore[no-untyped-def]
    one = make_customer(app, "mot@example.com")
    many = make_customer(app, "nhieu@example.com")
    with app.app_context():
        stamp_before = db.session.get(Customer, many).security_stamp
        now = utcnow()
        receive_report(
            ReportSubmission(
                channel="breach_list", address="mot@example.com", kind="leaked", details="leak", entered_by="cli"
            ),
            now=now,
            actor="cli",
        )
        open_incidents(
            list(openings_for(["nhieu@example.com"]).values()),
            channel="breach_list",
            kind="leaked",
            details="leak",
            actor="cli",
            now=now,
            year=report_year(now),
        )
        db.session.commit()
        single, bulk = state_of(one), state_of(many)
        assert db.session.get(Customer, many).security_stamp != stamp_before
        assert verify_chain().ok
    assert single == bulk
    assert [action for action, *_ in bulk["events"]] == [
        "breach_list:report:received",
        "breach_list:incident:opened",
        "breach_list:credential:locked",
        "breach_list:sessions:revoked",
        "breach_list:reset_grant:issued",
        "breach_list:email:queued",
    ]

    # The acknowledgement reaches the address on record; its link sets a new password, once.
    deliver(app)
    message = smtp_sink.to("nhieu@example.com")[0]
    assert re.search(r"RPT-\d{4}-\d{6}", message.get_body(("plain",)).get_content())  # type: ignore[union-attr]
    client = app.test_client()
    client.get(path_of(links_in(message)["reset"]))
    answer = submit(
        client, "/reset", {"password": "mot-hai-ba-bon-nam-sau-bay", "password_confirm": "mot-hai-ba-bon-nam-sau-bay"}
    )
    assert answer.status_code == 200
    assert submit(app.test_client(), "/login", {"email": "nhieu@example.com", "password": PASSWORD}).status_code != 302


def test_bulk_opening_refuses_a_customer_with_an_open_incident(app) -> None:  # type: ignore[no-untyped-def]
    make_customer(app, "an@example.com")
    submit(app.test_client(), "/report", {"email": "an@example.com", "kind": "lost"})
    with app.app_context():
        now = utcnow()
        with pytest.raises(IntegrityError):
            with db.session.begin_nested():
                open_incidents(
                    list(openings_for(["an@example.com"]).values()),
                    channel="breach_list",
                    kind="leaked",
                    details="leak",
                    actor="cli",
                    now=now,
                    year=report_year(now),
                )
        assert db.session.scalar(select(Incident.id).where(Incident.status == "reactivated")) is not None


def test_a_report_racing_the_list_is_joined_not_duplicated(app, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """A report that opens an incident between the list's check and its insert: the unique index
    refuses the batch, which is then taken one by one and joins that incident (R2)."""
    for name in ("an", "binh"):
        make_customer(app, f"{name}@example.com")
    submit(app.test_client(), "/report", {"email": "an@example.com", "kind": "lost"})
    monkeypatch.setattr(breach, "with_open_incident", lambda ids: set())  # the check that the race beats
    with app.app_context():
        outcome = breach.mass_reactivate(
            [(1, "an@example.com"), (2, "binh@example.com")], key="leak", dry_run=False, actor="cli", now=utcnow()
        )
        assert outcome.reactivated == ["an@example.com", "binh@example.com"]
        incidents = db.session.execute(select(Incident.customer_id)).scalars().all()
        assert sorted(incidents) == [1, 2]  # one each: an's report joined the incident it had
        assert (
            db.session.scalar(
                select(Report.incident_id).where(Report.channel == "breach_list", Report.customer_id == 1)
            )
            is not None
        )
        assert verify_chain().ok


@pytest.mark.parametrize(
    ("locale", "zone", "secret", "stamp"),
    [
        ("vi", "Asia/Ho_Chi_Minh", "AbC-_09xyz", "0f" * 16),
        ("en", 'Zone "quoted" \\ Hà Nội', "secret~with~tildes", "~stamp~"),  # escapes, and the stand-ins' own marks
    ],
)
def test_render_instructions_are_pending_renders_own(app, locale: str, zone: str, secret: str, stamp: str) -> None:  # type: ignore[no-untyped-def]
    """The acknowledgement's render instructions, joined from pieces, are exactly what pending_render
    writes for the same values (what receive_report queues)."""
    support = 'Hỗ trợ "24/7" \\ ☎ (028) 3822 0000'
    with app.app_context():
        joined = bulk._acknowledgement_pending(support)
        for customer, incident, report, grant in [(1, 2, 3, 4), (123456, 7, 99999999, 1)]:
            zone_used, context, links = customer_email_parts(
                Ref("Customer", customer),
                customer,
                zone,
                {
                    "incident": Ref("Incident", incident),
                    "report": Ref("Report", report),
                    "grant": Ref("ResetGrant", grant),
                    "support_contact": support,
                },
                acknowledgement_links(customer, incident, reset_link(customer, secret, stamp)),
            )
            expected = pending_render(locale=locale, zone=zone_used, context=context, links=links)
            assert joined(locale, zone, customer, incident, report, grant, secret, stamp) == expected


@pytest.mark.real_commits
def test_a_mass_reactivation_locks_its_customers_first_as_a_report_does(app) -> None:  # type: ignore[no-untyped-def]
    """On PostgreSQL a batch that opened incidents before locking its customers deadlocked with a report
    for one of them (the report locks the customer, then opens). The batch now takes its customers'
    rows first: a report for one of them waits for the batch, and nothing is aborted."""
    import threading

    from sqlalchemy import text

    with app.app_context():
        if db.engine.dialect.name != "postgresql":
            pytest.skip("row locks are PostgreSQL's; SQLite has one writer at a time")
    make_customer(app, "an@example.com")
    with app.app_context():
        locked = openings_for(["an@example.com"], lock=True)  # the batch's transaction stays open
        assert list(locked) == ["an@example.com"]
        outcome: list[str] = []

        def report() -> None:
            with app.app_context():
                db.session.execute(text("SET lock_timeout = '300ms'"))
                try:
                    receive_report(ReportSubmission(channel="web", address="an@example.com", kind="lost"), now=utcnow())
                    db.session.commit()
                    outcome.append("reported")
                except Exception as error:  # noqa: BLE001 - the lock timeout is what the test looks for
                    db.session.rollback()
                    outcome.append(type(error).__name__)

        thread = threading.Thread(target=report)
        thread.start()
        thread.join(timeout=30)
        assert outcome == ["OperationalError"]  # it waited for the batch's lock on the customer
        db.session.rollback()
    thread = threading.Thread(target=report)
    thread.start()
    thread.join(timeout=30)
    assert outcome[-1] == "reported"  # and goes through once the batch is done


def test_a_report_row_is_written_with_every_column_of_reports() -> None:
    """bulk.REPORT_COLUMNS is every column a report is written with, by the bulk path and by
    receive_report's one INSERT (incidents.service._written_report): a column added to `reports` and not
    here would be written only with a fixed default, and a computed one as NULL."""
    assert sorted(bulk.REPORT_COLUMNS) == sorted(column.name for column in Report.__table__.columns)


def test_render_instructions_are_built_once_per_app_and_support_contact(app) -> None:  # type: ignore[no-untyped-def]
    """The acknowledgement's pieces are built once (not under every report's write lock), and a
    different support contact gets its own."""
    with app.app_context():
        first = bulk._acknowledgement_pending_of_app("Hỗ trợ 1")
        assert bulk._acknowledgement_pending_of_app("Hỗ trợ 1") is first
        other = bulk._acknowledgement_pending_of_app("Hỗ trợ 2")
        values = ("vi", "Asia/Ho_Chi_Minh", 1, 2, 3, 4, "secret", "0f" * 16)
        assert other(*values) == bulk._acknowledgement_pending("Hỗ trợ 2")(*values) != first(*values)
