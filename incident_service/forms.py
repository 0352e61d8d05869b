"""The base form: WTForms' own messages go through our catalogs, so they exist in Vietnamese too.

WTForms ships no Vietnamese translation, so its built-in messages are listed here for extraction
and translated in our catalogs like every other string.
"""

from __future__ import annotations

from typing import Any

import flask_babel
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm


class _CatalogTranslations:
    def gettext(self, string: str) -> str:
        return flask_babel.gettext(string)

    def ngettext(self, singular: str, plural: str, n: int) -> str:
        return flask_babel.ngettext(singular, plural, n)


class Form(FlaskForm):
    class Meta:
        def get_translations(self, form: Any) -> _CatalogTranslations:
            return _CatalogTranslations()


WTFORMS_MESSAGES = (
    _l("This field is required."),
    _l("Not a valid choice."),
    _l("Not a valid datetime value."),
    _l("Field cannot be longer than %(max)d characters."),
    _l("Invalid email address."),
)
