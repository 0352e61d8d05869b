"""`flask audit verify`: walk the whole chain; non-zero exit at the first break, naming it."""

from __future__ import annotations

import sys

import click
from flask.cli import with_appcontext

from .service import verify_chain

audit_cli = click.Group("audit", help="The hash-chained audit log.")


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
    help="An anchor held outside the service (from an anchor email); may repeat.",
)
@with_appcontext
def verify_command(anchors: list[tuple[int, str]]) -> None:
    """Verify every event's link and hash, from the first to the head, and every anchor."""
    result = verify_chain(anchors)
    if result.ok:
        click.echo(
            f"audit chain intact: {result.events} events, head {result.head}, {result.anchors_checked} anchors matched"
        )
        return
    click.echo(
        f"audit chain BROKEN at event {result.broken_at}: {result.problem} "
        f"({result.events - 1} events before it verified)",
        err=True,
    )
    sys.exit(1)


@audit_cli.command("anchor")
@click.option("--email", "email_to", default=None, help="Send the anchor to this outside address [AUDIT_ANCHOR_EMAIL].")
@with_appcontext
def anchor_command(email_to: str | None) -> None:
    """Record the current chain head (and email it outside, if an address is set)."""
    from flask import current_app

    from ..customers.addresses import InvalidAddress, normalize_address
    from ..database import utcnow
    from ..extensions import db
    from ..notifications.emails import send_audit_anchor_email
    from .service import create_anchor

    address = email_to or current_app.config.get("AUDIT_ANCHOR_EMAIL")
    if address:
        try:
            address = normalize_address(address)
        except InvalidAddress:
            raise click.ClickException(f"{address!r} is not a valid email address") from None
    now = utcnow()
    anchor = create_anchor(now=now, actor="cli", email_to=address)
    if address:
        send_audit_anchor_email(anchor, to_address=address, actor="cli", now=now)
    db.session.commit()
    click.echo(
        f"anchor {anchor.id}: event {anchor.last_event_id}, {anchor.event_count} events, "
        f"head {anchor.head_hash}" + (f"; queued to {address}" if address else "")
    )
    click.echo(
        f"keep it outside the service; check with: flask --app wsgi audit verify --anchor "
        f"{anchor.last_event_id}:{anchor.head_hash}"
    )


@audit_cli.command("verify-pack")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
def verify_pack_command(file: str) -> None:
    """Check an evidence pack offline: file and email digests, audit event hashes and links."""
    from ..packs.verify import verify_pack

    with open(file, "rb") as handle:
        problems, head = verify_pack(handle.read())
    for problem in problems:
        click.echo(f"FAIL: {problem}", err=True)
    if problems:
        sys.exit(1)
    click.echo(
        f"evidence pack consistent; chain head at export: event {head.get('last_event_id')}, "
        f"{head.get('hash')} (compare with an anchor held outside the company)"
    )
