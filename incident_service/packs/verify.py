"""Verifying an evidence pack offline: file digests, email digests, audit event hashes and links, and the
log's proofs (each event's leaf and inclusion proof against a signed, time-stamped checkpoint)."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import io
import json
import zipfile
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ..audit import merkle
from ..audit.actions import Event, Source, tag
from ..audit.checkpoint import CheckpointInvalid, verify_checkpoint_signature
from ..audit.service import event_details, event_hash
from ..audit.timestamping import TimestampInvalid, verify_timestamp_token
from .service import FORMAT

# The fields of an event in the leaf's JSON, as the pack's audit_events carry them.
LEAF_FIELDS = ("action", "actor", "customer_id", "data", "incident_id", "occurred_at", "report_id")


@dataclass(frozen=True)
class OpenedPack:
    """The archive, the names of its files, and its evidence.json."""

    archive: zipfile.ZipFile
    names: set[str]
    document: Any  # evidence.json as parsed: untrusted, so read with .get

    def read(self, name: str) -> bytes:
        return self.archive.read(name)


@dataclass
class PackVerification:
    """What verify_pack found: `problems` (none means the pack holds), `unproved` (why a pack that holds
    together still proves nothing: no published key to check the signature with, or no log section),
    `warnings` (what the pack alone cannot settle, for the reader to check), and `facts` (what was
    proved, for the report)."""

    problems: list[str] = field(default_factory=list)
    unproved: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    facts: list[str] = field(default_factory=list)
    chain_head: dict[str, object] = field(default_factory=dict)


def verify_pack(data: bytes, *, public_key: str | None = None) -> PackVerification:
    """Check every digest, hash and proof in the pack; `public_key` is the service's published key (base64
    raw 32 bytes) that the checkpoint's signature must be made with."""
    result = PackVerification()
    try:
        pack = _open_pack(data)
    except (zipfile.BadZipFile, KeyError, ValueError) as exc:
        result.problems.append(f"not a readable evidence pack: {exc}")
        return result
    result.problems += [
        *_check_format(pack),
        *_check_file_digests(pack),
        *_check_reports(pack),
        *_check_every_receipt_is_in_the_pack(pack),
        *_check_event_hashes(pack),
    ]
    _check_log(pack, public_key, result)
    _say_what_was_removed(pack, result)
    head = pack.document.get("chain_head")
    result.chain_head = head if isinstance(head, dict) else {}
    return result


