"""The public report form (`/report`) and its address-fixed variant behind a report link (`/r/<token>`)."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from flask import current_app, g
from flask_babel import lazy_gettext as _l
from wtforms import DateTimeLocalField, EmailField, Field, SelectField, TextAreaField
from wtforms.form import BaseForm
from wtforms.validators import DataRequired, Length, Optional, ValidationError

from ..customers.addresses import InvalidAddress, normalize_address
from ..customers.models import Customer
from ..database import utcnow
from ..forms import Form
from ..i18n import parse_local_input
from .models import KINDS

EARLIEST_DISCOVERY = datetime(2000, 1, 1, tzinfo=timezone.utc)


def kind_choices() -> list[tuple[str, str]]:
    labels = {
        "lost": _l("I lost it or forgot where I wrote it"),
        "stolen": _l("It was stolen"),
        "leaked": _l("It was leaked or shared by mistake"),
        "phished": _l("I typed it into a fake page or message"),
        "suspicious_activity": _l("I see activity on my account that was not me"),
        "other": _l("Something else"),
    }
    return [(kind, labels[kind]) for kind in KINDS]


def viewer_zone() -> str:
    customer: Customer | None = g.get("customer")
    if customer is not None and customer.time_zone:
        return customer.time_zone
    zone: str = current_app.config["DISPLAY_TIMEZONE"]
    return zone


class DiscoveryTimeField(DateTimeLocalField):
    """An HTML datetime-local input read in the viewer's time zone; `.utc` holds the aware UTC time.
    Times in the future or before 2000 are refused."""

    utc: datetime | None = None

    def __init__(self, *args: Any, future_message: str | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.future_message = future_message or _l("This time is in the future. Enter when you noticed the problem.")

    def post_validate(self, form: BaseForm, validation_stopped: bool) -> None:
        self.utc = None
        if self.data is None or self.errors:
            return
        moment = parse_local_input(self.data.isoformat(), viewer_zone())
        if moment > utcnow():
            raise ValidationError(self.future_message)
        if moment < EARLIEST_DISCOVERY:
            raise ValidationError(_l("This time is too far in the past. Please check the year."))
        self.utc = moment

    def moment(self) -> datetime:
        """The UTC time of a validated field that was filled in."""
        if self.utc is None:
            raise RuntimeError(f"{self.name} was read before it was validated and filled in")
        return self.utc


def validate_address(form: BaseForm, field: Field) -> None:
    try:
        normalize_address(field.data or "")
    except InvalidAddress:
        raise ValidationError(_l("Enter a valid email address, for example ten@example.com.")) from None


class ReportLinkForm(Form):
    kind = SelectField(_l("What happened?"), choices=kind_choices, validators=[DataRequired()])
    discovered_at = DiscoveryTimeField(
        _l("When did you notice or suspect it? (optional)"),
        format=["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S"],
        validators=[Optional()],
    )
    details = TextAreaField(_l("Anything else we should know? (optional)"), validators=[Optional(), Length(max=5000)])


class ReportForm(ReportLinkForm):
    email = EmailField(
        _l("The email address of your account"), validators=[DataRequired(), Length(max=320), validate_address]
    )


class ResendForm(Form):
    """A button: CSRF only."""
