"""`flask intake smtpd | import | quarantine`."""

from __future__ import annotations

import logging
import signal
import sys
import threading
from collections import Counter
from pathlib import Path
from typing import Iterator, cast

import click
from flask import Flask, current_app
from flask.cli import with_appcontext
from sqlalchemy import select
from werkzeug.local import LocalProxy

from ..extensions import db
from ..i18n import format_utc
from .batches import BATCH_SECONDS, DEFAULT_BATCH, FAILED, import_messages
from .importer import ImportSourceError, count_messages, iter_messages
from .models import STATUS_QUARANTINED, InboundMessage
from .smtpd import IntakeController

intake_cli = click.Group("intake", help="Receive report emails.")


@intake_cli.command("smtpd")
@click.option("--host", default=None, help="Address to listen on [INTAKE_HOST, 127.0.0.1].")
@click.option("--port", default=None, type=click.IntRange(1, 65535), help="Port [INTAKE_PORT, 2525].")
@click.option("--lmtp", is_flag=True, help="Speak LMTP (for Postfix or Exim delivering to us).")
@with_appcontext
def smtpd_command(host: str | None, port: int | None, lmtp: bool) -> None:
    """Listen for report mail until stopped (Ctrl+C or SIGTERM)."""
    app: Flask = cast("LocalProxy[Flask]", current_app)._get_current_object()  # the app, not the proxy
    host = host or app.config["INTAKE_HOST"]
    port = port or app.config["INTAKE_PORT"]
    # aiosmtpd logs every command at INFO; keep its warnings, and our own log lines, only.
    logging.getLogger("mail.log").setLevel(logging.WARNING)
    controller = IntakeController(app, host=host, port=port, lmtp=lmtp)
    try:
        controller.start()
    except (OSError, RuntimeError) as exc:
        raise click.ClickException(f"cannot listen on {host}:{port}: {exc}") from None
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    click.echo(
        f"intake listening on {host}:{port} ({'LMTP' if lmtp else 'SMTP'}), "
        f"for {', '.join(app.config['REPORT_ADDRESSES'])}"
    )
    stop.wait()
    controller.stop()
    click.echo("intake stopped")


@intake_cli.command("import")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "--batch",
    default=DEFAULT_BATCH,
    show_default=True,
    type=click.IntRange(1, 10_000),
    help=f"Commit every this many messages (and at least every {BATCH_SECONDS} s). "
    "The files stay the durable copy: after a crash, import them again; what was stored is not stored twice.",
)
@with_appcontext
def import_command(paths: tuple[Path, ...], batch: int) -> None:
    """Import .eml files, mbox files or Maildir folders; mail already stored is not imported twice."""
    try:
        total = sum(count_messages(path) for path in paths)
    except (OSError, ImportSourceError) as exc:
        raise click.ClickException(str(exc)) from None
    except Exception as exc:  # a file that mailbox cannot even open
        raise click.ClickException(f"cannot read the mail to import: {exc}") from None
    outcomes: Counter[str] = Counter()
    errors = 0
    progress = Progress(total)

    def every_message() -> Iterator[tuple[str, bytes]]:
        nonlocal errors
        for path in paths:
            try:
                yield from iter_messages(path)
            except (OSError, ImportSourceError) as exc:
                click.echo(f"\n{path}: {exc}", err=True)
                errors += 1

    def done(label: str, status: str) -> None:
        if status == FAILED:
            click.echo(f"\n{label}: not stored (the database refused it)", err=True)
        outcomes[status] += 1
        progress.advance()

    import_messages(every_message(), batch=batch, done=done)
    progress.finish()
    summary = ", ".join(f"{count} {status.replace('_', ' ')}" for status, count in sorted(outcomes.items()))
    click.echo(f"imported {total} messages: {summary or 'nothing'}")
    if errors or outcomes.get(FAILED):
        raise SystemExit(1)


class Progress:
    """A bar on a terminal; elsewhere (logs, CI) a line at every tenth, so progress is still seen."""

    def __init__(self, total: int) -> None:
        self.total, self.done = total, 0
        self.bar = (
            click.progressbar(length=total, label="Importing", show_pos=True, file=sys.stderr)
            if sys.stderr.isatty()
            else None
        )
        if self.bar is not None:
            self.bar.__enter__()
        self.step = max(total // 10, 1)

    def advance(self) -> None:
        self.done += 1
        if self.bar is not None:
            self.bar.update(1)
        elif self.done % self.step == 0 or self.done == self.total:
            click.echo(f"Importing: {self.done}/{self.total}", err=True)

    def finish(self) -> None:
        if self.bar is not None:
            self.bar.__exit__(None, None, None)


@intake_cli.command("quarantine")
@with_appcontext
def quarantine_command() -> None:
    """List quarantined messages: id, received time, reason, size, and the From header as text."""
    messages = (
        db.session.execute(
            select(InboundMessage).where(InboundMessage.status == STATUS_QUARANTINED).order_by(InboundMessage.id)
        )
        .scalars()
        .all()
    )
    for message in messages:
        sender = message.from_header or "(unread)"
        click.echo(
            f"{message.id}\t{format_utc(message.received_at)}\t{message.quarantine_reason}\t"
            f"{message.size} bytes\t{sender!r}\t{message.quarantine_detail or ''}"
        )
    click.echo(f"{len(messages)} quarantined")
