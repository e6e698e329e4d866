"""Every partition's RocksDB database shares one memory budget (``store.py``)."""

from __future__ import annotations

from pathlib import Path

from faust import stores

from services.reminders import store


def test_the_shared_store_is_what_its_url_opens() -> None:
    assert stores.by_url(f"{store.SCHEME}://") is store.Store


def test_two_partitions_memtables_are_charged_to_the_one_cache(tmp_path: Path) -> None:
    shared, _ = store._budget()
    options = store.SharedBudgetOptions(write_buffer_size=4 * 1024**2, use_rocksdict=True)
    before = shared.get_usage()
    databases = [options.open(tmp_path / f"partition-{n}") for n in range(2)]
    for n, db in enumerate(databases):
        for i in range(1000):
            db[f"patient-{n}-{i}".encode()] = b"x" * 1000  # about 1 MB per partition
    grown = shared.get_usage() - before
    for db in databases:
        db.close()
    assert grown >= 2 * 1000 * 1000  # both partitions' memtables, in the one budget
    assert shared.get_usage() <= store.MEMORY_BYTES
