"""Evidence packs prove themselves: every event's leaf and RFC 9162 inclusion proof against a signed,
time-stamped checkpoint, checked offline by `flask audit verify-pack`, by a verifier written here from the
RFC, and by docs/evidence.md's script; each kind of tampering named; no other customer's data inside."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import re
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from flask import Flask
from sqlalchemy import func, select

from incident_service.audit.checkpoint import service_public_key
from incident_service.audit.cli import checkpoint_and_email
from incident_service.audit.models import AuditCheckpoint, AuditEvent
from incident_service.audit.sequencer import integrate
from incident_service.audit.service import event_leaf
from incident_service.database import utcnow
from incident_service.extensions import db
from incident_service.incidents.models import Incident, Report
from incident_service.intake.service import Envelope, ingest_message
from incident_service.packs.verify import verify_pack
from tests.audit.tsa import LocalTSA, make_tsa, serve
from tests.helpers import deliver, make_customer, submit
from tests.packs.test_evidence_pack import CORPUS, incident_with_email

DOC = Path(__file__).resolve().parent.parent.parent / "docs" / "evidence.md"
OTHER_EMAIL = "binh@example.com"
OTHER_NAME = "Trần Thị Bình"


# An inclusion verifier written from RFC 9162 §2.1.3.2 here, with hashlib only: not the service's merkle.py.
def rfc_leaf_hash(leaf: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + leaf).digest()


def rfc_node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def rfc_verify_inclusion(leaf_index: int, tree_size: int, leaf_hash: bytes, path: list[bytes], root: bytes) -> bool:
    # 1. If leaf_index is greater than or equal to tree_size, then fail the proof verification.
    if leaf_index >= tree_size:
        return False
    # 2. Set fn to leaf_index and sn to tree_size - 1.  3. Set r to hash.
    fn, sn, r = leaf_index, tree_size - 1, leaf_hash
    # 4. For each value p in the inclusion_path array:
    for p in path:
        # a. If sn is 0, then stop the iteration and fail the proof verification.
        if sn == 0:
            return False
        # b. If LSB(fn) is set, or if fn is equal to sn, then:
        if fn & 1 == 1 or fn == sn:
            # i. Set r to HASH(0x01 || p || r).
            r = rfc_node_hash(p, r)
            # ii. If LSB(fn) is not set, then right-shift both fn and sn equally until either LSB(fn) is set
            #     or fn is 0.
            while fn & 1 == 0 and fn != 0:
                fn >>= 1
                sn >>= 1
        # Otherwise: i. Set r to HASH(0x01 || r || p).
        else:
            r = rfc_node_hash(r, p)
        # c. Finally, right-shift both fn and sn one time.
        fn >>= 1
        sn >>= 1
    # 5. Compare sn to 0. Compare r against the root_hash. If sn is equal to 0 and r and the root_hash are equal,
    #    then the log has proven the inclusion of hash. Otherwise, fail the proof verification.
    return sn == 0 and r == root


def rfc_tree_root(leaf_hashes: list[bytes]) -> bytes:
    """MTH(D[n]) by the RFC's recursion (§2.1.1), for checking the verifier on a tree built here."""
    if len(leaf_hashes) == 1:
        return leaf_hashes[0]
    k = 1
    while k * 2 < len(leaf_hashes):
        k *= 2
    return rfc_node_hash(rfc_tree_root(leaf_hashes[:k]), rfc_tree_root(leaf_hashes[k:]))


def test_the_tests_own_verifier_holds_to_the_rfc() -> None:
    """The verifier above accepts the service's proofs below only because it is right: on a tree of 7
    built by the RFC's recursion, the path of leaf 2 (§2.1.3.1 by hand) verifies, and nothing else does."""
    leaves = [rfc_leaf_hash(bytes([i])) for i in range(7)]
    root = rfc_tree_root(leaves)
    path = [leaves[3], rfc_node_hash(leaves[0], leaves[1]), rfc_tree_root(leaves[4:])]
    assert rfc_verify_inclusion(2, 7, leaves[2], path, root)
    assert not rfc_verify_inclusion(3, 7, leaves[2], path, root)
    assert not rfc_verify_inclusion(2, 4, leaves[2], path, root)
    assert not rfc_verify_inclusion(7, 7, leaves[2], path, root)
    assert not rfc_verify_inclusion(2, 7, leaves[2], path[:2], root)


