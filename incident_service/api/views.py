"""The JSON API's operations (/api/v1, docs/api.md): each parses with a schema, calls one service
function, audits as `api:<key name>`, commits once and answers with a schema."""

from __future__ import annotations

import base64
import binascii
import inspect
import json
from datetime import timedelta
from http import HTTPStatus
from typing import Any, Callable, TypeVar

from flask import current_app, request
from flask_smorest import Blueprint
from marshmallow import RAISE
from sqlalchemy import exists, func, or_, select
from sqlalchemy.orm import selectinload

from ..assessment.service import DiscoveryAfterReport
from ..audit.actions import Event, Source, tag
from ..audit.models import AuditEvent
from ..audit.service import append_event, event_details
from ..customers.addresses import InvalidAddress, normalize_address
from ..customers.models import Customer
from ..customers.service import (
    CustomerError,
    PasswordHashRefused,
    UnsupportedPasswordHash,
    find_customer,
    upsert_customer,
)
from ..database import utcnow
from ..disclosures.models import KIND_API_READ
from ..disclosures.service import Subject, record_disclosure
from ..extensions import db, limiter
from ..incidents.models import Incident, Report
from ..incidents.service import ReportSubmission, receive_report
from ..limits import setting
from ..notifications.service import customer_report_url
from ..problems import ApiProblem
from ..reports.export import report_json
from ..reports.service import DelayFilter, FilterError, build_delay_report
from .auth import current_key, rate_limit_bucket, require_json_body, require_key, requires
from .models import (
    SCOPE_CUSTOMERS_WRITE,
    SCOPE_EVENTS_READ,
    SCOPE_INCIDENTS_READ,
    SCOPE_LINKS_WRITE,
    SCOPE_REPORTS_READ,
    SCOPE_REPORTS_WRITE,
)
from .schemas import (
    CustomerIn,
    CustomerOut,
    DelayQuery,
    DelayReport,
    EventPage,
    EventQuery,
    IncidentOut,
    IncidentPage,
    IncidentQuery,
    ReportIn,
    ReportLinkOut,
    ReportOut,
)

bp = Blueprint(
    "api",
    __name__,
    url_prefix="/api/v1",
    description="Reports, incidents, customers, report links, audit events and the delay report.",
)
bp.before_request(require_json_body)
bp.before_request(require_key)
limiter.limit(setting("LIMIT_API_PER_KEY"), key_func=rate_limit_bucket)(bp)

F = TypeVar("F", bound=Callable[..., Any])

# Error answers every operation may give (problem details); 422 is added by each `arguments`.
COMMON_ERRORS = (401, 403, 429, 500, 503)
BODY_ERRORS = (400, 413, 415)


def documented(scope: str, *statuses: int) -> Callable[[F], F]:
    """The operation's security requirement and its error answers (problem details), in the OpenAPI document."""

    def decorator(view: F) -> F:
        for status in statuses:
            view = bp.alt_response(status, response=HTTPStatus(status).name)(view)
        # The docstring's first line is the summary; the rest, then the scope, its description.
        body = inspect.cleandoc(view.__doc__ or "").partition("\n\n")[2]
        description = f"{body}\n\nScope: `{scope}`." if body else f"Scope: `{scope}`."
        return bp.doc(security=[{"bearerAuth": [scope]}], summary=summary_of(view), description=description)(view)

    return decorator


def summary_of(view: Callable[..., Any]) -> str:
    return inspect.cleandoc(view.__doc__ or "").partition("\n")[0]


def problem(status: int, name: str, title: str, detail: str, **errors: list[str]) -> ApiProblem:
    return ApiProblem(status, name, title, detail, errors=errors or None)


def disclose(operation: str, subjects: list[Subject]) -> None:
    """Record in the disclosure register that the calling system read these customers' data: the recipient
    is the key's name, the purpose and legal basis those stated for the key (issue 16)."""
    key = current_key()
    record_disclosure(
        kind=KIND_API_READ,
        reference=operation,
        recipient=key.name,
        purpose=key.purpose or "",
        legal_basis=key.legal_basis,
        subjects=subjects,
        actor=key.actor,
        now=utcnow(),
        api_key_id=key.id,
    )


def _address_or_404(email: str) -> Customer:
    try:
        customer = find_customer(normalize_address(email))
    except InvalidAddress:
        customer = None
    if customer is None:
        raise problem(404, "unknown-customer", "Unknown customer", "No customer has this address.")
    return customer


# --- reports -------------------------------------------------------------------------------------------


