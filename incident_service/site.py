"""The landing page and the language switch."""

from __future__ import annotations

from flask import Blueprint, redirect, render_template, request, session, url_for
from flask.typing import ResponseReturnValue
from flask_wtf import FlaskForm

from .i18n import SESSION_LOCALE_KEY
from .redirects import local_path
from .settings import LOCALES

bp = Blueprint("site", __name__)


@bp.get("/")
def index() -> ResponseReturnValue:
    return render_template("site/index.html")


@bp.post("/locale")
def choose_locale() -> ResponseReturnValue:
    form = FlaskForm()  # CSRF only
    choice = request.form.get("locale", "")
    if form.validate_on_submit() and choice in LOCALES:
        session[SESSION_LOCALE_KEY] = choice
    return redirect(local_path(request.form.get("next")) or url_for("site.index"))
