"""`flask alerts run [--dry-run]`, and the outbox worker's periodic call: collect staff alerts, commit."""

from __future__ import annotations

import time

import click
from flask import current_app
from flask.cli import with_appcontext
from sqlalchemy.exc import SQLAlchemyError

from ..audit.actions import Source
from ..audit.sequencer import integrate_all
from ..database import utcnow
from ..extensions import db
from .service import collect_alerts, security_team

# How often the outbox worker looks for alerts.
WORKER_POLL_SECONDS = 30.0

alerts_cli = click.Group("alerts", help="Email the security team about what needs a person.")


@alerts_cli.command("run")
@click.option("--dry-run", is_flag=True, help="Show what would be sent; send and change nothing.")
@with_appcontext
def run_command(dry_run: bool) -> None:
    """Queue the alerts that are due (the outbox worker sends them). Safe to run on several hosts at once."""
    if not security_team():
        click.echo("SECURITY_TEAM_ADDRESSES is empty: staff alerts are off.")
        return
    if not dry_run:
        integrate_all()  # alerts read the log as far as the tree holds it
    planned = collect_alerts(now=utcnow(), source=Source.CLI, actor="cli", dry_run=dry_run)
    if dry_run:
        db.session.rollback()
    else:
        db.session.commit()
    for alert in planned:
        click.echo(f"{alert.kind}: {alert.count}")
    click.echo(
        f"{'would queue' if dry_run else 'queued'} {len(planned)} alert(s) to {len(security_team())} address(es)"
    )


def run_alerts_when_due(due_at: float) -> float:
    """For the outbox worker's loop: collect and commit alerts if `due_at` (time.monotonic()) has come;
    returns when to look next. A failure is logged and retried later: alerts never stop delivery."""
    if time.monotonic() < due_at or not security_team():
        return due_at
    try:
        planned = collect_alerts(now=utcnow(), source=Source.WORKER, actor="outbox-worker")
        db.session.commit()
    except SQLAlchemyError:
        db.session.rollback()
        current_app.logger.exception("alerts: collecting staff alerts failed; trying again later")
    else:
        if planned:
            current_app.logger.info("alerts: queued %s", ", ".join(f"{a.kind} ({a.count})" for a in planned))
    return time.monotonic() + WORKER_POLL_SECONDS
