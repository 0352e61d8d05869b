"""Building an incident's evidence pack: a JSON document and an archive with the raw emails."""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from datetime import datetime
from typing import TYPE_CHECKING, Any

from flask_babel import force_locale
from flask_babel import gettext as _
from sqlalchemy import select

from ..assessment.service import breach_deadline
from ..audit import merkle
from ..audit.actions import Event, Source, tag
from ..audit.checkpoint import latest_checkpoint
from ..audit.models import AuditAnchor, AuditCheckpoint, AuditRedaction
from ..audit.redaction import redactions_of
from ..audit.sequencer import inclusion_proof_for
from ..audit.service import append_event, chain_head, event_leaf
from ..disclosures.models import BASIS_AUDITORS_LAWYERS, KIND_EVIDENCE_PACK
from ..disclosures.service import DEFAULT_PACK_RECIPIENT, record_disclosure
from ..extensions import db
from ..i18n import format_local
from ..incidents.labels import email_label, statement_source_label
from ..incidents.models import Incident
from ..incidents.record import IncidentRecord, incident_record
from ..intake.parsing import company_hop_count
from ..intake.service import company_mta_for
from ..retention.models import SUBJECT_INBOUND_MESSAGE, SUBJECT_REPORT, Tombstone
from .timestamps import REPORT_SOURCE, stamp, timestamp_sources
from .verify_text import VERIFY_TEXT

if TYPE_CHECKING:
    from ..assessment.models import DiscoveryStatement
    from ..audit.models import AuditEvent
    from ..incidents.models import Report
    from ..intake.models import InboundMessage
    from ..notifications.models import OutboxMessage
    from ..reactivation.models import ResetGrant

FORMAT = "incident_service evidence pack 1"

# The pack's text is written in the language in force when it is built: the archive (evidence.json) is
# always built in English (`pack_archive`), so every pack reads the same whoever exported it; the
# printable page is built in the viewer's language, so a lawyer reads it in Vietnamese.


def build_pack(incident: Incident, *, now: datetime) -> tuple[dict[str, Any], dict[str, bytes]]:
    """The pack's JSON document and the raw email files it refers to (by archive path)."""
    record = incident_record(incident)
    reports, files, report_times = _report_entries(record.reports)
    statements = _statement_entries(record.statements)
    reset_links = _reset_link_entries(record.grants)
    emails = _email_entries(record.emails)
    chain = _chain_head_entry(now)
    anchors = _anchor_entries()
    log = log_entry(record.events, latest_checkpoint())
    document = {
        "format": FORMAT,
        "exported_at": stamp(now, "export", _("pack made")),
        "timestamp_sources": timestamp_sources(),
        "incident": _incident_entry(incident, record),
        "reports": reports,
        "discovery_statements": statements,
        "reset_links": reset_links,
        "emails": emails,
        "timestamps": _timeline(report_times, statements, reset_links, emails),
        "audit_events": _audit_event_entries(record.events),
        # Kept beside `log` for verifiers of packs made before the tree: the chain's head and its anchors.
        "chain_head": chain,
        "anchors": anchors,
        "log": log,
    }
    return document, files


def _report_entries(
    reports: list[Report],
) -> tuple[list[dict[str, Any]], dict[str, bytes], list[dict[str, Any] | None]]:
    """Each report, the raw emails they refer to (by archive path), and the reports' timestamps."""
    entries = []
    files: dict[str, bytes] = {}
    timestamps: list[dict[str, Any] | None] = []
    removed = _tombstones(
        [(SUBJECT_REPORT, report.id) for report in reports]
        + [(SUBJECT_INBOUND_MESSAGE, report.inbound_message_id) for report in reports if report.inbound_message_id]
    )
    for report in reports:
        entry = _report_entry(report)
        if (SUBJECT_REPORT, report.id) in removed:
            entry["removed"] = removed[(SUBJECT_REPORT, report.id)]
        timestamps += [entry["received_at"], entry["recorded_at"]]
        message = report.inbound_message
        if message is not None:
            entry["email"] = _email_evidence(report.reference, message)
            gone = removed.get((SUBJECT_INBOUND_MESSAGE, message.id))
            if gone:
                entry["email"]["removed"] = gone
            if message.raw:
                files[entry["email"]["file"]] = message.raw
            else:  # the bytes were removed (retention, erasure): their SHA-256 and size stay
                entry["email"]["file"] = None
            timestamps += _message_timestamps(report.reference, message)
        entries.append(entry)
    return entries, files, timestamps


