"""Files holding patient data are their owner's alone (0600), whatever the umask."""

from __future__ import annotations

import io
import os
import stat
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Column, Integer, MetaData, Table

from services.notifier.senders.local import LocalSmsSender
from services.shared.clock import ManualClock
from services.shared.database import create_tables, make_engine
from tests.support.reminders import reminder


@pytest.fixture(autouse=True)
def open_umask() -> Iterator[None]:
    """As a service started from a shell with the usual 022 (or a careless 000)."""
    before = os.umask(0o000)
    yield
    os.umask(before)


def others_may_read(path: Path) -> bool:
    return bool(stat.S_IMODE(path.stat().st_mode) & 0o077)


def test_a_sqlite_store_and_its_log_are_the_owners_alone(tmp_path: Path) -> None:
    path = tmp_path / "var" / "booking.db"
    engine = make_engine(f"sqlite:///{path}")
    create_tables(MetaData(), engine)
    table = Table("t", MetaData(), Column("id", Integer, primary_key=True))
    table.create(engine)
    with engine.begin() as conn:
        conn.execute(table.insert().values(id=1))
    files = [p for p in path.parent.iterdir() if p.name.startswith("booking.db")]
    assert path in files and len(files) >= 2  # the database and its write-ahead log
    assert [p.name for p in files if others_may_read(p)] == []
    engine.dispose()


def test_a_store_made_readable_by_an_older_release_is_closed_at_the_next_start(
    tmp_path: Path,
) -> None:
    path = tmp_path / "notifier.db"
    path.touch(mode=0o644)
    make_engine(f"sqlite:///{path}").dispose()
    assert not others_may_read(path)


def test_the_local_sms_sink_is_the_owners_alone(tmp_path: Path) -> None:
    sender = LocalSmsSender(
        tmp_path / "outbox", ManualClock(datetime(2026, 11, 30, tzinfo=UTC)), io.StringIO()
    )
    sender.send("+447700900123", "Hi Jane", reminder())
    [sink] = list((tmp_path / "outbox").iterdir())
    assert not others_may_read(sink)
