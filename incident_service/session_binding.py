"""Sessions bound to a user's security stamp, with idle and absolute timeouts (docs/security.md S1, S2).

Flask's signed cookie cannot be revoked by itself; keeping the stamp in it and comparing it with the
database on every request means rotating the stamp ends every session at once, server-side. The
customer site and the staff console each keep one such binding, under their own keys.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Callable, Protocol, TypeVar

from flask import current_app, session

from .database import utcnow

# Why a session was ended by the server: the account's security stamp changed (a report, a reset, staff
# deactivating it) or the session ran out of time.
ENDED_BY_ACCOUNT_CHANGE = "account_changed"
ENDED_BY_TIMEOUT = "timed_out"


class Stamped(Protocol):
    id: int
    security_stamp: str


U = TypeVar("U", bound=Stamped)


@dataclass(frozen=True)
class SessionBinding:
    prefix: str
    idle_minutes_setting: str
    absolute_hours_setting: str
    # Whether the sign-in page is told why the server ended a session (the customer's says so).
    explains_endings: bool = False

    def _key(self, name: str) -> str:
        return f"{self.prefix}_{name}"

    @property
    def keys(self) -> tuple[str, ...]:
        return tuple(self._key(name) for name in ("id", "stamp", "signed_in_at", "seen_at"))

    def start(self, user: Stamped, now: datetime) -> None:
        session[self._key("id")] = user.id
        session[self._key("stamp")] = user.security_stamp
        session[self._key("signed_in_at")] = now.timestamp()
        session[self._key("seen_at")] = now.timestamp()

    def ended_reason(self) -> str | None:
        """Why the last session in this browser was ended by the server (once; then forgotten)."""
        reason = session.pop(self._key("ended"), None)
        return reason if reason in (ENDED_BY_ACCOUNT_CHANGE, ENDED_BY_TIMEOUT) else None

    def end(self) -> None:
        for key in self.keys:
            session.pop(key, None)

    def load(self, get_user: Callable[[int], U | None], usable: Callable[[U], bool] = lambda _user: True) -> U | None:
        """The signed-in user, or None after ending a session whose stamp is stale or that timed out."""
        user_id = session.get(self._key("id"))
        if user_id is None:
            return None
        now = utcnow().timestamp()
        config = current_app.config
        idle = timedelta(minutes=config[self.idle_minutes_setting]).total_seconds()
        absolute = timedelta(hours=config[self.absolute_hours_setting]).total_seconds()
        seen = session.get(self._key("seen_at"), 0)
        user = get_user(user_id) if isinstance(user_id, int) else None
        ended = None
        if user is None or not usable(user) or user.security_stamp != session.get(self._key("stamp")):
            ended = ENDED_BY_ACCOUNT_CHANGE
        elif now - seen > idle or now - session.get(self._key("signed_in_at"), 0) > absolute:
            ended = ENDED_BY_TIMEOUT
        if ended is not None:
            self.end()
            if self.explains_endings:
                session[self._key("ended")] = ended  # for the sign-in page to say why, once
            return None
        # Refresh the idle clock at most once a minute, so the cookie is not rewritten on every request.
        if now - seen > 60:
            session[self._key("seen_at")] = now
        return user
