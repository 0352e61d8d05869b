"""WSGI entry point: `gunicorn wsgi:app`, `flask --app wsgi ...`."""

from __future__ import annotations

from dotenv import load_dotenv

load_dotenv()

from incident_service import create_app  # noqa: E402

app = create_app()
