"""Verifying an evidence pack offline: file digests, email digests, audit event hashes and links."""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from datetime import datetime
from typing import Any

from ..audit.actions import Event, Source, tag
from ..audit.service import event_hash
from .service import FORMAT


def _event_data(event: dict[str, Any]) -> dict[str, Any]:
    try:
        data = json.loads(event.get("data") or "{}")
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def _report_problems(
    report: dict[str, Any], events: list[dict[str, Any]], archive: zipfile.ZipFile, names: set[str]
) -> list[str]:
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
    if email["file"] not in names:
        return problems + [f"{email['file']}: missing"]
    digest = hashlib.sha256(archive.read(email["file"])).hexdigest()
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


def verify_pack(data: bytes) -> tuple[list[str], dict[str, object]]:
    """(problems, chain head). No problems means every digest and hash in the pack is consistent."""
    problems: list[str] = []
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        names = set(archive.namelist())
        document = json.loads(archive.read("evidence.json"))
    except (zipfile.BadZipFile, KeyError, ValueError) as exc:
        return [f"not a readable evidence pack: {exc}"], {}
    if document.get("format") != FORMAT:
        problems.append(f"unknown format {document.get('format')!r}")
    if "SHA256SUMS" not in names:
        problems.append("SHA256SUMS is missing")
    else:
        for line in archive.read("SHA256SUMS").decode("utf-8", "replace").splitlines():
            digest, _, name = line.partition("  ")
            if name not in names:
                problems.append(f"{name}: listed in SHA256SUMS but missing")
            elif hashlib.sha256(archive.read(name)).hexdigest() != digest:
                problems.append(f"{name}: its SHA-256 differs from SHA256SUMS")
    events = document.get("audit_events", [])
    reports = document.get("reports", [])
    for report in reports:
        problems += _report_problems(report, events, archive, names)
    listed = {report.get("reference") for report in reports}
    for event in events:
        reference = _event_data(event).get("reference")
        if event.get("action", "").endswith(":report:received") and reference not in listed:
            problems.append(f"report {reference}: its receipt is in the audit log but the report is not in the pack")
    previous = None
    for event in document.get("audit_events", []):
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
    return problems, document.get("chain_head", {})
