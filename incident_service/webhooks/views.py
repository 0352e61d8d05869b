"""Console pages for webhook subscriptions (admins): list, add (secret shown once), disable and enable,
rotate the secret, remove, and each subscription's delivery log."""

from __future__ import annotations

from datetime import timedelta

from flask import Blueprint, abort, current_app, flash, make_response, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from sqlalchemy import func, select

from ..console.forms import ActionForm
from ..console.transactions import commit_on_success
from ..database import utcnow
from ..extensions import db
from ..forms import add_error
from ..staff.access import current_staff, require, require_sign_in
from ..staff.permissions import MANAGE_WEBHOOKS
from .addresses import CREDENTIALS_IN_URL, NOT_HTTPS, PRIVATE_ADDRESS, UNRESOLVABLE, UnsafeTarget
from .delivery import ERROR_CONNECTION, ERROR_REDIRECT, ERROR_REFUSED_ADDRESS, ERROR_STATUS, ERROR_TIMEOUT, ERROR_TLS
from .forms import SubscriptionForm, event_type_label
from .models import DELIVERY_QUEUED, WebhookAttempt, WebhookDelivery, WebhookSubscription
from .service import (
    DISABLED_BY_FAILURES,
    DISABLED_BY_STAFF,
    add_subscription,
    disable_subscription,
    enable_subscription,
    remove_subscription,
    rotate_secret,
    subscriptions,
)

bp = Blueprint("console_webhooks", __name__, url_prefix="/console/admin/webhooks")
require_sign_in(bp)
LOG_SIZE = 100


def refusal_message(code: str) -> str:
    messages = {
        NOT_HTTPS: _("Use an https:// address: webhooks are sent only over TLS."),
        CREDENTIALS_IN_URL: _("Leave the user name and password out of the address."),
        UNRESOLVABLE: _("This host name could not be found."),
        PRIVATE_ADDRESS: _("This address is private, loopback or link-local: webhooks go only to public addresses."),
    }
    return messages.get(code, _("Enter a full http:// or https:// address."))


def attempt_error_label(error: str | None) -> str:
    labels = {
        ERROR_TIMEOUT: _("no answer in time"),
        ERROR_CONNECTION: _("could not connect"),
        ERROR_TLS: _("TLS certificate not accepted"),
        ERROR_REDIRECT: _("redirected (not followed)"),
        ERROR_STATUS: _("refused by the receiver"),
        ERROR_REFUSED_ADDRESS: _("address not allowed"),
    }
    return labels.get(error or "", error or "")


def disabled_label(reason: str | None) -> str:
    if reason == DISABLED_BY_FAILURES:
        return _("disabled after repeated failures")
    if reason == DISABLED_BY_STAFF:
        return _("disabled by staff")
    return _("disabled")


def _page(form: SubscriptionForm, *, secret: str | None = None, secret_for: int | None = None) -> ResponseReturnValue:
    waiting = dict(
        db.session.execute(
            select(WebhookDelivery.subscription_id, func.count())
            .where(WebhookDelivery.status == DELIVERY_QUEUED)
            .group_by(WebhookDelivery.subscription_id)
        ).all()
    )
    response = make_response(
        render_template(
            "console/webhooks.html",
            subscriptions=subscriptions(),
            waiting=waiting,
            form=form,
            action_form=ActionForm(),
            secret=secret,
            secret_for=secret_for,
            event_type_label=event_type_label,
            disabled_label=disabled_label,
        ),
        400 if form.errors else 200,
    )
    if secret:
        response.headers["Cache-Control"] = "no-store"  # the secret is in this page only
    return response


@bp.route("", methods=["GET", "POST"])
@require(MANAGE_WEBHOOKS)
@commit_on_success
def subscriptions_page() -> ResponseReturnValue:
    form = SubscriptionForm()
    if form.validate_on_submit():
        try:
            subscription, secret = add_subscription(
                form.url.data or "",
                list(form.events.data or []),
                source="console",
                actor=current_staff().label,
                now=utcnow(),
            )
        except UnsafeTarget as refused:
            add_error(form.url, refusal_message(refused.code))
        else:
            flash(_("Subscription added. Copy its signing secret now: it is not shown again."), "success")
            return _page(SubscriptionForm(formdata=None), secret=secret, secret_for=subscription.id)
    return _page(form)


