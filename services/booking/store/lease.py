"""Which outbox relay may publish: one per database, so rows go out once and in order.

On PostgreSQL, several booking-service replicas share one outbox; each relay
asks for a session-level advisory lock and only the holder publishes. The lock
lives as long as the holder's connection, so a replica that dies hands over to
another within one poll. SQLite is one file on one machine: its relay always
holds the lease.
"""

from __future__ import annotations

import contextlib
import logging
from typing import Protocol

from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import SQLAlchemyError

log = logging.getLogger("clinic.booking.lease")

LOCK_KEY = 0x636C696E6963  # "clinic": the advisory-lock id of the outbox relay


class RelayLease(Protocol):
    def acquire(self) -> bool:
        """True while this relay may publish; never blocks for long."""
        ...

    def release(self) -> None: ...


class SoleLease:
    """The only relay there can be (SQLite): always the holder."""

    def acquire(self) -> bool:
        return True

    def release(self) -> None:
        pass


class AdvisoryLease:
    """A PostgreSQL session advisory lock held on a connection of its own."""

    def __init__(self, engine: Engine, key: int = LOCK_KEY) -> None:
        self._engine = engine
        self._key = key
        self._held: Connection | None = None

    def acquire(self) -> bool:
        try:
            if self._held is not None:
                self._held.execute(text("SELECT 1"))
                self._held.commit()
                return True
            connection = self._engine.connect()
            got = connection.execute(
                text("SELECT pg_try_advisory_lock(:key)"), {"key": self._key}
            ).scalar()
            if got:
                connection.commit()
                self._held = connection
                log.warning("this relay now publishes the outbox")
                return True
            connection.close()
            return False
        except SQLAlchemyError as exc:
            log.warning("outbox lease lost or not reachable: %s", exc)
            self._drop()
            return False

    def release(self) -> None:
        if self._held is not None:
            with contextlib.suppress(SQLAlchemyError):
                self._held.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": self._key})
            self._drop()

    def _drop(self) -> None:
        if self._held is not None:
            with contextlib.suppress(SQLAlchemyError):
                self._held.close()
            self._held = None


def lease_for(engine: Engine) -> RelayLease:
    """The lease that fits the database behind ``engine``."""
    return AdvisoryLease(engine) if engine.dialect.name == "postgresql" else SoleLease()
