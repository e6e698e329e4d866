"""Database engines for the booking store: SQLite by default, PostgreSQL by URL."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, create_engine, event

from services.shared.database import normalise_url


def make_engine(url: str) -> Engine:
    """An engine for ``url``; connects lazily, on first use."""
    url = normalise_url(url)
    if not url.startswith("sqlite"):
        return create_engine(url, pool_pre_ping=True)
    engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})
    event.listen(engine, "connect", _sqlite_connect)
    event.listen(engine, "begin", _sqlite_begin)
    return engine


def _sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    # Take over transaction control from the sqlite3 module so that "begin" below
    # can start every transaction as IMMEDIATE.
    dbapi_connection.isolation_level = None
    dbapi_connection.execute("PRAGMA journal_mode=WAL")
    dbapi_connection.execute("PRAGMA busy_timeout=30000")


def _sqlite_begin(connection: Any) -> None:
    # A deferred transaction that reads and then writes fails at once with "database
    # is locked" when another writer got in between; IMMEDIATE waits its turn instead.
    connection.exec_driver_sql("BEGIN IMMEDIATE")
