"""The worker's RocksDB store: Faust's, with one memory budget for every partition.

Faust opens a RocksDB database per partition, each with a block cache and
memtables of its own, so a worker's memory grew with the partitions it holds:
with four it could keep 4 x 32 MB of cache and 4 x 8 MB of memtables besides its
plans. Here every database of the process shares one block cache, and their
memtables are charged to that cache (RocksDB's write buffer manager), so what
RocksDB keeps in memory stays within :data:`MEMORY_BYTES` however many
partitions a worker holds. The plans themselves are on disk and in the
operating system's page cache, as before.

Opened as ``shared-rocksdb://`` (registered with Faust's store registry when this
module is imported). It restates the block-based table options of
``faust.stores.rocksdb.RocksDBOptions.as_options`` (rocksdict path,
faust-streaming 0.15.3): see ``faust_patches.PATCHES``.

After each rebalance the files of the partitions the worker no longer holds are
deleted (:func:`discard_stale`), so that no erased patient's plan stays on a
worker that lost the partition before the erasure.
"""

from __future__ import annotations

import logging
from collections.abc import Collection
from functools import cache
from typing import Any

import rocksdict
from faust import stores
from faust.stores import rocksdb
from faust.types import TP

from services.reminders.worker.recovery import discard_partition

log = logging.getLogger("clinic.reminders")

SCHEME = "shared-rocksdb"
MEMORY_BYTES = 32 * 1024**2
"""The block cache every partition's database shares, memtables included."""
MEMTABLE_BYTES = 16 * 1024**2
"""Of that, what the memtables of every database may hold together before one is flushed."""


@cache
def _budget() -> tuple[rocksdict.Cache, rocksdict.WriteBufferManager]:
    """The process's one block cache, and the write buffer manager charging it."""
    shared = rocksdict.Cache(MEMORY_BYTES)
    memtables = rocksdict.WriteBufferManager.new_write_buffer_manager_with_cache(
        MEMTABLE_BYTES, False, shared
    )
    return shared, memtables


class SharedBudgetOptions(rocksdb.RocksDBOptions):
    """Faust's RocksDB options, with the process's shared cache and write buffer manager."""

    def as_options(self) -> Any:
        options = super().as_options()
        shared, memtables = _budget()
        table = rocksdict.BlockBasedOptions()
        table.set_bloom_filter(self.bloom_filter_size, True)
        table.set_block_cache(shared)
        # Index and filter blocks grow with the files (tens of MB with millions of plans):
        # charged to the same cache, not held beside it; the newest files' stay pinned.
        table.set_cache_index_and_filter_blocks(True)
        table.set_pin_l0_filter_and_index_blocks_in_cache(True)
        table.set_index_type(rocksdict.BlockBasedIndexType.binary_search())
        options.set_block_based_table_factory(table)
        options.set_write_buffer_manager(memtables)
        return options


class Store(rocksdb.Store):
    """Faust's RocksDB store (rocksdict), opening each partition with the shared budget."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if not self.use_rocksdict:
            raise RuntimeError(f"{SCHEME}:// needs rocksdict (python-rocksdb is installed)")
        self.rocksdb_options = SharedBudgetOptions(**(self.options or {}), use_rocksdict=True)

    async def on_rebalance(
        self, assigned: set[TP], revoked: set[TP], newly_assigned: set[TP], generation_id: int = 0
    ) -> None:
        """Faust's rebalance, then the files of every partition this worker no longer holds
        are deleted (:func:`discard_stale`)."""
        await super().on_rebalance(assigned, revoked, newly_assigned, generation_id)
        discard_stale(self, {tp.partition for tp in assigned})


def discard_stale(store: Any, kept: Collection[int]) -> list[int]:
    """Deletes the RocksDB files of each partition on disk that is not in ``kept``.

    Faust leaves a lost partition's database on disk, for a quick start should it
    come back; but its new owner applies the erasures that come after, and these
    files would keep an erased patient's plan (name, phone, email) for good. A
    partition that comes back is restored from its changelog instead. Returns the
    partitions deleted.
    """
    prefix = f"{store.basename}-"
    found = [
        p.name.removeprefix(prefix).removesuffix(".db") for p in store.path.glob(f"{prefix}*.db")
    ]
    stale = sorted(int(n) for n in found if n.isdigit() and int(n) not in kept)
    for partition in stale:
        discard_partition(store, partition)
    if stale:
        log.info("deleted the files of partitions %s, no longer held here", stale)
    return stale


stores.STORES.aliases.setdefault(SCHEME, f"{__name__}:Store")
