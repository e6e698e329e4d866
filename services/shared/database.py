"""Databases as every store opens them: SQLite by default, PostgreSQL by URL."""

from __future__ import annotations

import contextlib
import os
import sqlite3
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Delete, Engine, MetaData, create_engine, event, text


def normalise_url(url: str) -> str:
    """Give a bare ``postgresql://`` URL the psycopg 3 driver, the one installed."""
    for bare in ("postgresql://", "postgres://"):
        if url.startswith(bare):
            return "postgresql+psycopg://" + url[len(bare) :]
    return url


def make_engine(url: str, *, reads_only: bool = False) -> Engine:
    """An engine for ``url``; connects lazily, on first use.

    SQLite gets write-ahead logging (readers never wait for the writer, and a
    commit appends to the log instead of rewriting pages), a 30-second wait
    for the write lock, and transactions that take that lock when they begin.
    ``reads_only``: an engine for many threads that each keep a connection to
    read with: a bigger pool, and on SQLite plain (deferred) transactions that
    never take the write lock.
    """
    url = normalise_url(url)
    pool = {"pool_size": 32, "max_overflow": 32} if reads_only else {}
    if not url.startswith("sqlite"):
        return create_engine(url, pool_pre_ping=True, **pool)
    engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30}, **pool)
    if engine.url.database and engine.url.database != ":memory:":
        private_file(Path(engine.url.database))
    event.listen(engine, "connect", _sqlite_connect)
    if not reads_only:
        event.listen(engine, "begin", _sqlite_begin)
    return engine


def private_file(path: Path) -> None:
    """Create ``path`` readable and writable by its owner only (0600), or make it so.

    Patient data lives in it; SQLite makes its ``-wal`` and ``-shm`` files with
    the database file's mode, so they follow.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    # Never open a file that may already be open: closing any descriptor of a SQLite
    # database drops every lock this process holds on it (POSIX advisory locks).
    if not path.exists():
        with contextlib.suppress(FileExistsError):  # made by another process meanwhile
            os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
    if path.stat().st_mode & 0o077:
        path.chmod(0o600)


SCHEMA_LOCK = 0x636C696E6963 + 1
"""The advisory-lock id that makes replicas create their tables one at a time."""


def create_tables(metadata: MetaData, engine: Engine) -> None:
    """Create whatever tables and indexes of ``metadata`` are missing, one process at a time.

    Two notifiers started together on a fresh PostgreSQL database both found a
    table missing, both created it, and the second stopped at start ("relation
    already exists"). A transaction-level advisory lock makes the second wait,
    then find the tables there. On SQLite the transaction takes the file's
    write lock as it begins (:func:`make_engine`), which does the same.
    """
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": SCHEMA_LOCK})
        metadata.create_all(conn)


def _sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    # Take over transaction control from the sqlite3 module so that "begin" below
    # can start every transaction as IMMEDIATE.
    dbapi_connection.isolation_level = None
    dbapi_connection.execute("PRAGMA journal_mode=WAL")
    dbapi_connection.execute("PRAGMA busy_timeout=30000")
    # Deleted rows are overwritten with zeros, not left in free pages: an erased
    # patient must leave the file, not only the tables. Debian builds SQLite so by
    # default; others (python.org, macOS) do not.
    dbapi_connection.execute("PRAGMA secure_delete=ON")


def _sqlite_begin(connection: Any) -> None:
    # A deferred transaction that reads and then writes fails at once with "database
    # is locked" when another writer got in between; IMMEDIATE waits its turn instead.
    connection.exec_driver_sql("BEGIN IMMEDIATE")


def release_deleted(engine: Engine) -> None:
    """After an erasure: on SQLite, empty the write-ahead log into the database file.

    The log keeps the pages as they were before the deletes until it is reset;
    a checkpoint that truncates it lets them go now. A checkpoint that readers
    hold up does what it can, and the next one does the rest. Nothing to do on
    PostgreSQL (its dead rows go at the next VACUUM: docs/privacy.md).
    """
    if engine.dialect.name != "sqlite":
        return
    raw = engine.raw_connection()  # outside any transaction, which a checkpoint needs
    try:
        with contextlib.suppress(sqlite3.OperationalError):  # busy: the next one does it
            raw.driver_connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # type: ignore[union-attr]
    finally:
        raw.close()


def stored_utc(value: datetime) -> datetime:
    """A datetime read back from a store as an aware UTC one.

    SQLite hands back the naive UTC value that was stored, PostgreSQL an aware one.
    """
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def deleted(conn: Connection, statement: Delete) -> int:
    """Run a ``DELETE`` and say how many rows it removed."""
    return int(conn.execute(statement).rowcount or 0)
