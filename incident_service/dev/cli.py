"""`flask dev serve`: the whole embedded service in one process, for `make run`."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import cast

import click
from flask import Flask, current_app
from flask.cli import with_appcontext
from flask_migrate import upgrade
from werkzeug.local import LocalProxy
from werkzeug.serving import run_simple

from ..customers.service import add_customer, find_customer
from ..database import utcnow
from ..extensions import db
from ..intake.smtpd import IntakeController
from ..notifications.delivery import deliver_due
from ..notifications.service import customer_report_url
from ..staff.service import create_staff, find_staff
from .mailsink import start_sink

dev_cli = click.Group("dev", help="The embedded development setup.")

DEMO_EMAIL = "khachhang@ecc.example"
DEMO_NAME = "Nguyễn Văn An"
DEMO_PASSWORD = "ngay-mai-troi-lai-sang-2026"
DEMO_STAFF = "quantri@ecc.example"
DEMO_STAFF_PASSWORD = "quan-tri-vien-thu-nghiem-2026"


def seed_demo_data() -> None:
    """A demo customer and a demo admin for the console, created once."""
    if find_customer(DEMO_EMAIL) is None:
        add_customer(
            DEMO_EMAIL,
            name=DEMO_NAME,
            locale="vi",
            password=DEMO_PASSWORD,
            source="dev",
            actor="dev-seed",
            now=utcnow(),
        )
    if find_staff(DEMO_STAFF) is None:
        create_staff(
            DEMO_STAFF,
            role="admin",
            name="Quản trị viên",
            password=DEMO_STAFF_PASSWORD,
            source="dev",
            actor="dev-seed",
            now=utcnow(),
        )
    db.session.commit()


def _worker(app: Flask, stop: threading.Event) -> None:
    with app.app_context():
        while not stop.is_set():
            try:
                run = deliver_due()
            except Exception:  # keep the dev worker alive; the error is in the log
                app.logger.exception("outbox worker error")
                db.session.rollback()
                run = None
            db.session.remove()
            if run is None or not run.handled:
                stop.wait(1.0)


@dev_cli.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
@with_appcontext
def serve_command(host: str, port: int) -> None:
    """Migrate, seed a demo customer, start a mail sink, the intake listener and the outbox worker,
    and serve the app."""
    app: Flask = cast("LocalProxy[Flask]", current_app)._get_current_object()  # the app, not the proxy
    if app.config["APP_ENV"] != "development":
        raise click.ClickException("flask dev serve is for APP_ENV=development only")
    upgrade()
    seed_demo_data()
    maildir = Path(app.instance_path) / "mail"
    sink = start_sink(maildir, app.config["MAIL_SERVER"], app.config["MAIL_PORT"])
    intake = IntakeController(app, host=app.config["INTAKE_HOST"], port=app.config["INTAKE_PORT"])
    intake.start()
    stop = threading.Event()
    worker = threading.Thread(target=_worker, args=(app, stop), daemon=True, name="outbox-worker")
    worker.start()
    base = app.config["PUBLIC_BASE_URL"]
    customer = find_customer(DEMO_EMAIL)
    link = customer_report_url(customer) if customer else ""
    db.session.remove()
    click.echo(f"""
  incident_service is running (development setup)

  Web app            {base}/
  Report page        {base}/report
  Mail received      {base}/_dev/mail   (files: {maildir})
  Report by email    SMTP {app.config["INTAKE_HOST"]}:{app.config["INTAKE_PORT"]}, to {", ".join(app.config["REPORT_ADDRESSES"])}

  Demo customer      {DEMO_EMAIL}
  Password           {DEMO_PASSWORD}   (until you reset it)
  Report link        {link}

  Staff console      {base}/console
  Demo admin         {DEMO_STAFF}
  Password           {DEMO_STAFF_PASSWORD}   (then set up an authenticator app from the QR code)

  Press Ctrl+C to stop.
""")
    try:
        # Flask refuses app.run() inside its own CLI, so serve with Werkzeug directly.
        run_simple(host, port, app, threaded=True, use_reloader=False)
    finally:
        stop.set()
        intake.stop()
        sink.stop()
        time.sleep(0.1)
