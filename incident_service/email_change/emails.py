"""The emails of a change of address, one typed function each (as notifications.emails): what the
template needs, queued in the customer's language and zone, rendered later by the outbox worker.

Three of them go to an address that is not (or no longer) the address on record: the new address before
it is confirmed, the old one after the change, and a previous address that reported. Those greet nobody
by name, carry no link but the one they are about, and show the other address only masked (`a•••@x.vn`):
whoever reads that mailbox may not be the customer (a typo, a recycled or a compromised mailbox), and the
full new address is exactly what a hijacker of the old one would want next. Its owner recognises it.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from flask import current_app
from sqlalchemy import select

from ..customers.addresses import mask_address
from ..customers.models import Customer
from ..extensions import db
from ..notifications.models import OutboxMessage
from ..notifications.service import customer_email_parts, queue_email, queue_message
from ..tokens import SignedLink

if TYPE_CHECKING:
    from ..incidents.models import Report
    from .models import EmailChange

SOURCE = "web"
ACTOR = "customer"


def _zone(customer: Customer) -> str:
    return customer.time_zone or current_app.config["DISPLAY_TIMEZONE"]


def send_confirm_old_email(
    customer: Customer, change: EmailChange, link: SignedLink, *, now: datetime
) -> OutboxMessage:
    """To the address on record: confirm moving to the (masked) new address, or say "this was not me"."""
    return queue_email(
        "email_change_confirm_old",
        customer=customer,
        context={"masked_new": mask_address(change.new_address), "expires_at": change.expires_at},
        links={"confirm_url": link},
        source=SOURCE,
        actor=ACTOR,
        now=now,
    )


def send_confirm_new_email(
    customer: Customer, change: EmailChange, link: SignedLink, *, now: datetime
) -> OutboxMessage:
    """To the new address, not on record yet: confirm it is yours. No name, no report link."""
    return queue_message(
        "email_change_confirm_new",
        to_address=change.new_address,
        locale=customer.locale,
        zone=_zone(customer),
        context={"masked_old": mask_address(change.old_address), "expires_at": change.expires_at},
        links={"confirm_url": link},
        source=SOURCE,
        actor=ACTOR,
        now=now,
        customer_id=customer.id,
    )


def send_address_taken_email(owner: Customer, *, now: datetime) -> OutboxMessage:
    """To the customer whose address on record another account asked to move to: it cannot be used for
    a second account, nothing changed on theirs. Sent instead of a link, so the requester learns nothing
    the answer to any other address would not tell them."""
    return queue_email(
        "email_change_address_taken", customer=owner, context={}, links={}, source=SOURCE, actor=ACTOR, now=now
    )


def send_change_done_emails(customer: Customer, *, old_address: str, now: datetime) -> None:
    """The change is made: the old address is told, with the customer's report link (a report from it
    still reaches the account for PREVIOUS_ADDRESS_DAYS), and the new one gets a confirmation."""
    zone, context, links = customer_email_parts(
        customer, customer.id, customer.time_zone, {"masked_new": mask_address(customer.email), "changed_at": now}, {}
    )
    queue_message(
        "email_change_done_old",
        to_address=old_address,
        locale=customer.locale,
        zone=zone,
        context=context,
        links=links,
        source=SOURCE,
        actor=ACTOR,
        now=now,
        customer_id=customer.id,
    )
    queue_email(
        "email_change_done_new",
        customer=customer,
        context={"masked_old": mask_address(old_address), "changed_at": now},
        links={},
        source=SOURCE,
        actor=ACTOR,
        now=now,
    )


def previous_address_reply_sent_recently(address: str, now: datetime) -> bool:
    """Whether a previous address was told of a report within LINK_RESEND_WINDOW_SECONDS."""
    window = timedelta(seconds=current_app.config["LINK_RESEND_WINDOW_SECONDS"])
    return (
        db.session.execute(
            select(OutboxMessage.id)
            .where(
                OutboxMessage.to_address == address,
                OutboxMessage.template == "previous_address_report",
                OutboxMessage.created_at > now - window,
            )
            .limit(1)
        ).scalar()
        is not None
    )


def send_previous_address_report_email(
    customer: Customer, report: Report, *, to_address: str, replaced_at: datetime | None, source: str, now: datetime
) -> OutboxMessage:
    """To a previous address that reported: received at, the reference, and that the link to set a new
    password went to the address on record, not here. No link of any kind."""
    return queue_message(
        "previous_address_report",
        to_address=to_address,
        locale=customer.locale,
        zone=_zone(customer),
        context={"report": report, "replaced_at": replaced_at},
        links={},
        source=source,
        actor=ACTOR,
        now=now,
        customer_id=customer.id,
        incident_id=report.incident_id,
    )
