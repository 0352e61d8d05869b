"""The new-password rules (docs/security.md P2, P3) as a plain function returning reasons, not messages."""

from __future__ import annotations

import functools
import importlib.resources
import unicodedata
from typing import Callable, Container

MIN_LENGTH = 15
MAX_BYTES = 1024

TOO_SHORT = "too_short"
TOO_LONG = "too_long"
MISMATCH = "mismatch"
COMMON = "common"
CONTAINS_EMAIL = "contains_email"
CONTAINS_COMPANY = "contains_company"
COMPROMISED = "compromised"


@functools.cache
def common_passwords() -> frozenset[str]:
    """The passwords of SecLists' top 1,000,000 long enough to pass the length rule, lower-cased (shipped
    in incident_service/data with its licence; shorter ones are already refused by length)."""
    data = importlib.resources.files("incident_service").joinpath("data/common-passwords.txt")
    return frozenset(line for line in data.read_text(encoding="utf-8").splitlines() if line)


def normalize(password: str) -> str:
    """NFC: "mật" typed as composed or as decomposed characters is one password (no other folding, P2)."""
    return unicodedata.normalize("NFC", password)


def near_forms(password: str) -> list[str]:
    """The forms of `password` a customer may mean as a new one while typing the old one again: as
    typed, without surrounding spaces, and in the usual case slips (caps lock, all one case, a capital
    first letter). A candidate equal to the compromised password in any of them is refused."""
    trimmed = password.strip()
    forms = [password, trimmed, trimmed.swapcase(), trimmed.lower(), trimmed.upper(), trimmed.capitalize()]
    return list(dict.fromkeys(form for form in forms if form))


def check_new_password(
    password: str,
    confirmation: str,
    *,
    email: str,
    company_names: list[str],
    common: Container[str],
    is_compromised: Callable[[str], bool],
) -> list[str]:
    """Return the reasons `password` is refused, most fundamental first; empty means accepted.

    The byte limit is checked first and stops everything else: nothing over it is ever hashed.
    `is_compromised` (an argon2 verify against the locked hash) runs only when all cheap rules pass,
    once for each of the password's near forms (a handful of verifications, on a reset only).
    """
    if len(password.encode("utf-8")) > MAX_BYTES:
        return [TOO_LONG]
    password, confirmation = normalize(password), normalize(confirmation)
    if password != confirmation:
        return [MISMATCH]
    if len(password) < MIN_LENGTH:
        return [TOO_SHORT]
    reasons = []
    folded = password.lower()
    if folded in common:
        reasons.append(COMMON)
    address = email.lower()
    local_part = address.rsplit("@", 1)[0]
    # A local part of one or two letters would refuse half the language; the whole address still counts.
    if address in folded or (len(local_part) >= 3 and local_part in folded):
        reasons.append(CONTAINS_EMAIL)
    if any(len(name) >= 3 and name.lower() in folded for name in company_names):
        reasons.append(CONTAINS_COMPANY)
    if not reasons and any(is_compromised(form) for form in near_forms(password)):
        reasons.append(COMPROMISED)
    return reasons
