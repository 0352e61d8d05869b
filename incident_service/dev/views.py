"""`/_dev/mail`: read what the local mail sink received. Registered only in the development setup."""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint, abort, current_app, render_template, request
from flask.typing import ResponseReturnValue

from .mailsink import read_maildir

bp = Blueprint("dev", __name__, url_prefix="/_dev")
LOOPBACK_NAMES = frozenset({"127.0.0.1", "localhost", "[::1]", "::1"})


@bp.before_request
def loopback_host_only() -> None:
    """The sink shows reset links. A web page could make the browser fetch it through DNS rebinding (a
    name of the attacker's that now points at 127.0.0.1): such a request carries that name as Host,
    so only the loopback names are answered."""
    if request.host.rsplit(":", 1)[0].lower() not in LOOPBACK_NAMES and request.host.lower() not in LOOPBACK_NAMES:
        abort(404)


def maildir() -> Path:
    return Path(current_app.instance_path) / "mail"


@bp.get("/mail")
def mail_index() -> ResponseReturnValue:
    return render_template("dev/mail.html", messages=read_maildir(maildir()), folder=maildir())


@bp.get("/mail/<key>")
def mail_message(key: str) -> ResponseReturnValue:
    for item in read_maildir(maildir()):
        if item.key == key:
            return render_template("dev/message.html", item=item)
    abort(404)