def _tombstones(subjects: list[tuple[str, int]]) -> dict[tuple[str, int], list[dict[str, Any]]]:
    """What retention or an erasure removed from these rows (retention.models.Tombstone), as the pack says it."""
    found: dict[tuple[str, int], list[dict[str, Any]]] = {}
    if not subjects:
        return found
    wanted = set(subjects)
    kinds = {subject for subject, _id in wanted}
    ids = {row_id for _subject, row_id in wanted}
    query = select(Tombstone).where(Tombstone.subject.in_(kinds), Tombstone.subject_id.in_(ids)).order_by(Tombstone.id)
    for tombstone in db.session.execute(query).scalars():
        if (tombstone.subject, tombstone.subject_id) in wanted:
            found.setdefault((tombstone.subject, tombstone.subject_id), []).append(tombstone.describe())
    return found


def report_stamps(report: Report) -> dict[str, dict[str, Any] | None]:
    """A report's two times, labelled with their sources: when it reached the company, when it was recorded
    (the customer's own data file uses the same labels)."""
    return {
        "received_at": stamp(
            report.received_at,
            REPORT_SOURCE.get(report.received_at_source, "server_receipt"),
            _("report %(reference)s received", reference=report.reference),
        ),
        "recorded_at": stamp(
            report.recorded_at, "server_receipt", _("report %(reference)s recorded", reference=report.reference)
        ),
    }


def _report_entry(report: Report) -> dict[str, Any]:
    return {
        "reference": report.reference,
        "channel": report.channel,
        "kind": report.kind,
        "claimed_address": report.claimed_address,
        "entered_by": report.entered_by,
        **report_stamps(report),
        "client_ip": report.client_ip,
        "details": report.details,
    }


def _email_evidence(reference: str | None, message: InboundMessage) -> dict[str, Any]:
    """What was recorded when the report's email arrived, and where its raw bytes are in the archive."""
    return {
        "file": f"messages/{reference}.eml",
        "inbound_message": message.id,
        "sha256": message.sha256,
        "size": message.size,
        "envelope": {
            "mail_from": message.mail_from,
            "rcpt_to": message.rcpt_tos,
            "peer": message.peer,
            "helo": message.helo,
            "via": message.via,
        },
        "from_address": message.from_address,
        "from_display_name": message.from_display_name,
        "date_header": message.date_header,
        "received_headers": message.received_headers,
        "authentication_results_trusted": message.authentication_results,
        "authentication_results_ignored": message.untrusted_authentication_results,
    }


def _message_timestamps(reference: str | None, message: InboundMessage) -> list[dict[str, Any] | None]:
    """The email's Date header (a claim), then each dated Received hop: the top ones are the company's own
    mail servers', the ones below them were written before the company had the message."""
    timestamps = [
        stamp(message.date_claimed, "date_header_claim", _("Date header of %(reference)s", reference=reference))
    ]
    company_hops = company_hop_count(message.received_headers, company_mta_for(message.via, message.peer))
    for position, hop in enumerate(message.received_headers):
        if hop.get("at"):
            timestamps.append(
                {
                    "what": _("Received by %(server)s", server=hop.get("by")),
                    "utc": hop["at"],
                    "gmt7": format_local(datetime.fromisoformat(hop["at"])),
                    "source": "company_mta" if position < company_hops else "received_header",
                }
            )
    return timestamps


def _statement_entries(statements: list[DiscoveryStatement]) -> list[dict[str, Any] | None]:
    """Each statement of when the loss was noticed; each is itself a timestamp."""
    entries = []
    for statement in statements:
        source = "staff_discovery_statement" if statement.source.startswith("staff") else "customer_statement"
        entries.append(
            stamp(
                statement.discovered_at,
                source,
                _("noticed (%(source)s)", source=statement_source_label(statement.source)),
                stated_by=statement.actor,
                stated_at=statement.stated_at.isoformat(timespec="microseconds"),
                override=statement.is_override,
                reason=statement.reason,
            )
        )
    return entries


