"""`flask staff create EMAIL --role support|legal|admin`."""

from __future__ import annotations

import click
from flask.cli import with_appcontext

from ..customers.cli import read_password
from ..database import utcnow
from ..extensions import db
from .models import ROLES
from .service import StaffError, create_staff

staff_cli = click.Group("staff", help="Manage console users.")


@staff_cli.command("create")
@click.argument("email")
@click.option("--role", type=click.Choice(ROLES), required=True)
@click.option("--name", default="", help="Full name.")
@with_appcontext
def create_command(email: str, role: str, name: str) -> None:
    """Create a staff user; the password is prompted twice, or read from the first line of stdin.
    The second factor (TOTP) is enrolled at first sign-in."""
    password = read_password()
    try:
        staff = create_staff(email, role=role, name=name, password=password, source="cli", actor="cli", now=utcnow())
    except StaffError as exc:
        raise click.ClickException(str(exc)) from None
    db.session.commit()
    click.echo(f"created {role} {staff.email}; TOTP is enrolled at first sign-in at /console/login")