@bp.route("/reports", methods=["POST"])
@documented(SCOPE_REPORTS_WRITE, *BODY_ERRORS, *COMMON_ERRORS)
@requires(SCOPE_REPORTS_WRITE)
@bp.arguments(
    ReportIn,
    example={
        "email": "khach.hang@example.com",
        "kind": "phished",
        "channel": "phone",
        "received_at": "2026-11-30T09:12:00+07:00",
        "discovered_at": "2026-11-29T20:00:00+07:00",
        "details": "Called after entering the password on a fake login page.",
    },
)
@bp.response(201, ReportOut)
def submit_report(body: dict[str, Any]) -> Any:
    """Submit a report for a customer

    Goes through the same path as every channel: stored, then (for a customer's address) the incident
    opened or joined, the password deactivated and the acknowledgement queued to the address on record,
    in one transaction. An address that is no customer's is kept as an unmatched report, nothing is sent,
    and the answer says `customer_found: false` (a system with a key is not an anonymous reporter)."""
    key, now = current_key(), utcnow()
    stated = body["received_at"]
    if stated is not None and stated > now:
        raise problem(422, "invalid-body", "Invalid body", "A time is not valid.", received_at=["Is in the future."])
    discovered = body["discovered_at"]
    if discovered is not None and discovered > (stated or now):
        raise problem(
            422,
            "discovery-after-report",
            "Discovery after the report",
            "The customer cannot have noticed after the report reached the company.",
            discovered_at=["Is after the time the report reached the company."],
        )
    try:
        report = receive_report(
            ReportSubmission(
                channel=body["channel"],
                address=body["email"].strip(),
                kind=body["kind"],
                details=body["details"].strip(),
                discovered_at=discovered,
                received_at=stated,
                received_at_source="staff_statement" if stated is not None else "server_clock",
                entered_by=key.actor,
                client_ip=request.remote_addr,
                user_agent=request.user_agent.string,
            ),
            now=now,
            actor=key.actor,
        )
    except DiscoveryAfterReport:  # checked above; the service checks again and has written nothing
        raise problem(422, "discovery-after-report", "Discovery after the report", "See discovered_at.") from None
    incident = report.incident
    db.session.commit()
    return {
        "reference": report.reference,
        "received_at": report.received_at,
        "received_at_source": report.received_at_source,
        "recorded_at": report.recorded_at,
        "customer_found": report.customer_id is not None,
        "joined_open_incident": incident is not None and incident.customer_reference != report.reference,
        "incident_reference": incident.reference if incident else None,
        "customer_reference": incident.customer_reference if incident else None,
    }


# --- incidents -----------------------------------------------------------------------------------------


def _encode_cursor(last_id: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"before": last_id}).encode()).decode().rstrip("=")


def _decode_cursor(cursor: str) -> int:
    try:
        value = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        before = value["before"]
    except (binascii.Error, ValueError, TypeError, KeyError):
        before = None
    if not isinstance(before, int) or isinstance(before, bool) or not 0 < before <= 2**31 - 1:
        raise problem(
            422,
            "invalid-cursor",
            "Invalid cursor",
            "Pass a next_cursor as it was given.",
            cursor=["Not a cursor of this list."],
        )
    return before


def _incident_dict(incident: Incident) -> dict[str, Any]:
    return {
        "reference": incident.reference,
        "customer_reference": incident.customer_reference,
        "customer_email": incident.customer.email,
        "status": incident.status,
        "lateness": incident.lateness,
        "opened_at": incident.opened_at,
        "first_received_at": incident.first_received_at,
        "first_channel": incident.first_channel,
        "effective_discovered_at": incident.effective_discovered_at,
        "reporting_delay_seconds": incident.reporting_delay_seconds,
        "late_threshold_hours": incident.late_threshold_hours,
        "resolved_at": incident.resolved_at,
        "closed_at": incident.closed_at,
        "personal_data_breach": incident.personal_data_breach,
        "reports": [
            {
                "reference": report.reference,
                "channel": report.channel,
                "kind": report.kind,
                "received_at": report.received_at,
                "received_at_source": report.received_at_source,
            }
            for report in incident.reports
        ],
    }


