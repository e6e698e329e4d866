"""An erased patient's plan taken out of the worker's RocksDB files at once.

RocksDB deletes by writing a tombstone: the plan's bytes (the patient's phone,
email and name among them) stay in the write-ahead log and the table files until
a compaction happens to rewrite that range, which on a quiet partition may be
months away. After an erasure the worker flushes the partition's database (the
write-ahead log holding the plan is then let go, and the memory table goes to
disk with the tombstone only) and compacts the range of the patient's key down
to the last level, forced, where a tombstone and what it deletes both drop out.

Erasures are rare and the range is one key, so the cost is a flush of at most
one write buffer (4 MB) and the rewrite of the files that overlap the key.

This reaches into Faust's RocksDB store (``_db_for_partition`` and
``_encode_key`` of ``faust.stores.rocksdb.Store``, faust-streaming 0.15.3, with
rocksdict); the in-memory store has neither, and needs nothing.
"""

from __future__ import annotations

import logging
from typing import Any

log = logging.getLogger("clinic.reminders")


def purge_key(table: Any, key: str, partition: int) -> bool:
    """Rewrite the RocksDB of ``partition`` so that the deleted ``key`` leaves its files.

    Returns False when the table's store is not RocksDB (nothing to do there).
    Blocks the worker for the flush and the compaction.
    """
    store = table.data
    db_for = getattr(store, "_db_for_partition", None)
    encode = getattr(store, "_encode_key", None)
    if db_for is None or encode is None:
        return False
    import rocksdict

    raw = encode(key)
    db = db_for(partition)
    db.flush(True)
    forced = rocksdict.CompactOptions()
    forced.set_bottommost_level_compaction(rocksdict.BottommostLevelCompaction.force())
    db.compact_range(raw, raw, forced)
    return True
