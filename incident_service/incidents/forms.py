"""The public report form (`/report`) and its address-fixed variant behind a report link (`/r/<token>`); the
typed date-and-time fields every form shares."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from markupsafe import Markup
from wtforms import EmailField, Field, SelectField, TextAreaField
from wtforms.form import BaseForm
from wtforms.validators import DataRequired, Length, Optional, StopValidation, ValidationError
from wtforms.widgets import TextInput

from ..customers.addresses import InvalidAddress, normalize_address
from ..database import utcnow
from ..forms import Form
from ..i18n import (
    TimeProblem,
    UnreadableTime,
    format_time_input,
    local_to_utc,
    read_local_time,
    zone_phrase,
)
from ..i18n import viewer_zone as viewer_zone  # where the views have always found it
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


# The example every message about a typed time gives: the 31st shows that the day comes first.
EXAMPLE_TIME = datetime(2026, 1, 31, 14, 30)


class TimeTextInput(TextInput):
    """A text input for a typed date and time: no browser date picker, whose order follows the browser's
    language (mm/dd/yyyy in an American browser) rather than how our pages show times. The full
    keyboard, since the text needs `/`, `:` and a space (a phone's number pad has none of them)."""

    def __call__(self, field: Field, **kwargs: Any) -> Markup:
        # Templates written for the old datetime-local input still pass its `step`; a text input has none.
        kwargs.pop("step", None)
        kwargs.setdefault("autocomplete", "off")
        kwargs.setdefault("spellcheck", "false")
        kwargs.setdefault("class_", "time-input")
        return super().__call__(field, **kwargs)


def time_problem_message(problem: TimeProblem, example: str) -> str:
    """What to say when a typed day or time cannot be read, with an example in the expected format."""
    messages = {
        "unreadable": _("Enter the date and time as DD/MM/YYYY HH:MM, for example %(example)s.", example=example),
        "no_time": _("Add the time after the date, for example %(example)s.", example=example),
        "no_day": _("Add the date before the time, for example %(example)s.", example=example),
        "no_such_day": _(
            "There is no such day: write the day, then the month (DD/MM/YYYY), for example %(example)s.",
            example=example,
        ),
        "no_such_time": _(
            "There is no such time: hours go from 00 to 23 and minutes from 00 to 59, for example %(example)s.",
            example=example,
        ),
    }
    return messages[problem]


class LocalTimeField(Field):
    """A date and time typed as our pages show them (`DD/MM/YYYY HH:MM`, also `HH:MM - DD/MM/YYYY` and
    ISO, see read_local_time), read in the viewer's zone. `.data` holds the naive local time, `.utc` the
    aware UTC time once validated; text that cannot be read is kept as typed and its error says why."""

    widget = TimeTextInput()
    data: datetime | None
    utc: datetime | None = None
    problem: TimeProblem | None = None

    def _value(self) -> str:
        if self.data is not None:
            return format_time_input(self.data)
        return self.raw_data[0] if self.raw_data else ""

    def process_formdata(self, valuelist: list[Any]) -> None:
        self.data, self.problem = None, None
        text = str(valuelist[0]).strip() if valuelist else ""
        if not text:
            return
        try:
            self.data = read_local_time(text)
        except UnreadableTime as exc:
            self.problem = exc.problem

    def pre_validate(self, form: BaseForm) -> None:
        # Before the validators: DataRequired would otherwise replace the precise reason by "required".
        if self.problem is not None:
            raise StopValidation(time_problem_message(self.problem, format_time_input(EXAMPLE_TIME)))

    def post_validate(self, form: BaseForm, validation_stopped: bool) -> None:
        self.utc = None
        if self.data is None or self.errors:
            return
        self.utc = local_to_utc(self.data, viewer_zone())

    def format_hint(self) -> str:
        """The hint beside the field: the format and the zone the time is read in."""
        return _("DD/MM/YYYY HH:MM, %(zone)s", zone=zone_phrase(viewer_zone()))

    def moment(self) -> datetime:
        """The UTC time of a validated field that was filled in."""
        if self.utc is None:
            raise RuntimeError(f"{self.name} was read before it was validated and filled in")
        return self.utc


class DiscoveryTimeField(LocalTimeField):
    """A LocalTimeField for when something already happened: times in the future or before 2000 are
    refused."""

    def __init__(self, *args: Any, future_message: str | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.future_message = future_message or _l("This time is in the future. Enter when you noticed the problem.")

    def post_validate(self, form: BaseForm, validation_stopped: bool) -> None:
        super().post_validate(form, validation_stopped)
        moment, self.utc = self.utc, None
        if moment is None:
            return
        if moment > utcnow():
            raise ValidationError(self.future_message)
        if moment < EARLIEST_DISCOVERY:
            raise ValidationError(_l("This time is too far in the past. Please check the year."))
        self.utc = moment


def validate_address(form: BaseForm, field: Field) -> None:
    try:
        normalize_address(field.data or "")
    except InvalidAddress:
        raise ValidationError(_l("Enter a valid email address, for example ten@example.com.")) from None


class ReportLinkForm(Form):
    kind = SelectField(_l("What happened?"), choices=kind_choices, validators=[DataRequired()])
    discovered_at = DiscoveryTimeField(_l("When did you notice or suspect it? (optional)"), validators=[Optional()])
    details = TextAreaField(_l("Anything else we should know? (optional)"), validators=[Optional(), Length(max=5000)])


class ReportForm(ReportLinkForm):
    email = EmailField(
        _l("The email address of your account"), validators=[DataRequired(), Length(max=320), validate_address]
    )


class ResendForm(Form):
    """A button: CSRF only."""
