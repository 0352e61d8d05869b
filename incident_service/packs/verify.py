"""Verifying an evidence pack offline: file digests, email digests, audit event hashes and links."""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ..audit.actions import Event, Source, tag
from ..audit.service import event_hash
from .service import FORMAT


@dataclass(frozen=True)
class OpenedPack:
    """The archive, the names of its files, and its evidence.json."""

    archive: zipfile.ZipFile
    names: set[str]
    document: Any  # evidence.json as parsed: untrusted, so read with .get

    def read(self, name: str) -> bytes:
        return self.archive.read(name)


def verify_pack(data: bytes) -> tuple[list[str], dict[str, object]]:
    """(problems, chain head). No problems means every digest and hash in the pack is consistent."""
    try:
        pack = _open_pack(data)
    except (zipfile.BadZipFile, KeyError, ValueError) as exc:
        return [f"not a readable evidence pack: {exc}"], {}
    problems = [
        *_check_format(pack),
        *_check_file_digests(pack),
        *_check_reports(pack),
        *_check_every_receipt_is_in_the_pack(pack),
        *_check_event_hashes(pack),
    ]
    return problems, pack.document.get("chain_head", {})


def _open_pack(data: bytes) -> OpenedPack:
    archive = zipfile.ZipFile(io.BytesIO(data))
    names = set(archive.namelist())
    document = json.loads(archive.read("evidence.json"))
    if not isinstance(document, dict):
        raise ValueError(f"evidence.json holds a JSON {type(document).__name__}, not an object")
    return OpenedPack(archive, names, document)


def _check_format(pack: OpenedPack) -> list[str]:
    if pack.document.get("format") != FORMAT:
        return [f"unknown format {pack.document.get('format')!r}"]
    return []


def _check_file_digests(pack: OpenedPack) -> list[str]:
    """Every file listed in SHA256SUMS is there, with that digest."""
    if "SHA256SUMS" not in pack.names:
        return ["SHA256SUMS is missing"]
    problems = []
    for line in pack.read("SHA256SUMS").decode("utf-8", "replace").splitlines():
        digest, _, name = line.partition("  ")
        if name not in pack.names:
            problems.append(f"{name}: listed in SHA256SUMS but missing")
        elif hashlib.sha256(pack.read(name)).hexdigest() != digest:
            problems.append(f"{name}: its SHA-256 differs from SHA256SUMS")
    return problems


def _check_reports(pack: OpenedPack) -> list[str]:
    events = pack.document.get("audit_events", [])
    return [problem for report in pack.document.get("reports", []) for problem in _check_report(report, events, pack)]


def _check_report(report: dict[str, Any], events: list[dict[str, Any]], pack: OpenedPack) -> list[str]:
    """A report must be in the audit log (its `*:report:received` event), and its raw email must be the
    bytes whose SHA-256 the `email:message:received` event recorded: the event's hash covers that value,
    so changing the file and rebuilding SHA256SUMS still fails."""
    problems = []
    reference = report.get("reference")
    if not any(
        event.get("action", "").endswith(":report:received") and _event_data(event).get("reference") == reference
        for event in events
    ):
        problems.append(f"report {reference}: no audit event records its receipt")
    email = report.get("email")
    if not email:
        return problems
    if email["file"] not in pack.names:
        return problems + [f"{email['file']}: missing"]
    digest = hashlib.sha256(pack.read(email["file"])).hexdigest()
    if digest != email["sha256"]:
        problems.append(f"{email['file']}: its SHA-256 differs from the one recorded at receipt")
    received = [
        _event_data(event)
        for event in events
        if event.get("action") == tag(Source.EMAIL, Event.MESSAGE_RECEIVED)
        and _event_data(event).get("inbound_message") == email.get("inbound_message")
    ]
    if not received:
        problems.append(f"{email['file']}: no audit event records its receipt")
    elif any(data.get("sha256") != digest for data in received):
        problems.append(f"{email['file']}: its SHA-256 differs from the one the audit log recorded at receipt")
    return problems


def _check_every_receipt_is_in_the_pack(pack: OpenedPack) -> list[str]:
    """The other way round: every report the audit log says was received is in the pack."""
    listed = {report.get("reference") for report in pack.document.get("reports", [])}
    problems = []
    for event in pack.document.get("audit_events", []):
        reference = _event_data(event).get("reference")
        if event.get("action", "").endswith(":report:received") and reference not in listed:
            problems.append(f"report {reference}: its receipt is in the audit log but the report is not in the pack")
    return problems


def _check_event_hashes(pack: OpenedPack) -> list[str]:
    """Each audit event's hash covers its contents, and each links to the event before it when that one
    is in the pack too (the pack holds the incident's events, not the whole chain)."""
    problems = []
    previous: dict[str, Any] | None = None
    for event in pack.document.get("audit_events", []):
        try:
            recomputed = event_hash(
                event["prev_hash"],
                datetime.fromisoformat(event["occurred_at"]),
                event["action"],
                event["actor"],
                event["customer_id"],
                event["incident_id"],
                event["report_id"],
                event["data"],
            )
        except (KeyError, TypeError, ValueError) as exc:
            problems.append(f"audit event {event.get('id')}: unreadable ({exc})")
            continue
        if recomputed != event["hash"]:
            problems.append(f"audit event {event['id']}: its contents do not match its hash")
        if previous is not None and event["id"] == previous["id"] + 1 and event["prev_hash"] != previous["hash"]:
            problems.append(f"audit event {event['id']}: does not link to event {previous['id']}")
        previous = event
    return problems


def _event_data(event: dict[str, Any]) -> dict[str, Any]:
    try:
        data = json.loads(event.get("data") or "{}")
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}
