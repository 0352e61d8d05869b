"""The console's webhook forms."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from wtforms import SelectMultipleField, URLField
from wtforms.validators import DataRequired, Length
from wtforms.widgets import CheckboxInput, ListWidget

from ..forms import Form
from .models import EVENT_TYPES


class EventsField(SelectMultipleField):
    """Event types as a list of checkboxes."""

    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


def event_type_label(event_type: str) -> str:
    """What each event type means, for people; the code stays beside it (receivers match on it)."""
    from flask_babel import gettext as _

    labels = {
        "report.received": _("A report was received"),
        "incident.opened": _("An incident was opened"),
        "incident.closed": _("An incident was closed by staff"),
        "password.reset": _("A customer set a new password"),
        "review.decided": _("Legal recorded a review decision"),
        "breach.marked": _("An incident was marked as a personal-data breach"),
        "delivery.failed": _("An email to a customer could not be delivered"),
    }
    return labels.get(event_type, event_type)


def event_choices() -> list[tuple[str, str]]:
    """Each event type; the template writes its label (words, with the code beside them)."""
    return [(event, event) for event in EVENT_TYPES]


class SubscriptionForm(Form):
    url = URLField(_l("Receiver URL"), validators=[DataRequired(), Length(max=2000)])
    events = EventsField(
        _l("Events to send"),
        choices=event_choices,
        validators=[DataRequired(message=_l("Choose at least one event."))],
    )
