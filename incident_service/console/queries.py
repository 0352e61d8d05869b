"""What the console's pages read, as queries: the queue's filters (read from the URL, so a filtered view
can be shared as a link), the legal lists, the staff list and the quarantine. Views query nothing
themselves."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Iterable, Mapping

from sqlalchemy import (
    ColumnElement,
    CompoundSelect,
    Select,
    TextClause,
    exists,
    func,
    literal_column,
    or_,
    select,
    text,
    union,
)
from sqlalchemy.orm import contains_eager, selectinload

from ..assessment.models import PolicyVersion
from ..audit.models import AuditEvent
from ..customers.address_search import customers_whose_address_contains
from ..customers.models import Customer
from ..database import within
from ..extensions import db
from ..i18n import day_bounds
from ..incidents.models import AWAITING_REVIEW, CHANNELS, STATUSES, Incident, Report
from ..intake.models import STATUS_QUARANTINED, InboundMessage
from ..intake.parsing import NOT_READ, header_pairs, raw_header_pairs, read_stored
from ..notifications.models import OUTBOX_FAILED, OutboxMessage
from ..retention.models import LegalHold
from ..staff.models import StaffUser
from ..staff.permissions import ACT_ON_INCIDENTS, GRANTS
from ..url_args import choice_arg, day_arg, page_arg

PAGE_SIZE = 25
COUNT_CAP = 1000  # counts beyond this are shown as "more than 1000" (bounded_count)
UNMATCHED = "unmatched"
SORTS = ("received_desc", "received_asc", "delay_desc")
ASSIGNED_TO_ME, UNASSIGNED = "me", "none"
BREACH_CLOCK_RUNNING = "running"


@dataclass(frozen=True)
class QueueFilter:
    status: str = ""
    channel: str = ""
    lateness: str = ""
    received_from: date | None = None
    received_to: date | None = None
    discovery: str = ""  # "known" | "unknown"
    assignee: str = ""  # ASSIGNED_TO_ME (whoever reads the link) | UNASSIGNED
    breach: str = ""  # BREACH_CLOCK_RUNNING: personal-data breaches whose authority notice is not recorded
    q: str = ""
    sort: str = "received_desc"
    page: int = 1

    @classmethod
    def from_args(cls, args: Mapping[str, str]) -> QueueFilter:
        """Read the URL's filters; anything unknown or malformed is ignored rather than an error."""

        return cls(
            status=choice_arg(args, "status", (*STATUSES, UNMATCHED)),
            channel=choice_arg(args, "channel", CHANNELS),
            lateness=choice_arg(args, "lateness", ("on_time", "late", "unknown")),
            received_from=day_arg(args, "from"),
            received_to=day_arg(args, "to"),
            discovery=choice_arg(args, "discovery", ("known", "unknown")),
            assignee=choice_arg(args, "assignee", (ASSIGNED_TO_ME, UNASSIGNED)),
            breach=choice_arg(args, "breach", (BREACH_CLOCK_RUNNING,)),
            q=args.get("q", "").strip()[:320],
            sort=choice_arg(args, "sort", SORTS) or "received_desc",
            page=page_arg(args),
        )

    def args(self, **changes: Any) -> dict[str, Any]:
        """The filter as URL arguments (for links to other pages or sorts), empty ones left out."""
        values = {
            "status": self.status,
            "channel": self.channel,
            "lateness": self.lateness,
            "from": self.received_from.isoformat() if self.received_from else "",
            "to": self.received_to.isoformat() if self.received_to else "",
            "discovery": self.discovery,
            "assignee": self.assignee,
            "breach": self.breach,
            "q": self.q,
            "sort": self.sort,
            "page": self.page,
        }
        values.update(changes)
        if values.get("page") == 1:
            del values["page"]
        if values.get("sort") == "received_desc":
            del values["sort"]
        return {key: value for key, value in values.items() if value not in ("", None)}


def breach_clock_running() -> ColumnElement[bool]:
    """A personal-data breach whose notice to the authority is not recorded yet: its 72 hours are running."""
    return Incident.personal_data_breach.is_(True) & Incident.authority_notified_at.is_(None)


