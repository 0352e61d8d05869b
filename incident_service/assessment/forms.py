"""The discovery-time form behind the signed link in the acknowledgement email."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from wtforms.validators import DataRequired

from ..forms import Form
from ..incidents.forms import DiscoveryTimeField


class DiscoveryForm(Form):
    discovered_at = DiscoveryTimeField(
        _l("When did you first notice or suspect that your password was exposed?"),
        validators=[DataRequired(message=_l("Enter the date and time you noticed it."))],
    )
