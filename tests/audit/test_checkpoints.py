"""Signed checkpoints: the C2SP tlog-checkpoint text, an Ed25519 signature that verifies with the published
key (and only with it), replaced or re-signed checkpoints refused, RFC 3161 time-stamps from a local TSA,
a TSA down or answering garbage leaving the checkpoint signed but not time-stamped, the CLI and the worker."""

from __future__ import annotations

import base64
import email
import email.policy
import hashlib
import logging
import socket
from datetime import UTC, datetime
from pathlib import Path
from typing import Iterator

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from flask import Flask
from sqlalchemy import delete, func, select, update

from incident_service import settings as settings_module
from incident_service.audit import cli as audit_cli
from incident_service.audit.checkpoint import (
    CheckpointInvalid,
    checkpoint_text,
    latest_checkpoint,
    make_checkpoint,
    parse_checkpoint_text,
    public_key_text,
    service_public_key,
    service_signing_key,
    sign_checkpoint,
    verify_checkpoint,
    verify_checkpoint_signature,
)
from incident_service.audit.models import AuditCheckpoint, AuditEvent, AuditTreeNode, AuditTreeState
from incident_service.audit.sequencer import TreeHead, integrate, integrate_all, root_at
from incident_service.audit.service import append_event, event_leaf
from incident_service.extensions import db
from incident_service.notifications.models import OutboxMessage
from incident_service.notifications.service import render_queued
from incident_service.settings import ConfigurationError, load_settings
from tests.audit.tsa import LocalTSA, make_tsa, serve

NOW = datetime(2026, 12, 4, 3, 0, tzinfo=UTC)
ROOT = hashlib.sha256(b"a root").digest()
ORIGIN = "security.ecc.example/audit-log"
URLSAFE = base64.urlsafe_b64encode(bytes(range(200, 232))).decode()  # '-' and '_', not standard base64


def other_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")
def tsa(tmp_path_factory: pytest.TempPathFactory) -> LocalTSA:
    return make_tsa(tmp_path_factory.mktemp("tsa"))


@pytest.fixture
def tsa_url(tsa: LocalTSA) -> Iterator[str]:
    for url, _server in serve(tsa.reply):
        yield url


def grow_tree(events: int) -> None:
    """Append `events` audit events and let the sequencer integrate them."""
    for _ in range(events):
        append_event("cli:customer:created", actor="test", now=NOW)
    while integrate():
        pass


# The text ----------------------------------------------------------------------------------------------


def test_checkpoint_text_is_the_c2sp_format() -> None:
    text = checkpoint_text(ORIGIN, 1234, ROOT)
    assert text == f"{ORIGIN}\n1234\n{base64.b64encode(ROOT).decode()}\n"
    body = parse_checkpoint_text(text)
    assert (body.origin, body.size, body.root) == (ORIGIN, 1234, ROOT)


@pytest.mark.parametrize(
    "text,message",
    [
        (f"{ORIGIN}\n12\n{base64.b64encode(ROOT).decode()}", "each ending in a newline"),
        (f"{ORIGIN}\n012\n{base64.b64encode(ROOT).decode()}\n", "not a decimal number"),
        (f"{ORIGIN}\n-1\n{base64.b64encode(ROOT).decode()}\n", "not a decimal number"),
        (f"{ORIGIN}\n12\n{URLSAFE}\n", "not standard base64"),
        (f"{ORIGIN}\n12\n{base64.b64encode(ROOT[:31]).decode()}\n", "31 bytes, not 32"),
        (f"{ORIGIN}\n12\n{base64.b64encode(ROOT).decode()}\nextra\n", "three lines"),
        (f" {ORIGIN}\n12\n{base64.b64encode(ROOT).decode()}\n", "origin"),
    ],
)
def test_malformed_text_is_refused(text: str, message: str) -> None:
    with pytest.raises(CheckpointInvalid, match=message):
        parse_checkpoint_text(text)


# Signing, and what verification refuses ----------------------------------------------------------------