def incidents_query(f: QueueFilter, zone: str, viewer_id: int | None = None) -> Select[Incident]:
    """The incidents `f` asks for; `viewer_id` is the staff member reading, whom "assigned to me" means."""
    query = select(Incident).join(Customer, Incident.customer_id == Customer.id)
    if f.status in STATUSES:
        query = query.where(Incident.status == f.status)
    if f.channel:
        query = query.where(exists().where(Report.incident_id == Incident.id, Report.channel == f.channel))
    if f.lateness:
        query = query.where(Incident.lateness == f.lateness)
    if f.discovery == "known":
        query = query.where(Incident.effective_discovered_at.is_not(None))
    elif f.discovery == "unknown":
        query = query.where(Incident.effective_discovered_at.is_(None))
    if f.assignee == ASSIGNED_TO_ME:
        query = query.where(Incident.assignee_id == viewer_id)
    elif f.assignee == UNASSIGNED:
        query = query.where(Incident.assignee_id.is_(None))
    if f.breach == BREACH_CLOCK_RUNNING:
        query = query.where(breach_clock_running())
    query = within(query, Incident.first_received_at, *day_bounds(zone, f.received_from, f.received_to))
    if f.q:
        query = query.where(Incident.id.in_(searched(f.q)))
    orders: dict[str, ColumnElement[Any]] = {
        "received_asc": Incident.first_received_at.asc(),
        "delay_desc": Incident.reporting_delay_seconds.desc().nulls_last(),
    }
    order = orders.get(f.sort, Incident.first_received_at.desc())
    return query.order_by(order, Incident.id.desc())


def searched(text: str) -> CompoundSelect[int]:
    """The ids of the incidents a search box's text finds: by its reference or one of its reports' (any
    case), or by a part of the customer's address. Spelled as a union of three lookups, each with its
    own index, so neither database reads every incident to find one (references are stored upper-case,
    so the text is upper-cased rather than each reference lower-cased)."""
    reference = text.upper() if text.isascii() else ""  # references are ASCII: nothing else can be one
    return union(
        select(Incident.id).where(Incident.reference == reference),
        select(Report.incident_id).where(Report.reference == reference, Report.incident_id.is_not(None)),
        select(Incident.id).where(Incident.customer_id.in_(customers_whose_address_contains(text.lower()))),
    )


def unmatched_query(f: QueueFilter, zone: str) -> Select[Report]:
    query = select(Report).where(Report.customer_id.is_(None))
    if f.channel:
        query = query.where(Report.channel == f.channel)
    query = within(query, Report.received_at, *day_bounds(zone, f.received_from, f.received_to))
    if f.q:
        needle = f.q.lower()
        query = query.where(
            or_(
                func.lower(Report.reference) == needle,
                func.lower(Report.claimed_address).contains(needle, autoescape=True),
            )
        )
    order = Report.received_at.asc() if f.sort == "received_asc" else Report.received_at.desc()
    return query.order_by(order, Report.id.desc())


def message_headers(messages: Iterable[InboundMessage | None]) -> dict[int, list[tuple[str, str]]]:
    """Every header of each stored message, by message id, for the evidence panel. Mail the parser must
    not see again (it took too long or too much memory) is shown as raw header lines instead."""
    found: dict[int, list[tuple[str, str]]] = {}
    for message in messages:
        if message is None:
            continue
        if message.quarantine_reason in NOT_READ:
            found[message.id] = raw_header_pairs(message.raw)
        else:
            found[message.id] = header_pairs(read_stored(message.raw))
    return found


def bounded_count(query: Select[Any]) -> int:
    """How many rows `query` finds, counting no further than COUNT_CAP + 1: a count past that says
    "more than COUNT_CAP", and costs the same at a million incidents as at two thousand."""
    capped = query.order_by(None).limit(COUNT_CAP + 1).subquery()
    return db.session.scalar(select(func.count()).select_from(capped)) or 0


def page_of(query: Select[Any], page: int, *loads: Any) -> tuple[list[Any], bool]:
    """The `page`-th PAGE_SIZE rows of `query` (with the loader options `loads`), and whether a later page
    has rows: one row more than the page shows says so when the total is bounded."""
    rows = list(db.session.execute(window(query, page).options(*loads)).scalars())
    return rows[:PAGE_SIZE], len(rows) > PAGE_SIZE


def window(query: Select[Any], page: int) -> Select[Any]:
    """`query`'s rows for the `page`-th page, and one more (page_of)."""
    return query.limit(PAGE_SIZE + 1).offset((page - 1) * PAGE_SIZE)


def status_counts() -> dict[str, int]:
    """For the tabs: incidents in each status and unmatched reports, each bounded (bounded_count)."""
    counts = {status: bounded_count(select(Incident.id).where(Incident.status == status)) for status in STATUSES}
    counts[UNMATCHED] = bounded_count(select(Report.id).where(Report.customer_id.is_(None)))
    return counts


