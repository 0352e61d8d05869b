"""Reading a stored email: a plain function of the bytes and the limits, no database (docs/security.md M1–M4).

Anything over a limit, or that cannot be read at all, raises Quarantine with a reason; everything
else is read as far as it can be, with the parser's defects recorded rather than hidden.
"""

from __future__ import annotations

import functools
import ipaddress
import re
import time
import unicodedata
from dataclasses import dataclass, field
from datetime import datetime, timezone
from email import policy
from email.message import EmailMessage, Message, MIMEPart
from email.parser import BytesParser
from email.utils import parsedate_to_datetime
from typing import Any

from inscriptis import get_text

from ..customers.addresses import InvalidAddress, normalize_address

MAX_TEXT = 100_000
HEADER_LINE = re.compile(rb"^[!-9;-~]+:")
RECEIVED_BY = re.compile(r"\bby\s+([^\s;()]+)", re.IGNORECASE)
RECEIVED_FROM = re.compile(r"^\s*from\s+([^\s;()]+)", re.IGNORECASE)
BRACKETED_IP = re.compile(r"\[(?:IPv6:)?([0-9A-Fa-f:.]+)\]")
FILENAME_UNSAFE = re.compile(r"[^\w.\- ()\[\]]+", re.UNICODE)


@dataclass(frozen=True)
class Limits:
    max_message_bytes: int = 10 * 1024 * 1024
    max_header_bytes: int = 64 * 1024
    max_parts: int = 100
    max_depth: int = 10
    max_seconds: float = 5.0


