"""`flask audit verify`: walk the whole chain; non-zero exit at the first break, naming it."""

from __future__ import annotations

import sys

import click
from flask.cli import with_appcontext

from .service import verify_chain

audit_cli = click.Group("audit", help="The hash-chained audit log.")


@audit_cli.command("verify")
@with_appcontext
def verify_command() -> None:
    """Verify every event's link and hash, from the first to the head."""
    result = verify_chain()
    if result.ok:
        click.echo(f"audit chain intact: {result.events} events, head {result.head}")
        return
    click.echo(f"audit chain BROKEN at event {result.broken_at}: {result.problem} "
               f"({result.events - 1} events before it verified)", err=True)
    sys.exit(1)
