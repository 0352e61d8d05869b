"""The console's API keys page (admins): the keys with their scopes, expiry and last use; create one
(its value shown on the answer page only, once); revoke one."""

from __future__ import annotations

from datetime import timedelta

from flask import Blueprint, abort, flash, make_response, redirect, render_template, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from wtforms import IntegerField, SelectField, SelectMultipleField, StringField
from wtforms.validators import DataRequired, Length, NumberRange, Optional, Regexp
from wtforms.widgets import CheckboxInput, ListWidget

from ..api.models import SCOPES, ApiKey
from ..api.service import NAME_SHAPE, ApiKeyError, ApiKeyExists, api_keys, create_api_key, revoke_api_key
from ..database import utcnow
from ..disclosures.labels import basis_choices
from ..extensions import db
from ..forms import Form, add_error
from ..staff.access import current_staff, require, require_sign_in
from ..staff.permissions import MANAGE_STAFF
from .forms import ActionForm
from .transactions import commit_on_success

bp = Blueprint("console_api_keys", __name__, url_prefix="/console/admin/api-keys")
require_sign_in(bp)


def scope_label(scope: str) -> str:
    """What a scope lets a system do, for people; the code stays beside it."""
    return {
        "reports:write": _("Submit reports for customers"),
        "reports:read": _("Read the delay report"),
        "incidents:read": _("Read incidents"),
        "customers:write": _("Create and update customers"),
        "links:write": _("Get customers' report links"),
        "events:read": _("Read the audit log"),
    }.get(scope, scope)


def scope_choices() -> list[tuple[str, str]]:
    return [(scope, scope_label(scope)) for scope in SCOPES]


class ScopesField(SelectMultipleField):
    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


class ApiKeyForm(Form):
    name = StringField(
        _l("Name of the system using the key"),
        validators=[
            DataRequired(),
            Length(max=64),
            Regexp(NAME_SHAPE.pattern + "$", message=_l("Use letters, digits, dots, dashes or underscores.")),
        ],
    )
    scopes = ScopesField(
        _l("What the key may do"),
        choices=scope_choices,
        validators=[DataRequired(message=_l("Choose at least one."))],
    )
    expires_in_days = IntegerField(
        _l("Expires after (days, optional)"), validators=[Optional(), NumberRange(min=1, max=3650)]
    )
    # The disclosure register records every read of customers' data with these (issue 16).
    purpose = StringField(_l("What the system uses customers' data for (optional)"), validators=[Length(max=500)])
    legal_basis = SelectField(
        _l("Legal basis for giving it customers' data"),
        choices=lambda: [("", _("Not stated")), *basis_choices()],
        default="",
    )


def _page(form: ApiKeyForm, *, new_key: str | None = None, new_name: str | None = None) -> ResponseReturnValue:
    response = make_response(
        render_template(
            "console/api_keys.html",
            keys=api_keys(),
            now=utcnow(),
            form=form,
            action_form=ActionForm(),
            new_key=new_key,
            new_name=new_name,
            scope_label=scope_label,
        ),
        400 if form.errors else 200,
    )
    if new_key:
        response.headers["Cache-Control"] = "no-store"  # the key is in this page only, never in a cookie or log
    return response


@bp.route("", methods=["GET", "POST"])
@require(MANAGE_STAFF)
@commit_on_success
def keys_page() -> ResponseReturnValue:
    form = ApiKeyForm()
    if form.validate_on_submit():
        now = utcnow()
        days = form.expires_in_days.data
        try:
            made = create_api_key(
                (form.name.data or "").strip(),
                scopes=list(form.scopes.data or []),
                expires_at=now + timedelta(days=days) if days else None,
                source="console",
                actor=current_staff().label,
                now=now,
                purpose=form.purpose.data,
                legal_basis=form.legal_basis.data or None,
            )
        except ApiKeyExists:
            add_error(form.name, _("A key with this name exists already (revoked keys keep their name)."))
        except ApiKeyError:
            add_error(form.name, _("Use letters, digits, dots, dashes or underscores."))
        else:
            return _page(ApiKeyForm(formdata=None), new_key=made.secret, new_name=made.key.name)
    return _page(form)


@bp.post("/<int:key_id>/revoke")
@require(MANAGE_STAFF)
@commit_on_success
def revoke(key_id: int) -> ResponseReturnValue:
    key = db.get_or_404(ApiKey, key_id)
    if not ActionForm().validate_on_submit():
        abort(400)
    revoke_api_key(key.name, source="console", actor=current_staff().label, now=utcnow())
    flash(_("Key %(name)s revoked: calls with it are refused from now on.", name=key.name), "success")
    return redirect(url_for("console_api_keys.keys_page"))