class Quarantine(Exception):
    """The message is kept but not read further; `reason` is a short code, `detail` says more."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


@dataclass
class ParsedMessage:
    from_address: str | None = None
    from_display_name: str = ""
    from_header: str = ""
    reply_to: str | None = None
    sender_header: str | None = None
    date_header: str | None = None
    date_claimed: datetime | None = None
    message_id: str | None = None
    subject: str = ""
    received: list[dict[str, Any]] = field(default_factory=list)
    authentication_results: list[str] = field(default_factory=list)
    untrusted_authentication_results: int = 0
    text_body: str = ""
    has_html: bool = False
    attachments: list[dict[str, Any]] = field(default_factory=list)
    defects: list[str] = field(default_factory=list)
    not_a_report_reason: str | None = None


def clean(text: str) -> str:
    """Valid Unicode (raw UTF-8 header bytes, RFC 6532, arrive as surrogate escapes), NFC, no NUL
    (PostgreSQL text cannot hold it), bounded length."""
    text = text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    return unicodedata.normalize("NFC", text.replace("\x00", ""))[:MAX_TEXT]


def one_line(text: str) -> str:
    return " ".join(clean(text).split())


def header_block_size(raw: bytes) -> int:
    """Bytes of the header block: up to the blank line, or the first line that is not a header."""
    size = 0
    for line in raw.splitlines(keepends=True):
        if line in (b"\r\n", b"\n") or not (HEADER_LINE.match(line) or line[:1] in (b" ", b"\t")):
            break
        size += len(line)
    return size


def _depth_and_parts(message: EmailMessage, depth: int = 1) -> tuple[int, int]:
    """(deepest nesting, number of parts), counting message/rfc822 contents as nested parts."""
    deepest, parts = depth, 1
    if message.is_multipart():
        payload = message.get_payload()
        children = payload if isinstance(payload, list) else [payload]
        for child in children:
            if isinstance(child, EmailMessage):
                child_depth, child_parts = _depth_and_parts(child, depth + 1)
                deepest, parts = max(deepest, child_depth), parts + child_parts
    return deepest, parts


def _received(values: list[str]) -> list[dict[str, Any]]:
    hops = []
    for value in values:
        text = one_line(str(value))
        at = None
        if ";" in text:
            try:
                moment = parsedate_to_datetime(text.rsplit(";", 1)[1].strip())
                at = (moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)).astimezone(timezone.utc)
            except (TypeError, ValueError, IndexError):
                at = None
        by = RECEIVED_BY.search(text)
        source = RECEIVED_FROM.search(text)
        # The connecting client's address, as the receiving server saw it: "from helo (rdns [ip]) by ...".
        # The HELO name before it is the client's own word; the bracketed address is the server's.
        addresses = BRACKETED_IP.findall(text[: by.start()] if by else text)
        hops.append(
            {
                "raw": text[:2000],
                "by": by.group(1).lower() if by else None,
                "from": source.group(1).lower() if source else None,
                "from_ip": addresses[-1] if addresses else None,
                "at": at.isoformat() if at else None,
            }
        )
    return hops


@dataclass(frozen=True)
class CompanyMta:
    """The company's mail servers, for mail that came on a path from them (LMTP from one of them, or a
    mailbox they delivered to): their names (`by` in Received) and their networks."""

    hosts: tuple[str, ...]
    networks: tuple[str, ...] = ("127.0.0.0/8", "::1/128")

    def is_internal(self, address: str | None) -> bool:
        try:
            ip = ipaddress.ip_address(address or "")
        except ValueError:
            return False
        return any(ip in ipaddress.ip_network(network, strict=False) for network in self.networks)


def company_hop_count(hops: list[dict[str, Any]], company: CompanyMta | None) -> int:
    """How many of `hops` (Received headers, newest first) the company's own mail servers added; 0 when
    the mail did not come on a path from them (`company` None).

    A company server adds its line above everything already there, so only the topmost lines can be
    the company's: each `by` a company host, as far down as the hop where the mail entered the
    company, the first whose connecting client (the bracketed address the server wrote, never the
    HELO name the client chose) is outside the company's networks. Anything below was written before
    the company had the mail, by whoever sent it, even if it names a company host: a claim."""
    if company is None:
        return 0
    hosts = {host.lower() for host in company.hosts}
    count = 0
    for hop in hops:
        if hop.get("by") not in hosts:
            break
        count += 1
        if not company.is_internal(hop.get("from_ip")):
            break  # the entry hop: the rest is the sender's
    return count


def _authserv_id(value: str) -> str:
    # RFC 8601: authserv-id [CFWS authres-version] ";" ...
    return value.split(";", 1)[0].strip().split()[0].lower() if value.strip() else ""


def _trusted_authentication_results(
    message: EmailMessage, authserv_id: str, company_hops: int
) -> tuple[list[str], int]:
    """(the Authentication-Results our MTA added, how many others there are), by position (M4): an MTA
    adds its verdict above its own Received line, so a verdict with our authserv-id counts only if a
    company hop (one of the topmost `company_hops` Received lines) is still below it."""
    trusted: list[str] = []
    total = received_above = 0
    for name, value in message.raw_items():
        field = name.strip().lower()
        if field == "received":
            received_above += 1
        elif field == "authentication-results":
            total += 1
            text = one_line(str(message.policy.header_fetch_parse(name, value)))
            if received_above < company_hops and _authserv_id(text) == authserv_id.lower():
                trusted.append(text)
    return trusted, total - len(trusted)


def _content(part: MIMEPart, defects: list[str]) -> str:
    try:
        content: str = part.get_content()
        return content
    except LookupError:
        defects.append(f"UnknownCharset({part.get_content_charset()})")
    except Exception as exc:  # any decoding failure: read the bytes as UTF-8 instead
        defects.append(f"ContentDecodeError({type(exc).__name__})")
    payload = part.get_payload(decode=True)
    return payload.decode("utf-8", "replace") if isinstance(payload, bytes) else ""


def safe_filename(name: str | None) -> str | None:
    if not name:
        return None
    cleaned = FILENAME_UNSAFE.sub("_", one_line(name)).strip(" .")
    return cleaned[:200] or None


def attachment_parts(message: EmailMessage) -> list[EmailMessage]:
    """The parts staff see as attachments, in order: marked attachments and forwarded messages."""
    found = []
    for part in message.walk():
        content_type = part.get_content_type()
        if part is message or (part.is_multipart() and content_type != "message/rfc822"):
            continue
        if content_type == "message/rfc822" or part.is_attachment():
            found.append(part)
    return found


def attachment_bytes(part: EmailMessage) -> bytes:
    if part.get_content_type() == "message/rfc822":
        inner = part.get_payload(0)
        if isinstance(inner, Message):
            return inner.as_bytes()
    payload = part.get_payload(decode=True)
    return payload if isinstance(payload, bytes) else b""


def _attachments(message: EmailMessage) -> list[dict[str, Any]]:
    found = []
    for part in attachment_parts(message):
        content_type = part.get_content_type()
        try:
            size = len(attachment_bytes(part))
        except Exception:
            size = -1
        found.append({"filename": safe_filename(part.get_filename()), "content_type": content_type, "size": size})
    return found


def _not_a_report_reason(message: EmailMessage, envelope_sender: str | None) -> str | None:
    """Why this mail must never be answered (RFC 3834 and friends), or None for a person's mail."""
    sender = envelope_sender
    if sender is None:
        return_path = message.get("Return-Path")
        sender = str(return_path).strip().strip("<>") if return_path is not None else None
    if sender is not None and sender.strip("<> ") == "":
        return "null_sender"
    if message.get_content_type() == "multipart/report":
        return "delivery_report"
    auto = message.get("Auto-Submitted")
    if auto is not None and str(auto).strip().lower() not in ("", "no"):
        return "auto_submitted"
    if message.get("List-Id") is not None or message.get("List-Unsubscribe") is not None:
        return "mailing_list"
    precedence = str(message.get("Precedence", "")).strip().lower()
    if precedence in ("bulk", "list", "junk"):
        return f"precedence_{precedence}"
    if message.get("X-Autoreply") is not None or message.get("X-Autorespond") is not None:
        return "auto_submitted"
    return None


