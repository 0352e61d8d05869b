"""`flask outbox work [--once]`: deliver queued email."""

from __future__ import annotations

import time

import click
from flask import current_app
from flask.cli import with_appcontext

from ..alerts.cli import run_alerts_when_due
from ..audit.cli import run_checkpoints_when_due, run_sequencer
from ..webhooks.delivery import deliver_due_webhooks
from .delivery import deliver_due

outbox_cli = click.Group("outbox", help="Deliver queued email.")


@outbox_cli.command("work")
@click.option("--once", is_flag=True, help="Deliver what is due now, then exit.")
@click.option("--interval", default=1.0, show_default=True, help="Seconds between polls when idle.")
@with_appcontext
def work_command(once: bool, interval: float) -> None:
    """Send due messages, retrying temporary failures with backoff, until stopped."""
    alerts_due = checkpoint_due = 0.0
    while True:
        run = deliver_due()
        alerts_due = run_alerts_when_due(alerts_due)  # staff alerts (incident_service/alerts), queued here
        sequenced = run_sequencer()  # events into the Merkle tree (audit/sequencer.py), before checkpointing
        checkpoint_due = run_checkpoints_when_due(checkpoint_due)  # signed tree heads (audit/checkpoint.py)
        if run.handled:
            current_app.logger.info("outbox: %d sent, %d deferred, %d failed", run.sent, run.retried, run.failed)
        # Webhooks ride the same worker (incident_service/webhooks): one process to run.
        hooks = deliver_due_webhooks()
        if hooks.handled:
            current_app.logger.info(
                "webhooks: %d delivered, %d to retry, %d failed", hooks.delivered, hooks.retried, hooks.failed
            )
        if once:
            click.echo(f"sent {run.sent}, deferred {run.retried}, failed {run.failed}")
            if hooks.handled:
                click.echo(f"webhooks: delivered {hooks.delivered}, to retry {hooks.retried}, failed {hooks.failed}")
            return
        if not run.handled and not hooks.handled and not sequenced:
            time.sleep(interval)
