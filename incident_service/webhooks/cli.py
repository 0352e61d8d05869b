"""`flask webhooks add URL --event E...`, `list`, `remove ID`, `rotate-secret ID`, `disable ID`, `enable ID`."""

from __future__ import annotations

from datetime import timedelta

import click
from flask import current_app
from flask.cli import with_appcontext

from ..database import utcnow
from ..extensions import db
from .addresses import UnsafeTarget
from .models import EVENT_TYPES, WebhookSubscription
from .service import (
    DISABLED_BY_STAFF,
    WebhookError,
    add_subscription,
    disable_subscription,
    enable_subscription,
    remove_subscription,
    rotate_secret,
    subscriptions,
)

webhooks_cli = click.Group("webhooks", help="Manage webhook subscriptions.")


def _subscription(subscription_id: int) -> WebhookSubscription:
    subscription = db.session.get(WebhookSubscription, subscription_id)
    if subscription is None:
        raise click.ClickException(f"no webhook subscription {subscription_id}")
    return subscription


@webhooks_cli.command("add")
@click.argument("url")
@click.option("--event", "events", multiple=True, required=True, type=click.Choice(EVENT_TYPES), help="Repeatable.")
@with_appcontext
def add_command(url: str, events: tuple[str, ...]) -> None:
    """Subscribe URL to the events; prints the signing secret, once."""
    try:
        subscription, secret = add_subscription(url, list(events), source="cli", actor="cli", now=utcnow())
    except UnsafeTarget as refused:
        raise click.ClickException(f"refused: {refused.code} ({refused})") from None
    except WebhookError as refused:
        raise click.ClickException(str(refused)) from None
    db.session.commit()
    click.echo(f"subscription {subscription.id}: {subscription.url} ({subscription.events})")
    click.echo("signing secret (shown once; keep it in the receiver's secret store):")
    click.echo(secret)


@webhooks_cli.command("list")
@with_appcontext
def list_command() -> None:
    """One line per subscription: id, status, failures in a row, URL, events. Secrets are never shown."""
    for subscription in subscriptions():
        state = subscription.status
        if subscription.disabled_reason:
            state += f" ({subscription.disabled_reason})"
        click.echo(
            f"{subscription.id}\t{state}\t{subscription.consecutive_failures}\t{subscription.url}\t"
            f"{subscription.events}"
        )


@webhooks_cli.command("remove")
@click.argument("subscription_id", type=int)
@with_appcontext
def remove_command(subscription_id: int) -> None:
    """Delete the subscription, its queued deliveries and their log (the audit log keeps that it existed)."""
    remove_subscription(_subscription(subscription_id), source="cli", actor="cli", now=utcnow())
    db.session.commit()
    click.echo(f"removed subscription {subscription_id}")


@webhooks_cli.command("rotate-secret")
@click.argument("subscription_id", type=int)
@click.option(
    "--overlap-hours", type=click.IntRange(0, 24 * 30), default=None, help="Default: WEBHOOK_SECRET_OVERLAP_HOURS."
)
@with_appcontext
def rotate_command(subscription_id: int, overlap_hours: int | None) -> None:
    """A new signing secret, printed once; the old one still signs beside it during the overlap."""
    hours = current_app.config["WEBHOOK_SECRET_OVERLAP_HOURS"] if overlap_hours is None else overlap_hours
    secret = rotate_secret(
        _subscription(subscription_id), overlap=timedelta(hours=hours), source="cli", actor="cli", now=utcnow()
    )
    db.session.commit()
    click.echo(f"new signing secret for subscription {subscription_id} (the old one also signs for {hours} h):")
    click.echo(secret)


@webhooks_cli.command("disable")
@click.argument("subscription_id", type=int)
@with_appcontext
def disable_command(subscription_id: int) -> None:
    """Stop sending; what is queued waits until it is enabled."""
    disable_subscription(
        _subscription(subscription_id), reason=DISABLED_BY_STAFF, source="cli", actor="cli", now=utcnow()
    )
    db.session.commit()
    click.echo(f"disabled subscription {subscription_id}")


@webhooks_cli.command("enable")
@click.argument("subscription_id", type=int)
@with_appcontext
def enable_command(subscription_id: int) -> None:
    """Send again, starting with what waited."""
    enable_subscription(_subscription(subscription_id), source="cli", actor="cli", now=utcnow())
    db.session.commit()
    click.echo(f"enabled subscription {subscription_id}")
