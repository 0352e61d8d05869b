"""`flask retention run [--dry-run]`, and the outbox worker's daily call: empty the personal data past its
retention period (incident_service/retention/service.py), honouring legal holds."""

from __future__ import annotations

import time

import click
from flask import current_app
from flask.cli import with_appcontext
from sqlalchemy.exc import SQLAlchemyError

from ..audit.actions import Source
from ..database import utcnow
from ..extensions import db
from .service import RetentionRun, run_retention

retention_cli = click.Group("retention", help="Personal data kept no longer than needed.")

# How often the outbox worker applies the rules.
WORKER_INTERVAL_SECONDS = 24 * 60 * 60.0


def _print(run: RetentionRun, *, dry_run: bool) -> None:
    for outcome in run.outcomes:
        if outcome.cutoff is None:
            click.echo(f"{outcome.rule}: kept for ever (0 days)")
            continue
        click.echo(
            f"{outcome.rule} ({outcome.days} days, before {outcome.cutoff:%Y-%m-%d %H:%M} UTC): "
            f"{outcome.messages} emails, {outcome.reports} reports, {outcome.events} audit events"
        )
    click.echo(f"{'would empty' if dry_run else 'emptied'} {run.total} rows; incidents under a legal hold untouched")


@retention_cli.command("run")
@click.option("--dry-run", is_flag=True, help="Say what is due; change nothing.")
@with_appcontext
def run_command(dry_run: bool) -> None:
    """Empty what is past its retention period (RETENTION_*_DAYS), except under a legal hold."""
    try:
        run = run_retention(source=Source.CLI, now=utcnow())
    except BaseException:
        db.session.rollback()
        raise
    if dry_run:
        db.session.rollback()
    else:
        db.session.commit()
    _print(run, dry_run=dry_run)


def run_retention_when_due(due_at: float) -> float:
    """For the outbox worker's loop: apply the rules once a day; returns when to look next. A failure is
    logged and retried at the next day: retention never stops delivery."""
    if time.monotonic() < due_at:
        return due_at
    try:
        run = run_retention(source=Source.WORKER, now=utcnow())
        db.session.commit()
    except SQLAlchemyError:
        db.session.rollback()
        current_app.logger.exception("retention: applying the rules failed; trying again tomorrow")
    else:
        if run.total:
            current_app.logger.info("retention: %d rows emptied", run.total)
    return time.monotonic() + WORKER_INTERVAL_SECONDS
