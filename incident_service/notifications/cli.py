"""`flask outbox work [--once]`: deliver queued email."""

from __future__ import annotations

import time

import click
from flask import current_app
from flask.cli import with_appcontext

from ..alerts.cli import run_alerts_when_due
from ..audit.cli import run_checkpoints_when_due, run_sequencer
from ..retention.cli import run_retention_when_due
from ..webhooks.delivery import deliver_due_webhooks
from .delivery import deliver_due

outbox_cli = click.Group("outbox", help="Deliver queued email.")


@outbox_cli.command("work")
@click.option("--once", is_flag=True, help="Deliver what is due now, then exit.")
@click.option("--interval", default=1.0, show_default=True, help="Seconds between polls when idle.")
@with_appcontext
def work_command(once: bool, interval: float) -> None:
    """Send due messages, retrying temporary failures with backoff, until stopped."""
    alerts_due = checkpoint_due = retention_due = 0.0
    while True:
        run = deliver_due()
        # Events into the Merkle tree (audit/sequencer.py): alerts read the log up to it, checkpoints sign it.
        sequenced = run_sequencer()
        alerts_due = run_alerts_when_due(alerts_due)  # staff alerts (incident_service/alerts), queued here
        checkpoint_due = run_checkpoints_when_due(checkpoint_due)  # signed tree heads (audit/checkpoint.py)
        retention_due = run_retention_when_due(retention_due)  # personal data past its period, daily
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
