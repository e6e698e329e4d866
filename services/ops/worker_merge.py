"""The reminders workers' answers made one: added up only when they cover every partition once.

Pure: :mod:`services.ops.worker_stats` reads the answers, this decides what
they say together. Each answer names the partitions its figures stand for. A
partition no answer stands for (its worker is down, starting, or taking it
over) or one two answers stand for (a rebalance moving it) makes the total
unknown, with a note naming the partitions, rather than a number that leaves
some plans out or counts them twice.
"""

from __future__ import annotations

from dataclasses import dataclass

from services.ops.worker_stats import WorkerCounts, WorkerShare


@dataclass(frozen=True)
class Coverage:
    """Which partitions the answers stand for, and the answers that could not be read."""

    answered: list[WorkerShare]
    """One per worker (an instance asked at two addresses is kept once)."""
    failed: list[WorkerShare]
    total: int | None
    twice: dict[int, list[WorkerShare]]
    missing: list[int]

    @property
    def whole(self) -> bool:
        """Every partition is stood for by exactly one answer."""
        return self.total is not None and not self.missing and not self.twice


def coverage(shares: list[WorkerShare]) -> Coverage:
    """Who stands for which partition, over ``shares`` as read."""
    answered = _one_each([s for s in shares if s.note is None])
    failed = [s for s in shares if s.note is not None]
    totals = [s.partitions_total for s in answered if s.partitions_total]
    total = max(totals) if totals else None
    by_partition: dict[int, list[WorkerShare]] = {}
    for share in answered:
        for partition in share.counted:
            by_partition.setdefault(partition, []).append(share)
    twice = {p: found for p, found in sorted(by_partition.items()) if len(found) > 1}
    missing = [p for p in range(total or 0) if p not in by_partition]
    return Coverage(answered, failed, total, twice, missing)


def merge_counts(shares: list[WorkerShare]) -> WorkerCounts:
    """Pending and due soon over every worker; unknown, with a note, unless the answers
    stand for every partition exactly once."""
    cover = coverage(shares)
    workers = tuple(cover.answered + cover.failed)
    if not cover.whole:
        return WorkerCounts(note=why_unknown(cover, partial=True), workers=workers)
    counting = [s for s in cover.answered if s.counted]
    if any(s.pending is None or s.due_soon is None for s in counting):
        return WorkerCounts(note="a worker answered without its counts", workers=workers)
    return WorkerCounts(
        pending=sum(s.pending or 0 for s in counting),
        due_soon=sum(s.due_soon or 0 for s in counting),
        workers=workers,
    )


def why_unknown(cover: Coverage, partial: bool = False) -> str:
    """What is not known and why, naming the partitions; with ``partial``, what the
    partitions that are counted hold."""
    if not cover.answered:
        return _with_failures("no reminders worker answered", cover)
    said = []
    if cover.twice:
        for partition, found in cover.twice.items():
            who = " and ".join(_who(s) for s in found)
            said.append(f"partition {partition} is counted by {who}: it is moving between them")
    if cover.missing:
        said.append(
            f"{_partitions(cover.missing)} not counted by any worker that answered "
            "(one is down, starting, or taking them over)"
        )
    if cover.total is None:
        said.append("no worker said how many partitions there are")
    if partial and cover.missing and not cover.twice:
        said.append(_held(cover))
    return _with_failures("; ".join(said), cover)


def partitions_text(partitions: list[int]) -> str:
    """``partition 2``, ``partitions 2 and 3``, ``partitions 0, 1 and 3``."""
    if len(partitions) == 1:
        return f"partition {partitions[0]}"
    listed = ", ".join(str(p) for p in partitions[:-1])
    return f"partitions {listed} and {partitions[-1]}"


def _partitions(partitions: list[int]) -> str:
    return partitions_text(partitions) + (" is" if len(partitions) == 1 else " are")


def _held(cover: Coverage) -> str:
    counting = [s for s in cover.answered if s.counted]
    counted = sorted(p for s in counting for p in s.counted)
    if not counted:
        return "no partition is counted yet"
    pending = sum(s.pending or 0 for s in counting)
    due = sum(s.due_soon or 0 for s in counting)
    return f"{partitions_text(counted)} hold {pending} pending, {due} due within the hour"


def _with_failures(said: str, cover: Coverage) -> str:
    if not cover.failed:
        return said
    return "; ".join([said, *(s.note or s.url for s in cover.failed)])


def _who(share: WorkerShare) -> str:
    return f"worker {share.worker_id or '?'} at {share.url}"


def _one_each(shares: list[WorkerShare]) -> list[WorkerShare]:
    seen: dict[str, WorkerShare] = {}
    for share in shares:
        seen.setdefault(share.instance or share.url, share)
    return list(seen.values())
