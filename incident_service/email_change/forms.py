"""The request to change the address on record, and the two buttons of a confirmation link's page."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from wtforms import EmailField, PasswordField
from wtforms.validators import DataRequired, Length

from ..forms import Form


class EmailChangeForm(Form):
    new_email = EmailField(
        _l("New email address"),
        validators=[DataRequired(_l("Enter the new email address.")), Length(max=320)],
    )
    password = PasswordField(_l("Your current password"), validators=[DataRequired(_l("Enter your current password."))])


class ChangeDecisionForm(Form):
    """Confirm or cancel: only the CSRF token; which, the URL says."""
