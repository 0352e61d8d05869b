"""`flask audit verify`: every event, the Merkle tree and every checkpoint; non-zero exit at the first
break, naming it. `flask audit sequence`, `checkpoint`, `public-key`, `generate-key`: the tree and its
signed checkpoints, and the outbox worker's periodic calls that make them."""

from __future__ import annotations

import sys
import time

import click
from flask import current_app
from flask.cli import with_appcontext
from sqlalchemy.exc import SQLAlchemyError

from .actions import Event, tag
from .checkpoint import (
    CheckpointInvalid,
    checkpoints_to_timestamp,
    generate_signing_key,
    latest_checkpoint,
    make_checkpoint,
    record_timestamp,
    service_public_key,
    timestamp_text,
)
from .models import AuditCheckpoint
from .service import append_event

audit_cli = click.Group("audit", help="The audit log: a Merkle tree with signed checkpoints.")


def parse_anchor(_ctx: object, _param: object, values: tuple[str, ...]) -> list[tuple[int, str]]:
    anchors = []
    for value in values:
        event_id, _, head = value.partition(":")
        if not event_id.isdigit() or len(head) != 64 or any(c not in "0123456789abcdef" for c in head):
            raise click.BadParameter(f"{value!r} is not EVENT_ID:SHA256 (as printed in an anchor email)")
        anchors.append((int(event_id), head))
    return anchors


@audit_cli.command("verify")
@click.option(
    "--anchor",
    "anchors",
    multiple=True,
    callback=parse_anchor,
    metavar="EVENT_ID:HASH",
    help="An anchor of the chain held outside the service (from an anchor email before the tree); may repeat.",
)
@click.option(
    "--checkpoint",
    "held_files",
    multiple=True,
    type=click.Path(exists=True, dir_okay=False),
    help="A checkpoint held outside the service (as `audit checkpoint` prints it or its email carries); may repeat.",
)
@click.option(
    "--public-key",
    "public_keys",
    multiple=True,
    help="A published key checkpoints may be signed with (base64); may repeat. Default: the service's own.",
)
@with_appcontext
def verify_command(anchors: list[tuple[int, str]], held_files: tuple[str, ...], public_keys: tuple[str, ...]) -> None:
    """Verify every event's hash and the old chain's links and anchors; the Merkle tree (every leaf from
    its event, every node, the root); and every checkpoint, stored or held outside (signature, root at
    its size, consistency with the next)."""
    from .tree_verification import read_held_checkpoint, verify_log

    held = []
    for path in held_files:
        try:
            with open(path, encoding="utf-8") as handle:
                held.append(read_held_checkpoint(handle.read(), path))
        except (CheckpointInvalid, UnicodeDecodeError) as error:
            raise click.BadParameter(str(error), param_hint="--checkpoint") from None
    log = verify_log(list(public_keys) or [service_public_key()], held, anchors)
    result, tree, checkpoints = log.chain, log.tree, log.checkpoints
    if result.ok:
        click.echo(
            f"audit events intact: {result.events} events; the chain before the tree ends at {result.head}, "
            f"{result.anchors_checked} anchors matched"
        )
    else:
        click.echo(
            f"audit chain BROKEN at event {result.broken_at}: {result.problem} "
            f"({result.events - 1} events before it verified)",
            err=True,
        )
    if tree.ok:
        click.echo(
            f"audit tree intact: {tree.size} leaves, root {tree.root}"
            + (f"; {tree.waiting} newer events wait for the sequencer" if tree.waiting else "")
        )
    else:
        click.echo(f"audit tree BROKEN: {tree.problem}", err=True)
    if checkpoints is not None and checkpoints.ok:
        click.echo(
            f"checkpoints hold: {checkpoints.checked} stored and {checkpoints.held} held outside, each signed, "
            "matching the tree, and each extended by the next"
        )
    elif checkpoints is not None:
        click.echo(f"audit checkpoints BROKEN: {checkpoints.problem}", err=True)
    if not log.ok:
        sys.exit(1)


