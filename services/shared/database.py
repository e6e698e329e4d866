"""Database URLs as every store takes them: SQLite by default, PostgreSQL by URL."""

from __future__ import annotations


def normalise_url(url: str) -> str:
    """Give a bare ``postgresql://`` URL the psycopg 3 driver, the one installed."""
    for bare in ("postgresql://", "postgres://"):
        if url.startswith(bare):
            return "postgresql+psycopg://" + url[len(bare) :]
    return url
