"""Every name a template can use beyond what a view passes: registered here, in one place.

They only format or label what the view already holds; none reads the clock, the database or a stored
email (views pass such things in: the breach clock, a message's headers). The one exception is the
console's tab counts, added to console pages by a context processor.
"""

from __future__ import annotations

import re
from typing import Any

from flask import Flask, g, request
from flask_babel import get_locale, gettext
from markupsafe import Markup, escape
from sqlalchemy.exc import SQLAlchemyError

from .console import queries
from .console.queries import work_counts
from .disclosures.labels import basis_label, disclosure_kind_label, recipient_label
from .i18n import (
    format_count,
    format_delay,
    format_hours,
    format_local,
    format_month,
    format_share,
    format_utc,
    zone_label,
)
from .incidents import labels
from .intake.display_names import display_name_warning_texts, show_controls
from .intake.verdicts import authentication_verdicts
from .retention import labels as retention_labels
from .staff.access import can
from .staff.permissions import VIEW_LEGAL
from .url_args import day_filter_field

CONSOLE_BLUEPRINTS = ("console", "reports", "packs")

# The support contact setting is free text ("security@ecc.example, (028) 3822 0000"): on a phone the
# way out of a bad moment is one tap, so addresses become mailto: links and numbers tel: links.
_CONTACT = re.compile(r"(?P<email>[\w.+-]+@[\w-]+(?:\.[\w-]+)+)|(?P<phone>\+?\(?\d[\d ().-]{6,}\d)")


def contact_links(text: str) -> Markup:
    """`text` escaped, with each email address and telephone number in it made a link."""
    out = []
    last = 0
    for match in _CONTACT.finditer(text):
        out.append(escape(text[last : match.start()]))
        found = match.group(0)
        if match.group("email"):
            out.append(Markup('<a href="mailto:{0}">{0}</a>').format(found))
        else:
            digits = re.sub(r"[^\d+]", "", found)
            out.append(Markup('<a href="tel:{0}">{1}</a>').format(digits, found))
        last = match.end()
    out.append(escape(text[last:]))
    return Markup("").join(out)


def count_label(value: int) -> str:
    """A count bounded by console.queries.bounded_count as the console shows it: the number in the
    viewer's grouping, or "more than 1000" past the cap, where counting stopped."""
    cap = queries.COUNT_CAP
    return gettext("more than %(n)s", n=format_count(cap)) if value > cap else format_count(value)


def _console_counts() -> dict[str, Any]:
    """On a console page for a signed-in staff user: the counts beside its tabs (one query each). Not on
    customer pages, and never on an error page, where the database may be the very thing that failed."""
    if g.get("staff") is None or not (request.blueprint or "").startswith(CONSOLE_BLUEPRINTS):
        return {}
    if request.routing_exception is not None or g.get("answering_an_error"):
        return {}
    try:
        return {"work_counts": work_counts(legal=can(VIEW_LEGAL))}
    except SQLAlchemyError:
        return {}


def init_app(app: Flask) -> None:
    app.context_processor(_console_counts)
    app.jinja_env.filters.update(
        localtime=format_local,
        utctime=format_utc,
        show_controls=show_controls,
        contact_links=contact_links,
    )
    app.jinja_env.globals.update(
        get_locale=get_locale,
        zone_label=zone_label,
        day_filter_field=day_filter_field,
        format_delay=format_delay,
        format_hours=format_hours,
        format_share=format_share,
        format_count=format_count,
        count_label=count_label,
        format_month=format_month,
        bin_label=labels.bin_label,
        email_label=labels.email_label,
        can=can,
        display_name_warnings=display_name_warning_texts,
        mail_verdicts=authentication_verdicts,
        quarantine_reason_label=labels.quarantine_reason_label,
        not_a_report_label=labels.not_a_report_label,
        via_label=labels.via_label,
        language_name=labels.language_name,
        status_label=labels.status_label,
        status_short_label=labels.status_short_label,
        channel_label=labels.channel_label,
        role_label=labels.role_label,
        lateness_label=labels.lateness_label,
        kind_label=labels.kind_label,
        time_source_label=labels.time_source_label,
        statement_source_label=labels.statement_source_label,
        message_status_label=labels.message_status_label,
        outbox_status_label=labels.outbox_status_label,
        decision_label=labels.decision_label,
        action_label=labels.action_label,
        actor_label=labels.actor_label,
        event_line=labels.event_line,
        basis_label=basis_label,
        disclosure_kind_label=disclosure_kind_label,
        recipient_label=recipient_label,
        rule_label=retention_labels.rule_label,
        fields_label=retention_labels.fields_label,
        removed_fields=retention_labels.removed_fields,
    )
