"""Keep tokens out of logs: request lines for link URLs are logged with the token replaced, and API keys
(`isk_...`, or whatever follows `Bearer`) never appear (L1)."""

from __future__ import annotations

import logging
import re

from flask import Flask

# `confirm`: /account/email/confirm/<token>, a change of the address on record (email_change).
TOKEN_PATH = re.compile(r"/(reset|r|discovery|confirm)/[A-Za-z0-9_\-.]{8,}")
# An API key anywhere (a header dumped, a key pasted into a URL), and any bearer credential.
API_KEY = re.compile(r"\bisk_[A-Za-z0-9_\-]{4,}")
BEARER = re.compile(r"(?i)\b(bearer)\s+[^\s\"',;]+")


def redact(text: str) -> str:
    text = TOKEN_PATH.sub(lambda match: f"/{match.group(1)}/[redacted]", text)
    text = BEARER.sub(lambda match: f"{match.group(1)} [redacted]", text)
    return API_KEY.sub("isk_[redacted]", text)


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