def _reset_link_entries(grants: list[ResetGrant]) -> list[dict[str, Any]]:
    return [
        {
            "issued_at": stamp(grant.issued_at, "link_issued", _("reset link issued")),
            "expires_at": grant.expires_at.isoformat(timespec="microseconds"),
            "used_at": stamp(grant.used_at, "link_used", _("reset link used")),
            "replaced_at": grant.revoked_at.isoformat(timespec="microseconds") if grant.revoked_at else None,
        }
        for grant in grants
    ]


def _email_entries(emails: list[OutboxMessage]) -> list[dict[str, Any]]:
    return [
        {
            "template": email.template,
            "to": email.to_address,
            "message_id": email.message_id,
            "subject": email.subject,
            "status": email.status,
            "attempts": email.attempts,
            "last_error": email.last_error,
            "accepted": stamp(
                email.sent_at,
                "relay_acceptance",
                _("email “%(email)s” accepted by the relay", email=email_label(email.template)),
                smtp_reply=email.smtp_reply,
            ),
        }
        for email in emails
    ]


def _timeline(
    report_times: list[dict[str, Any] | None],
    statements: list[dict[str, Any] | None],
    reset_links: list[dict[str, Any]],
    emails: list[dict[str, Any]],
) -> list[dict[str, Any]]:
    """Every timestamp of the pack's sections in one list, earliest first (equal times keep this order)."""
    timestamps = [
        *report_times,
        *statements,
        *(moment for link in reset_links for moment in (link["issued_at"], link["used_at"])),
        *(email["accepted"] for email in emails),
    ]
    return sorted((t for t in timestamps if t), key=lambda t: t["utc"])


def _incident_entry(incident: Incident, record: IncidentRecord) -> dict[str, Any]:
    version = record.policy
    return {
        "reference": incident.reference,
        "status": incident.status,
        "customer": {"email": incident.customer.email, "name": incident.customer.name},
        "first_received_at": stamp(incident.first_received_at, "server_receipt", _("first report received")),
        "effective_discovered_at": incident.effective_discovered_at.isoformat(timespec="microseconds")
        if incident.effective_discovered_at
        else None,
        "reporting_delay_seconds": incident.reporting_delay_seconds,
        "lateness": incident.lateness,
        "policy": {
            "threshold_hours": incident.late_threshold_hours,
            "version": version.id if version else None,
            "effective_from": version.effective_from.isoformat() if version else None,
            "note": version.note if version else "the LATE_REPORT_THRESHOLD_HOURS setting",
        },
        "review_decisions": [
            {
                "decision": d.decision,
                "rationale": d.rationale,
                "decided_by": d.decided_by,
                "decided_at": d.decided_at.isoformat(timespec="microseconds"),
            }
            for d in record.decisions
        ],
        "personal_data_breach": {
            "marked": incident.personal_data_breach,
            "deadline": breach_deadline(incident).isoformat() if incident.personal_data_breach else None,
            "authority_notified_at": incident.authority_notified_at.isoformat()
            if incident.authority_notified_at
            else None,
            "how": incident.authority_notification,
        },
    }


def _audit_event_entries(events: list[AuditEvent]) -> list[dict[str, Any]]:
    redacted = redactions_of(event.id for event in events)
    return [
        {
            "id": e.id,
            "occurred_at": e.occurred_at.isoformat(timespec="microseconds"),
            "action": e.action,
            "actor": e.actor,
            "customer_id": e.customer_id,
            "incident_id": e.incident_id,
            "report_id": e.report_id,
            "data": e.data,
            "prev_hash": e.prev_hash,
            "hash": e.hash,
            # Personal data removed from it after it entered the log (retention, erasure): `data` holds
            # the tombstone, `hash` is the original's, and only its leaf hash can be proved.
            **({"redacted": _redaction_entry(redacted[e.id])} if e.id in redacted else {}),
        }
        for e in events
    ]


def _redaction_entry(redaction: AuditRedaction) -> dict[str, Any]:
    return {
        "fields": list(redaction.fields),
        "rule": redaction.rule,
        "at": redaction.redacted_at.isoformat(timespec="microseconds"),
    }


def _chain_head_entry(now: datetime) -> dict[str, Any]:
    """The whole chain's head as it stands (not only the incident's events), to compare with an anchor."""
    last_id, count, head = chain_head()
    return {"last_event_id": last_id, "events": count, "hash": head, "at": now.isoformat(timespec="microseconds")}


