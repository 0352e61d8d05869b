"""`flask customers add | import | report-link`."""

from __future__ import annotations

from sqlalchemy import select

from incident_service.customers.models import Customer
from incident_service.extensions import db
from tests.helpers import PASSWORD, make_customer


def test_add_reads_password_from_stdin(app, runner) -> None:  # type: ignore[no-untyped-def]
    result = runner.invoke(
        args=["customers", "add", "Binh@Example.com", "--name", "Trần Bình", "--locale", "en"], input=PASSWORD + "\n"
    )
    assert result.exit_code == 0, result.output
    with app.app_context():
        customer = db.session.execute(select(Customer)).scalar_one()
        assert customer.email == "binh@example.com" and customer.locale == "en" and customer.name == "Trần Bình"
        assert customer.password_hash.startswith("$argon2id$")


def test_add_refuses_weak_password_and_duplicates(app, runner) -> None:  # type: ignore[no-untyped-def]
    weak = runner.invoke(args=["customers", "add", "x@example.com"], input="short\n")
    assert weak.exit_code != 0 and "password refused" in weak.output
    make_customer(app, "dup@example.com")
    dup = runner.invoke(args=["customers", "add", "DUP@example.com"], input=PASSWORD + "\n")
    assert dup.exit_code != 0 and "already exists" in dup.output
    bad = runner.invoke(args=["customers", "add", "not-an-address"], input=PASSWORD + "\n")
    assert bad.exit_code != 0 and "not a valid email address" in bad.output
    assert "Traceback" not in weak.output + dup.output + bad.output


def test_import_keeps_good_lines_and_names_bad_ones(app, runner, tmp_path) -> None:  # type: ignore[no-untyped-def]
    csv_file = tmp_path / "customers.csv"
    csv_file.write_text(
        "email,name,locale,password\n"
        f"an@example.com,Nguyễn Văn An,vi,{PASSWORD}\n"
        "binh@example.com,Trần Bình,en\n"
        "broken-address,X,vi\n"
        "chi@example.com,Chi,fr\n"
        "dung@example.com,Dũng,vi,short\n"
        "an@example.com,Again,vi\n",
        encoding="utf-8",
    )
    result = runner.invoke(args=["customers", "import", str(csv_file)])
    assert result.exit_code == 1
    assert "created 2 customers, skipped 4 lines" in result.output
    for line in (4, 5, 6, 7):
        assert f"line {line}:" in result.output
    with app.app_context():
        emails = set(db.session.execute(select(Customer.email)).scalars())
        assert emails == {"an@example.com", "binh@example.com"}


def test_report_link(app, runner, customer_id, client) -> None:  # type: ignore[no-untyped-def]
    result = runner.invoke(args=["customers", "report-link", "AN@example.com"])
    assert result.exit_code == 0
    link = result.output.strip()
    assert link.startswith("https://security.ecc.example/r/")
    assert client.get(link.removeprefix("https://security.ecc.example")).status_code == 200
    missing = runner.invoke(args=["customers", "report-link", "nobody@example.com"])
    assert missing.exit_code != 0 and "no customer" in missing.output
