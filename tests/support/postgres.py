"""A fresh database on the local PostgreSQL, dropped afterwards (tests and bench)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

ADMIN_URL = os.environ.get("CLINIC_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:55432/test")
"""Where to create the databases: the project's own server (`make postgres`), unless told."""


@contextmanager
def fresh_database(prefix: str = "clinic_test") -> Iterator[str]:
    """A new, empty database (its SQLAlchemy URL), dropped however the block ends."""
    import psycopg

    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        server = ADMIN_URL.removeprefix("postgresql://").rsplit("/", 1)[0]
        yield f"postgresql+psycopg://{server}/{name}"
    finally:
        with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
