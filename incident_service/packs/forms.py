"""The evidence pack's export form: who the pack is for, why, and on what basis (the disclosure register)."""

from __future__ import annotations

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from wtforms import SelectField, StringField
from wtforms.validators import DataRequired, Length

from ..disclosures.labels import basis_choices, recipient_label
from ..disclosures.models import BASIS_AUDITORS_LAWYERS
from ..disclosures.service import DEFAULT_PACK_RECIPIENT, PURPOSE_MAX, RECIPIENT_MAX
from ..forms import Form


class PackExportForm(Form):
    recipient = StringField(
        _l("Who the pack is for"),
        default=lambda: recipient_label(DEFAULT_PACK_RECIPIENT),
        validators=[DataRequired(message=_l("Say who will receive the pack.")), Length(max=RECIPIENT_MAX)],
    )
    purpose = StringField(_l("Purpose (optional)"), validators=[Length(max=PURPOSE_MAX)])
    legal_basis = SelectField(
        _l("Legal basis"), choices=lambda: basis_choices(), default=BASIS_AUDITORS_LAWYERS, validate_choice=True
    )

    def stored_recipient(self) -> str:
        """The recipient to record: the default, if it was left as the page offered it (in either language)."""
        typed = " ".join((self.recipient.data or "").split())
        return DEFAULT_PACK_RECIPIENT if typed == recipient_label(DEFAULT_PACK_RECIPIENT) else typed

    def hint(self) -> str:
        return _("Recorded in the disclosure register; the customer sees it in their account.")
