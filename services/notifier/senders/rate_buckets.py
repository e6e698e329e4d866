"""Each sender's token bucket as one row in the ledger's database, shared by every replica.

A row holds how many tokens the bucket had at a given instant (wall-clock
seconds, which may lie in the future: tokens already promised to a replica
that is waiting for them). :meth:`RateBuckets.reserve` reads the row under a
lock, works out when the tokens asked for are there, writes the row as it
will be then, and answers with that instant: one short transaction however
long the wait. On PostgreSQL the row is locked (``SELECT ... FOR UPDATE``); on
SQLite every write transaction begins ``IMMEDIATE`` and holds the file's lock
(:func:`services.shared.database.make_engine`).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Column, Connection, Double, Engine, MetaData, String, Table, select, update
from sqlalchemy.dialects import postgresql, sqlite

from services.shared.database import create_tables, make_engine

metadata = MetaData()
buckets = Table(
    "notifier_rate_buckets",
    metadata,
    Column("sender", String(200), primary_key=True),
    Column("tokens", Double, nullable=False),
    Column("as_of", Double, nullable=False),
)


@dataclass(frozen=True)
class BucketState:
    """``tokens`` in the bucket at ``as_of`` (seconds since the epoch); below zero is debt."""

    tokens: float
    as_of: float


@dataclass(frozen=True)
class Rate:
    """``per_second`` tokens a second, at most ``burst`` saved up."""

    per_second: float
    burst: float

    def __post_init__(self) -> None:
        if self.per_second <= 0 or self.burst <= 0:
            raise ValueError("a token bucket needs a positive rate and burst")


def reserve(state: BucketState, tokens: float, rate: Rate, now: float) -> tuple[BucketState, float]:
    """Take ``tokens`` from a bucket: its state after, and the instant they may be used.

    The same rule as :class:`services.notifier.senders.ratelimit.TokenBucket`: wait until
    the bucket holds them (or is full, for more than ``burst``), then take them
    all, going into debt if need be.
    """
    start = max(now, state.as_of)
    held = min(rate.burst, state.tokens + (start - state.as_of) * rate.per_second)
    needed = min(tokens, rate.burst)
    ready = start + max(0.0, (needed - held) / rate.per_second)
    held += (ready - start) * rate.per_second
    return BucketState(held - tokens, ready), ready


class RateBuckets:
    """The rows of every sender's bucket, on SQLite or PostgreSQL (whatever ``url`` names);
    creates its table."""

    def __init__(self, url: str) -> None:
        self._engine: Engine = make_engine(url)
        create_tables(metadata, self._engine)

    def close(self) -> None:
        self._engine.dispose()

    def reserve(self, sender: str, tokens: float, rate: Rate, now: float) -> float:
        """Take ``tokens`` from ``sender``'s bucket in one transaction; return when they may
        be used (``now`` or later). A bucket never seen starts full. Raises SQLAlchemy's
        error if the database cannot be had."""
        with self._engine.begin() as conn:
            state = _locked(conn, sender, BucketState(rate.burst, now))
            after, ready = reserve(state, tokens, rate, now)
            conn.execute(
                update(buckets)
                .where(buckets.c.sender == sender)
                .values(tokens=after.tokens, as_of=after.as_of)
            )
        return ready


def _locked(conn: Connection, sender: str, new: BucketState) -> BucketState:
    """``sender``'s row, locked until the transaction ends; made as ``new`` if missing."""
    query = (
        select(buckets.c.tokens, buckets.c.as_of)
        .where(buckets.c.sender == sender)
        .with_for_update()
    )
    row = conn.execute(query).first()
    if row is None:
        # Another replica making the row at the same moment: PostgreSQL waits for its
        # commit, then inserts nothing, and the read below finds its row.
        insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
        values = {"sender": sender, "tokens": new.tokens, "as_of": new.as_of}
        conn.execute(insert(buckets).values(**values).on_conflict_do_nothing())
        row = conn.execute(query).one()
    return BucketState(row.tokens, row.as_of)
