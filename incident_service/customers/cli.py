"""`flask customers add | import | report-link`."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from flask.cli import with_appcontext

from ..database import utcnow
from ..extensions import db
from ..notifications.service import customer_report_url
from .addresses import InvalidAddress, normalize_address
from .passwords import password_problems, refusal_message
from .service import CustomerError, add_customer, find_customer, import_customers

customers_cli = click.Group("customers", help="Manage customer accounts.")


def read_password(prompt: str = "Password") -> str:
    """Prompt twice on a terminal; otherwise take the first line of standard input."""
    if sys.stdin.isatty():
        return click.prompt(prompt, hide_input=True, confirmation_prompt=True)
    return sys.stdin.readline().rstrip("\r\n")


@customers_cli.command("add")
@click.argument("email")
@click.option("--name", default="", help="Full name.")
@click.option("--locale", type=click.Choice(["vi", "en"]), default="vi", show_default=True)
@with_appcontext
def add_command(email: str, name: str, locale: str) -> None:
    """Create a customer; the password is prompted twice, or read from the first line of stdin."""
    password = read_password()
    problems = password_problems(password, password, email=email)
    if problems:
        raise click.ClickException(refusal_message(problems))
    try:
        customer = add_customer(
            email, name=name, locale=locale, password=password, source="cli", actor="cli", now=utcnow()
        )
    except CustomerError as exc:
        raise click.ClickException(str(exc)) from None
    db.session.commit()
    click.echo(f"created customer {customer.id} <{customer.email}>")


@customers_cli.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@with_appcontext
def import_command(file: Path) -> None:
    """Create customers from a CSV file with columns email,name,locale[,password].

    With a header line whose fourth column is password_hash, that column holds hashes from the
    company's current system instead (argon2id, bcrypt, PBKDF2-SHA256; docs/interface.md)."""
    try:
        text = file.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise click.ClickException(f"{file} is not UTF-8 text") from None
    result = import_customers(text, actor="cli", now=utcnow())
    db.session.commit()
    for line, reason in result.skipped:
        click.echo(f"line {line}: skipped: {reason}", err=True)
    click.echo(f"created {len(result.created)} customers, skipped {len(result.skipped)} lines")
    if result.skipped:
        sys.exit(1)


@customers_cli.command("report-link")
@click.argument("email")
@with_appcontext
def report_link_command(email: str) -> None:
    """Print the signed report link for a customer."""
    try:
        customer = find_customer(normalize_address(email))
    except InvalidAddress:
        raise click.ClickException(f"{email!r} is not a valid email address") from None
    if customer is None:
        raise click.ClickException(f"no customer with address {email}")
    click.echo(customer_report_url(customer))
