"""Data requests' stored codes in words, in both languages (kinds, items, states, decisions, channels)."""

from __future__ import annotations

from flask_babel import gettext as _

from ..incidents.labels import channel_label


def request_kind_label(kind: str) -> str:
    return {
        "access": _("Access to the data"),
        "correction": _("Correction"),
        "erasure": _("Erasure"),
    }.get(kind, kind)


def request_item_label(item: str | None) -> str:
    return {
        "name": _("Name"),
        "locale": _("Language"),
        "discovery": _("When I noticed the problem (a statement)"),
        "report_details": _("What I wrote in a report (a statement)"),
    }.get(item or "", item or "")


def request_state_label(state: str) -> str:
    return {
        "received": _("Received"),
        "in_progress": _("In progress"),
        "answered": _("Answered"),
        "withdrawn": _("Withdrawn"),
    }.get(state, state)


def request_decision_label(decision: str | None) -> str:
    return {
        "granted": _("Granted"),
        "partly_granted": _("Partly granted"),
        "refused": _("Refused"),
    }.get(decision or "", decision or "")


def request_channel_label(channel: str) -> str:
    return _("Web (signed-in account)") if channel == "web" else channel_label(channel)


LABELS = {
    "request_kind_label": request_kind_label,
    "request_item_label": request_item_label,
    "request_state_label": request_state_label,
    "request_decision_label": request_decision_label,
    "request_channel_label": request_channel_label,
}