def test_signed_with_the_published_key(app: Flask, runner) -> None:  # type: ignore[no-untyped-def]
    published = runner.invoke(args=["audit", "public-key"]).output.strip()
    assert len(base64.b64decode(published)) == 32
    with app.app_context():
        checkpoint = make_checkpoint(NOW, head=TreeHead(3, ROOT))
        assert checkpoint is not None and checkpoint.public_key == published == service_public_key()
        assert checkpoint.text == checkpoint_text("security.ecc.example/audit-log", 3, ROOT)
        # Any Ed25519 implementation checks it: the raw key, the raw signature, the exact text.
        Ed25519PublicKey.from_public_bytes(base64.b64decode(published)).verify(
            base64.b64decode(checkpoint.signature), checkpoint.text.encode()
        )
        assert verify_checkpoint(checkpoint, published, origin=ORIGIN).size == 3
        assert checkpoint.timestamp_token is None and checkpoint.tsa_url is None  # no TSA configured


def test_a_checkpoint_re_signed_with_another_key_is_refused(app: Flask) -> None:
    with app.app_context():
        published = service_public_key()
        checkpoint = make_checkpoint(NOW, head=TreeHead(3, ROOT))
        assert checkpoint is not None
        # Rewrite the tree and sign its head with a key of one's own, naming that key: the published one differs.
        forger = other_key()
        checkpoint.text = checkpoint_text(ORIGIN, 3, hashlib.sha256(b"rewritten").digest())
        checkpoint.root_hash = hashlib.sha256(b"rewritten").hexdigest()
        checkpoint.signature = sign_checkpoint(checkpoint.text, forger)
        checkpoint.public_key = public_key_text(forger)
        with pytest.raises(CheckpointInvalid, match="not the published key"):
            verify_checkpoint(checkpoint, published)
        # Keeping the published key's name on it does not help: the signature does not verify with it.
        checkpoint.public_key = published
        with pytest.raises(CheckpointInvalid, match="at tree size 3 does not verify with public key"):
            verify_checkpoint(checkpoint, published)


@pytest.mark.parametrize("field,value", [("root_hash", "ab" * 32), ("tree_size", 2)])
def test_a_replaced_checkpoint_is_refused(app: Flask, field: str, value: object) -> None:
    with app.app_context():
        checkpoint = make_checkpoint(NOW, head=TreeHead(3, ROOT))
        assert checkpoint is not None
        setattr(checkpoint, field, value)  # the row's fields changed, its signed text kept
        with pytest.raises(CheckpointInvalid, match="but its signed text says tree size 3"):
            verify_checkpoint(checkpoint, service_public_key())


def test_changed_text_under_the_old_signature_is_refused(app: Flask) -> None:
    with app.app_context():
        checkpoint = make_checkpoint(NOW, head=TreeHead(3, ROOT))
        assert checkpoint is not None
        checkpoint.text = checkpoint_text(ORIGIN, 4, ROOT)
        checkpoint.tree_size = 4
        with pytest.raises(CheckpointInvalid, match="at tree size 4 does not verify"):
            verify_checkpoint(checkpoint, service_public_key())
        with pytest.raises(CheckpointInvalid, match="is for log 'security.ecc.example/audit-log', not 'elsewhere/log'"):
            checkpoint.text, checkpoint.tree_size = checkpoint_text(ORIGIN, 3, ROOT), 3
            verify_checkpoint(checkpoint, service_public_key(), origin="elsewhere/log")


def test_bad_signature_or_key_text_is_refused() -> None:
    text = checkpoint_text(ORIGIN, 1, ROOT)
    key = other_key()
    with pytest.raises(CheckpointInvalid, match="public key is not base64"):
        verify_checkpoint_signature(text, sign_checkpoint(text, key), "not a key")
    with pytest.raises(CheckpointInvalid, match="does not verify"):
        verify_checkpoint_signature(text, "!!", public_key_text(key))


# Making checkpoints -------------------------------------------------------------------------------------


