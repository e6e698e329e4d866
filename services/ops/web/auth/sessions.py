"""Server-side sessions: a random id in the cookie, the rest in this process's memory.

A session ends when the user logs out, after ``idle`` seconds without a
request, or ``lifetime`` seconds after login whatever happens. Sessions do
not survive a restart of the console (everyone logs in again), and each
console process has its own: see docs/decisions.md.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class Session:
    id: str
    user: str
    csrf: str
    """The token every form of this session carries back (``csrf_token``)."""
    started: float
    seen: float = field(default=0.0)


class Sessions:
    """The live sessions of one console; ``now`` is a monotonic clock in seconds."""

    def __init__(
        self, idle: float, lifetime: float, now: Callable[[], float] = time.monotonic
    ) -> None:
        self._idle = idle
        self._lifetime = lifetime
        self._now = now
        self._live: dict[str, Session] = {}
        self._lock = threading.Lock()

    def start(self, user: str) -> Session:
        """A new session for ``user`` with fresh random ids (never one a browser brought)."""
        now = self._now()
        session = Session(secrets.token_urlsafe(32), user, secrets.token_urlsafe(32), now, now)
        with self._lock:
            self._drop_expired(now)
            self._live[session.id] = session
        return session

    def get(self, session_id: str | None) -> Session | None:
        """The live session with that id, its idle time reset; None if unknown or expired."""
        if not session_id:
            return None
        now = self._now()
        with self._lock:
            session = self._live.get(session_id)
            if session is None:
                return None
            if self._expired(session, now):
                del self._live[session_id]
                return None
            session.seen = now
            return session

    def end(self, session_id: str) -> None:
        with self._lock:
            self._live.pop(session_id, None)

    def end_user(self, user: str) -> None:
        """End every session of ``user`` (gone from the users file)."""
        with self._lock:
            for sid in [s.id for s in self._live.values() if s.user == user]:
                del self._live[sid]

    def _expired(self, session: Session, now: float) -> bool:
        return now - session.seen > self._idle or now - session.started > self._lifetime

    def _drop_expired(self, now: float) -> None:
        for sid in [s.id for s in self._live.values() if self._expired(s, now)]:
            del self._live[sid]