@bp.route("/incidents", methods=["GET"])
@documented(SCOPE_INCIDENTS_READ, 400, *COMMON_ERRORS)
@requires(SCOPE_INCIDENTS_READ)
@bp.arguments(IncidentQuery, location="query", as_kwargs=True, unknown=RAISE)
@bp.response(200, IncidentPage)
def list_incidents(limit: int, cursor: str | None = None, **filters: Any) -> Any:
    """List incidents, newest first

    Filters combine; `next_cursor` gives the next page (it stays valid while incidents are added)."""
    query = select(Incident).join(Customer, Incident.customer_id == Customer.id)
    if filters.get("status"):
        query = query.where(Incident.status == filters["status"])
    if filters.get("lateness"):
        query = query.where(Incident.lateness == filters["lateness"])
    if filters.get("channel"):
        query = query.where(exists().where(Report.incident_id == Incident.id, Report.channel == filters["channel"]))
    if filters.get("received_from") is not None:
        query = query.where(Incident.first_received_at >= filters["received_from"])
    if filters.get("received_to") is not None:
        query = query.where(Incident.first_received_at < filters["received_to"])
    if filters.get("email"):
        try:
            address = normalize_address(filters["email"])
        except InvalidAddress:  # checked by the schema
            address = ""
        query = query.where(Customer.email == address)
    if cursor:
        query = query.where(Incident.id < _decode_cursor(cursor))
    rows = list(
        db.session.execute(
            query.order_by(Incident.id.desc())
            .limit(limit + 1)
            .options(selectinload(Incident.reports), selectinload(Incident.customer))
        ).scalars()
    )
    page, more = rows[:limit], len(rows) > limit
    key = current_key()
    disclose("GET /api/v1/incidents", [(incident.customer_id, incident.id) for incident in page])
    append_event(
        tag(Source.API, Event.INCIDENTS_LISTED),
        actor=key.actor,
        now=utcnow(),
        data={
            "count": len(page),
            "filters": json.dumps({k: str(v) for k, v in filters.items() if v is not None}, sort_keys=True),
        },
    )
    db.session.commit()
    return {
        "items": [_incident_dict(incident) for incident in page],
        "next_cursor": _encode_cursor(page[-1].id) if more else None,
    }


@bp.route("/incidents/<string:reference>", methods=["GET"])
@documented(SCOPE_INCIDENTS_READ, 404, *COMMON_ERRORS)
@requires(SCOPE_INCIDENTS_READ)
@bp.response(200, IncidentOut)
def get_incident(reference: str) -> Any:
    """Read one incident

    By its reference (`INC-…`) or by any of its reports' (`RPT-…`, the one the customer quotes), as the
    console's search finds it."""
    needle = reference.strip().lower()[:64]
    incident = db.session.execute(
        select(Incident)
        .where(
            or_(
                func.lower(Incident.reference) == needle,
                exists().where(Report.incident_id == Incident.id, func.lower(Report.reference) == needle),
            )
        )
        .options(selectinload(Incident.reports), selectinload(Incident.customer))
    ).scalar_one_or_none()
    if incident is None:
        raise problem(404, "unknown-incident", "Unknown incident", "No incident has this reference.")
    disclose(f"GET /api/v1/incidents/{incident.reference}", [(incident.customer_id, incident.id)])
    append_event(
        tag(Source.API, Event.INCIDENT_VIEWED),
        actor=current_key().actor,
        now=utcnow(),
        customer_id=incident.customer_id,
        incident_id=incident.id,
        data={"reference": incident.reference},
    )
    db.session.commit()
    return _incident_dict(incident)


# --- customers -----------------------------------------------------------------------------------------


@bp.route("/customers/<string:email>", methods=["PUT"])
@documented(SCOPE_CUSTOMERS_WRITE, *BODY_ERRORS, 409, *COMMON_ERRORS)
@requires(SCOPE_CUSTOMERS_WRITE)
@bp.arguments(
    CustomerIn,
    example={
        "name": "Nguyễn Văn A",
        "locale": "vi",
        "password_hash": "$2b$12$iNmF1vVCMaWpVHCNnmgFieX2RsZTLAQ.TZC/MzWcVLMFjSRqivDRC",
    },
)
@bp.response(200, CustomerOut, description="Updated (or unchanged).")
@bp.alt_response(201, schema=CustomerOut, description="Created.", success=True)
def put_customer(body: dict[str, Any], email: str) -> Any:
    """Create or update a customer

    The address is the key and is never changed. Omitted or null fields stay as they are. A password hash
    from the company's current system is accepted in the formats of docs/api.md and re-hashed to argon2id
    when the customer next signs in; it is refused (409) for a customer whose password was reported."""
    key = current_key()
    try:
        customer, created = upsert_customer(
            email,
            name=body["name"],
            locale=body["locale"],
            password_hash=body["password_hash"],
            actor=key.actor,
            now=utcnow(),
            source=Source.API,
        )
    except UnsupportedPasswordHash as exc:
        db.session.rollback()
        raise problem(
            422, "unsupported-password-hash", "Unsupported password hash", str(exc), password_hash=[str(exc)]
        ) from None
    except PasswordHashRefused as exc:
        db.session.rollback()
        raise problem(409, "password-hash-refused", "Password hash refused", str(exc)) from None
    except CustomerError as exc:
        db.session.rollback()
        raise problem(422, "invalid-customer", "Invalid customer", str(exc)) from None
    answer = {"email": customer.email, "name": customer.name, "locale": customer.locale, "created": created}
    if not created:  # the answer carries what was on record (a name left out is the stored one)
        disclose(f"PUT /api/v1/customers/{{email}}: customer {customer.id}", [(customer.id, None)])
    db.session.commit()
    return answer, 201 if created else 200


