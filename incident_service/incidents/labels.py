"""Translated labels for stored codes (status, channel), for templates."""

from __future__ import annotations

from flask import Flask
from flask_babel import gettext as _


def status_label(status: str) -> str:
    return {
        "reactivated": _("Password deactivated, waiting for a new password"),
        "resolved": _("Resolved: new password set"),
        "closed": _("Closed"),
    }.get(status, status)


def channel_label(channel: str) -> str:
    return {
        "web": _("Web form"),
        "email": _("Email"),
        "phone": _("Telephone"),
        "fax": _("Fax"),
        "post": _("Post"),
        "in_person": _("In person"),
        "api": _("API"),
        "breach_list": _("Breach list"),
    }.get(channel, channel)


def init_app(app: Flask) -> None:
    app.jinja_env.globals.update(status_label=status_label, channel_label=channel_label)
