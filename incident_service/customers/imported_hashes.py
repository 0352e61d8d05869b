"""Password hashes brought over from the company's current system: the accepted formats, their limits,
and how each is verified at sign-in, until the first successful sign-in stores argon2id instead.

A hash is one ASCII string of at most 255 characters (`customers.password_hash` is String(255); the
longest accepted form is under 200). Anything else is refused when it is imported, never stored:

argon2id
    The PHC string `$argon2id$v=19$m=<KiB>,t=<passes>,p=<lanes>$<salt>$<hash>` (argon2-cffi,
    libargon2, PHP's PASSWORD_ARGON2ID), salt and hash in unpadded standard base64. Version 19 only
    (argon2i, argon2d and version 16 are refused). Limits: t 1-8, p 1-16, m at most 131072 KiB
    (128 MiB), and m × t at least 35840 KiB (35 MiB), the work of each of OWASP's five equivalent
    argon2id settings (46 MiB × 1 ... 7 MiB × 5). Verified by argon2-cffi; after a successful sign-in
    it is rehashed when its parameters differ from PASSWORD_HASH_PROFILE (`check_needs_rehash`).
bcrypt
    `$2a$`, `$2b$` or `$2y$`, a two-digit cost, `$`, 22 characters of salt and 31 of hash in bcrypt's
    base64 (`./A-Za-z0-9`): 60 characters in all (OpenBSD, PHP's password_hash, Spring, bcrypt.js,
    pyca/bcrypt). Cost 10-14: 10 is OWASP's floor for bcrypt, and a verify at 14 takes about a second
    here, so a higher one would let an import slow sign-in down. Verified with pyca/bcrypt. bcrypt reads
    only the first 72 bytes of the UTF-8 password, and so did the system that made the hash: a password
    longer than that is verified on its first 72 bytes (any password with the same first 72 bytes
    matches, exactly as it did there). The first successful sign-in replaces it with argon2id over the
    whole password, and from then on every byte counts.
PBKDF2-HMAC-SHA256, in either of two common spellings, with 10,000 to 2,000,000 iterations (below,
    too cheap to keep even until the first sign-in; above, about half a second per verify here), a
    32-byte derived key, and the password as UTF-8:

    - Django's `pbkdf2_sha256$<iterations>$<salt>$<hash>`: the salt is used as its ASCII text (1-64
      printable characters, no `$`), the hash is standard base64 with its padding (44 characters).
      Example (Django's own test vector): `pbkdf2_sha256$10000$seasalt$CWWFdHOWwPnki7HvkcqN9iA2T3KLW1cf2uZ5kvArtVY=`
      is "lètmein".
    - passlib's `$pbkdf2-sha256$<rounds>$<salt>$<hash>`: salt (1-64 bytes) and hash in passlib's
      "adapted base64" (standard base64 with `.` for `+`, no padding; the hash is 43 characters).
      Example (passlib's documentation):
      `$pbkdf2-sha256$29000$N2YMIWQsBWBMae09x1jrPQ$1t8iyB2A.WF/Z5JZv.lfCIhXXN33N23OSgQYThBYRfk` is
      "toomanysecrets".

    Verified with hashlib.pbkdf2_hmac and hmac.compare_digest.

Every format is tried on the password as typed and in Unicode NFC (customers.passwords), since the old
system may have hashed either. A wrong password takes the same time as a right one within a format, and
a refusal never says which format an account has; but the formats cost different amounts of work (a
bcrypt cost 10 verify is much quicker than argon2id's), so the time of a sign-in can hint at the format
until the account's first sign-in has rehashed it. That difference is inherent to keeping the old hashes.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re

import bcrypt
from argon2 import Type, extract_parameters
from argon2.exceptions import InvalidHashError

ARGON2ID = "argon2id"
BCRYPT = "bcrypt"
PBKDF2_SHA256 = "pbkdf2_sha256"

MAX_LENGTH = 255
ARGON2_MAX_TIME_COST = 8
ARGON2_MAX_PARALLELISM = 16
ARGON2_MAX_MEMORY_KIB = 128 * 1024
ARGON2_MIN_WORK_KIB = 35 * 1024  # memory × passes
BCRYPT_MIN_COST, BCRYPT_MAX_COST = 10, 14
BCRYPT_MAX_BYTES = 72
PBKDF2_MIN_ITERATIONS, PBKDF2_MAX_ITERATIONS = 10_000, 2_000_000
PBKDF2_KEY_BYTES = 32
PBKDF2_MAX_SALT = 64

ACCEPTED_FORMATS = (
    "argon2id ($argon2id$v=19$m=...,t=...,p=...$salt$hash), "
    f"bcrypt ($2a$, $2b$ or $2y$, cost {BCRYPT_MIN_COST}-{BCRYPT_MAX_COST}), "
    "PBKDF2-SHA256 as Django's pbkdf2_sha256$<iterations>$<salt>$<base64 hash> or passlib's "
    f"$pbkdf2-sha256$<rounds>$<ab64 salt>$<ab64 hash>, {PBKDF2_MIN_ITERATIONS:,}-{PBKDF2_MAX_ITERATIONS:,} iterations"
)

_BCRYPT = re.compile(r"\$2[aby]\$(\d\d)\$[./A-Za-z0-9]{53}")
_DJANGO = re.compile(r"pbkdf2_sha256\$([1-9][0-9]{0,8})\$([!-#%-~]{1,64})\$([A-Za-z0-9+/]{43}=)")
_PASSLIB = re.compile(r"\$pbkdf2-sha256\$([1-9][0-9]{0,8})\$([./A-Za-z0-9]{2,86})\$([./A-Za-z0-9]{43})")


def scheme_of(encoded: str) -> str | None:
    """Which accepted format `encoded` claims to be, by its prefix alone; None for any other."""
    if encoded.startswith("$argon2id$"):
        return ARGON2ID
    if encoded.startswith(("$2a$", "$2b$", "$2y$")):
        return BCRYPT
    if encoded.startswith(("pbkdf2_sha256$", "$pbkdf2-sha256$")):
        return PBKDF2_SHA256
    return None


def hash_problem(encoded: str) -> str | None:
    """Why `encoded` cannot be imported, in words for an operator (never quoting the hash); None if it can."""
    if not encoded:
        return "the password hash is empty"
    if len(encoded) > MAX_LENGTH or not encoded.isascii():
        return f"a password hash is ASCII text of at most {MAX_LENGTH} characters"
    scheme = scheme_of(encoded)
    if scheme == ARGON2ID:
        return _argon2id_problem(encoded)
    if scheme == BCRYPT:
        return _bcrypt_problem(encoded)
    if scheme == PBKDF2_SHA256:
        return None if _pbkdf2(encoded) is not None else _pbkdf2_problem(encoded)
    if encoded.startswith(("$argon2i$", "$argon2d$")):
        return "only argon2id is accepted, not argon2i or argon2d"
    return "the password hash is in none of the accepted formats"


def _argon2id_problem(encoded: str) -> str | None:
    try:
        found = extract_parameters(encoded)
    except InvalidHashError:
        return "the argon2id hash is malformed"
    if found.type is not Type.ID or found.version != 19:
        return "only argon2id version 19 (v=19) is accepted"
    if not 1 <= found.time_cost <= ARGON2_MAX_TIME_COST:
        return f"argon2id t={found.time_cost} is outside 1-{ARGON2_MAX_TIME_COST}"
    if not 1 <= found.parallelism <= ARGON2_MAX_PARALLELISM:
        return f"argon2id p={found.parallelism} is outside 1-{ARGON2_MAX_PARALLELISM}"
    if found.memory_cost > ARGON2_MAX_MEMORY_KIB:
        return f"argon2id m={found.memory_cost} KiB is above the ceiling of {ARGON2_MAX_MEMORY_KIB} KiB"
    if found.memory_cost * found.time_cost < ARGON2_MIN_WORK_KIB:
        return f"argon2id m × t is below OWASP's floor of {ARGON2_MIN_WORK_KIB} KiB (e.g. m=19456,t=2)"
    return None


def _bcrypt_problem(encoded: str) -> str | None:
    match = _BCRYPT.fullmatch(encoded)
    if match is None:
        return "the bcrypt hash is malformed (expected 60 characters: $2b$<cost>$<53 characters>)"
    cost = int(match.group(1))
    if not BCRYPT_MIN_COST <= cost <= BCRYPT_MAX_COST:
        return f"bcrypt cost {cost} is outside {BCRYPT_MIN_COST}-{BCRYPT_MAX_COST}"
    return None


def _pbkdf2_problem(encoded: str) -> str:
    match = _DJANGO.fullmatch(encoded) or _PASSLIB.fullmatch(encoded)
    if match is None:
        return "the PBKDF2-SHA256 hash is malformed"
    iterations = int(match.group(1))
    if not PBKDF2_MIN_ITERATIONS <= iterations <= PBKDF2_MAX_ITERATIONS:
        return f"PBKDF2-SHA256 with {iterations:,} iterations is outside {PBKDF2_MIN_ITERATIONS:,}-{PBKDF2_MAX_ITERATIONS:,}"
    return "the PBKDF2-SHA256 salt or hash is not valid base64 of the expected length"


def _ab64(text: str) -> bytes:
    """passlib's adapted base64: `.` for `+`, no padding."""
    return base64.b64decode(text.replace(".", "+") + "=" * (-len(text) % 4), validate=True)


