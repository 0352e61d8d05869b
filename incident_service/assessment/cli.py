"""`flask policy list | publish`: the late threshold's versions."""

from __future__ import annotations

from datetime import datetime, timezone
from zoneinfo import ZoneInfo

import click
from flask import current_app
from flask.cli import with_appcontext
from sqlalchemy import select

from ..database import utcnow
from ..extensions import db
from ..i18n import format_local
from .models import PolicyVersion
from .service import PolicyError, publish_policy

policy_cli = click.Group("policy", help="The reporting policy: when a report is late.")


@policy_cli.command("list")
@with_appcontext
def list_command() -> None:
    """Every version, newest first."""
    versions = db.session.execute(select(PolicyVersion).order_by(PolicyVersion.effective_from.desc())).scalars().all()
    for version in versions:
        click.echo(
            f"{version.id}\t{version.threshold_hours} h\tfrom {format_local(version.effective_from)}\t"
            f"{version.created_by}\t{version.note}"
        )
    click.echo(
        f"{len(versions)} versions; before the first, LATE_REPORT_THRESHOLD_HOURS = "
        f"{current_app.config['LATE_REPORT_THRESHOLD_HOURS']} h applies"
    )


@policy_cli.command("publish")
@click.option("--threshold-hours", type=click.IntRange(1, 24 * 365), required=True)
@click.option(
    "--effective-from", default=None, help="YYYY-MM-DDTHH:MM in DISPLAY_TIMEZONE (default: now). Never in the past."
)
@click.option("--note", required=True, help="Why, and who decided.")
@with_appcontext
def publish_command(threshold_hours: int, effective_from: str | None, note: str) -> None:
    """Publish a new version; incidents already open or closed keep theirs."""
    now = utcnow()
    if effective_from:
        try:
            local = datetime.fromisoformat(effective_from)
        except ValueError:
            raise click.BadParameter("use YYYY-MM-DDTHH:MM", param_hint="--effective-from") from None
        zone = ZoneInfo(current_app.config["DISPLAY_TIMEZONE"])
        moment = (local if local.tzinfo else local.replace(tzinfo=zone)).astimezone(timezone.utc)
    else:
        moment = now
    try:
        version = publish_policy(
            threshold_hours=threshold_hours, effective_from=moment, note=note, actor="cli", now=now
        )
    except PolicyError as exc:
        raise click.ClickException(str(exc)) from None
    db.session.commit()
    click.echo(f"published version {version.id}: late after {threshold_hours} h, from {format_local(moment)}")
