"""`flask api-keys create NAME --scope SCOPE... [--expires-in-days N] | list | revoke NAME`."""

from __future__ import annotations

from datetime import timedelta

import click
from flask.cli import with_appcontext

from ..audit.actions import Source
from ..database import utcnow
from ..disclosures.models import LEGAL_BASES
from ..extensions import db
from .models import SCOPES
from .schemas import utc_text
from .service import ApiKeyError, ApiKeyExists, ApiKeyNotFound, api_keys, create_api_key, revoke_api_key

api_keys_cli = click.Group("api-keys", help="Keys for the JSON API (/api/v1).")


@api_keys_cli.command("create")
@click.argument("name")
@click.option(
    "--scope", "scopes", multiple=True, required=True, type=click.Choice(SCOPES), help="Repeat for each scope."
)
@click.option("--expires-in-days", type=click.IntRange(min=1, max=3650), default=None, help="No expiry if left out.")
@click.option("--purpose", default=None, help="What the system uses customers' data for (disclosure register).")
@click.option(
    "--basis", "legal_basis", type=click.Choice(LEGAL_BASES), default=None, help="Legal basis (disclosure register)."
)
@with_appcontext
def create_command(
    name: str, scopes: tuple[str, ...], expires_in_days: int | None, purpose: str | None, legal_basis: str | None
) -> None:
    """Create a key and print it: this is the only time it is shown."""
    now = utcnow()
    try:
        made = create_api_key(
            name,
            scopes=scopes,
            expires_at=now + timedelta(days=expires_in_days) if expires_in_days else None,
            source=Source.CLI,
            actor="cli",
            now=now,
            purpose=purpose,
            legal_basis=legal_basis,
        )
    except ApiKeyExists:
        raise click.ClickException(f"a key named {name!r} exists (revoked keys keep their name)") from None
    except ApiKeyError as exc:
        raise click.ClickException(str(exc)) from None
    db.session.commit()
    click.echo(made.secret)
    click.echo(f"Key {made.key.name} ({made.key.scopes}) created. Store it now: it cannot be shown again.", err=True)


@api_keys_cli.command("list")
@with_appcontext
def list_command() -> None:
    """Name, prefix, scopes, state, expiry and last use of every key (never the key)."""
    now = utcnow()
    for key in api_keys():
        if key.revoked_at is not None:
            state = f"revoked {utc_text(key.revoked_at)}"
        elif not key.usable_at(now):
            state = "expired"
        else:
            state = "active"
        expires = utc_text(key.expires_at) if key.expires_at else "never"
        used = utc_text(key.last_used_at) if key.last_used_at else "never"
        click.echo(f"{key.name}\t{key.prefix}…\t{key.scopes}\t{state}\texpires {expires}\tlast used {used}")


@api_keys_cli.command("revoke")
@click.argument("name")
@with_appcontext
def revoke_command(name: str) -> None:
    """Revoke a key at once."""
    try:
        revoke_api_key(name, source=Source.CLI, actor="cli", now=utcnow())
    except ApiKeyNotFound:
        raise click.ClickException(f"no key named {name!r}") from None
    db.session.commit()
    click.echo(f"Key {name} revoked.")