def _pbkdf2(encoded: str) -> tuple[int, bytes, bytes] | None:
    """(iterations, salt, key) of a PBKDF2-SHA256 hash within the limits, else None."""
    try:
        if match := _DJANGO.fullmatch(encoded):
            salt, key = match.group(2).encode("ascii"), base64.b64decode(match.group(3), validate=True)
        elif match := _PASSLIB.fullmatch(encoded):
            salt, key = _ab64(match.group(2)), _ab64(match.group(3))
        else:
            return None
    except (binascii.Error, ValueError):
        return None
    iterations = int(match.group(1))
    if not PBKDF2_MIN_ITERATIONS <= iterations <= PBKDF2_MAX_ITERATIONS:
        return None
    if len(key) != PBKDF2_KEY_BYTES or not 1 <= len(salt) <= PBKDF2_MAX_SALT:
        return None
    return iterations, salt, key


def verify_bcrypt_or_pbkdf2(encoded: str, password: str) -> bool | None:
    """Whether `password` matches a bcrypt or PBKDF2-SHA256 hash; None when `encoded` is neither (or
    is outside the limits above, so that nothing written behind the import's back can slow sign-in)."""
    scheme = scheme_of(encoded)
    secret = password.encode("utf-8")
    if scheme == BCRYPT:
        if _bcrypt_problem(encoded) is not None:
            return None
        try:
            # bcrypt >= 5 refuses what earlier bcrypts silently cut: cut it here, as the old system did.
            return bcrypt.checkpw(secret[:BCRYPT_MAX_BYTES], encoded.encode("ascii"))
        except ValueError:
            return False
    if scheme == PBKDF2_SHA256:
        found = _pbkdf2(encoded)
        if found is None:
            return None
        iterations, salt, key = found
        return hmac.compare_digest(hashlib.pbkdf2_hmac("sha256", secret, salt, iterations, PBKDF2_KEY_BYTES), key)
    return None