def parse_message(
    raw: bytes,
    *,
    authserv_id: str,
    limits: Limits,
    envelope_sender: str | None = None,
    company: CompanyMta | None = None,
) -> ParsedMessage:
    """Read `raw`; raise Quarantine when it is over a limit or cannot be read into a sender.

    `company` describes the company's mail servers when the mail came on a path from them; None when
    it did not, and then no Authentication-Results is trusted. The steps: the limits the bytes alone
    can show, the MIME tree and its limits, the sender, the other headers, the body and parts."""
    started = time.monotonic()
    _check_bytes(raw, limits)
    message = _mime_tree(raw, limits)
    parsed = ParsedMessage()
    try:
        _read_sender(message, parsed)
        _read_headers(message, parsed, authserv_id, company)
        _read_body(message, parsed)
        parsed.not_a_report_reason = _not_a_report_reason(message, envelope_sender)
    except Quarantine:
        raise
    except Exception as exc:
        raise Quarantine("unparseable", f"{type(exc).__name__}: {exc}"[:500]) from None
    elapsed = time.monotonic() - started
    if elapsed > limits.max_seconds:
        raise Quarantine("parse_time", f"reading took {elapsed:.1f} s, budget {limits.max_seconds} s")
    return parsed


def _check_bytes(raw: bytes, limits: Limits) -> None:
    if len(raw) > limits.max_message_bytes:
        raise Quarantine("too_large", f"{len(raw)} bytes, limit {limits.max_message_bytes}")
    if b"\x00" in raw:
        raise Quarantine("nul_bytes", "the message contains NUL bytes, which no valid email has")
    header_bytes = header_block_size(raw)
    if header_bytes > limits.max_header_bytes:
        raise Quarantine("header_too_large", f"{header_bytes} bytes of headers, limit {limits.max_header_bytes}")


class _ReadMessage(EmailMessage):
    """An EmailMessage whose content type is read once for each spelling of the Content-Type header. The
    policy parses that header afresh on every call, and the parser and the reading ask for it about twenty
    times a message: over half of reading one (issue 17). What the standard method answers, for the same
    header: it is asked, once, per spelling (_content_type_of)."""

    def get_content_type(self) -> str:
        if self.policy is not _READING:
            return super().get_content_type()
        for name, value in self.raw_items():
            if name.lower() == "content-type":  # the first one, as Message.get finds it
                return _content_type_of(name, value)
        return self.get_default_type()


_READING = policy.default.clone(message_factory=_ReadMessage)


@functools.lru_cache(maxsize=512)
def _content_type_of(name: str, value: str) -> str:
    """EmailMessage.get_content_type of a part whose first Content-Type header is `name: value`."""
    part = EmailMessage(policy=_READING)
    part.set_raw(name, value)
    return EmailMessage.get_content_type(part)


def _mime_tree(raw: bytes, limits: Limits) -> EmailMessage:
    try:
        message: EmailMessage = BytesParser(policy=_READING).parsebytes(raw)
        depth, parts = _depth_and_parts(message)
    except Exception as exc:
        raise Quarantine("unparseable", f"{type(exc).__name__}: {exc}"[:500]) from None
    if parts > limits.max_parts:
        raise Quarantine("too_many_parts", f"{parts} MIME parts, limit {limits.max_parts}")
    if depth > limits.max_depth:
        raise Quarantine("too_deep", f"MIME nesting {depth} deep, limit {limits.max_depth}")
    return message