# Making a pack after real flows ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tsa(tmp_path_factory: pytest.TempPathFactory) -> LocalTSA:
    return make_tsa(tmp_path_factory.mktemp("tsa"))


@pytest.fixture
def tsa_url(tsa: LocalTSA) -> Iterator[str]:
    for url, _server in serve(tsa.reply):
        yield url


def two_customers_incidents(app: Flask, smtp_sink: Any) -> tuple[int, int]:
    """An (an@example.com, the customer_id fixture) reports by email and on the web; Bình reports on the
    web in between, so her events sit among An's in the tree. Returns (An's incident, Bình's incident)."""
    other_customer = make_customer(app, OTHER_EMAIL, name=OTHER_NAME)
    with app.app_context():
        ingest_message(
            (CORPUS / "plain.eml").read_bytes(),
            envelope=Envelope(mail_from="an@example.com", peer="127.0.0.1:40000"),
            via="lmtp",
            now=utcnow(),
        )
        db.session.commit()
    client = app.test_client()
    submit(client, "/report", {"email": OTHER_EMAIL, "kind": "leaked", "discovered_at": "2026-11-21T08:00"})
    submit(client, "/report", {"email": "an@example.com", "kind": "leaked", "discovered_at": "2026-11-20T08:00"})
    deliver(app)
    with app.app_context():
        other = db.session.execute(select(Incident.id).where(Incident.customer_id == other_customer)).scalar_one()
        mine = db.session.execute(select(Incident.id).where(Incident.customer_id != other_customer)).scalar_one()
    return mine, other


def download(app: Flask, staff_login: Any, incident_id: int) -> bytes:
    response = staff_login("legal").get(f"/console/incidents/{incident_id}/evidence.zip")
    assert response.status_code == 200
    return bytes(response.data)


def document_of(data: bytes) -> dict[str, Any]:
    return dict(json.loads(zipfile.ZipFile(io.BytesIO(data)).read("evidence.json")))


def forge(data: bytes, change: Callable[[dict[str, Any]], None]) -> bytes:
    """The pack with evidence.json changed, and SHA256SUMS rebuilt to agree, as a forger would."""
    source = zipfile.ZipFile(io.BytesIO(data))
    contents = {name: source.read(name) for name in source.namelist() if name != "SHA256SUMS"}
    document = json.loads(contents["evidence.json"])
    change(document)
    contents["evidence.json"] = json.dumps(document, ensure_ascii=False, indent=2).encode("utf-8")
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for name, body in sorted(contents.items()):
            archive.writestr(name, body)
        archive.writestr(
            "SHA256SUMS",
            "".join(f"{hashlib.sha256(body).hexdigest()}  {name}\n" for name, body in sorted(contents.items())),
        )
    return out.getvalue()