@audit_cli.command("sequence")
@click.option("--batch", default=1000, show_default=True, help="Events integrated per transaction.")
@with_appcontext
def sequence_command(batch: int) -> None:
    """Put every event not yet in the Merkle tree into it, in batches (the worker does this as it runs)."""
    from .sequencer import integrate_all, tree_head

    total = integrate_all(batch)
    head = tree_head()
    click.echo(f"integrated {total} events; tree of {head.size} leaves, root {head.root.hex()}")


@audit_cli.command("anchor", hidden=True)
@click.option(
    "--email", "email_to", default=None, help="Send the checkpoint to this outside address [AUDIT_ANCHOR_EMAIL]."
)
@click.pass_context
def anchor_command(ctx: click.Context, email_to: str | None) -> None:
    """Kept for old scripts: the chain's anchors became signed checkpoints of the tree."""
    click.echo("anchors are now signed checkpoints of the log's tree: making one (flask audit checkpoint)", err=True)
    ctx.invoke(checkpoint_command, email_to=email_to)


@audit_cli.command("verify-pack")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option(
    "--public-key",
    default=None,
    help="The service's published Ed25519 key (base64): the checkpoint must be signed with it.",
)
def verify_pack_command(file: str, public_key: str | None) -> None:
    """Check an evidence pack offline: file and email digests, audit event hashes, and the log's proofs
    (leaves, inclusion proofs, the checkpoint's signature and time-stamp). Exit 0: proved; 1: a check
    failed; 2: consistent, but not proved (no published key given, or a pack without the log's proofs)."""
    from ..packs.verify import verify_pack

    with open(file, "rb") as handle:
        result = verify_pack(handle.read(), public_key=public_key)
    for problem in result.problems:
        click.echo(f"FAIL: {problem}", err=True)
    for warning in result.warnings:
        click.echo(f"WARNING: {warning}", err=True)
    if result.problems:
        sys.exit(1)
    for fact in result.facts:
        click.echo(f"OK: {fact}")
    if result.unproved:
        for reason in result.unproved:
            click.echo(f"NOT PROVED: {reason}", err=True)
        head = result.chain_head
        if head:
            click.echo(
                f"chain head at export: event {head.get('last_event_id')}, {head.get('hash')} "
                "(compare with an anchor held outside the company)"
            )
        sys.exit(2)
    click.echo("evidence pack proved: every check passed against the published key")


def checkpoint_address(email_to: str | None) -> str | None:
    """Where a checkpoint goes: `email_to`, else AUDIT_ANCHOR_EMAIL, checked as an address."""
    from ..customers.addresses import InvalidAddress, normalize_address

    address = email_to or current_app.config.get("AUDIT_ANCHOR_EMAIL")
    if not address:
        return None
    try:
        return normalize_address(address)
    except InvalidAddress:
        raise click.ClickException(f"{address!r} is not a valid email address") from None


def checkpoint_and_email(*, email_to: str | None, source: str, actor: str) -> AuditCheckpoint | None:
    """Make a checkpoint (None if the tree has not changed) and queue its email outside, commit, then
    time-stamp it (and any earlier one left without a token) with no transaction open while the TSA
    answers. Raises CheckpointInvalid if the tree does not extend the last checkpoint, after recording
    `audit:checkpoint_refused` (a staff alert follows)."""
    from ..database import utcnow
    from ..extensions import db
    from ..notifications.emails import send_audit_checkpoint_email

    now = utcnow()
    try:
        checkpoint = make_checkpoint(now, email_to)
        if checkpoint is not None and email_to:
            send_audit_checkpoint_email(checkpoint, to_address=email_to, source=source, actor=actor, now=now)
        pending = checkpoints_to_timestamp()
        db.session.commit()
    except CheckpointInvalid as refused:
        # The log no longer extends what was signed: say so in the log itself (staff alerts read it).
        db.session.rollback()
        append_event(tag(source, Event.CHECKPOINT_REFUSED), actor=actor, now=now, data={"problem": str(refused)[:1000]})
        db.session.commit()
        raise
    except BaseException:
        db.session.rollback()
        raise
    for checkpoint_id, tree_size, text in pending:
        token = timestamp_text(text, tree_size=tree_size)
        if token is None:
            break  # the TSA is failing: the rest wait for the next turn
        record_timestamp(checkpoint_id, token)
        db.session.commit()
    if checkpoint is not None:
        db.session.refresh(checkpoint)
    return checkpoint


