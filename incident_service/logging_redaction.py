"""Keep tokens out of logs: request lines for link URLs are logged with the token replaced (L1)."""

from __future__ import annotations

import logging
import re

from flask import Flask

TOKEN_PATH = re.compile(r"/(reset|r|discovery)/[A-Za-z0-9_\-.]{8,}")


def redact(text: str) -> str:
    return TOKEN_PATH.sub(lambda match: f"/{match.group(1)}/[redacted]", text)


class RedactTokens(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if record.args:
            record.msg = record.getMessage()
            record.args = None
        record.msg = redact(str(record.msg))
        return True


def init_app(app: Flask) -> None:
    redactor = RedactTokens()
    for name in ("werkzeug", "gunicorn.access", "gunicorn.error", app.logger.name):
        logger = logging.getLogger(name)
        if not any(isinstance(existing, RedactTokens) for existing in logger.filters):
            logger.addFilter(redactor)
