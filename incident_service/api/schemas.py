"""The API's request and response bodies as marshmallow schemas: they validate what comes in (unknown
fields refused) and are what the OpenAPI document describes, so the two cannot disagree."""

from __future__ import annotations

from datetime import date, datetime, timezone
from typing import Any

from marshmallow import Schema, ValidationError, fields, validate

from ..customers.addresses import InvalidAddress, normalize_address
from ..incidents.models import KINDS, LATENESS_LATE, LATENESS_ON_TIME, LATENESS_UNKNOWN, STATUSES

# Channels another system may report through: the ones staff would otherwise type into the console,
# and `api` for a report the calling system received itself (its own form, its own app).
API_CHANNELS = ("api", "phone", "fax", "post", "in_person")
ALL_CHANNELS = ("web", "email", "phone", "fax", "post", "in_person", "api", "breach_list")
LATENESS = (LATENESS_ON_TIME, LATENESS_LATE, LATENESS_UNKNOWN)
EARLIEST = datetime(1970, 1, 1, tzinfo=timezone.utc)
# Days a filter may name: far-off ones would overflow when turned into UTC bounds (year 1 less 7 hours).
FIRST_DAY, LAST_DAY = date(1970, 1, 1), date(2999, 12, 31)
MAX_PAGE = 100


def utc_text(moment: datetime) -> str:
    """RFC 3339 in UTC with `Z`, as every time the API returns."""
    return moment.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