def _read_sender(message: EmailMessage, parsed: ParsedMessage) -> None:
    """The one From address, strictly parsed (M3): the customer is matched on it and nothing else."""
    froms = message.get_all("From") or []
    if len(froms) != 1:
        raise Quarantine("no_sender", f"{len(froms)} From headers; exactly one is needed to know who wrote")
    from_header = froms[0]
    parsed.from_header = one_line(str(from_header))
    parsed.defects.extend(type(defect).__name__ for defect in getattr(from_header, "defects", ()))
    addresses: tuple[Any, ...] = getattr(from_header, "addresses", ())
    if len(addresses) != 1:
        raise Quarantine("no_sender", f"the From header holds {len(addresses)} addresses")
    parsed.from_display_name = one_line(addresses[0].display_name or "")
    addr_spec = clean(addresses[0].addr_spec)
    try:
        parsed.from_address = normalize_address(addr_spec)
    except InvalidAddress:
        raise Quarantine("no_sender", f"the From address {addr_spec!r} is not valid") from None


def _read_headers(message: EmailMessage, parsed: ParsedMessage, authserv_id: str, company: CompanyMta | None) -> None:
    for name, attribute in (("Reply-To", "reply_to"), ("Sender", "sender_header")):
        value = message.get(name)
        if value is not None:
            setattr(parsed, attribute, one_line(str(value)))
    date = message.get("Date")
    if date is not None:
        parsed.date_header = one_line(str(date))
        moment = getattr(date, "datetime", None)
        if moment is not None:
            parsed.date_claimed = (moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)).astimezone(
                timezone.utc
            )
    message_id = message.get("Message-ID")
    parsed.message_id = (one_line(str(message_id))[:998] or None) if message_id is not None else None
    parsed.subject = one_line(str(message.get("Subject", "")))
    parsed.received = _received(message.get_all("Received") or [])
    parsed.authentication_results, parsed.untrusted_authentication_results = _trusted_authentication_results(
        message, authserv_id, company_hop_count(parsed.received, company)
    )


def _read_body(message: EmailMessage, parsed: ParsedMessage) -> None:
    """The text staff read (plain preferred, HTML as text), the attachments' names, every defect."""
    body = message.get_body(preferencelist=("plain", "html"))
    parsed.has_html = any(part.get_content_type() == "text/html" for part in message.walk())
    if body is not None:
        content = _content(body, parsed.defects)
        if body.get_content_type() == "text/html":
            content = get_text(content)
        parsed.text_body = clean(content)
    elif isinstance(unread := message.get_payload(), str):
        # A multipart whose boundary never appears: the whole body is one unread text.
        parsed.text_body = clean(unread)
    parsed.attachments = _attachments(message)
    for part in message.walk():
        parsed.defects.extend(type(defect).__name__ for defect in part.defects)


def read_stored(raw: bytes) -> EmailMessage:
    """Parse stored bytes again for display (headers, HTML part, attachments)."""
    return BytesParser(policy=policy.default).parsebytes(raw)


# Quarantined for these, a message was never read whole (or reading it is what costs): staff see its
# header lines as they arrived, and its parts are not read again on a console page.
NOT_READ = frozenset(
    {
        "too_large",
        "nul_bytes",
        "header_too_large",
        "unparseable",
        "too_many_parts",
        "too_deep",
        "parse_time",
        "processing_error",
    }
)


def raw_header_pairs(raw: bytes) -> list[tuple[str, str]]:
    """Every header as (name, text) straight from the bytes, unfolded, nothing decoded: for mail that
    must not go through the parser again."""
    block = raw[: header_block_size(raw)].decode("utf-8", "replace")
    pairs: list[tuple[str, str]] = []
    for line in block.splitlines():
        if line[:1] in (" ", "\t") and pairs:
            pairs[-1] = (pairs[-1][0], pairs[-1][1] + " " + line.strip())
        elif ":" in line:
            name, value = line.split(":", 1)
            pairs.append((one_line(name), value.strip()))
    return [(name, one_line(value)) for name, value in pairs]


def header_pairs(message: EmailMessage) -> list[tuple[str, str]]:
    """Every header as (name, decoded one-line text), in order, for staff to read as text."""
    pairs = []
    for name, value in message.raw_items():
        try:
            text = one_line(str(message.policy.header_fetch_parse(name, value)))
        except Exception:
            text = one_line(str(value))
        pairs.append((one_line(name), text))
    return pairs


def html_part(message: EmailMessage) -> str | None:
    """The first text/html part's text, if any (for sanitising and showing in a sandboxed frame)."""
    for part in message.walk():
        if part.get_content_type() == "text/html" and not part.is_attachment():
            return clean(_content(part, []))
    return None
