"""`flask staff create`."""

from __future__ import annotations

from sqlalchemy import select

from incident_service.extensions import db
from incident_service.staff.models import StaffUser
from tests.console.conftest import STAFF_PASSWORD


def test_create_reads_password_from_stdin(app, runner) -> None:  # type: ignore[no-untyped-def]
    result = runner.invoke(
        args=["staff", "create", "Lan@ECC.example", "--role", "legal", "--name", "Lê Lan"], input=STAFF_PASSWORD + "\n"
    )
    assert result.exit_code == 0, result.output
    with app.app_context():
        staff = db.session.execute(select(StaffUser)).scalar_one()
        assert (staff.email, staff.role, staff.name) == ("lan@ecc.example", "legal", "Lê Lan")
        assert staff.password_hash.startswith("$argon2id$") and staff.totp_secret is None


def test_create_refuses_bad_input(app, runner) -> None:  # type: ignore[no-untyped-def]
    assert (
        runner.invoke(
            args=["staff", "create", "x@ecc.example", "--role", "boss"], input=STAFF_PASSWORD + "\n"
        ).exit_code
        == 2
    )
    weak = runner.invoke(args=["staff", "create", "x@ecc.example", "--role", "support"], input="short\n")
    assert weak.exit_code == 1 and "password refused" in weak.output
    runner.invoke(args=["staff", "create", "x@ecc.example", "--role", "support"], input=STAFF_PASSWORD + "\n")
    again = runner.invoke(args=["staff", "create", "X@ecc.example", "--role", "admin"], input=STAFF_PASSWORD + "\n")
    assert again.exit_code == 1 and "already exists" in again.output
    assert "Traceback" not in weak.output + again.output