def test_nothing_new_makes_no_checkpoint_and_a_rewrite_is_never_signed(app: Flask) -> None:
    with app.app_context():
        assert make_checkpoint(NOW, head=TreeHead(0, hashlib.sha256(b"").digest())) is None  # empty log
        assert make_checkpoint(NOW, head=TreeHead(3, ROOT)) is not None
        assert make_checkpoint(NOW, head=TreeHead(3, ROOT)) is None
        with pytest.raises(CheckpointInvalid, match="does not extend the last checkpoint"):
            make_checkpoint(NOW, head=TreeHead(3, hashlib.sha256(b"other").digest()))
        with pytest.raises(CheckpointInvalid, match="does not extend the last checkpoint"):
            make_checkpoint(NOW, head=TreeHead(2, ROOT))
        with pytest.raises(CheckpointInvalid, match="not an extension of the last checkpoint"):
            make_checkpoint(NOW, head=TreeHead(5, ROOT), prove=lambda old, new: [ROOT])
        assert db.session.scalar(select(func.count()).select_from(AuditCheckpoint)) == 1


def test_checkpoints_of_the_real_tree_extend_each_other(app: Flask) -> None:
    with app.app_context():
        grow_tree(5)
        first = make_checkpoint(NOW)
        assert first is not None and first.tree_size == 5
        grow_tree(6)  # 11: not a power of two, so the consistency proof is not trivial
        second = make_checkpoint(NOW)
        assert second is not None and second.tree_size == 11
        for checkpoint in (first, second):
            verify_checkpoint(checkpoint, service_public_key(), origin=ORIGIN)


def test_cli_checkpoint_is_emailed_outside(app: Flask, runner) -> None:  # type: ignore[no-untyped-def]
    assert "the log is empty" in runner.invoke(args=["audit", "checkpoint"]).output
    with app.app_context():
        grow_tree(2)
        db.session.commit()
    result = runner.invoke(args=["audit", "checkpoint", "--email", "notary@lawfirm.example"])
    assert result.exit_code == 0, result.output
    assert result.output.startswith(f"{ORIGIN}\n2\n") and "queued to notary@lawfirm.example" in result.output
    assert "not time-stamped" in result.output
    assert "nothing new since the checkpoint at tree size 2" in runner.invoke(args=["audit", "checkpoint"]).output
    assert "not a valid email address" in runner.invoke(args=["audit", "checkpoint", "--email", "x"]).output
    with app.app_context():
        checkpoint = latest_checkpoint()
        assert checkpoint is not None and checkpoint.emailed_to == "notary@lawfirm.example"
        message = db.session.execute(select(OutboxMessage)).scalar_one()
        assert message.to_address == "notary@lawfirm.example" and message.template == "audit_anchor"
        render_queued(message)
        assert message.raw is not None
        mail = email.message_from_bytes(message.raw, policy=email.policy.default)
        text = mail.get_body(("plain",)).get_content()  # type: ignore[union-attr]
        html = mail.get_body(("html",)).get_content()  # type: ignore[union-attr]
        assert checkpoint.text in text.replace("\r\n", "\n")
        for part in (text, html):
            assert checkpoint.signature in part and checkpoint.public_key in part
        assert "2" in message.subject and "anchor" not in message.subject.lower()


def test_generate_key_gives_a_usable_setting(runner) -> None:  # type: ignore[no-untyped-def]
    key = runner.invoke(args=["audit", "generate-key"]).output.strip()
    settings = load_settings({"APP_ENV": "testing", "AUDIT_SIGNING_KEY": key})
    assert settings["AUDIT_SIGNING_KEY"] == key


# Time-stamps --------------------------------------------------------------------------------------------


def checkpoint_now() -> AuditCheckpoint | None:
    """What `flask audit checkpoint` and the worker do: sign, commit, then time-stamp outside any transaction."""
    return audit_cli.checkpoint_and_email(email_to=None, source="cli", actor="test")


