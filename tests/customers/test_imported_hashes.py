"""Hashes from the company's current system (customers.imported_hashes): each accepted format verifies
the right password and refuses a wrong one, known vectors from Django and passlib, the limits, and the
refusals an import gives. Pure: no database, no app."""

from __future__ import annotations

import base64
import hashlib
import os
from typing import Callable

import bcrypt
import pytest
from argon2 import PasswordHasher, Type

from incident_service.customers.imported_hashes import (
    ACCEPTED_FORMATS,
    ARGON2ID,
    BCRYPT,
    PBKDF2_SHA256,
    hash_problem,
    scheme_of,
    verify_bcrypt_or_pbkdf2,
)
from incident_service.customers.passwords import PasswordHashing

RIGHT = "mật khẩu cũ của hệ thống trước"
WRONG = "mật khẩu cũ của hệ thống trướC"

# Published vectors: Django's own tests (1.5 and later) and passlib's documentation.
DJANGO_VECTOR = ("pbkdf2_sha256$10000$seasalt$CWWFdHOWwPnki7HvkcqN9iA2T3KLW1cf2uZ5kvArtVY=", "lètmein")
PASSLIB_VECTOR = (
    "$pbkdf2-sha256$29000$N2YMIWQsBWBMae09x1jrPQ$1t8iyB2A.WF/Z5JZv.lfCIhXXN33N23OSgQYThBYRfk",
    "toomanysecrets",
)


def django_pbkdf2(password: str, iterations: int = 10_000, salt: str = "Xk3dP0wq9ZrT") -> str:
    key = hashlib.pbkdf2_hmac("sha256", password.encode(), salt.encode(), iterations)
    return f"pbkdf2_sha256${iterations}${salt}${base64.b64encode(key).decode()}"


def passlib_pbkdf2(password: str, iterations: int = 10_000, salt: bytes = b"sixteen byte slt") -> str:
    def ab64(raw: bytes) -> str:
        return base64.b64encode(raw).decode().rstrip("=").replace("+", ".")

    key = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations)
    return f"$pbkdf2-sha256${iterations}${ab64(salt)}${ab64(key)}"


def bcrypt_hash(password: str, prefix: bytes = b"$2b$", cost: int = 10) -> str:
    made = bcrypt.hashpw(password.encode()[:72], bcrypt.gensalt(cost, prefix=b"2b")).decode()
    return prefix.decode() + made[4:]


def argon2id_hash(password: str, *, time_cost: int = 2, memory_cost: int = 19 * 1024, parallelism: int = 1) -> str:
    return PasswordHasher(time_cost=time_cost, memory_cost=memory_cost, parallelism=parallelism).hash(password)


@pytest.fixture(scope="module")
def hasher() -> PasswordHashing:
    return PasswordHashing("owasp-minimum", 2)


FORMATS: dict[str, tuple[Callable[[], str], str]] = {
    "argon2id": (lambda: argon2id_hash(RIGHT), ARGON2ID),
    "bcrypt $2a$": (lambda: bcrypt_hash(RIGHT, b"$2a$"), BCRYPT),
    "bcrypt $2b$": (lambda: bcrypt_hash(RIGHT, b"$2b$"), BCRYPT),
    "bcrypt $2y$": (lambda: bcrypt_hash(RIGHT, b"$2y$"), BCRYPT),
    "django pbkdf2": (lambda: django_pbkdf2(RIGHT), PBKDF2_SHA256),
    "passlib pbkdf2": (lambda: passlib_pbkdf2(RIGHT), PBKDF2_SHA256),
}


@pytest.mark.parametrize("name", FORMATS)
def test_each_format_is_accepted_and_verifies_only_the_right_password(hasher: PasswordHashing, name: str) -> None:
    make, scheme = FORMATS[name]
    encoded = make()
    assert hash_problem(encoded) is None and scheme_of(encoded) == scheme
    assert len(encoded) <= 255  # customers.password_hash is String(255)
    assert hasher.verify(encoded, RIGHT) is True
    assert hasher.verify(encoded, WRONG) is False
    assert hasher.verify(encoded, "") is False


@pytest.mark.parametrize("vector", [DJANGO_VECTOR, PASSLIB_VECTOR], ids=["django", "passlib"])
def test_published_vectors(hasher: PasswordHashing, vector: tuple[str, str]) -> None:
    encoded, password = vector
    assert hash_problem(encoded) is None
    assert hasher.verify(encoded, password) is True
    assert hasher.verify(encoded, password + "z") is False


def test_the_old_systems_unnormalised_password_still_verifies(hasher: PasswordHashing) -> None:
    """A hash of the decomposed form (as some keyboards type Vietnamese) verifies what was typed."""
    decomposed = "Nguye\u0302\u0303n va\u0306n an mo\u0323t hai ba"
    assert hasher.verify(django_pbkdf2(decomposed), decomposed) is True
    assert hasher.verify(bcrypt_hash(decomposed), decomposed) is True


def test_every_imported_format_needs_a_rehash_and_ours_does_not(hasher: PasswordHashing) -> None:
    for make, scheme in FORMATS.values():
        if scheme != ARGON2ID:
            assert hasher.needs_rehash(make()) is True
    # argon2id with the profile's own parameters (here owasp-minimum) is kept as it is.
    assert hasher.needs_rehash(argon2id_hash(RIGHT)) is False
    assert hasher.needs_rehash(hasher.hash(RIGHT)) is False
    # argon2id with other parameters than the profile is rehashed too (check_needs_rehash).
    assert hasher.needs_rehash(argon2id_hash(RIGHT, time_cost=3)) is True


