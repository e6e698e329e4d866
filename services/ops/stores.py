"""Read-only looks at the services' databases, through each service's own queries.

Nothing here creates a table or a file: a SQLite database that does not exist
yet is reported as missing, never made. The one write the ops console makes (a
reply marked handled in the notifier's inbox) goes through :func:`writable`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

from sqlalchemy import Connection, Engine, create_engine
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import SQLAlchemyError

from services.booking.store import queries as booking_queries
from services.notifier import queries as notifier_queries
from services.notifier.queries import DeliveryCounts
from services.shared.database import make_engine, normalise_url


class StoreUnavailable(RuntimeError):
    """The database could not be read; the message says which and why."""


@contextmanager
def read_only(url: str) -> Iterator[Connection]:
    """A connection that cannot write; ``StoreUnavailable`` if it cannot be opened."""
    parsed = _existing(url)
    opened = normalise_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database:
        opened = f"sqlite:///file:{parsed.database}?mode=ro&uri=true"
    with _opened(create_engine(opened), parsed, write=False) as conn:
        yield conn


@contextmanager
def writable(url: str) -> Iterator[Connection]:
    """A connection in a transaction, committed at the end; never makes a missing SQLite file.

    ``StoreUnavailable`` if it cannot be opened or the write fails.
    """
    parsed = _existing(url)
    with _opened(make_engine(normalise_url(url)), parsed, write=True) as conn:
        yield conn


def _existing(url: str) -> URL:
    """``url`` parsed; ``StoreUnavailable`` for a SQLite file that is not there (never made)."""
    parsed = make_url(normalise_url(url))
    sqlite = parsed.get_backend_name() == "sqlite" and parsed.database
    if sqlite and not Path(str(parsed.database)).exists():
        raise StoreUnavailable(f"no database at {parsed.database} yet")
    return parsed


@contextmanager
def _opened(engine: Engine, parsed: URL, write: bool) -> Iterator[Connection]:
    try:
        with engine.begin() if write else engine.connect() as conn:
            yield conn
    except SQLAlchemyError as exc:
        raise StoreUnavailable(
            f"{parsed.render_as_string()}: {exc.__class__.__name__}: {exc}"
        ) from exc
    finally:
        engine.dispose()


def delivery_counts(url: str, since: datetime) -> DeliveryCounts:
    """Count ledger rows; blocks on the database, ``StoreUnavailable`` if unreadable."""
    with read_only(url) as conn:
        return notifier_queries.delivery_counts(conn, since)


def outbox_backlog(url: str) -> int:
    """Outbox rows not yet published; ``StoreUnavailable`` if unreadable."""
    with read_only(url) as conn:
        return booking_queries.outbox_backlog(conn)