@pytest.mark.real_commits
def test_a_checkpoint_is_time_stamped_by_the_tsa(app: Flask, tsa: LocalTSA, tsa_url: str, tmp_path: Path) -> None:
    app.config["AUDIT_TSA_URL"] = tsa_url
    with app.app_context():
        grow_tree(3)
        checkpoint = checkpoint_now()
        assert checkpoint is not None and checkpoint.timestamp_token is not None and checkpoint.tsa_url == tsa_url
        verify_checkpoint(checkpoint, service_public_key())
        (tmp_path / "token.der").write_bytes(checkpoint.timestamp_token)
        (tmp_path / "text").write_text(checkpoint.text)
        assert tsa.openssl_verifies(tmp_path / "token.der", tmp_path / "text")

        # A token for other text (the next checkpoint's) does not vouch for this one.
        grow_tree(2)
        later = checkpoint_now()
        assert later is not None and later.timestamp_token is not None
        checkpoint.timestamp_token = later.timestamp_token
        with pytest.raises(CheckpointInvalid, match="time-stamp token does not hold: .*other data"):
            verify_checkpoint(checkpoint, service_public_key())


@pytest.mark.real_commits
def test_a_tsa_down_or_answering_garbage_leaves_the_checkpoint_signed(
    app: Flask, tsa: LocalTSA, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    with app.app_context():
        grow_tree(3)
        app.config["AUDIT_TSA_URL"] = f"http://127.0.0.1:{closed_port()}/tsr"
        down = checkpoint_now()
        assert down is not None and down.timestamp_token is None and down.tsa_url is None
        verify_checkpoint(down, service_public_key())
        assert "checkpoint at tree size 3 not time-stamped (the TSA could not be reached" in caplog.text

        for url, _server in serve(lambda query: b"<html>busy</html>"):
            app.config["AUDIT_TSA_URL"] = url
            assert checkpoint_now() is None  # nothing new; the retry fails too
            db.session.refresh(down)
            assert down.timestamp_token is None
        assert "not a time-stamp response" in caplog.text

        # The TSA is back: the next turn, with nothing new, time-stamps the checkpoint left without one.
        for url, _server in serve(tsa.reply):
            app.config["AUDIT_TSA_URL"] = url
            assert checkpoint_now() is None
            db.session.refresh(down)
            assert down.timestamp_token is not None and down.tsa_url == url
        verify_checkpoint(down, service_public_key())


# The worker, and the settings ---------------------------------------------------------------------------


@pytest.mark.settings(AUDIT_ANCHOR_EMAIL="notary@lawfirm.example")
def test_worker_checkpoints_when_due(app: Flask, monkeypatch: pytest.MonkeyPatch) -> None:
    with app.app_context():
        grow_tree(3)
        later = 1e12
        assert audit_cli.run_checkpoints_when_due(later) == later  # not yet
        assert latest_checkpoint() is None
        monkeypatch.setattr(audit_cli.time, "monotonic", lambda: 1000.0)
        assert audit_cli.run_checkpoints_when_due(0.0) == 1000.0 + 60 * 60
        checkpoint = latest_checkpoint()
        assert checkpoint is not None and checkpoint.tree_size == 3
        assert db.session.execute(select(OutboxMessage.to_address)).scalar_one() == "notary@lawfirm.example"


def test_worker_survives_a_rewritten_tree(app: Flask, caplog: pytest.LogCaptureFixture) -> None:
    with app.app_context():
        grow_tree(2)
        assert audit_cli.run_checkpoints_when_due(0.0) > 0
        db.session.add(AuditCheckpoint(**{**checkpoint_columns(latest_checkpoint()), "tree_size": 9}))
        db.session.commit()
        audit_cli.run_checkpoints_when_due(0.0)  # the tree (2) is smaller than the last checkpoint (9)
    assert "making a checkpoint failed (the tree (size 2" in caplog.text


def checkpoint_columns(checkpoint: AuditCheckpoint | None) -> dict[str, object]:
    assert checkpoint is not None
    return {
        column: getattr(checkpoint, column)
        for column in ("created_at", "root_hash", "text", "signature", "public_key", "emailed_to")
    }


KEY = base64.b64encode(b"k" * 32).decode()
PRODUCTION = {
    "APP_ENV": "production",
    "SECRET_KEY": "k" * 48,
    "PUBLIC_BASE_URL": "https://security.ecc.example",
    "DATABASE_URL": "sqlite://",
    "RATELIMIT_STORAGE_URI": "redis://127.0.0.1:6379/0",
}


def test_production_needs_a_signing_key(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="AUDIT_SIGNING_KEY .or AUDIT_SIGNING_KEY_FILE. is required"):
        load_settings(PRODUCTION)
    assert load_settings({**PRODUCTION, "AUDIT_SIGNING_KEY": KEY})["AUDIT_SIGNING_KEY"] == KEY
    (tmp_path / "key").write_text(KEY + "\n")
    from_file = load_settings({**PRODUCTION, "AUDIT_SIGNING_KEY_FILE": str(tmp_path / "key")})
    assert from_file["AUDIT_SIGNING_KEY"] == KEY and from_file["AUDIT_LOG_ORIGIN"] == ORIGIN
    with pytest.raises(ConfigurationError, match="not both"):
        load_settings({**PRODUCTION, "AUDIT_SIGNING_KEY": KEY, "AUDIT_SIGNING_KEY_FILE": str(tmp_path / "key")})
    with pytest.raises(ConfigurationError, match="AUDIT_SIGNING_KEY_FILE .* cannot be read"):
        load_settings({**PRODUCTION, "AUDIT_SIGNING_KEY_FILE": str(tmp_path / "missing")})
    for bad in ("short", base64.b64encode(b"k" * 31).decode(), "not base64 at all!"):
        with pytest.raises(ConfigurationError, match="raw 32-byte Ed25519 private key"):
            load_settings({**PRODUCTION, "AUDIT_SIGNING_KEY": bad})
    with pytest.raises(ConfigurationError, match="AUDIT_LOG_ORIGIN must be one line"):
        load_settings({**PRODUCTION, "AUDIT_SIGNING_KEY": KEY, "AUDIT_LOG_ORIGIN": "a\nb"})
    assert load_settings({**PRODUCTION, "AUDIT_SIGNING_KEY": KEY})["AUDIT_CHECKPOINT_MINUTES"] == 60


def test_development_generates_its_key_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(settings_module, "INSTANCE_DIR", tmp_path)
    first = load_settings({"APP_ENV": "development"})["AUDIT_SIGNING_KEY"]
    assert (tmp_path / "audit_signing_key").read_text() == first
    assert (tmp_path / "audit_signing_key").stat().st_mode & 0o777 == 0o600
    assert load_settings({"APP_ENV": "development"})["AUDIT_SIGNING_KEY"] == first


# `flask audit verify` and the checkpoints ---------------------------------------------------------------


def checkpointed_log(app: Flask, runner, tmp_path: Path) -> Path:  # type: ignore[no-untyped-def]
    """A log of 5 events with a checkpoint, then 6 more with a second: the first saved as its email says."""
    with app.app_context():
        grow_tree(5)
        first = make_checkpoint(NOW)
        db.session.commit()
        assert first is not None
        held = tmp_path / "checkpoint.txt"
        held.write_text(f"{first.text}signature {first.signature}\npublic key {first.public_key}\n")
        grow_tree(6)
        assert make_checkpoint(NOW) is not None
        db.session.commit()
    return held


def rewrite_history(app: Flask, *, re_sign: bool) -> None:
    """What someone with the database (and perhaps a key of their own) would do: change the first event,
    rebuild the whole tree from the events, and replace the stored checkpoints with ones of the new tree."""
    with app.app_context():
        first = db.session.execute(select(AuditEvent).order_by(AuditEvent.id).limit(1)).scalar_one()
        first.actor = "someone else"
        first.hash = hashlib.sha256(event_leaf(first).encode()).hexdigest()
        db.session.execute(delete(AuditTreeNode))
        db.session.execute(delete(AuditTreeState))
        db.session.execute(update(AuditEvent).values(leaf_index=None))
        checkpoints = db.session.execute(select(AuditCheckpoint)).scalars().all()
        db.session.flush()
        integrate_all()
        forger = other_key()
        for checkpoint in checkpoints:
            root = root_at(checkpoint.tree_size)
            checkpoint.root_hash, checkpoint.text = root.hex(), checkpoint_text(ORIGIN, checkpoint.tree_size, root)
            if re_sign:
                checkpoint.signature = sign_checkpoint(checkpoint.text, forger)
                checkpoint.public_key = public_key_text(forger)
        db.session.commit()


def test_verify_checks_every_checkpoint_and_those_held_outside(app: Flask, runner, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    held = checkpointed_log(app, runner, tmp_path)
    result = runner.invoke(args=["audit", "verify", "--checkpoint", str(held)])
    assert result.exit_code == 0, result.output
    assert "checkpoints hold: 2 stored and 1 held outside" in result.output


def test_a_rewritten_history_re_signed_with_another_key_is_caught(app: Flask, runner, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    held = checkpointed_log(app, runner, tmp_path)
    rewrite_history(app, re_sign=True)
    result = runner.invoke(args=["audit", "verify"])
    assert result.exit_code == 1 and "audit checkpoints BROKEN: checkpoint" in result.output
    assert "not the published key" in result.output
    # Even with the forger's key given as published, the checkpoint held outside catches the rewrite.
    with app.app_context():
        forged = latest_checkpoint()
        assert forged is not None
        forger_key = forged.public_key
    result = runner.invoke(
        args=[
            "audit",
            "verify",
            "--public-key",
            forger_key,
            "--public-key",
            held.read_text().split("public key ")[1].strip(),
            "--checkpoint",
            str(held),
        ]
    )
    assert result.exit_code == 1
    assert "the checkpoint held outside in" in result.output and "(the history was rewritten after it)" in result.output


def test_a_rewritten_history_under_the_old_signatures_is_caught(app: Flask, runner, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    checkpointed_log(app, runner, tmp_path)
    rewrite_history(app, re_sign=False)  # new roots in the rows, old signatures
    result = runner.invoke(args=["audit", "verify"])
    assert result.exit_code == 1 and "audit checkpoints BROKEN: checkpoint" in result.output
    assert "does not verify with public key" in result.output


def test_a_stored_checkpoint_the_tree_no_longer_matches_is_named(app: Flask, runner, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """A checkpoint signed with the service's own key for a root the tree does not have at that size (the
    tree itself whole): the check of each checkpoint's root against the tree is what names it."""
    checkpointed_log(app, runner, tmp_path)
    with app.app_context():
        first = db.session.execute(select(AuditCheckpoint).order_by(AuditCheckpoint.tree_size)).scalars().first()
        assert first is not None
        other = hashlib.sha256(b"another history").digest()
        first.text, first.root_hash = checkpoint_text(ORIGIN, first.tree_size, other), other.hex()
        first.signature = sign_checkpoint(first.text, service_signing_key())
        db.session.commit()
    result = runner.invoke(args=["audit", "verify"])
    assert result.exit_code == 1 and "audit tree intact" in result.output
    assert "audit checkpoints BROKEN" in result.output and "(the history was rewritten after it)" in result.output


def test_a_checkpoint_beyond_the_log_says_it_was_cut(app: Flask, runner, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    held = tmp_path / "future.txt"
    with app.app_context():
        grow_tree(2)
        db.session.commit()
        text = checkpoint_text(ORIGIN, 9, ROOT)
        held.write_text(f"{text}signature {sign_checkpoint(text, service_signing_key())}\n")
    result = runner.invoke(args=["audit", "verify", "--checkpoint", str(held)])
    assert result.exit_code == 1 and "the log's tree has only 2 leaves (the log was cut short)" in result.output


def test_a_file_that_is_no_checkpoint_is_refused(runner, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    junk = tmp_path / "junk.txt"
    junk.write_text("hello\n")
    result = runner.invoke(args=["audit", "verify", "--checkpoint", str(junk)])
    assert result.exit_code == 2 and "is not a checkpoint" in result.output
