"""API keys: create (the key is shown once), revoke, list, and check a presented key.

A key is `isk_` and 43 URL-safe characters (secrets.token_urlsafe(32): 256 random bits). Only its SHA-256
is stored: a fast hash is right for a high-entropy secret (nothing to brute-force, unlike a password),
and it lets a presented key be found with one indexed lookup.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select

from ..audit.actions import Event, tag
from ..audit.service import append_event
from ..disclosures.models import LEGAL_BASES
from ..domain_errors import DomainError
from ..extensions import db
from .models import SCOPES, ApiKey

KEY_PREFIX = "isk_"
KEY_SHAPE = re.compile(r"isk_[A-Za-z0-9_-]{43}")
SHOWN_PREFIX_LENGTH = 12  # `isk_` and 8 characters: 48 of the key's 256 bits, useless to a guesser
NAME_SHAPE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
# last_used_at is written at most this often per key: every call would otherwise be a write.
LAST_USED_RESOLUTION = timedelta(minutes=1)


class ApiKeyError(DomainError):
    """A key that cannot be created or revoked as asked; the message says why."""


class ApiKeyExists(ApiKeyError):
    """A key with this name exists (revoked ones keep their name: the audit log refers to it)."""


class ApiKeyNotFound(ApiKeyError):
    """No key has this name."""


@dataclass(frozen=True)
class NewApiKey:
    key: ApiKey
    secret: str  # the whole key: shown once, never stored


def hash_key(presented: str) -> str:
    return hashlib.sha256(presented.encode("utf-8", "surrogatepass")).hexdigest()


def check_name(name: str) -> str:
    if not NAME_SHAPE.fullmatch(name):
        raise ApiKeyError(
            "a key name is 1 to 64 letters, digits, dots, dashes or underscores, starting with a letter or digit"
        )
    return name


def check_scopes(scopes: list[str] | tuple[str, ...]) -> list[str]:
    unknown = [scope for scope in scopes if scope not in SCOPES]
    if unknown:
        raise ApiKeyError(f"unknown scope {unknown[0]!r}; scopes are {', '.join(SCOPES)}")
    if not scopes:
        raise ApiKeyError("a key needs at least one scope")
    return [scope for scope in SCOPES if scope in scopes]  # the canonical order, each once


def create_api_key(
    name: str,
    *,
    scopes: list[str] | tuple[str, ...],
    expires_at: datetime | None,
    source: str,
    actor: str,
    now: datetime,
    purpose: str | None = None,
    legal_basis: str | None = None,
) -> NewApiKey:
    """Make a key; only its hash and prefix are stored. Audits `<source>:api_key:created`. Raises
    ApiKeyError for a bad name, scope or expiry, ApiKeyExists for a taken name."""
    name = check_name(name.strip())
    chosen = check_scopes(scopes)
    if expires_at is not None and expires_at <= now:
        raise ApiKeyError("the expiry must be in the future")
    # What the holder uses customers' data for and why it may: copied into the disclosure register.
    purpose = (purpose or "").strip() or None
    if legal_basis is not None and legal_basis not in LEGAL_BASES:
        raise ApiKeyError(f"unknown legal basis {legal_basis!r}; bases are {', '.join(LEGAL_BASES)}")
    if db.session.execute(select(ApiKey.id).where(ApiKey.name == name)).first() is not None:
        raise ApiKeyExists(name)
    secret = KEY_PREFIX + secrets.token_urlsafe(32)
    key = ApiKey(
        name=name,
        prefix=secret[:SHOWN_PREFIX_LENGTH],
        key_hash=hash_key(secret),
        scopes=" ".join(chosen),
        created_at=now,
        created_by=actor,
        expires_at=expires_at,
        purpose=purpose,
        legal_basis=legal_basis,
    )
    db.session.add(key)
    db.session.flush()
    append_event(
        tag(source, Event.API_KEY_CREATED),
        actor=actor,
        now=now,
        data={
            "name": name,
            "prefix": key.prefix,
            "scopes": key.scopes,
            "expires_at": expires_at.isoformat() if expires_at else None,
        },
    )
    return NewApiKey(key, secret)


def api_keys() -> list[ApiKey]:
    return list(db.session.execute(select(ApiKey).order_by(ApiKey.name)).scalars())


def revoke_api_key(name: str, *, source: str, actor: str, now: datetime) -> ApiKey:
    """Revoke the named key at once (the next call with it is refused). Audits `<source>:api_key:revoked`;
    revoking a revoked key changes nothing. Raises ApiKeyNotFound."""
    key = db.session.execute(select(ApiKey).where(ApiKey.name == name)).scalar_one_or_none()
    if key is None:
        raise ApiKeyNotFound(name)
    if key.revoked_at is None:
        key.revoked_at, key.revoked_by = now, actor
        append_event(
            tag(source, Event.API_KEY_REVOKED), actor=actor, now=now, data={"name": key.name, "prefix": key.prefix}
        )
    return key


def authenticate(presented: str | None, *, now: datetime) -> ApiKey | None:
    """The usable key `presented` is, or None: missing, malformed, unknown, revoked and expired keys alike.

    Every case does the same work (one hash, one indexed lookup), so the answer's timing does not tell
    a malformed key from a revoked one. Marks the key used (at most once a minute); flushes nothing, the edge commits."""
    candidate = presented or ""
    well_formed = KEY_SHAPE.fullmatch(candidate) is not None
    digest = hash_key(candidate if well_formed else KEY_PREFIX + "malformed")
    key = db.session.execute(select(ApiKey).where(ApiKey.key_hash == digest)).scalar_one_or_none()
    if key is None or not well_formed or not secrets.compare_digest(key.key_hash, digest) or not key.usable_at(now):
        return None
    if key.last_used_at is None or now - key.last_used_at >= LAST_USED_RESOLUTION:
        key.last_used_at = now
    return key