@pytest.mark.real_commits  # a TSA served by a thread (openssl ts), answering the request's checkpoint
def test_a_pack_proves_every_event_offline_and_holds_nothing_of_other_customers(
    app: Flask,
    staff_login: Any,
    smtp_sink: Any,
    customer_id: int,
    tsa: LocalTSA,
    tsa_url: str,
    runner: Any,
    tmp_path: Path,
) -> None:
    app.config["AUDIT_TSA_URL"] = tsa_url
    incident_id, other_id = two_customers_incidents(app, smtp_sink)
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(AuditCheckpoint)) == 0
        public_key = service_public_key()
    data = download(app, staff_login, incident_id)
    document = document_of(data)
    log = document["log"]
    checkpoint = log["checkpoint"]

    # The download sequenced the events and made a checkpoint covering them, time-stamped by the TSA.
    with app.app_context():
        stored = db.session.execute(select(AuditCheckpoint)).scalar_one()
        assert (stored.tree_size, stored.text) == (checkpoint["tree_size"], checkpoint["text"])
        assert stored.emailed_to is None  # no AUDIT_ANCHOR_EMAIL in the tests
        other_incident = db.session.get(Incident, other_id)
        assert other_incident is not None
        other_events = list(
            db.session.execute(
                select(AuditEvent).where(
                    (AuditEvent.incident_id == other_id) | (AuditEvent.customer_id == other_incident.customer_id)
                )
            ).scalars()
        )
        other_leaves = [(event_leaf(event), event.hash, event.leaf_index) for event in other_events]
        other_references = list(
            db.session.execute(select(Report.reference).where(Report.incident_id == other_id)).scalars()
        )
        other_strings = [OTHER_EMAIL, OTHER_NAME, str(other_incident.reference), *map(str, other_references)]
    assert checkpoint["timestamp_token"] and checkpoint["public_key"] == public_key
    assert set(checkpoint) == {
        "origin",
        "tree_size",
        "root_hash",
        "text",
        "signature",
        "public_key",
        "timestamp_token",
    }
    assert len(log["events"]) == len(document["audit_events"]) > 3
    assert all(set(entry) == {"leaf_index", "leaf", "leaf_hash", "inclusion_proof"} for entry in log["events"])

    # `flask audit verify-pack` with the published key: every check passes.
    pack = tmp_path / "pack.zip"
    pack.write_bytes(data)
    result = runner.invoke(args=["audit", "verify-pack", "--public-key", public_key, str(pack)])
    assert result.exit_code == 0, result.output
    assert f"all {len(log['events'])} audit events proved" in result.output
    assert "time-stamped at" in result.output and "Test TSA" in result.output
    assert "WARNING" not in result.output
    unkeyed = runner.invoke(args=["audit", "verify-pack", str(pack)])
    assert unkeyed.exit_code == 2 and "NOT PROVED: the checkpoint's signature was checked only with the key" in (
        unkeyed.output
    )

    # The same, independently: the RFC's verifier above, the checkpoint text and signature by hand.
    root = bytes.fromhex(checkpoint["root_hash"])
    size = checkpoint["tree_size"]
    assert checkpoint["text"] == f"{checkpoint['origin']}\n{size}\n{base64.b64encode(root).decode()}\n"
    key = Ed25519PublicKey.from_public_bytes(base64.b64decode(public_key))
    key.verify(base64.b64decode(checkpoint["signature"]), checkpoint["text"].encode())  # raises if forged
    for event, entry in zip(document["audit_events"], log["events"], strict=True):
        leaf = entry["leaf"].encode("utf-8")
        assert hashlib.sha256(leaf).hexdigest() == event["hash"]  # the leaf is the event
        assert event["prev_hash"] == ""  # written since the tree: no link to the event before
        assert json.loads(entry["leaf"])["action"] == event["action"]
        assert rfc_leaf_hash(leaf).hex() == entry["leaf_hash"]
        path = [bytes.fromhex(step) for step in entry["inclusion_proof"]]
        assert rfc_verify_inclusion(entry["leaf_index"], size, rfc_leaf_hash(leaf), path, root), event["id"]
    # The token, by `openssl ts -verify` against the TSA's CA.
    (tmp_path / "token.der").write_bytes(base64.b64decode(checkpoint["timestamp_token"]))
    (tmp_path / "checkpoint.txt").write_text(checkpoint["text"], newline="")
    assert tsa.openssl_verifies(tmp_path / "token.der", tmp_path / "checkpoint.txt")

    # Nothing of Bình's: not her address, name or references, nor any of her events' leaves; only hashes.
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        text = "\n".join(archive.read(name).decode("utf-8", "replace") for name in archive.namelist())
    for value in other_strings:
        assert value not in text, value
    assert other_leaves
    hashes = {event["hash"] for event in document["audit_events"]}
    for leaf, chain_hash, _index in other_leaves:
        assert leaf not in text and chain_hash not in hashes
    customers = {json.loads(entry["leaf"])["customer_id"] for entry in log["events"]}
    assert customers - {None} == {customer_id}  # None: the stored email's events, before it had a customer
    # Bình's leaves are in the tree between An's, so the tree proves them without the pack showing them.
    indexes = [entry["leaf_index"] for entry in log["events"]]
    assert any(
        event.leaf_index is not None and min(indexes) < event.leaf_index < max(indexes) for event in other_events
    )


