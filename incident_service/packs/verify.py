"""Verifying an evidence pack offline: file digests, email digests, audit event hashes and links."""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from datetime import datetime

from ..audit.service import event_hash
from .service import FORMAT


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
    for report in document.get("reports", []):
        email = report.get("email")
        if not email:
            continue
        if email["file"] not in names:
            problems.append(f"{email['file']}: missing")
        elif hashlib.sha256(archive.read(email["file"])).hexdigest() != email["sha256"]:
            problems.append(f"{email['file']}: its SHA-256 differs from the one recorded at receipt")
    previous = None
    for event in document.get("audit_events", []):
        try:
            recomputed = event_hash(event["prev_hash"], datetime.fromisoformat(event["occurred_at"]), event["action"],
                                    event["actor"], event["customer_id"], event["incident_id"], event["report_id"],
                                    event["data"])
        except (KeyError, TypeError, ValueError) as exc:
            problems.append(f"audit event {event.get('id')}: unreadable ({exc})")
            continue
        if recomputed != event["hash"]:
            problems.append(f"audit event {event['id']}: its contents do not match its hash")
        if previous is not None and event["id"] == previous["id"] + 1 and event["prev_hash"] != previous["hash"]:
            problems.append(f"audit event {event['id']}: does not link to event {previous['id']}")
        previous = event
    return problems, document.get("chain_head", {})
