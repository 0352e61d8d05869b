"""Forms of data requests: the customer's (a correction or an erasure), staff entry of one that came by
phone or post, and staff's decision. The rules are the service's; its refusals are shown on the field
they concern (error_message)."""

from __future__ import annotations

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from wtforms import BooleanField, RadioField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional

from ..forms import Form
from ..incidents.forms import DiscoveryTimeField
from ..incidents.labels import channel_label, language_name
from .labels import request_decision_label, request_kind_label
from .models import DECISIONS, KINDS, STAFF_CHANNELS
from .service import DataRequestError


def locale_choices() -> list[tuple[str, str]]:
    return [("vi", language_name("vi")), ("en", language_name("en"))]


class CustomerRequestForm(Form):
    """One form for every request a customer makes; each page shows the fields its request needs."""

    corrected_value = TextAreaField(_l("What it should say"), validators=[Optional(), Length(max=5000)])
    corrected_locale = RadioField(
        _l("The language we should write to you in"), choices=locale_choices, validate_choice=False
    )
    statement = RadioField(_l("Which statement?"), choices=[], validate_choice=False)
    corrected_time = DiscoveryTimeField(_l("When you really noticed or suspected the problem"), validators=[Optional()])
    scope = TextAreaField(
        _l("What should we erase? (optional: leave it empty for everything we may erase)"),
        validators=[Optional(), Length(max=5000)],
    )
    reason = TextAreaField(
        _l("Why are you asking?"),
        validators=[DataRequired(message=_l("Tell us why you are asking.")), Length(max=2000)],
    )


def staff_channel_choices() -> list[tuple[str, str]]:
    return [(channel, channel_label(channel)) for channel in STAFF_CHANNELS]


def kind_choices() -> list[tuple[str, str]]:
    return [(kind, request_kind_label(kind)) for kind in KINDS]


def staff_item_choices() -> list[tuple[str, str]]:
    return [
        ("", _l("Not a correction")),
        ("name", _l("The customer's name")),
        ("locale", _l("The customer's language")),
        ("statement", _l("A statement the customer made (a report's text or when they noticed)")),
    ]


def staff_locale_choices() -> list[tuple[str, str]]:
    return [("", _l("Not a change of language")), *locale_choices()]


class StaffRequestForm(Form):
    """A request that reached us by phone, post, email or in person, entered by staff for the customer."""

    customer = StringField(
        _l("The customer's email address, or a reference of theirs (incident, report or request)"),
        validators=[DataRequired(message=_l("Enter the customer's address or a reference.")), Length(max=320)],
    )
    channel = SelectField(_l("How the request reached us"), choices=staff_channel_choices, validators=[DataRequired()])
    received_at = DiscoveryTimeField(
        _l("When the request reached the company"),
        validators=[DataRequired(message=_l("Enter when the request reached us."))],
        future_message=_l("This time is in the future."),
    )
    kind = SelectField(_l("What the customer asks for"), choices=kind_choices, validators=[DataRequired()])
    item = SelectField(_l("For a correction: what is wrong"), choices=staff_item_choices, validate_choice=False)
    statement = StringField(
        _l("For a statement: the report's reference (its text) or the incident's (when they noticed)"),
        validators=[Optional(), Length(max=64)],
    )
    corrected_value = TextAreaField(
        _l("For a name or a report's text: what it should say"), validators=[Optional(), Length(max=5000)]
    )
    corrected_locale = SelectField(
        _l("For a language: the right one"), choices=staff_locale_choices, validate_choice=False
    )
    corrected_time = DiscoveryTimeField(_l("For when they noticed: the right time"), validators=[Optional()])
    scope = TextAreaField(
        _l("For access or erasure: what they ask for (optional)"), validators=[Optional(), Length(max=5000)]
    )
    reason = TextAreaField(
        _l("The customer's reason"),
        validators=[DataRequired(message=_l("Enter the customer's reason.")), Length(max=2000)],
    )


def decision_choices() -> list[tuple[str, str]]:
    return [(decision, request_decision_label(decision)) for decision in DECISIONS]


class DecisionForm(Form):
    decision = RadioField(
        _l("Decision"), choices=decision_choices, validators=[DataRequired(message=_l("Choose a decision."))]
    )
    reason = TextAreaField(
        _l("Reason for the decision (kept on record, not sent)"),
        validators=[DataRequired(message=_l("Give the reason for the decision.")), Length(max=2000)],
    )
    reply = TextAreaField(
        _l("Reply to the customer (sent by email)"),
        validators=[DataRequired(message=_l("Write the reply the customer will receive.")), Length(max=5000)],
    )


class ErasureDecisionForm(DecisionForm):
    """An erasure cannot be undone: granting it asks for a tick (a destructive action confirms)."""

    confirm = BooleanField(_l("I understand that granting erases the customer's data now, and cannot be undone"))


class ActionForm(Form):
    """A button that changes state: CSRF only."""


def error_message(error: DataRequestError, *, staff: bool) -> str:
    """What to say about a refused request or decision, beside the field it concerns."""
    if error.code == "empty_reason":
        if error.field == "reason" and staff:
            return _("Enter the reason.")
        return _("Tell us why you are asking.")
    if error.code == "empty_value":
        if error.field == "corrected_time":
            return _("Enter when the problem was really noticed.")
        return _("Enter what it should say.")
    if error.code in ("unknown_statement", "not_your_statement"):
        if staff:
            return _("This customer has no statement with that reference.")
        return _("Choose one of your own statements from the list.")
    messages = {
        "unchanged": _("This is already what we hold: nothing would change."),
        "unknown_locale": _("Choose a language."),
        "after_report": _("This is after the report reached us: the problem must have been noticed before."),
        "too_long": _("This is too long."),
        "unknown_item": _("Choose what is wrong."),
        "not_partial": _("A correction is either granted or refused: choose one of those."),
        "empty_reply": _("Write the reply the customer will receive."),
        "in_the_future": _("This time is in the future."),
        "unknown_kind": _("Choose what the customer asks for."),
        "unknown_channel": _("Choose how the request reached us."),
        "unknown_decision": _("Choose a decision."),
        "closed": _("This request is already answered or withdrawn."),
        "not_received": _("This request is already in hand."),
    }
    return messages.get(error.code, _("This request cannot be recorded as it is."))