@pytest.mark.real_commits  # a TSA served by a thread, as above
def test_tampering_with_the_proofs_is_named(
    app: Flask, staff_login: Any, smtp_sink: Any, customer_id: int, tsa_url: str, tmp_path: Path
) -> None:
    app.config["AUDIT_TSA_URL"] = tsa_url
    incident_id, _other = two_customers_incidents(app, smtp_sink)
    data = download(app, staff_login, incident_id)
    # A later checkpoint, for its time-stamp token: a real token, for other text.
    submit(app.test_client(), "/report", {"email": OTHER_EMAIL, "kind": "leaked", "discovered_at": "2026-11-22T08:00"})
    with app.app_context():
        public_key = service_public_key()
        while integrate():
            pass
        db.session.commit()
        later = checkpoint_and_email(email_to=None, source="cli", actor="test")
        assert later is not None and later.timestamp_token_text is not None
        later_token = later.timestamp_token_text
    assert verify_pack(data, public_key=public_key).problems == []
    document = document_of(data)
    size = document["log"]["checkpoint"]["tree_size"]
    first = document["audit_events"][0]
    first_index = document["log"]["events"][0]["leaf_index"]
    attacker = Ed25519PrivateKey.generate()
    attacker_key = base64.b64encode(attacker.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)).decode()

    def changed_leaf(doc: dict[str, Any]) -> None:
        entry = doc["log"]["events"][0]
        entry["leaf"] = entry["leaf"].replace('"actor":"', '"actor":"x', 1)

    def changed_leaf_and_event(doc: dict[str, Any]) -> None:
        # The event and its leaf changed together, every hash of them recomputed: only the proof is left.
        changed_leaf(doc)
        entry, event = doc["log"]["events"][0], doc["audit_events"][0]
        event["actor"] = json.loads(entry["leaf"])["actor"]
        event["hash"] = hashlib.sha256(entry["leaf"].encode()).hexdigest()
        entry["leaf_hash"] = rfc_leaf_hash(entry["leaf"].encode()).hex()

    def changed_proof_hash(doc: dict[str, Any]) -> None:
        proof = doc["log"]["events"][0]["inclusion_proof"]
        proof[-1] = ("0" if proof[-1][0] != "0" else "1") + proof[-1][1:]

    def resigned(doc: dict[str, Any]) -> None:
        checkpoint = doc["log"]["checkpoint"]
        checkpoint["signature"] = base64.b64encode(attacker.sign(checkpoint["text"].encode())).decode()
        checkpoint["public_key"] = attacker_key

    def resigned_keeping_the_key(doc: dict[str, Any]) -> None:
        checkpoint = doc["log"]["checkpoint"]
        checkpoint["signature"] = base64.b64encode(attacker.sign(checkpoint["text"].encode())).decode()

    def changed_size(doc: dict[str, Any]) -> None:
        doc["log"]["checkpoint"]["tree_size"] += 1

    def changed_root(doc: dict[str, Any]) -> None:
        doc["log"]["checkpoint"]["root_hash"] = "00" * 32

    def changed_signed_size(doc: dict[str, Any]) -> None:
        checkpoint = doc["log"]["checkpoint"]
        checkpoint["tree_size"] += 1
        checkpoint["text"] = checkpoint["text"].replace(f"\n{size}\n", f"\n{size + 1}\n")

    def swapped_token(doc: dict[str, Any]) -> None:
        doc["log"]["checkpoint"]["timestamp_token"] = later_token

    def dropped_proof(doc: dict[str, Any]) -> None:
        doc["log"]["events"][0]["inclusion_proof"] = None

    def dropped_event_proof(doc: dict[str, Any]) -> None:
        doc["log"]["events"].pop()

    cases: list[tuple[Callable[[dict[str, Any]], None], str]] = [
        (changed_leaf, f"audit event {first['id']}: its leaf does not hash to its leaf_hash"),
        (changed_leaf, f"audit event {first['id']}: its leaf differs from the pack's audit event in actor"),
        (
            changed_leaf_and_event,
            f"audit event {first['id']}: its inclusion proof for leaf {first_index} does not verify against the "
            f"checkpoint's root at tree size {size}",
        ),
        (
            changed_proof_hash,
            f"audit event {first['id']}: its inclusion proof for leaf {first_index} does not verify against the "
            f"checkpoint's root at tree size {size}",
        ),
        (resigned, f"log checkpoint: signed with key {attacker_key}, not the published key {public_key}"),
        (
            resigned_keeping_the_key,
            f"log checkpoint: the signature of the checkpoint at tree size {size} does not verify with public key "
            f"{public_key}",
        ),
        (changed_size, f"log checkpoint: tree_size {size + 1} differs from its signed text's {size}"),
        (changed_root, "log checkpoint: root_hash '" + "00" * 32 + "' differs from its signed text's"),
        (
            changed_signed_size,
            f"log checkpoint: the signature of the checkpoint at tree size {size + 1} does not verify",
        ),
        (
            swapped_token,
            "log checkpoint: its time-stamp token does not hold for the checkpoint text: the token time-stamps "
            "other data",
        ),
        (dropped_proof, f"audit event {first['id']}: leaf {first_index} has no inclusion proof"),
        (dropped_event_proof, "log: proves"),
    ]
    for change, message in cases:
        problems = verify_pack(forge(data, change), public_key=public_key).problems
        assert any(message in problem for problem in problems), (change.__name__, problems)
    # The CLI says the same, and fails.
    bad = tmp_path / "bad.zip"
    bad.write_bytes(forge(data, resigned))
    failed = app.test_cli_runner().invoke(args=["audit", "verify-pack", "--public-key", public_key, str(bad)])
    assert failed.exit_code == 1 and f"FAIL: log checkpoint: signed with key {attacker_key}" in failed.output
    # A pack re-signed with the attacker's key passes only without the published key, and says so.
    lenient = verify_pack(forge(data, resigned))
    assert lenient.problems == [] and any("give the published key" in reason for reason in lenient.unproved)


