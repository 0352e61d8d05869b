"""`/_dev/mail`: read what the local mail sink received. Registered only in the development setup."""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint, abort, current_app, render_template

from .mailsink import read_maildir

bp = Blueprint("dev", __name__, url_prefix="/_dev")


def maildir() -> Path:
    return Path(current_app.instance_path) / "mail"


@bp.get("/mail")
def mail_index():  # type: ignore[no-untyped-def]
    return render_template("dev/mail.html", messages=read_maildir(maildir()), folder=maildir())


@bp.get("/mail/<key>")
def mail_message(key: str):  # type: ignore[no-untyped-def]
    for item in read_maildir(maildir()):
        if item.key == key:
            return render_template("dev/message.html", item=item)
    abort(404)
