"""`flask incidents mass-reactivate FILE [--dry-run] [--reason TEXT]`."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from flask.cli import with_appcontext

from ..database import utcnow
from .breach import batch_key, mass_reactivate, read_breach_list

incidents_cli = click.Group("incidents", help="Incidents in bulk.")


@incidents_cli.command("mass-reactivate")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--dry-run", is_flag=True, help="Say what would happen; change nothing.")
@click.option("--reason", default=None, help="Recorded with every report; running again with it changes nothing.")
@with_appcontext
def mass_reactivate_command(file: Path, dry_run: bool, reason: str | None) -> None:
    """Reactivate every customer whose address is on a leaked list (one per line, or CSV with `email`)."""
    try:
        text = file.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise click.ClickException(f"{file} is not UTF-8 text") from None
    parsed = read_breach_list(text)
    key = batch_key(text, reason)
    stream = sys.stderr
    with click.progressbar(
        length=len(parsed.entries), label="Reactivating" if not dry_run else "Checking", file=stream, show_pos=True
    ) as bar:
        outcome = mass_reactivate(
            parsed.entries, key=key, dry_run=dry_run, actor="cli", now=utcnow(), progress=bar.update
        )
    verb = "would reactivate" if dry_run else "reactivated"
    click.echo(
        f"{verb} {len(outcome.reactivated)}, already open {len(outcome.already_open)}, "
        f"already done in this breach {len(outcome.already_done)}, unknown {len(outcome.unknown)}, "
        f"invalid lines {len(parsed.invalid)}"
    )
    for number, line in parsed.invalid:
        click.echo(f"line {number}: not an email address: {line!r}", err=True)
    click.echo(f"recorded as: {key}")