class UtcDateTime(fields.AwareDateTime):
    """RFC 3339 with an offset in (a time without one is refused); UTC with `Z` out."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(format="iso", **kwargs)

    def _serialize(self, value: datetime | None, attr: str | None, obj: Any, **kwargs: Any) -> str | None:
        return None if value is None else utc_text(value)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> datetime:
        moment = super()._deserialize(value, attr, data, **kwargs)
        try:
            utc = moment.astimezone(timezone.utc)
        except (OverflowError, ValueError):
            raise ValidationError("Not a time this service can store.") from None
        if utc < EARLIEST:
            raise ValidationError("Must be 1970 or later.")
        return utc


def _address(value: str) -> None:
    try:
        normalize_address(value)
    except InvalidAddress:
        raise ValidationError("Not a valid email address.") from None


def Email(**kwargs: Any) -> fields.String:  # noqa: N802 - a field factory, read like a field class
    return fields.String(
        validate=[validate.Length(min=3, max=320), _address],
        metadata={"format": "email", "example": "khach.hang@example.com", **kwargs.pop("metadata", {})},
        **kwargs,
    )


class ProblemSchema(Schema):
    """RFC 9457 problem details."""

    type = fields.String(required=True, metadata={"example": "about:blank"})
    title = fields.String(required=True, metadata={"example": "Unauthorized"})
    status = fields.Integer(required=True, metadata={"example": 401})
    detail = fields.String(
        required=True, metadata={"example": "A valid API key is required: Authorization: Bearer <key>."}
    )
    errors = fields.Dict(
        keys=fields.String(),
        values=fields.Raw(),
        metadata={"description": "For a body or parameters refused: each field's messages."},
    )


class ReportIn(Schema):
    email = Email(required=True, metadata={"description": "The customer's address, as the reporter gave it."})
    kind = fields.String(required=True, validate=validate.OneOf(KINDS))
    channel = fields.String(required=True, validate=validate.OneOf(API_CHANNELS))
    discovered_at = UtcDateTime(
        load_default=None,
        allow_none=True,
        metadata={"description": "When the customer says they noticed or suspected the loss (their statement)."},
    )
    received_at = UtcDateTime(
        load_default=None,
        allow_none=True,
        metadata={
            "description": "When the report reached the company, as stated by the calling system (a call "
            "taken at 09:12, a letter opened on Monday). Kept as a statement beside this server's own "
            "time (`recorded_at`), exactly as a report entered in the console. Omitted: this server's clock."
        },
    )
    details = fields.String(load_default="", validate=validate.Length(max=5000))


class ReportOut(Schema):
    reference = fields.String(required=True, metadata={"example": "RPT-2026-000123"})
    received_at = UtcDateTime(required=True)
    received_at_source = fields.String(
        required=True,
        validate=validate.OneOf(("server_clock", "staff_statement")),
        metadata={"description": "`server_clock`: this server's time; `staff_statement`: the time the caller stated."},
    )
    recorded_at = UtcDateTime(required=True, metadata={"description": "This server's clock when it stored the report."})
    customer_found = fields.Boolean(
        required=True,
        metadata={
            "description": "False: no customer has this address; the report is kept unmatched and nothing is sent."
        },
    )
    joined_open_incident = fields.Boolean(
        required=True,
        metadata={"description": "True: the customer already had an open incident; the report joined it."},
    )
    incident_reference = fields.String(required=True, allow_none=True, metadata={"example": "INC-2026-000045"})
    customer_reference = fields.String(
        required=True,
        allow_none=True,
        metadata={"description": "The reference the customer quotes: that of the report that opened the incident."},
    )


class IncidentReportOut(Schema):
    reference = fields.String(required=True)
    channel = fields.String(required=True, validate=validate.OneOf(ALL_CHANNELS))
    kind = fields.String(required=True)
    received_at = UtcDateTime(required=True)
    received_at_source = fields.String(required=True)


class IncidentOut(Schema):
    reference = fields.String(required=True, metadata={"example": "INC-2026-000045"})
    customer_reference = fields.String(required=True, allow_none=True, metadata={"example": "RPT-2026-000123"})
    customer_email = fields.String(required=True)
    status = fields.String(required=True, validate=validate.OneOf(STATUSES))
    lateness = fields.String(required=True, validate=validate.OneOf(LATENESS))
    opened_at = UtcDateTime(required=True)
    first_received_at = UtcDateTime(required=True)
    first_channel = fields.String(required=True, allow_none=True)
    effective_discovered_at = UtcDateTime(required=True, allow_none=True)
    reporting_delay_seconds = fields.Integer(required=True, allow_none=True)
    late_threshold_hours = fields.Integer(required=True)
    resolved_at = UtcDateTime(required=True, allow_none=True)
    closed_at = UtcDateTime(required=True, allow_none=True)
    personal_data_breach = fields.Boolean(required=True)
    reports = fields.List(fields.Nested(IncidentReportOut), required=True)


class IncidentQuery(Schema):
    status = fields.String(validate=validate.OneOf(STATUSES))
    lateness = fields.String(validate=validate.OneOf(LATENESS))
    channel = fields.String(validate=validate.OneOf(ALL_CHANNELS), metadata={"description": "Any report's channel."})
    received_from = UtcDateTime(metadata={"description": "First report received at or after this time."})
    received_to = UtcDateTime(metadata={"description": "First report received before this time."})
    email = Email(metadata={"description": "The customer's address."})
    cursor = fields.String(
        validate=validate.Length(max=200), metadata={"description": "`next_cursor` of the previous page."}
    )
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=MAX_PAGE))


class IncidentPage(Schema):
    items = fields.List(fields.Nested(IncidentOut), required=True)
    next_cursor = fields.String(
        required=True, allow_none=True, metadata={"description": "Pass as `cursor` for the next page; null: no more."}
    )


class CustomerIn(Schema):
    name = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=200))
    locale = fields.String(load_default=None, allow_none=True, validate=validate.OneOf(("vi", "en")))
    password_hash = fields.String(
        load_default=None,
        allow_none=True,
        validate=validate.Length(max=255),
        metadata={
            "description": "The customer's password hash from the company's current system, in a format of "
            "docs/api.md (argon2id PHC, bcrypt `$2b$`, PBKDF2-SHA256); re-hashed to argon2id at the next sign-in."
        },
    )


class CustomerOut(Schema):
    email = fields.String(required=True)
    name = fields.String(required=True)
    locale = fields.String(required=True)
    created = fields.Boolean(required=True, metadata={"description": "True: the customer was created by this call."})


class ReportLinkOut(Schema):
    url = fields.String(required=True, metadata={"example": "https://security.example.com/r/eyJjIjo0Mn0.Zx..."})
    expires_at = UtcDateTime(required=True)


class EventQuery(Schema):
    after = fields.Integer(
        load_default=0,
        validate=validate.Range(min=0, max=2**31 - 1),
        metadata={"description": "A position in the log: the events from leaf index `after` on (0: from the start)."},
    )
    limit = fields.Integer(load_default=100, validate=validate.Range(min=1, max=MAX_PAGE))


class EventOut(Schema):
    id = fields.Integer(required=True)
    occurred_at = UtcDateTime(required=True)
    action = fields.String(required=True, metadata={"example": "api:report:received"})
    actor = fields.String(required=True, metadata={"example": "api:call-centre"})
    customer_id = fields.Integer(required=True, allow_none=True)
    incident_id = fields.Integer(required=True, allow_none=True)
    report_id = fields.Integer(required=True, allow_none=True)
    data = fields.Dict(required=True)
    prev_hash = fields.String(
        required=True,
        metadata={"description": "The hash of the event before it, for events written before the tree; else empty."},
    )
    hash = fields.String(required=True, metadata={"description": "SHA-256 of the event's leaf (hex)."})
    leaf_index = fields.Integer(required=True, metadata={"description": "Its position in the log's Merkle tree."})


class EventPage(Schema):
    items = fields.List(fields.Nested(EventOut), required=True)
    next_after = fields.Integer(
        required=True,
        metadata={
            "description": "Pass as `after` next time: the last event's leaf index plus one (or `after` itself)."
        },
    )


class DelayQuery(Schema):
    # The same filters as `flask reports delay` and the console page: days in the display time zone.
    from_ = fields.Date(data_key="from", validate=validate.Range(min=FIRST_DAY, max=LAST_DAY))
    to = fields.Date(validate=validate.Range(min=FIRST_DAY, max=LAST_DAY))
    channel = fields.String(validate=validate.OneOf(ALL_CHANNELS))
    lateness = fields.String(validate=validate.OneOf(LATENESS))
    policy = fields.String(validate=validate.Regexp(r"^(default|[0-9]{1,9})$"))
    decision = fields.String(
        validate=validate.OneOf(("exemption_asserted", "exemption_waived", "needs_information", "none"))
    )


class DelayNumbers(Schema):
    incidents = fields.Integer(required=True)
    late = fields.Integer(required=True)
    late_share = fields.Float(required=True, allow_none=True)
    # `unknown` would shadow marshmallow's own Schema.unknown (the unknown-fields policy).
    unknown_count = fields.Integer(required=True, data_key="unknown", attribute="unknown")
    median_seconds = fields.Float(required=True, allow_none=True)
    p90_seconds = fields.Float(required=True, allow_none=True)
    p95_seconds = fields.Float(required=True, allow_none=True)
    max_seconds = fields.Integer(required=True, allow_none=True)


class DelayMonth(DelayNumbers):
    month = fields.String(required=True, metadata={"example": "2026-11"})


class DelayBin(Schema):
    bin = fields.String(required=True)
    upper_seconds = fields.Integer(required=True, allow_none=True)
    incidents = fields.Integer(required=True)


class DelayReport(Schema):
    summary = fields.Nested(DelayNumbers, required=True)
    months = fields.List(fields.Nested(DelayMonth), required=True)
    histogram = fields.List(fields.Nested(DelayBin), required=True)
    filters = fields.Dict(keys=fields.String(), values=fields.String(), required=True)
    thresholds_hours = fields.List(fields.Integer(), required=True)