def undelivered_emails(limit: int = 20) -> list[Any]:
    """The latest emails that failed for good, with their incident if any, newest first."""
    return list(
        db.session.execute(
            select(
                OutboxMessage.id, OutboxMessage.to_address, OutboxMessage.last_error, Incident.id, Incident.reference
            )
            .outerjoin(Incident, OutboxMessage.incident_id == Incident.id)
            .where(OutboxMessage.status == OUTBOX_FAILED)
            .order_by(OutboxMessage.id.desc())
            .limit(limit)
        ).all()
    )


def incident_id_of(reference: str) -> int | None:
    """The id of the incident with this public reference (any case), if there is one."""
    return db.session.execute(select(Incident.id).where(func.lower(Incident.reference) == reference.lower())).scalar()


@dataclass(frozen=True)
class QueuePage:
    rows: list[Any]  # incidents, or unmatched reports
    total: int  # how many match the filters; when `capped`, only that there are more than COUNT_CAP
    counts: dict[str, int]  # for the tabs: incidents in each status and unmatched reports (bounded_count)
    last_activity: dict[int, datetime]  # by incident id: the time of its latest audit event
    has_next: bool  # whether a later page has rows
    capped: bool  # the total passed count_cap
    count_cap: int  # COUNT_CAP, for the page's "more than" wording

    @property
    def pages(self) -> int | None:
        """How many pages there are, or None when the total is only known to pass COUNT_CAP."""
        return None if self.capped else max(1, -(-self.total // PAGE_SIZE))


def queue_page(filters: QueueFilter, zone: str, viewer_id: int | None = None) -> QueuePage:
    """One page of the queue, in a fixed number of queries whatever the page holds: the rows come with
    their customer and assignee, and their last activity is read in one grouped query."""
    query: Select[Any]
    if filters.status == UNMATCHED:
        query = unmatched_query(filters, zone)
    else:
        query = incidents_query(filters, zone, viewer_id)
    counts = status_counts()
    if filters == QueueFilter(status=filters.status, sort=filters.sort, page=filters.page):
        # Only a tab chosen: the tabs' counts already say how many.
        tabs = [filters.status] if filters.status else list(STATUSES)
        total, capped = sum(counts[tab] for tab in tabs), any(counts[tab] > COUNT_CAP for tab in tabs)
    else:
        total = bounded_count(query)
        capped = total > COUNT_CAP
    loads = () if filters.status == UNMATCHED else (contains_eager(Incident.customer), selectinload(Incident.assignee))
    rows, has_next = page_of(query, filters.page, *loads)
    activity = {} if filters.status == UNMATCHED else last_activity([incident.id for incident in rows])
    return QueuePage(rows, total, counts, activity, has_next, capped, COUNT_CAP)


def last_activity(incident_ids: list[int]) -> dict[int, datetime]:
    """When each incident last had an audit event (any: a report, an email sent, a staff action).

    Read from the audit log itself, for the page's rows only: one grouped query on the indexed
    incident_id, a few rows per incident, so its cost follows the page size, not the table's. A column
    kept up to date instead would add a write to the incident's row on every event, in every service."""
    if not incident_ids:
        return {}
    rows = db.session.execute(
        select(AuditEvent.incident_id, func.max(AuditEvent.occurred_at))
        .where(AuditEvent.incident_id.in_(incident_ids))
        .group_by(AuditEvent.incident_id)
    ).all()
    return {incident_id: moment for incident_id, moment in rows if incident_id is not None}


def held_incidents(incident_ids: list[int]) -> set[int]:
    """Which of the page's incidents are under a legal hold now: one query on the page's ids."""
    if not incident_ids:
        return set()
    query = select(LegalHold.incident_id).where(
        LegalHold.incident_id.in_(incident_ids), LegalHold.released_at.is_(None)
    )
    return set(db.session.execute(query).scalars())


def staff_who_can_act() -> list[StaffUser]:
    """Staff an incident can be given to (incidents.service.can_be_assigned), by name."""
    return list(
        db.session.execute(
            select(StaffUser)
            .where(StaffUser.active.is_(True), StaffUser.role.in_(sorted(GRANTS[ACT_ON_INCIDENTS])))
            .order_by(StaffUser.name, StaffUser.email)
        ).scalars()
    )


def report_events(report_id: int) -> list[AuditEvent]:
    return list(
        db.session.execute(
            select(AuditEvent).where(AuditEvent.report_id == report_id).order_by(AuditEvent.id)
        ).scalars()
    )


def awaiting_review() -> TextClause:
    """Late incidents awaiting legal's decision: none yet, or waiting for information. The partial index
    ix_incidents_awaiting_review's own text, so that SQLite's planner, which matches a partial index's
    condition term by term and sees no bound value, can use it."""
    return text(AWAITING_REVIEW)


def awaiting_review_ids() -> Select[Any]:
    """The ids of the incidents awaiting_review, read from ix_incidents_awaiting_review. SQLite, with no
    statistics, costs that index and ix_incidents_lateness_received alike (both lead with lateness) and
    took whichever its schema listed first: create_all lists a table's indexes in no fixed order, and with
    the other one legal's page and badge walked every late incident (27 against 11 ms at 100,000 incidents,
    35 ms at a million: issue 17). INDEXED BY names it; PostgreSQL chooses it from its statistics."""
    source = "incidents"
    if db.session.get_bind().dialect.name == "sqlite":
        source += " INDEXED BY ix_incidents_awaiting_review"
    return select(literal_column("id")).select_from(text(source)).where(awaiting_review())


@dataclass(frozen=True)
class LatePage:
    """One page of legal's late incidents, oldest first, with the review tabs' counts (bounded_count)."""

    rows: list[Incident]
    counts: dict[str, int]  # "pending" (awaiting a decision) and "all"; past COUNT_CAP only "more than"
    pending_only: bool  # the tab shown: awaiting a decision, or all late incidents
    page: int
    has_next: bool

    @property
    def pages(self) -> int | None:
        """How many pages the shown tab has, or None when its count is only known to pass COUNT_CAP."""
        total = self.counts["pending" if self.pending_only else "all"]
        return None if total > COUNT_CAP else max(1, -(-total // PAGE_SIZE))


def late_page(*, pending_only: bool, page: int) -> LatePage:
    """Legal's late incidents, a page of them, oldest first (pending: no decision yet, or waiting for
    information), each with its customer, in two queries and the bounded counts whatever the history:
    read in order from ix_incidents_awaiting_review (pending) or ix_incidents_lateness_received (all).
    Issue 17: the page listed every late incident, a query per customer, 4 s and 4 MB at 100,000
    incidents."""
    if pending_only:
        ids = awaiting_review_ids().order_by(literal_column("first_received_at"), literal_column("id"))
        # The page's ids from the index, then their incidents: page 1 of what those ids select.
        query = select(Incident).where(Incident.id.in_(window(ids, page)))
        rows, has_next = page_of(
            query.order_by(Incident.first_received_at, Incident.id), 1, selectinload(Incident.customer)
        )
    else:
        query = select(Incident).where(Incident.lateness == "late").order_by(Incident.first_received_at, Incident.id)
        rows, has_next = page_of(query, page, selectinload(Incident.customer))
    return LatePage(rows, late_counts(), pending_only, page, has_next)


def late_counts() -> dict[str, int]:
    """How many late incidents await a decision, and how many there are in all (the review tabs), each
    bounded (bounded_count)."""
    return {
        "pending": bounded_count(awaiting_review_ids()),
        "all": bounded_count(select(Incident.id).where(Incident.lateness == "late")),
    }


def breaches_to_notify() -> list[Incident]:
    """Personal-data breaches whose notice to the authority is not recorded yet, oldest first."""
    return list(
        db.session.execute(
            select(Incident).where(breach_clock_running()).order_by(Incident.first_received_at)
        ).scalars()
    )


def policy_versions() -> list[PolicyVersion]:
    return list(db.session.execute(select(PolicyVersion).order_by(PolicyVersion.effective_from.desc())).scalars())


def staff_users() -> list[StaffUser]:
    return list(db.session.execute(select(StaffUser).order_by(StaffUser.email)).scalars())


def messages_with_status(status: str, limit: int = 200) -> list[InboundMessage]:
    return list(
        db.session.execute(
            select(InboundMessage)
            .where(InboundMessage.status == status)
            .order_by(InboundMessage.id.desc())
            .limit(limit)
        ).scalars()
    )


def work_counts(*, legal: bool) -> dict[str, int]:
    """What waits for staff, for the counts beside the console's tabs: mail in quarantine, emails that
    could not be delivered, and (for legal) late incidents awaiting a decision plus breaches to notify."""
    counts = {
        "quarantine": bounded_count(select(InboundMessage.id).where(InboundMessage.status == STATUS_QUARANTINED)),
        "undelivered": bounded_count(select(OutboxMessage.id).where(OutboxMessage.status == OUTBOX_FAILED)),
    }
    if legal:
        pending = bounded_count(awaiting_review_ids())
        counts["reviews"] = pending + bounded_count(select(Incident.id).where(breach_clock_running()))
    return counts


def message_counts(statuses: tuple[str, ...]) -> dict[str, int]:
    rows = db.session.execute(
        select(InboundMessage.status, func.count())
        .where(InboundMessage.status.in_(statuses))
        .group_by(InboundMessage.status)
    ).all()
    return {status: count for status, count in rows}
