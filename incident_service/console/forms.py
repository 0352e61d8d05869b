"""Console forms."""

from __future__ import annotations

from datetime import timedelta
from typing import Any, Mapping, Sequence

from flask import flash
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from wtforms import (
    BooleanField,
    EmailField,
    Field,
    HiddenField,
    PasswordField,
    RadioField,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.validators import DataRequired, InputRequired, Length, Optional, Regexp, ValidationError

from ..customers.addresses import normalize_address
from ..customers.models import Customer
from ..customers.service import find_customer
from ..database import utcnow
from ..forms import Form, add_error, entered
from ..incidents.forms import DiscoveryTimeField, LocalTimeField, validate_address
from ..incidents.models import KINDS
from ..staff.models import ROLES

STAFF_CHANNELS = ("phone", "fax", "post", "in_person")
UNUSUAL_REACH_AGE = timedelta(days=30)
UNUSUAL_DELAY = timedelta(days=365)


class StaffLoginForm(Form):
    email = EmailField(_l("Email address"), validators=[DataRequired(), Length(max=320)])
    password = PasswordField(_l("Password"), validators=[DataRequired()])


class TotpForm(Form):
    code = StringField(
        _l("6-digit code from your authenticator app"),
        validators=[DataRequired(), Regexp(r"^\s*\d{3}\s?\d{3}\s*$", message=_l("Enter the 6 digits."))],
    )


def channel_choices() -> list[tuple[str, str]]:
    from ..incidents.labels import channel_label

    return [(channel, channel_label(channel)) for channel in STAFF_CHANNELS]


def staff_kind_choices() -> list[tuple[str, str]]:
    """What happened, as an agent types what the customer told them (third person)."""
    labels = {
        "lost": _l("The customer lost it or forgot where they wrote it"),
        "stolen": _l("It was stolen"),
        "leaked": _l("It was leaked or shared by mistake"),
        "phished": _l("The customer typed it into a fake page or message"),
        "suspicious_activity": _l("The customer sees activity on their account that was not them"),
        "other": _l("Something else"),
    }
    return [(kind, labels[kind]) for kind in KINDS]


class StaffReportForm(Form):
    email = EmailField(
        _l("The customer's email address"), validators=[DataRequired(), Length(max=320), validate_address]
    )
    channel = SelectField(_l("How the report reached us"), choices=channel_choices, validators=[DataRequired()])
    reached_at = DiscoveryTimeField(
        _l("When the report reached the company"),
        validators=[DataRequired(message=_l("Enter when the report reached us."))],
        future_message=_l("This time is in the future."),
    )
    kind = SelectField(_l("What happened?"), choices=staff_kind_choices, validators=[DataRequired()])
    discovered_at = DiscoveryTimeField(_l("When the customer says they noticed (optional)"), validators=[Optional()])
    details = TextAreaField(_l("What the customer said"), validators=[Optional(), Length(max=5000)])
    # Asked for only when a time looks wrong (see validate): a typo in a year must not become evidence.
    times_confirmed = BooleanField(_l("These times are right, although unusual"))

    def validate(self, extra_validators: Mapping[str, Sequence[Any]] | None = None) -> bool:
        """The fields one by one, then the two times together: the customer cannot have noticed after
        the report reached us, and a time long ago needs the agent's confirmation."""
        if not super().validate(extra_validators):
            return False
        reached, noticed = self.reached_at.utc, self.discovered_at.utc
        if reached is not None and noticed is not None and noticed > reached:
            add_error(
                self.discovered_at, _("The customer cannot have noticed after the report reached us. Check both times.")
            )
            return False
        if not self.times_confirmed.data:
            if reached is not None and utcnow() - reached > UNUSUAL_REACH_AGE:
                add_error(
                    self.reached_at,
                    _(
                        "This is more than %(days)d days ago. Check the date; if it is "
                        "right, tick the confirmation below.",
                        days=UNUSUAL_REACH_AGE.days,
                    ),
                )
                self.unusual_times = True
            if reached is not None and noticed is not None and reached - noticed > UNUSUAL_DELAY:
                add_error(
                    self.discovered_at,
                    _(
                        "This is more than a year before the report. Check the date; if "
                        "it is right, tick the confirmation below."
                    ),
                )
                self.unusual_times = True
            if self.unusual_times:
                return False
        return True

    unusual_times = False


class StaffDiscoveryForm(Form):
    discovered_at = DiscoveryTimeField(
        _l("When the customer noticed"),
        validators=[DataRequired(message=_l("Enter the date and time."))],
    )
    override = BooleanField(_l("Override the customer's statements (legal evidence says otherwise)"))
    # No Optional(): it would stop the chain before validate_override_reason could ask for a reason.
    override_reason = TextAreaField(_l("Reason"), validators=[Length(max=2000)])

    def validate_override_reason(self, field: Field) -> None:
        if self.override.data and not (field.data or "").strip():
            raise ValidationError(_l("An override needs a reason."))


class NoteForm(Form):
    text = TextAreaField(_l("Note"), validators=[DataRequired(), Length(max=5000)])


def close_choices() -> list[tuple[str, str]]:
    return [("duplicate", _l("Duplicate")), ("spam", _l("Spam")), ("withdrawn", _l("Withdrawn by the customer"))]


class CloseForm(Form):
    category = SelectField(_l("Why close it?"), choices=close_choices, validators=[DataRequired()])
    close_reason = TextAreaField(_l("Explain"), validators=[DataRequired(), Length(max=2000)])


class AssignForm(Form):
    email = EmailField(
        _l("The customer's email address"), validators=[DataRequired(), Length(max=320), validate_address]
    )


def flash_form_errors(form: Form) -> None:
    """Each field's errors as messages on the next page, labelled with the field."""
    for field in form:
        for error in field.errors:
            flash(f"{field.label.text}: {error}", "error")


def customer_to_assign(form: AssignForm) -> Customer | None:
    """The customer whose address staff typed, or None after saying why: the field's error, or that no
    customer has that address (nothing is said when the form was not sent)."""
    if not form.validate_on_submit():
        flash_form_errors(form)
        return None
    customer = find_customer(normalize_address(entered(form.email)))
    if customer is None:
        flash(_("No customer has that address."), "error")
    return customer


class DismissForm(Form):
    reason = TextAreaField(_l("Why set it aside?"), validators=[DataRequired(), Length(max=2000)])


def role_choices() -> list[tuple[str, str]]:
    from ..incidents.labels import role_label

    return [(role, role_label(role)) for role in ROLES]


class StaffCreateForm(Form):
    email = EmailField(_l("Email address"), validators=[DataRequired(), Length(max=320), validate_address])
    name = StringField(_l("Name"), validators=[Optional(), Length(max=200)])
    role = SelectField(_l("Role"), choices=role_choices, validators=[DataRequired()])
    password = PasswordField(
        _l("First password (at least 15 characters; tell it to them in person)"), validators=[DataRequired()]
    )


class ActionForm(Form):
    """A button that changes state: CSRF only."""


STAFF_ID = r"^(\d{1,9})?$"  # a staff id, or nothing (nobody)


class AssigneeForm(Form):
    """Who works the incident. "Assign to me" and "Unassign" send the same fields with fixed values;
    `seen_assignee` is the assignee the page showed, so a change made meanwhile by someone else is not
    silently overwritten."""

    # Choices are filled per page (incident_page.offer_assignees); the service decides who may be
    # given an incident, so an id posted from a stale page gets its reason, not "Not a valid choice".
    assignee = SelectField(
        _l("Assign to"),
        validate_choice=False,
        validators=[Regexp(STAFF_ID, message=_l("Choose a staff member from the list."))],
    )
    seen_assignee = HiddenField(validators=[Regexp(STAFF_ID)])

    @staticmethod
    def staff_id(field: Field) -> int | None:
        data = field.data
        return int(data) if isinstance(data, str) and data else None


def decision_choices() -> list[tuple[str, str]]:
    from ..incidents.labels import decision_label

    return [(value, decision_label(value)) for value in ("exemption_asserted", "exemption_waived", "needs_information")]


class ReviewForm(Form):
    # Radio buttons with nothing chosen: legal picks one, reading what each does (no default decision).
    decision = RadioField(
        _l("Decision"), choices=decision_choices, validators=[InputRequired(message=_l("Choose a decision."))]
    )
    rationale = TextAreaField(
        _l("Rationale"),
        validators=[DataRequired(message=_l("Write the reasons for the decision.")), Length(max=5000)],
    )
    ask_customer = BooleanField(_l("Email the customer asking when they noticed (with 'needs information')"))
    confirm_exemption = BooleanField(
        _l("I confirm that the company relies on the exemption for this incident, with the reasons above.")
    )

    def validate_confirm_exemption(self, field: Field) -> None:
        if self.decision.data == "exemption_asserted" and not field.data:
            raise ValidationError(_l("Asserting the exemption has legal effect: tick the box to confirm it."))


def decision_consequences() -> dict[str, str]:
    """What each decision does, in plain words, shown beside its choice."""
    return {
        "exemption_asserted": _(
            "The customer reported later than the policy allowed, and the company relies on the policy's "
            "exemption for losses before the report. This is kept as evidence with your reasons; the customer "
            "is not emailed."
        ),
        "exemption_waived": _(
            "The company does not rely on the exemption: the incident is treated as if it had been reported in "
            "time. Kept with your reasons; the customer is not emailed."
        ),
        "needs_information": _(
            "No decision yet: something is missing, for example when the customer noticed. You can email the "
            "customer at the address on record to ask."
        ),
    }


class BreachForm(Form):
    # Named for the page they share with other forms: element ids stay unique.
    breach_reason = TextAreaField(
        _l("Why this is a personal-data breach"),
        validators=[DataRequired(message=_l("Write why this is a personal-data breach.")), Length(max=2000)],
    )
    breach_confirm = BooleanField(
        _l("I confirm: this starts the 72-hour clock for notifying the authority (A05) and cannot be undone here.")
    )

    def validate_breach_confirm(self, field: Field) -> None:
        if not field.data:
            raise ValidationError(_l("Tick the box to confirm."))


class AuthorityForm(Form):
    notified_at = DiscoveryTimeField(
        _l("When the authority (A05) was notified"),
        validators=[DataRequired(message=_l("Enter the date and time."))],
        future_message=_l("This time is in the future."),
    )
    how = TextAreaField(_l("How (channel, reference number, person)"), validators=[DataRequired(), Length(max=2000)])


class PolicyForm(Form):
    threshold_hours = StringField(
        _l("Late after (hours)"),
        validators=[DataRequired(), Regexp(r"^\d{1,4}$", message=_l("Enter a whole number of hours."))],
    )
    effective_from = LocalTimeField(
        _l("Takes effect at"),
        validators=[DataRequired(message=_l("Enter the date and time."))],
    )
    note = TextAreaField(_l("Note (why, who decided)"), validators=[DataRequired(), Length(max=2000)])


# Legal holds (incident_service/retention), placed and released by legal on the incident page.
HOLD_REASON_MAX = 2000


class HoldForm(Form):
    hold_reason = TextAreaField(
        _l("Why hold this incident's data?"),
        validators=[
            DataRequired(
                message=_l(
                    "Give the reason for the hold (the dispute, claim or request it is for): it is kept "
                    "with the hold and in the audit log."
                )
            ),
            Length(max=HOLD_REASON_MAX, message=_l("Keep it under %(max)d characters.")),
        ],
    )


class ReleaseForm(Form):
    # The hold the person saw: a hold released and placed again meanwhile is not released by mistake.
    hold_id = HiddenField()
    release_reason = TextAreaField(
        _l("Why release the hold?"),
        validators=[
            DataRequired(
                message=_l(
                    "Give the reason for releasing the hold (for example, the dispute is settled): it is "
                    "kept with the hold and in the audit log."
                )
            ),
            Length(max=HOLD_REASON_MAX, message=_l("Keep it under %(max)d characters.")),
        ],
    )
