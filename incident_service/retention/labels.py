"""Retention in words: each rule, each emptied field and each tombstone as a person reads them (the codes stay
in the database, the audit log and the exports)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from babel.lists import format_list
from flask_babel import get_locale, ngettext
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from .models import RULE_CLOSED_INCIDENT, RULE_ERASURE, RULE_FREE_TEXT, RULE_IP_ADDRESS, RULE_RAW_EMAIL, Tombstone

_RULES = {
    RULE_RAW_EMAIL: _l("the time limit for keeping emails as they were received"),
    RULE_FREE_TEXT: _l("the time limit for keeping written text"),
    RULE_IP_ADDRESS: _l("the time limit for keeping IP addresses"),
    RULE_CLOSED_INCIDENT: _l("the time limit for keeping closed incidents"),
    RULE_ERASURE: _l("an erasure request"),
}

# The rules' names as titles (the retention page's table).
_RULE_TITLES = {
    RULE_RAW_EMAIL: _l("Emails as received"),
    RULE_FREE_TEXT: _l("Written text"),
    RULE_IP_ADDRESS: _l("IP addresses"),
    RULE_CLOSED_INCIDENT: _l("Closed incidents"),
    RULE_ERASURE: _l("Erasure requests"),
}

# What each rule empties, in words (service.py's *_FIELDS and AUDIT_*_KEYS).
_RULE_REMOVES = {
    RULE_RAW_EMAIL: _l(
        "An email's bytes as received, its headers (From, Reply-To, Sender, Date, the Received chain) and its attachments."
    ),
    RULE_FREE_TEXT: _l("An email's subject and text, and the details written in a report."),
    RULE_IP_ADDRESS: _l(
        "The IP address and browser description of a web report, the sending server's address and name of "
        "an email, and IP addresses in the audit log."
    ),
    RULE_CLOSED_INCIDENT: _l(
        "Everything personal of the incident: all of the above, the addresses given and the envelope of "
        "its emails, and names, addresses and text in its audit events."
    ),
}

_FIELDS = {
    # an inbound email
    "raw": _l("the email as received"),
    "received_headers": _l("the Received chain"),
    "from_header": _l("the From header"),
    "reply_to": _l("the Reply-To address"),
    "sender_header": _l("the Sender header"),
    "date_header": _l("the Date header"),
    "attachments": _l("the attachments"),
    "subject": _l("the subject"),
    "text_body": _l("the text"),
    "peer": _l("the sending server's IP address"),
    "helo": _l("the sending server's name"),
    "from_display_name": _l("the sender's display name"),
    "mail_from": _l("the envelope sender"),
    "rcpt_tos": _l("the envelope recipients"),
    "from_address": _l("the sender's address"),
    "message_id_header": _l("the Message-ID"),
    # a report
    "details": _l("the details written in the report"),
    "client_ip": _l("the IP address it was sent from"),
    "user_agent": _l("the browser's description"),
    "claimed_address": _l("the address given"),
}


def rule_label(rule: str) -> str:
    """The rule a removal was made under, as the end of "removed under …"."""
    return str(_RULES.get(rule, rule))


def rule_title(rule: str) -> str:
    return str(_RULE_TITLES.get(rule, rule))


def rule_removes(rule: str) -> str:
    return str(_RULE_REMOVES.get(rule, ""))


def field_label(name: str) -> str:
    return str(_FIELDS.get(name, name))


def fields_label(names: Iterable[str]) -> str:
    """The fields in words, as a list in the page's language ("the subject and the text")."""
    return format_list([field_label(name) for name in names], locale=get_locale() or "en")


def period_label(days: int) -> str:
    """A rule's period as configured; 0 keeps for ever."""
    if not days:
        return _("kept for ever")
    return ngettext("%(num)d day", "%(num)d days", days)


def removed_fields(tombstones: Sequence[Tombstone]) -> set[str]:
    """Every field the tombstones say was emptied (the pages show "removed" instead of an empty box)."""
    return {name for tombstone in tombstones for name in tombstone.fields}


def tombstone_parts(tombstone: Tombstone) -> dict[str, Any]:
    """What a page needs to say "Removed on <time> under <rule>: <fields>" (the time formatted by the page,
    in its viewer's zone)."""
    return {"at": tombstone.purged_at, "rule": rule_label(tombstone.rule), "fields": fields_label(tombstone.fields)}
