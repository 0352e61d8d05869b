"""A local SMTP server (aiosmtpd) that keeps every email it receives in a Maildir, for development."""

from __future__ import annotations

import mailbox
from dataclasses import dataclass
from datetime import datetime
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

from aiosmtpd.controller import Controller
from aiosmtpd.handlers import Mailbox


def start_sink(maildir: Path, host: str, port: int) -> Controller:
    maildir.parent.mkdir(parents=True, exist_ok=True)
    mailbox.Maildir(str(maildir), create=True)  # makes tmp/, new/ and cur/ even if the folder exists
    controller = Controller(Mailbox(maildir), hostname=host, port=port)
    controller.start()
    return controller


@dataclass(frozen=True)
class StoredMail:
    key: str
    message: EmailMessage

    @property
    def text(self) -> str:
        part = self.message.get_body(preferencelist=("plain",))
        return part.get_content() if part is not None else ""


def read_maildir(maildir: Path) -> list[StoredMail]:
    """Every stored message, newest first."""
    if not maildir.exists():
        return []
    box = mailbox.Maildir(str(maildir), factory=None, create=False)
    items = []
    for key in box.keys():
        with box.get_file(key) as handle:
            raw = handle.read()
        items.append(StoredMail(key, message_from_bytes(raw, policy=policy.default)))
    items.sort(key=lambda item: _date(item.message), reverse=True)
    return items


def _date(message: EmailMessage) -> float:
    moment = getattr(message.get("Date"), "datetime", None)  # None when the header is missing or unreadable
    return moment.timestamp() if isinstance(moment, datetime) else 0.0