@audit_cli.command("checkpoint")
@click.option(
    "--email", "email_to", default=None, help="Send the checkpoint to this outside address [AUDIT_ANCHOR_EMAIL]."
)
@with_appcontext
def checkpoint_command(email_to: str | None) -> None:
    """Sign the tree's head now (time-stamped if AUDIT_TSA_URL is set) and email it outside."""

    address = checkpoint_address(email_to)
    try:
        checkpoint = checkpoint_and_email(email_to=address, source="cli", actor="cli")
    except CheckpointInvalid as error:
        raise click.ClickException(str(error)) from None
    if checkpoint is None:
        last = latest_checkpoint()
        click.echo(
            "nothing to checkpoint: the log is empty"
            if last is None
            else f"nothing new since the checkpoint at tree size {last.tree_size}"
            + ("" if last.timestamp_token is None else " (time-stamped)")
        )
        return
    click.echo(checkpoint.text, nl=False)
    click.echo(f"signature {checkpoint.signature}")
    click.echo(f"public key {checkpoint.public_key}")
    stamped = "time-stamped by " + (checkpoint.tsa_url or "") if checkpoint.timestamp_token else "not time-stamped"
    click.echo(f"checkpoint {checkpoint.id}: {stamped}" + (f"; queued to {address}" if address else ""))


@audit_cli.command("public-key")
@with_appcontext
def public_key_command() -> None:
    """Print the public key that verifies checkpoints (base64 of the raw 32-byte Ed25519 key): publish it."""
    click.echo(service_public_key())


@audit_cli.command("generate-key")
def generate_key_command() -> None:
    """Print a new private signing key for AUDIT_SIGNING_KEY (keep it secret; its public key is published)."""
    click.echo(generate_signing_key())


def run_checkpoints_when_due(due_at: float) -> float:
    """For the outbox worker's loop: make (and email to AUDIT_ANCHOR_EMAIL) a checkpoint if `due_at`
    (time.monotonic()) has come and the tree has grown; returns when to look next. A failure is logged
    and retried at the next turn: checkpoints never stop delivery."""
    if time.monotonic() < due_at:
        return due_at
    from ..extensions import db

    next_due = time.monotonic() + 60.0 * int(current_app.config["AUDIT_CHECKPOINT_MINUTES"])
    try:
        checkpoint = checkpoint_and_email(email_to=checkpoint_address(None), source="worker", actor="outbox-worker")
    except (SQLAlchemyError, CheckpointInvalid, click.ClickException) as error:
        db.session.rollback()
        current_app.logger.error("audit: making a checkpoint failed (%s); trying again later", error)
    else:
        if checkpoint is not None:
            current_app.logger.info(
                "audit: checkpoint at tree size %d, root %s", checkpoint.tree_size, checkpoint.root_hash
            )
    return next_due


def run_sequencer(batch: int = 1000) -> int:
    """For the outbox worker's loop: integrate up to `batch` new events into the Merkle tree and commit;
    returns how many. A failure is logged and retried at the next turn: sequencing never stops delivery."""
    from ..extensions import db
    from .sequencer import integrate

    try:
        added = integrate(batch)
        db.session.commit()
    except SQLAlchemyError:
        db.session.rollback()
        current_app.logger.exception("audit: integrating events into the tree failed; trying again later")
        return 0
    if added:
        current_app.logger.info("audit: %d events integrated into the tree", added)
    return added
