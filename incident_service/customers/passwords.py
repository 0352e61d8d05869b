"""argon2id hashing with a bound on concurrent hashes, so a flood of sign-ins cannot exhaust memory (P1);
verification also of the hashes imported from the company's current system (customers.imported_hashes)."""

from __future__ import annotations

import dataclasses
import threading
from typing import Callable, TypeVar

from argon2 import PasswordHasher, profiles
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from flask import Flask, current_app

from .imported_hashes import ARGON2ID, scheme_of, verify_bcrypt_or_pbkdf2
from .password_policy import MAX_BYTES, check_new_password, common_passwords, normalize

T = TypeVar("T")

# OWASP's floor for argon2id (m=19 MiB, t=2, p=1); RFC 9106's low-memory profile is above it.
OWASP_MINIMUM = dataclasses.replace(profiles.RFC_9106_LOW_MEMORY, time_cost=2, memory_cost=19 * 1024, parallelism=1)
PROFILES = {"rfc9106-low-memory": profiles.RFC_9106_LOW_MEMORY, "owasp-minimum": OWASP_MINIMUM}


class PasswordHashing:
    """One hasher per app: its parameters, a semaphore for concurrency, and a dummy hash for unknown users."""

    def __init__(self, profile: str, concurrency: int) -> None:
        self.hasher = PasswordHasher.from_parameters(PROFILES[profile])
        self._slots = threading.BoundedSemaphore(concurrency)
        self._dummy_hash = self.hasher.hash("dummy password that matches nothing")

    def hash(self, password: str) -> str:
        """The argon2id hash of `password` in NFC: a Vietnamese keyboard may type either form."""
        with self._slots:
            return self.hasher.hash(normalize(password))

    def verify(self, stored_hash: str | None, password: str) -> bool:
        """True when `password` matches, in NFC or (for a hash made before we normalised) as typed;
        with no stored hash, do the same work and return False (R3)."""
        composed = normalize(password)
        if self._verify(stored_hash, composed):
            return True
        return composed != password and self._verify(stored_hash, password)

    def _verify(self, stored_hash: str | None, password: str) -> bool:
        with self._slots:
            if stored_hash is not None and scheme_of(stored_hash) != ARGON2ID:
                matched = verify_bcrypt_or_pbkdf2(stored_hash, password)
                if matched is not None:
                    return matched
                # Not a hash we accept: as much work as for an unknown address (R3), and no match.
                stored_hash = None
            try:
                return self.hasher.verify(stored_hash or self._dummy_hash, password) and stored_hash is not None
            except (VerifyMismatchError, VerificationError, InvalidHashError):
                return False

    def needs_rehash(self, stored_hash: str) -> bool:
        """True for any imported format but argon2id, and for argon2id with other parameters than ours."""
        return scheme_of(stored_hash) != ARGON2ID or self.hasher.check_needs_rehash(stored_hash)


def init_app(app: Flask) -> None:
    app.extensions["password_hashing"] = PasswordHashing(
        app.config["PASSWORD_HASH_PROFILE"], app.config["PASSWORD_HASH_CONCURRENCY"]
    )


def hashing() -> PasswordHashing:
    found: PasswordHashing = current_app.extensions["password_hashing"]
    return found


def sign_in_check(raw_address: str, password: str, check: Callable[[str, str], T | None]) -> T | None:
    """Run `check(address, password)` for a sign-in form: malformed addresses match nobody, and a
    password over the byte limit is refused before any hashing (P2), both like a wrong password."""
    from .addresses import InvalidAddress, normalize_address

    try:
        address = normalize_address(raw_address)
    except InvalidAddress:
        address = ""
    if len(password.encode("utf-8")) > MAX_BYTES:
        return None
    return check(address, password)


def password_problems(
    password: str, confirmation: str, *, email: str, is_compromised: Callable[[str], bool] = lambda _candidate: False
) -> list[str]:
    """The reasons the company's rules (P1–P3) refuse `password` for the account at `email`: the
    common-password list, the address and COMPANY_NAME; empty means accepted. Customers and staff alike."""
    return check_new_password(
        password,
        confirmation,
        email=email,
        company_names=[current_app.config["COMPANY_NAME"]],
        common=common_passwords(),
        is_compromised=is_compromised,
    )


def refusal_message(problems: list[str]) -> str:
    """What a command line says about a refused password."""
    return (
        f"password refused: {', '.join(problems)} (at least 15 characters, not a common password, "
        "not containing the address or company name)"
    )
