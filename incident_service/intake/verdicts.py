"""What our own mail server concluded about a message's sender (SPF, DKIM, DMARC), read from the
Authentication-Results headers it added (M4), for the evidence summary a support agent sees first.

Parsing is RFC 8601's, by `authres` (the reference implementation, also used by dkimpy); only the
headers intake already judged to be ours are read, so a sender's own claims never become a verdict."""

from __future__ import annotations

from dataclasses import dataclass

import authres
from flask_babel import gettext as _

# The methods a person can act on, in the order they matter: DMARC decides, DKIM and SPF explain it.
METHODS = ("dmarc", "dkim", "spf")
GOOD = {"pass"}
NEUTRAL = {"none", "neutral", "policy"}


@dataclass(frozen=True)
class Verdict:
    method: str
    result: str

    @property
    def tone(self) -> str:
        """`good`, `neutral` or `bad`: the colour the badge takes."""
        if self.result in GOOD:
            return "good"
        return "neutral" if self.result in NEUTRAL else "bad"

    @property
    def label(self) -> str:
        return _("%(method)s: %(result)s", method=self.method.upper(), result=result_label(self.result))


def result_label(result: str) -> str:
    return {
        "pass": _("passed"),
        "fail": _("failed"),
        "softfail": _("soft fail"),
        "neutral": _("neutral"),
        "none": _("no record"),
        "temperror": _("temporary error"),
        "permerror": _("permanent error"),
        "policy": _("refused by policy"),
    }.get(result, _("unreadable"))


def authentication_verdicts(trusted_results: list[str]) -> list[Verdict]:
    """One verdict per method our server reported. Headers come topmost first, and the topmost was added
    last, by the hop nearest us: its verdict wins. Methods not reported are left out; a header authres
    cannot read gives nothing rather than a guess."""
    found: dict[str, Verdict] = {}
    for header in trusted_results:
        try:
            parsed = authres.AuthenticationResultsHeader.parse(f"Authentication-Results: {header}")
        except Exception:  # a header authres cannot read says nothing we could stand behind
            continue
        for result in parsed.results:
            method = str(result.method).lower()
            if method in METHODS and method not in found:
                found[method] = Verdict(method, str(result.result).lower())
    return [found[method] for method in METHODS if method in found]
