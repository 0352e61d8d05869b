"""`flask outbox work [--once]`: deliver queued email."""

from __future__ import annotations

import time

import click
from flask import current_app
from flask.cli import with_appcontext

from .delivery import deliver_due

outbox_cli = click.Group("outbox", help="Deliver queued email.")


@outbox_cli.command("work")
@click.option("--once", is_flag=True, help="Deliver what is due now, then exit.")
@click.option("--interval", default=1.0, show_default=True, help="Seconds between polls when idle.")
@with_appcontext
def work_command(once: bool, interval: float) -> None:
    """Send due messages, retrying temporary failures with backoff, until stopped."""
    while True:
        run = deliver_due()
        if run.handled:
            current_app.logger.info("outbox: %d sent, %d deferred, %d failed", run.sent, run.retried, run.failed)
        if once:
            click.echo(f"sent {run.sent}, deferred {run.retried}, failed {run.failed}")
            return
        if not run.handled:
            time.sleep(interval)
