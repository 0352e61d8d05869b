"""What each reason a password is refused for says to the person who chose it, in their language:
the reset page and the console's staff form alike."""

from __future__ import annotations

from flask import current_app
from flask_babel import gettext as _

from . import password_policy as policy


def reason_message(reason: str) -> str:
    company = current_app.config["COMPANY_NAME"]
    return {
        policy.TOO_SHORT: _(
            "Use at least %(n)d characters. A few unrelated words make a long password that is easy to remember.",
            n=policy.MIN_LENGTH,
        ),
        policy.TOO_LONG: _("This password is too long. Use at most %(n)d bytes.", n=policy.MAX_BYTES),
        policy.MISMATCH: _("The two passwords are not the same. Please type them again."),
        policy.COMMON: _("This password is on a list of passwords that attackers try first. Choose another."),
        policy.CONTAINS_EMAIL: _("Do not use your email address in your password."),
        policy.CONTAINS_COMPANY: _("Do not use the name %(company)s in your password.", company=company),
        policy.COMPROMISED: _("This is the password you reported as exposed. Choose a new one."),
    }[reason]