@pytest.mark.real_commits  # a TSA served by a thread, and the doc's script in a process of its own
def test_the_documented_script_verifies_a_real_pack(
    app: Flask, staff_login: Any, smtp_sink: Any, customer_id: int, tsa: LocalTSA, tsa_url: str, tmp_path: Path
) -> None:
    """docs/evidence.md's verify_by_hand.py, as printed there, on a real pack: OK; on a forged one: not."""
    app.config["AUDIT_TSA_URL"] = tsa_url
    incident_id, _other = two_customers_incidents(app, smtp_sink)
    data = download(app, staff_login, incident_id)
    with app.app_context():
        public_key = service_public_key()
    text = DOC.read_text(encoding="utf-8")
    fenced = re.findall(r"^```(\w*)\n(.*?)^```$", text, flags=re.DOTALL | re.MULTILINE)
    blocks = [body for kind, body in fenced if kind == "python"]
    script = next(block for block in blocks if block.startswith("# verify_by_hand.py"))
    assert "import base64, hashlib, json, sys, zipfile" in script  # hashlib, cryptography and the stdlib only
    imported = set(re.findall(r"^(?:from|import) (\w+)", script, flags=re.MULTILINE))
    assert imported <= {"base64", "hashlib", "json", "sys", "zipfile", "cryptography"}
    (tmp_path / "verify_by_hand.py").write_text(script, encoding="utf-8")
    (tmp_path / "pack.zip").write_bytes(data)

    def run(pack: bytes, key: str) -> subprocess.CompletedProcess[str]:
        (tmp_path / "run.zip").write_bytes(pack)
        return subprocess.run(
            [sys.executable, "verify_by_hand.py", "run.zip", key],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            check=False,
        )

    good = run(data, public_key)
    size = document_of(data)["log"]["checkpoint"]["tree_size"]
    assert good.returncode == 0 and f"OK: {len(document_of(data)['audit_events'])} events" in good.stdout, good.stderr
    assert f"at tree size {size}" in good.stdout

    def changed_proof_hash(doc: dict[str, Any]) -> None:
        proof = doc["log"]["events"][-1]["inclusion_proof"]
        proof[0] = ("0" if proof[0][0] != "0" else "1") + proof[0][1:]

    assert "inclusion proof fails" in run(forge(data, changed_proof_hash), public_key).stderr
    other_key = base64.b64encode(
        Ed25519PrivateKey.generate().public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    ).decode()
    assert "not signed with the published key" in run(data, other_key).stderr

    # The doc's commands for the token: extract it with the printed Python, then `openssl ts -verify`.
    commands = next(body for kind, body in fenced if kind == "" and "openssl ts" in body)
    shell = commands.replace("evidence-INC-....zip", "pack.zip").replace("TSA-CA.pem", str(tsa.ca_certificate))
    done = subprocess.run(["bash", "-e", "-c", shell], cwd=tmp_path, capture_output=True, text=True, check=False)
    assert done.returncode == 0 and "Verification: OK" in done.stdout, done.stderr
    assert "Time stamp:" in done.stdout and "Test TSA" in done.stdout