def _anchor_entries() -> list[dict[str, Any]]:
    anchors = db.session.execute(select(AuditAnchor).order_by(AuditAnchor.id)).scalars().all()
    return [
        {
            "id": a.id,
            "created_at": a.created_at.isoformat(),
            "last_event_id": a.last_event_id,
            "head_hash": a.head_hash,
            "emailed_to": a.emailed_to,
        }
        for a in anchors
    ]


def log_entry(events: list[AuditEvent], checkpoint: AuditCheckpoint | None) -> dict[str, Any]:
    """The pack's proofs (DESIGN.md, "Evidence pack proofs"): the checkpoint, and each event's leaf with its
    inclusion proof against it. An event the checkpoint does not cover yet (not sequenced, or sequenced
    after it) keeps its leaf but has no proof (`inclusion_proof` null): the printable page says so, and
    `flask audit verify-pack` refuses it. Holds only hashes of other customers' events, never their data."""
    entries = []
    redacted = redactions_of(event.id for event in events)
    for event in events:
        proof = None
        if checkpoint is not None and event.leaf_index is not None and event.leaf_index < checkpoint.tree_size:
            proof = inclusion_proof_for(event.leaf_index, checkpoint.tree_size)
        if event.id in redacted:
            # Its content is gone: the leaf hash recorded when it was removed, which the proof still reaches.
            leaf, leaf_hash = None, redacted[event.id].leaf_hash
        else:
            leaf = event_leaf(event)
            leaf_hash = merkle.leaf_hash(leaf.encode("utf-8")).hex()
        entries.append(
            {
                "leaf_index": event.leaf_index,
                "leaf": leaf,
                "leaf_hash": leaf_hash,
                "inclusion_proof": [digest.hex() for digest in proof] if proof is not None else None,
            }
        )
    return {"checkpoint": _checkpoint_entry(checkpoint) if checkpoint else None, "events": entries}


def _checkpoint_entry(checkpoint: AuditCheckpoint) -> dict[str, Any]:
    return {
        "origin": checkpoint.text.split("\n", 1)[0],
        "tree_size": checkpoint.tree_size,
        "root_hash": checkpoint.root_hash,
        "text": checkpoint.text,
        "signature": checkpoint.signature,
        "public_key": checkpoint.public_key,
        "timestamp_token": checkpoint.timestamp_token_text,
    }


def checkpoint_covers(incident: Incident) -> bool:
    """Whether the latest checkpoint covers every audit event of the incident (each has a leaf below its
    tree size): then a pack built now proves all of them."""
    checkpoint = latest_checkpoint()
    indexes = [event.leaf_index for event in incident_record(incident).events]
    return checkpoint is not None and all(index is not None and index < checkpoint.tree_size for index in indexes)


def pack_archive(
    incident: Incident,
    *,
    actor: str,
    now: datetime,
    recipient: str = DEFAULT_PACK_RECIPIENT,
    purpose: str = "",
    legal_basis: str = BASIS_AUDITORS_LAWYERS,
) -> bytes:
    """The archive of the incident's pack. Who took the evidence out, and when, is itself audited
    (after the pack is made, so the pack does not contain its own export), and who it is for is
    recorded in the disclosure register (issue 16). Raises DisclosureError for a missing recipient."""
    with force_locale("en"):
        document, files = build_pack(incident, now=now)
    contents = {
        "evidence.json": json.dumps(document, ensure_ascii=False, indent=2).encode("utf-8"),
        "VERIFY.txt": VERIFY_TEXT.encode("utf-8"),
        **files,
    }
    sums = "".join(f"{hashlib.sha256(data).hexdigest()}  {name}\n" for name, data in sorted(contents.items()))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in sorted(contents.items()):
            archive.writestr(name, data)
        archive.writestr("SHA256SUMS", sums)
    data = buffer.getvalue()
    append_event(
        tag(Source.CONSOLE, Event.EVIDENCE_EXPORTED),
        actor=actor,
        now=now,
        customer_id=incident.customer_id,
        incident_id=incident.id,
        data={"bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()},
    )
    record_disclosure(
        kind=KIND_EVIDENCE_PACK,
        reference=f"evidence-{incident.reference}.zip sha256:{hashlib.sha256(data).hexdigest()}",
        recipient=recipient,
        purpose=purpose,
        legal_basis=legal_basis,
        subjects=[(incident.customer_id, incident.id)],
        actor=actor,
        now=now,
    )
    return data
