"""WSGI entry point: `gunicorn wsgi:app`, `flask --app wsgi ...`."""

from __future__ import annotations

from dotenv import load_dotenv

load_dotenv()

import sys  # noqa: E402

from incident_service import create_app  # noqa: E402
from incident_service.settings import ConfigurationError  # noqa: E402

try:
    app = create_app()
except ConfigurationError as error:
    # A setting is missing or wrong: say which, not a traceback (gunicorn and the CLI both stop here).
    print(f"incident_service: configuration error: {error}", file=sys.stderr)
    raise SystemExit(2) from None
