"""The base form: WTForms' own messages go through our catalogs, so they exist in Vietnamese too.

WTForms ships no Vietnamese translation, so its built-in messages are listed here for extraction
and translated in our catalogs like every other string.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

import flask_babel
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import Field
from wtforms.meta import DefaultMeta

if TYPE_CHECKING:
    from _typeshed import SupportsItems


class _CatalogTranslations:
    def gettext(self, string: str) -> str:
        return flask_babel.gettext(string)

    def ngettext(self, singular: str, plural: str, n: int) -> str:
        return flask_babel.ngettext(singular, plural, n)


class Form(FlaskForm):
    class Meta(DefaultMeta):
        def get_translations(self, form: Any) -> _CatalogTranslations:
            return _CatalogTranslations()

        def render_field(self, field: Field, render_kw: SupportsItems[str, Any]) -> Any:
            # Several forms share a page (the incident page has seven): their CSRF inputs carry no id,
            # so ids stay unique. Every other field renders as WTForms renders it.
            if field.type == "CSRFTokenField":
                render_kw = {**dict(render_kw.items()), "id": False}
            return super().render_field(field, render_kw)


WTFORMS_MESSAGES = (
    _l("This field is required."),
    _l("Not a valid choice."),
    _l("Not a valid datetime value."),
    _l("Field cannot be longer than %(max)d characters."),
    _l("Invalid email address."),
)


def entered(field: Field) -> str:
    """The text a submitted, validated form holds in `field` ('' for an optional field left empty).

    WTForms types `.data` as optional (it is None before the form is processed); read through here, a
    view passes a `str` on to the services."""
    data = field.data
    return data if isinstance(data, str) else ""


def entered_time(field: Field) -> datetime:
    """The time a submitted, validated form holds in a required date-time `field`."""
    data = field.data
    if not isinstance(data, datetime):
        raise RuntimeError(f"{field.name} was read before it was validated and filled in")
    return data


def add_error(field: Field, message: str) -> None:
    """Show `message` under `field` after validation (a service refused what the form let through)."""
    field.errors = [*field.errors, message]
