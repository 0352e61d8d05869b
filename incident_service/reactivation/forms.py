"""Forms for setting a new password and asking for a fresh reset link."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from wtforms import EmailField, PasswordField
from wtforms.validators import DataRequired, Length

from ..forms import Form
from ..incidents.forms import validate_address


class NewPasswordForm(Form):
    # No length validator here: the policy decides, with reasons (customers/password_policy.py).
    password = PasswordField(_l("New password"), validators=[DataRequired()])
    password_confirm = PasswordField(_l("Type the new password again"), validators=[DataRequired()])


class FreshLinkForm(Form):
    email = EmailField(
        _l("The email address of your account"), validators=[DataRequired(), Length(max=320), validate_address]
    )
