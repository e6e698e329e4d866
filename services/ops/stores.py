"""Read-only looks at the services' databases: the delivery ledger and the booking outbox.

Nothing here creates a table or a file: a SQLite database that does not exist
yet is reported as missing, never made. The one write the ops console makes (a
reply marked handled in the notifier's inbox) goes through :func:`writable`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from sqlalchemy import Connection, create_engine, func, select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from services.booking.tables import outbox
from services.notifier.ledger import LedgerState, deliveries
from services.shared.database import make_engine, normalise_url


class StoreUnavailable(RuntimeError):
    """The database could not be read; the message says which and why."""


@dataclass(frozen=True)
class DeliveryCounts:
    """Ledger rows by state then channel, over all time and since ``since``."""

    since: datetime
    all: dict[str, dict[str, int]] = field(default_factory=dict)
    recent: dict[str, dict[str, int]] = field(default_factory=dict)
    failures: list[tuple[str, str, int]] = field(default_factory=list)
    """(channel, reason, count) of failed rows updated since ``since``, most first."""


@contextmanager
def read_only(url: str) -> Iterator[Connection]:
    """A connection that cannot write; ``StoreUnavailable`` if it cannot be opened."""
    url = normalise_url(url)
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database:
        if not Path(parsed.database).exists():
            raise StoreUnavailable(f"no database at {parsed.database} yet")
        url = f"sqlite:///file:{parsed.database}?mode=ro&uri=true"
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            yield conn
    except SQLAlchemyError as exc:
        raise StoreUnavailable(
            f"{parsed.render_as_string()}: {exc.__class__.__name__}: {exc}"
        ) from exc
    finally:
        engine.dispose()


@contextmanager
def writable(url: str) -> Iterator[Connection]:
    """A connection in a transaction, committed at the end; never makes a missing SQLite file.

    ``StoreUnavailable`` if it cannot be opened or the write fails.
    """
    url = normalise_url(url)
    parsed = make_url(url)
    sqlite = parsed.get_backend_name() == "sqlite" and parsed.database
    if sqlite and not Path(str(parsed.database)).exists():
        raise StoreUnavailable(f"no database at {parsed.database} yet")
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            yield conn
    except SQLAlchemyError as exc:
        raise StoreUnavailable(
            f"{parsed.render_as_string()}: {exc.__class__.__name__}: {exc}"
        ) from exc
    finally:
        engine.dispose()


def delivery_counts(url: str, since: datetime) -> DeliveryCounts:
    """Count ledger rows; blocks on the database, ``StoreUnavailable`` if unreadable."""
    counts = DeliveryCounts(since)
    by = (deliveries.c.state, deliveries.c.channel)
    with read_only(url) as conn:
        for state, channel, n in conn.execute(select(*by, func.count()).group_by(*by)):
            counts.all.setdefault(state, {})[channel] = n
        recent = select(*by, func.count()).where(deliveries.c.updated_at >= since).group_by(*by)
        for state, channel, n in conn.execute(recent):
            counts.recent.setdefault(state, {})[channel] = n
        failed = (
            select(deliveries.c.channel, deliveries.c.reason, func.count())
            .where(deliveries.c.state == LedgerState.FAILED.value, deliveries.c.updated_at >= since)
            .group_by(deliveries.c.channel, deliveries.c.reason)
            .order_by(func.count().desc())
        )
        counts.failures.extend((c, r or "(no reason)", n) for c, r, n in conn.execute(failed))
    return counts


def outbox_backlog(url: str) -> int:
    """Outbox rows not yet published; ``StoreUnavailable`` if unreadable."""
    query = select(func.count()).select_from(outbox).where(outbox.c.published_at.is_(None))
    with read_only(url) as conn:
        return int(conn.execute(query).scalar_one())
