"""The SMTP/LMTP listener (aiosmtpd): accept report mail, store it, commit, and only then say 250.

RCPT is refused (550) for anything but REPORT_ADDRESSES; SIZE is advertised and enforced; DATA is
stored in a worker thread so the event loop keeps serving other connections. If the database cannot
be written the answer is 451 and nothing is kept half-done, so the sending MTA retries (E1's mirror).
The answers never depend on who the sender is (R3).
"""

from __future__ import annotations

import asyncio
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.lmtp import LMTP
from aiosmtpd.smtp import SMTP
from flask import Flask
from sqlalchemy.exc import SQLAlchemyError

from ..customers.addresses import InvalidAddress, normalize_address
from ..database import utcnow
from ..extensions import db
from ..metrics_store import increment
from .models import VIA_LMTP, VIA_SMTP
from .service import Envelope, record_message

ACCEPTED = "250 2.0.0 Message received and recorded"
TRY_LATER = "451 4.3.0 Cannot record the message now; please try again later"


class IntakeHandler:
    def __init__(self, app: Flask, *, lmtp: bool) -> None:
        self.app = app
        self.lmtp = lmtp
        self.report_addresses = {normalize_address(address) for address in app.config["REPORT_ADDRESSES"]}

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: list[str]) -> str:
        try:
            normalized = normalize_address(address)
        except InvalidAddress:
            return "550 5.1.3 Bad recipient address syntax"
        if normalized not in self.report_addresses:
            await asyncio.get_running_loop().run_in_executor(None, self.count_refusal, "recipient")
            return "550 5.1.1 Recipient address rejected: this server only takes reports for its report addresses"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        peer = session.peer
        facts = Envelope(
            mail_from=envelope.mail_from,
            rcpt_tos=list(envelope.rcpt_tos),
            peer=f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) else str(peer),
            helo=session.host_name,
        )
        raw = envelope.original_content or envelope.content
        status = await asyncio.get_running_loop().run_in_executor(None, self.store, raw, facts)
        if self.lmtp:
            # LMTP answers once per accepted recipient; one stored message serves them all.
            return "\r\n".join([status] * len(envelope.rcpt_tos))
        return status

    def count_refusal(self, reason: str) -> None:
        """Best effort: a refusal is counted for /metrics, and counting never changes the answer."""
        with self.app.app_context():
            try:
                increment(f"intake_refusal:{reason}")
                db.session.commit()
            except SQLAlchemyError:
                db.session.rollback()

    def store(self, raw: bytes, envelope: Envelope) -> str:
        via = VIA_LMTP if self.lmtp else VIA_SMTP
        with self.app.app_context():
            now = utcnow()
            try:
                record_message(raw, envelope=envelope, via=via, now=now)
                return ACCEPTED
            except SQLAlchemyError:
                self.app.logger.exception("intake: could not store a message; answered 451")
                self.count_refusal("temporary_failure")
                return TRY_LATER


class IntakeController(Controller):
    """aiosmtpd's threaded controller, serving SMTP or LMTP with our limits and timeouts."""

    def __init__(self, app: Flask, *, host: str, port: int, lmtp: bool = False) -> None:
        # Real mail carries lines over RFC 5321's 1,000 octets (long HTML, unwrapped bodies); like
        # Postfix, take them up to the message size limit and keep the bytes exactly as sent.
        base = LMTP if lmtp else SMTP
        self.server_class = type(
            f"Intake{base.__name__}", (base,), {"line_length_limit": app.config["INTAKE_MAX_MESSAGE_BYTES"] + 2}
        )
        super().__init__(
            IntakeHandler(app, lmtp=lmtp),
            hostname=host,
            port=port,
            data_size_limit=app.config["INTAKE_MAX_MESSAGE_BYTES"],
            enable_SMTPUTF8=True,
            timeout=app.config["INTAKE_TIMEOUT_SECONDS"],
            ident="incident_service intake",
        )

    def factory(self) -> SMTP:
        server: SMTP = self.server_class(self.handler, **self.SMTP_kwargs)
        return server
