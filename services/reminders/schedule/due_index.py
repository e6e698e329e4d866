"""Which patients have reminders falling due, by due-time bucket, per partition.

Derived state, kept in memory: every entry can be rebuilt from the patients
table (each plan records its partition and each pending reminder its bucket),
so keeping it costs no changelog writes. A tick pops the buckets that are due
from a heap, so its cost follows what is due, not what is pending.

Most buckets list one patient (reminders at a booking's own time of day), a few
list thousands (every protocol's 10:00): a bucket holds its one key as the
string itself and becomes a set at its second: with a million pending, that
took the index from 96 to 73 MB.

With a horizon (:attr:`DueIndex.horizon`) it lists only the buckets up to it:
reminders due later stay in the table on disk, and the scheduler lists them as
time brings them within its window (``Scheduler.refill``), so the index holds
the near term whatever is pending months ahead.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable

Keys = str | set[str]
"""A bucket's patient keys: one key, or a set of two or more."""


def _each(keys: Keys) -> Iterable[str]:
    return (keys,) if isinstance(keys, str) else keys


class DueIndex:
    """Patient keys by (partition, bucket); buckets come out in time order."""

    def __init__(self) -> None:
        self._buckets: dict[int, dict[int, Keys]] = {}
        self._heaps: dict[int, list[int]] = {}
        self.partitions: frozenset[int] = frozenset()
        self.horizon: int | None = None
        """The last bucket listed; a key added for a later one is left out (None: none is)."""

    def reset(self, partitions: Iterable[int], horizon: int | None = None) -> None:
        """Forget everything; from now on the index is for ``partitions``, up to ``horizon``."""
        self._buckets.clear()
        self._heaps.clear()
        self.partitions = frozenset(partitions)
        self.horizon = horizon

    def add(self, partition: int, bucket: int, key: str) -> None:
        if self.horizon is not None and bucket > self.horizon:
            return
        buckets = self._buckets.setdefault(partition, {})
        keys = buckets.get(bucket)
        if keys is None:
            buckets[bucket] = key
            heapq.heappush(self._heaps.setdefault(partition, []), bucket)
        elif isinstance(keys, set):
            keys.add(key)
        elif keys != key:
            buckets[bucket] = {keys, key}

    def take_due(self, partition: int, last_bucket: int) -> list[str]:
        """Remove and return the keys of every bucket up to ``last_bucket``, each once."""
        heap = self._heaps.get(partition)
        buckets = self._buckets.get(partition, {})
        taken: dict[str, None] = {}
        while heap and heap[0] <= last_bucket:
            for key in sorted(_each(buckets.pop(heapq.heappop(heap), set()))):
                taken[key] = None
        return list(taken)

    def listed_until(self, last_bucket: int) -> list[str]:
        """The keys of every bucket up to ``last_bucket``, each once, left in the index.

        Walks each partition's heap only through buckets up to ``last_bucket``
        (a heap's children are never earlier than their parent), so the cost
        follows what is listed that early, not everything pending.
        """
        found: dict[str, None] = {}
        for partition, heap in self._heaps.items():
            buckets = self._buckets[partition]
            stack = [0]
            while stack:
                i = stack.pop()
                if i < len(heap) and heap[i] <= last_bucket:
                    found.update(dict.fromkeys(_each(buckets[heap[i]])))
                    stack += (2 * i + 1, 2 * i + 2)
        return list(found)

    def first_bucket(self) -> int | None:
        """The earliest bucket listed on any partition; None when nothing is."""
        return min((heap[0] for heap in self._heaps.values() if heap), default=None)

    def __len__(self) -> int:
        return sum(
            1 if isinstance(keys, str) else len(keys)
            for buckets in self._buckets.values()
            for keys in buckets.values()
        )