def test_bcrypt_reads_only_the_first_72_bytes_as_the_old_system_did(hasher: PasswordHashing) -> None:
    long_password = "ư" * 40  # 80 bytes of UTF-8: bcrypt saw the first 72
    encoded = bcrypt_hash(long_password)
    assert hasher.verify(encoded, long_password) is True
    assert hasher.verify(encoded, long_password[:36] + "something else") is True  # same first 72 bytes
    assert hasher.verify(encoded, long_password[:35]) is False
    # After the rehash every byte counts.
    rehashed = hasher.hash(long_password)
    assert hasher.verify(rehashed, long_password) is True
    assert hasher.verify(rehashed, long_password[:36] + "something else") is False


def test_an_unaccepted_stored_hash_never_matches(hasher: PasswordHashing) -> None:
    """Whatever reaches the column behind the import's back verifies nothing (and costs a dummy verify)."""
    too_costly = bcrypt_hash(RIGHT).replace("$10$", "$15$", 1)
    argon2i = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1, type=Type.I).hash(RIGHT)
    for stored in (too_costly, argon2i, "plain text", django_pbkdf2(RIGHT, iterations=5_000)):
        assert hasher.verify(stored, RIGHT) is False
        assert verify_bcrypt_or_pbkdf2(stored, RIGHT) is None


REFUSED = {
    "empty": ("", "empty"),
    "too long": ("$2b$" + "a" * 300, "at most 255"),
    "not ascii": ("pbkdf2_sha256$10000$sältsalt$" + "A" * 43 + "=", "ASCII"),
    "unknown": ("$1$saltsalt$abcdefghijklmnopqrstuv", "none of the accepted formats"),
    "md5 hex": ("5f4dcc3b5aa765d61d8327deb882cf99", "none of the accepted formats"),
    "plain sha256 django": ("sha256$salt$" + "0" * 64, "none of the accepted formats"),
    "argon2i": (PasswordHasher(type=Type.I).hash("x"), "only argon2id is accepted, not argon2i"),
    "argon2id v16": ("$argon2id$v=16$m=65536,t=3,p=4$c2FsdHNhbHRzYWx0$" + "A" * 43, "only argon2id version 19"),
    "argon2id malformed": ("$argon2id$v=19$m=65536$nope", "argon2id hash is malformed"),
    "argon2id weak": ("weak", "OWASP's floor"),
    "argon2id huge memory": ("huge", "above the ceiling"),
    "argon2id many passes": ("passes", "t=9 is outside 1-8"),
    "bcrypt cost low": ("bcrypt9", "bcrypt cost 9 is outside 10-14"),
    "bcrypt cost high": ("bcrypt31", "bcrypt cost 31 is outside 10-14"),
    "bcrypt short": ("$2b$10$abc", "bcrypt hash is malformed"),
    "bcrypt 2x": ("2x", "none of the accepted formats"),
    "pbkdf2 few iterations": ("pbkdf2_sha256$9999$seasalt$" + "A" * 43 + "=", "9,999 iterations is outside"),
    "pbkdf2 many iterations": ("$pbkdf2-sha256$2000001$c2FsdA$" + "A" * 43, "2,000,001 iterations is outside"),
    "pbkdf2 bad base64": ("pbkdf2_sha256$10000$seasalt$" + "A" * 42 + "==", "malformed"),
    "pbkdf2 short key": ("$pbkdf2-sha256$10000$c2FsdA$" + "A" * 42, "malformed"),
    "pbkdf2 sha1": ("pbkdf2_sha1$10000$seasalt$" + "A" * 27 + "=", "none of the accepted formats"),
}


def refused_value(key: str) -> str:
    """Some cases need a real hash with chosen parameters, made here rather than spelled out."""
    made = {
        "weak": lambda: argon2id_hash("x", time_cost=1, memory_cost=19 * 1024),
        "huge": lambda: "$argon2id$v=19$m=262144,t=1,p=1$c2FsdHNhbHRzYWx0c2FsdA$" + "A" * 43,
        "passes": lambda: argon2id_hash("x", time_cost=9, memory_cost=8 * 1024),
        "bcrypt9": lambda: bcrypt_hash("x", cost=10).replace("$10$", "$09$", 1),
        "bcrypt31": lambda: bcrypt_hash("x", cost=10).replace("$10$", "$31$", 1),
        "2x": lambda: bcrypt_hash("x").replace("$2b$", "$2x$", 1),
    }
    return made[key]() if key in made else key


@pytest.mark.parametrize("name", REFUSED)
def test_unaccepted_hashes_are_refused_with_a_precise_reason(name: str) -> None:
    value, reason = REFUSED[name]
    problem = hash_problem(refused_value(value))
    assert problem is not None and reason in problem, problem


def test_a_refusal_never_quotes_the_hash() -> None:
    secretish = "$2b$10$" + "Q" * 52  # one character short
    for candidate in (secretish, secretish.replace("$10$", "$31$"), django_pbkdf2("x", iterations=10)):
        problem = hash_problem(candidate)
        assert problem is not None and "QQQQ" not in problem and "Xk3dP0wq9ZrT" not in problem


def test_the_accepted_formats_are_named() -> None:
    for name in ("argon2id", "$2a$", "$2b$", "$2y$", "pbkdf2_sha256$", "$pbkdf2-sha256$", "10,000-2,000,000"):
        assert name in ACCEPTED_FORMATS


def test_random_bytes_never_pass_as_a_hash() -> None:
    for _ in range(50):
        junk = base64.b64encode(os.urandom(40)).decode()
        assert hash_problem("$2b$10$" + junk) is not None
        assert hash_problem("pbkdf2_sha256$10000$s$" + junk) is not None