@bp.route("/customers/<string:email>/report-link", methods=["POST"])
@documented(SCOPE_LINKS_WRITE, 404, 413, 415, *COMMON_ERRORS)
@requires(SCOPE_LINKS_WRITE)
@bp.response(201, ReportLinkOut)
def mint_report_link(email: str) -> Any:
    """Mint the customer's report link

    The signed "report a compromised password" link, for the calling system to put in its own emails to
    this customer, and when it stops working. The link is never stored or logged here."""
    customer = _address_or_404(email)
    now = utcnow()
    url = customer_report_url(customer)
    expires_at = now.replace(microsecond=0) + timedelta(days=int(current_app.config["REPORT_LINK_MAX_AGE_DAYS"]))
    append_event(
        tag(Source.API, Event.REPORT_LINK_ISSUED),
        actor=current_key().actor,
        now=now,
        customer_id=customer.id,
        data={"expires_at": expires_at.isoformat()},
    )
    db.session.commit()
    return {"url": url, "expires_at": expires_at}


# --- audit events and the delay report -----------------------------------------------------------------


@bp.route("/events", methods=["GET"])
@documented(SCOPE_EVENTS_READ, 400, *COMMON_ERRORS)
@requires(SCOPE_EVENTS_READ)
@bp.arguments(EventQuery, location="query", as_kwargs=True, unknown=RAISE)
@bp.response(200, EventPage)
def list_events(after: int, limit: int) -> Any:
    """Audit events in the log's order, from a position on (for SIEM polling)

    The log's order is its Merkle tree's (`leaf_index`): events appear here once the sequencer has
    integrated them, within seconds of their commit, and never later between two already read. Pass
    the answer's `next_after` as `after` next time. Each read is itself audited
    (`api:audit_events:read`), so a later poll finds the previous poll."""
    rows = list(
        db.session.execute(
            select(AuditEvent).where(AuditEvent.leaf_index >= after).order_by(AuditEvent.leaf_index).limit(limit)
        ).scalars()
    )
    items = [
        {
            "id": event.id,
            "occurred_at": event.occurred_at,
            "action": event.action,
            "actor": event.actor,
            "customer_id": event.customer_id,
            "incident_id": event.incident_id,
            "report_id": event.report_id,
            "data": event_details(event.data),
            "prev_hash": event.prev_hash,
            "hash": event.hash,
            "leaf_index": event.leaf_index,
        }
        for event in rows
    ]
    next_after = rows[-1].leaf_index + 1 if rows and rows[-1].leaf_index is not None else after
    disclose(
        f"GET /api/v1/events?after={after}: {len(rows)} events",
        [(event.customer_id, event.incident_id) for event in rows if event.customer_id is not None],
    )
    append_event(
        tag(Source.API, Event.AUDIT_EVENTS_READ),
        actor=current_key().actor,
        now=utcnow(),
        data={"after": after, "count": len(rows)},
    )
    db.session.commit()
    return {"items": items, "next_after": next_after}


@bp.route("/reports/delay", methods=["GET"])
@documented(SCOPE_REPORTS_READ, 400, *COMMON_ERRORS)
@requires(SCOPE_REPORTS_READ)
@bp.arguments(DelayQuery, location="query", as_kwargs=True, unknown=RAISE)
@bp.response(200, DelayReport)
def delay_report(**given: Any) -> Any:
    """The delay report

    The numbers of the console's delay report and `flask reports delay --format json`, from the same
    builder: summary, month by month (display time zone), histogram."""
    values = {
        ("from" if name == "from_" else name): (str(value) if value is not None else None)
        for name, value in given.items()
    }
    try:
        filters = DelayFilter.parse(values, strict=True)
    except FilterError as exc:
        raise problem(422, "invalid-filter", "Invalid filter", str(exc)) from None
    report = json.loads(report_json(build_delay_report(filters)))
    append_event(
        tag(Source.API, Event.DELAY_REPORT_READ), actor=current_key().actor, now=utcnow(), data=filters.args() or None
    )
    db.session.commit()
    return report