def _subscription(subscription_id: int) -> WebhookSubscription:
    subscription = db.get_or_404(WebhookSubscription, subscription_id)
    if not ActionForm().validate_on_submit():
        abort(400)
    return subscription


@bp.post("/<int:subscription_id>/disable")
@require(MANAGE_WEBHOOKS)
@commit_on_success
def disable(subscription_id: int) -> ResponseReturnValue:
    disable_subscription(
        _subscription(subscription_id),
        reason=DISABLED_BY_STAFF,
        source="console",
        actor=current_staff().label,
        now=utcnow(),
    )
    return redirect(url_for("console_webhooks.subscriptions_page"))


@bp.post("/<int:subscription_id>/enable")
@require(MANAGE_WEBHOOKS)
@commit_on_success
def enable(subscription_id: int) -> ResponseReturnValue:
    enable_subscription(_subscription(subscription_id), source="console", actor=current_staff().label, now=utcnow())
    return redirect(url_for("console_webhooks.subscriptions_page"))


@bp.post("/<int:subscription_id>/remove")
@require(MANAGE_WEBHOOKS)
@commit_on_success
def remove(subscription_id: int) -> ResponseReturnValue:
    subscription = _subscription(subscription_id)
    if request.form.get("confirm") != "y":  # destructive: a page that says what goes, and asks again
        return render_template(
            "console/webhooks_remove.html",
            subscription=subscription,
            waiting=db.session.scalar(
                select(func.count())
                .select_from(WebhookDelivery)
                .where(WebhookDelivery.subscription_id == subscription.id, WebhookDelivery.status == DELIVERY_QUEUED)
            ),
            event_type_label=event_type_label,
        )
    remove_subscription(subscription, source="console", actor=current_staff().label, now=utcnow())
    flash(_("Subscription removed."), "success")
    return redirect(url_for("console_webhooks.subscriptions_page"))


@bp.post("/<int:subscription_id>/rotate")
@require(MANAGE_WEBHOOKS)
@commit_on_success
def rotate(subscription_id: int) -> ResponseReturnValue:
    hours = current_app.config["WEBHOOK_SECRET_OVERLAP_HOURS"]
    secret = rotate_secret(
        _subscription(subscription_id),
        overlap=timedelta(hours=hours),
        source="console",
        actor=current_staff().label,
        now=utcnow(),
    )
    flash(
        _(
            "New signing secret made. Copy it now: it is not shown again. The old one keeps signing beside it "
            "for %(hours)d hours.",
            hours=hours,
        ),
        "success",
    )
    return _page(SubscriptionForm(formdata=None), secret=secret, secret_for=subscription_id)


@bp.get("/<int:subscription_id>")
@require(MANAGE_WEBHOOKS)
def log(subscription_id: int) -> ResponseReturnValue:
    subscription = db.get_or_404(WebhookSubscription, subscription_id)
    attempts = db.session.execute(
        select(WebhookAttempt, WebhookDelivery)
        .join(WebhookDelivery, WebhookDelivery.id == WebhookAttempt.delivery_id)
        .where(WebhookAttempt.subscription_id == subscription.id)
        .order_by(WebhookAttempt.id.desc())
        .limit(LOG_SIZE)
    ).all()
    queued = db.session.execute(
        select(WebhookDelivery)
        .where(WebhookDelivery.subscription_id == subscription.id, WebhookDelivery.status == DELIVERY_QUEUED)
        .order_by(WebhookDelivery.id)
        .limit(LOG_SIZE)
    ).scalars()
    return render_template(
        "console/webhooks_log.html",
        subscription=subscription,
        attempts=attempts,
        queued=list(queued),
        event_type_label=event_type_label,
        attempt_error_label=attempt_error_label,
        disabled_label=disabled_label,
        action_form=ActionForm(),
    )