# The printable page and the pack without a checkpoint --------------------------------------------------


def test_the_printable_page_shows_the_proof_state_and_writes_no_checkpoint(
    app: Flask, staff_login: Any, smtp_sink: Any, customer_id: int
) -> None:
    incident_id = incident_with_email(app, smtp_sink)
    legal = staff_login("legal")
    url = f"/console/incidents/{incident_id}/evidence"

    def checkpoints() -> int:
        with app.app_context():
            return int(db.session.scalar(select(func.count()).select_from(AuditCheckpoint)) or 0)

    page = legal.get(url, headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert "No signed checkpoint covers this incident" in page and checkpoints() == 0
    legal.get(f"{url}.zip")
    assert checkpoints() == 1
    # The download is itself an event of the incident, made after its pack: the page names it as not
    # covered yet, until the worker's next checkpoint.
    page = legal.get(url, headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert "1 audit event of this incident is not covered by the latest checkpoint yet" in page
    assert checkpoints() == 1
    with app.app_context():
        while integrate():
            pass
        db.session.commit()
        assert checkpoint_and_email(email_to=None, source="worker", actor="outbox-worker") is not None
    page = legal.get(url, headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert "The checkpoint covers every audit event of this incident" in page and checkpoints() == 2
    assert "not time-stamped" in page  # no TSA in this test


def test_a_pack_from_before_the_tree_verifies_with_a_warning(
    app: Flask, staff_login: Any, smtp_sink: Any, customer_id: int
) -> None:
    """Packs made before the log section existed still verify their chain, and are told apart."""
    incident_id = incident_with_email(app, smtp_sink)
    data = download(app, staff_login, incident_id)
    result = verify_pack(forge(data, lambda doc: doc.pop("log")))
    assert result.problems == []
    assert any("no `log` section" in reason for reason in result.unproved)
    missing = verify_pack(forge(data, lambda doc: doc["log"].update(checkpoint=None)))
    assert "log: no checkpoint, so no event is proved to be in the log" in missing.problems