def _say_what_was_removed(pack: OpenedPack, result: PackVerification) -> None:
    """Content removed before the pack was made (retention, erasure) is named, so nobody reads its absence
    as anything else: what it was, when it went, under which rule."""
    for report in pack.document.get("reports", []):
        email = report.get("email") or {}
        for what, tombstones in (("report", report.get("removed")), ("raw email", email.get("removed"))):
            for tombstone in tombstones or []:
                result.facts.append(
                    f"{what} of {report.get('reference')}: {', '.join(tombstone.get('fields', []))} removed on "
                    f"{tombstone.get('purged_at')} under the rule {tombstone.get('rule')!r}"
                    + ("; its SHA-256 recorded at receipt stays" if what == "raw email" else "")
                )
    redacted = [event for event in pack.document.get("audit_events", []) if event.get("redacted")]
    if redacted:
        result.facts.append(
            f"{len(redacted)} audit events had personal data removed after they entered the log (retention or "
            "erasure): their place in the log is proved by their leaf hashes; what they now show is not"
        )


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
        event.get("action", "").endswith(":report:received")
        and event_details(event.get("data") or "").get("reference") == reference
        for event in events
    ):
        problems.append(f"report {reference}: no audit event records its receipt")
    email = report.get("email")
    if not email:
        return problems
    if email.get("file") is None and email.get("removed"):
        return problems  # its bytes were removed (retention, erasure); the SHA-256 recorded at receipt stays
    if email["file"] not in pack.names:
        return problems + [f"{email['file']}: missing"]
    digest = hashlib.sha256(pack.read(email["file"])).hexdigest()
    if digest != email["sha256"]:
        problems.append(f"{email['file']}: its SHA-256 differs from the one recorded at receipt")
    received = [
        event_details(event.get("data") or "")
        for event in events
        if event.get("action") == tag(Source.EMAIL, Event.MESSAGE_RECEIVED)
        and event_details(event.get("data") or "").get("inbound_message") == email.get("inbound_message")
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
        reference = event_details(event.get("data") or "").get("reference")
        if event.get("action", "").endswith(":report:received") and reference not in listed:
            problems.append(f"report {reference}: its receipt is in the audit log but the report is not in the pack")
    return problems


def _check_event_hashes(pack: OpenedPack) -> list[str]:
    """Each audit event's hash covers its contents; an event of the chain before the tree links to the
    event before it when that one is in the pack too (the pack holds the incident's events only)."""
    problems = []
    previous: dict[str, Any] | None = None
    for event in pack.document.get("audit_events", []):
        if event.get("redacted"):  # its personal data was removed: its leaf hash is what the log proves
            previous = event
            continue
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
        chained = bool(event["prev_hash"])  # events before the tree link to the one before them
        if (
            chained
            and previous is not None
            and event["id"] == previous["id"] + 1
            and event["prev_hash"] != previous["hash"]
        ):
            problems.append(f"audit event {event['id']}: does not link to event {previous['id']}")
        previous = event
    return problems


# The log's proofs (DESIGN.md, "Evidence pack proofs") -------------------------------------------------


def _check_log(pack: OpenedPack, public_key: str | None, result: PackVerification) -> None:
    """The checkpoint holds (its text, its signature, its key, its time-stamp), and every audit event of
    the pack is a leaf of the tree it signs (leaf, leaf hash, inclusion proof)."""
    log = pack.document.get("log")
    if log is None:
        result.unproved.append(
            "the pack has no `log` section (made before the Merkle tree): its events are not proved to be in "
            "the log; only the chain head can be compared with an anchor"
        )
        return
    if not isinstance(log, dict) or not isinstance(log.get("events"), list):
        result.problems.append("log: not an object with a list of `events`")
        return
    checkpoint = log.get("checkpoint")
    if not isinstance(checkpoint, dict):
        result.problems.append("log: no checkpoint, so no event is proved to be in the log")
        return
    head = _check_checkpoint(checkpoint, public_key, result)
    if head is None:
        return
    size, root = head
    events = pack.document.get("audit_events", [])
    if len(log["events"]) != len(events):
        result.problems.append(f"log: proves {len(log['events'])} events, but the pack has {len(events)} audit events")
        return
    seen: dict[int, Any] = {}
    for event, entry in zip(events, log["events"], strict=True):
        result.problems += _check_log_event(event, entry, size, root, seen)
    if not result.problems:
        result.facts.append(f"all {len(events)} audit events proved to be leaves of the tree of size {size}")


def _check_checkpoint(
    checkpoint: dict[str, Any], public_key: str | None, result: PackVerification
) -> tuple[int, bytes] | None:
    """(tree size, root) if the checkpoint holds; else None, its problems added."""
    text, signature, packed_key = checkpoint.get("text"), checkpoint.get("signature"), checkpoint.get("public_key")
    if not (isinstance(text, str) and isinstance(signature, str) and isinstance(packed_key, str)):
        result.problems.append("log checkpoint: `text`, `signature` and `public_key` must be strings")
        return None
    try:
        body = verify_checkpoint_signature(text, signature, packed_key)
    except CheckpointInvalid as error:
        result.problems.append(f"log checkpoint: {error}")
        return None
    problems = []
    if checkpoint.get("origin") != body.origin:
        problems.append(
            f"log checkpoint: origin {checkpoint.get('origin')!r} differs from its signed text's {body.origin!r}"
        )
    if checkpoint.get("tree_size") != body.size:
        problems.append(
            f"log checkpoint: tree_size {checkpoint.get('tree_size')!r} differs from its signed text's {body.size}"
        )
    if checkpoint.get("root_hash") != body.root.hex():
        problems.append(
            f"log checkpoint: root_hash {checkpoint.get('root_hash')!r} differs from its signed text's {body.root.hex()}"
        )
    if public_key is None:
        result.unproved.append(
            f"the checkpoint's signature was checked only with the key the pack carries ({packed_key}), and "
            "anyone can sign with a key of their own: give the published key with --public-key"
        )
    elif not hmac.compare_digest(packed_key, public_key):
        problems.append(f"log checkpoint: signed with key {packed_key}, not the published key {public_key}")
    else:
        result.facts.append(f"checkpoint signed with the published key {public_key}")
    problems += _check_timestamp(checkpoint.get("timestamp_token"), text, result)
    result.problems += problems
    return None if problems else (body.size, body.root)


def _check_timestamp(token_text: Any, text: str, result: PackVerification) -> list[str]:
    if token_text is None:
        result.warnings.append("the checkpoint has no time-stamp token: its time rests on the service's word")
        return []
    try:
        token = base64.b64decode(token_text, validate=True)
    except (binascii.Error, ValueError, TypeError):
        return ["log checkpoint: its timestamp_token is not base64"]
    try:
        stamp = verify_timestamp_token(token, text.encode("utf-8"))
    except TimestampInvalid as error:
        return [f"log checkpoint: its time-stamp token does not hold for the checkpoint text: {error}"]
    result.facts.append(
        f"checkpoint text time-stamped at {stamp.time.isoformat()} by {stamp.signer} (serial {stamp.serial_number}); "
        "whether to trust that authority is the reader's call"
    )
    return []


def _check_log_event(event: Any, entry: Any, size: int, root: bytes, seen: dict[int, Any]) -> list[str]:
    """One event: its leaf is the event (its JSON, its link, its chain hash), the leaf hashes to leaf_hash,
    and the inclusion proof puts that hash at leaf_index in the checkpoint's tree."""
    name = f"audit event {event.get('id') if isinstance(event, dict) else '?'}"
    if not isinstance(event, dict) or not isinstance(entry, dict):
        return [f"{name}: its log entry is not an object"]
    leaf, index, proof = entry.get("leaf"), entry.get("leaf_index"), entry.get("inclusion_proof")
    problems = []
    if leaf is None and isinstance(event.get("redacted"), dict):
        # Personal data removed after it entered the log: the leaf is gone, its hash is still proved.
        try:
            recomputed = bytes.fromhex(str(entry.get("leaf_hash")))
        except ValueError:
            return [f"{name}: its data was removed, and its leaf_hash is not hex"]
        if len(recomputed) != 32:
            return [f"{name}: its data was removed, and its leaf_hash is not a SHA-256"]
    elif not isinstance(leaf, str):
        return [f"{name}: its log entry has no leaf"]
    else:
        recomputed = merkle.leaf_hash(leaf.encode("utf-8"))
        if entry.get("leaf_hash") != recomputed.hex():
            problems.append(
                f"{name}: its leaf does not hash to its leaf_hash (SHA-256(0x00 ‖ leaf) is {recomputed.hex()})"
            )
        problems += _check_leaf_is_event(name, leaf, event)
    if not isinstance(index, int) or isinstance(index, bool):
        return problems + [f"{name}: not covered by the checkpoint (no leaf_index): it was not yet sequenced"]
    if index in seen:
        problems.append(f"{name}: claims leaf {index}, as does audit event {seen[index]}")
    seen[index] = event.get("id")
    if proof is None:
        return problems + [
            f"{name}: leaf {index} has no inclusion proof (the checkpoint at tree size {size} does not cover it)"
        ]
    try:
        path = [bytes.fromhex(step) for step in proof]
    except (TypeError, ValueError):
        return problems + [f"{name}: its inclusion proof is not a list of hex hashes"]
    if not merkle.verify_inclusion(index, size, recomputed, path, root):
        problems.append(
            f"{name}: its inclusion proof for leaf {index} does not verify against the checkpoint's root at tree size {size}"
        )
    return problems


def _check_leaf_is_event(name: str, leaf: str, event: dict[str, Any]) -> list[str]:
    """The leaf is the event's canonical JSON (after the previous event's hash, for an event of the chain
    the log was before the tree): the same fields as the pack shows, and SHA-256 of it is the event's hash."""
    prev_hash, body = ("", leaf) if leaf.startswith("{") else (leaf[:64], leaf[64:])
    try:
        fields = json.loads(body)
    except ValueError:
        return [f"{name}: its leaf is not the event's JSON (or a previous hash followed by it)"]
    if not isinstance(fields, dict) or sorted(fields) != sorted(LEAF_FIELDS):
        return [f"{name}: its leaf's JSON does not have the event's fields ({', '.join(LEAF_FIELDS)})"]
    differing = [key for key in LEAF_FIELDS if fields[key] != event.get(key)]
    if prev_hash != event.get("prev_hash"):
        differing.insert(0, "prev_hash")
    if differing:
        return [f"{name}: its leaf differs from the pack's audit event in {', '.join(differing)}"]
    if hashlib.sha256(leaf.encode("utf-8")).hexdigest() != event.get("hash"):
        return [f"{name}: SHA-256 of its leaf is not the event's hash"]
    return []
