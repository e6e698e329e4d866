"""Every partition's RocksDB database shares one memory budget (``store.py``)."""

from __future__ import annotations

from pathlib import Path

import rocksdict
from faust import stores

from services.reminders.worker import store


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


class OnDisk:
    """What :func:`store.discard_stale` reads of Faust's store: its folder, names, open dbs."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.basename = Path("clinic-reminders-patients")
        self._dbs: dict[int, rocksdict.Rdict] = {}
        self._key_index: dict[bytes, int] = {}

    def partition_path(self, partition: int) -> Path:
        return self.path / f"{self.basename}-{partition}.db"


def test_a_lost_partitions_files_go_with_the_plans_in_them(tmp_path: Path) -> None:
    """An erasure reaches the partition's new owner; the files left here would keep the
    erased patient's plan, so every partition not held any more is deleted."""
    on_disk = OnDisk(tmp_path)
    options = store.SharedBudgetOptions(use_rocksdict=True)
    for partition in (0, 1, 3):
        db = options.open(on_disk.partition_path(partition))
        db[b"dr-jenny:p-42"] = b'{"bookings": {"bk-1": {"patient": {"phone": "+447700900123"}}}}'
        if partition == 3:
            on_disk._dbs[3] = db  # still open, as Faust leaves a revoked one
        else:
            db.close()
    (tmp_path / "clinic-reminders-patients-backups").mkdir()
    assert store.discard_stale(on_disk, kept={0, 2}) == [1, 3]
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "clinic-reminders-patients-0.db",
        "clinic-reminders-patients-backups",
    ]
    assert store.discard_stale(on_disk, kept={0, 2}) == []
