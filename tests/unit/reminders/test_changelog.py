"""The held changelog: records go to the producer in order, or wait for the next chance."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import faust
import pytest

from services.reminders.worker.changelog import HeldChangelogTable, held_changelog_table


class Producer:
    """Takes records as Faust's producer does (a future each); stalls on the ``stall_at``-th."""

    def __init__(self, stall_at: int | None = None) -> None:
        self.sent: list[tuple[int, bytes, bytes | None]] = []
        self.stall_at = stall_at

    async def send(
        self, topic: str, key: bytes, value: bytes | None, partition: int, *_: Any
    ) -> asyncio.Future[Any]:
        if len(self.sent) == self.stall_at:
            await asyncio.Event().wait()  # the broker never takes it
        self.sent.append((partition, key, value))
        future = asyncio.get_running_loop().create_future()
        future.set_result(SimpleNamespace(offset=100 + len(self.sent)))
        return future


def table_with(producer: Producer) -> tuple[HeldChangelogTable, list[tuple[int, int]]]:
    app = faust.App("held-changelog-test", store="memory://")
    app.producer = producer  # type: ignore[assignment]
    table = held_changelog_table(app, "plans", partitions=4, key_type=str, value_type=bytes)
    recorded: list[tuple[int, int]] = []
    table.data.set_persisted_offset = lambda tp, offset: recorded.append((tp.partition, offset))  # type: ignore[method-assign]
    table._held = [(0, "a", b"1"), (1, "b", b"2"), (0, "c", b"3"), (2, "d", None)]
    return table, recorded


def test_held_records_go_out_in_order_and_each_partition_records_its_last_offset() -> None:
    producer = Producer()
    table, recorded = table_with(producer)

    async def main() -> None:
        await table.send_held()
        await asyncio.sleep(0)  # the done callbacks run

    asyncio.run(main())
    assert producer.sent == [
        (0, b'"a"', b"1"),
        (1, b'"b"', b"2"),
        (0, b'"c"', b"3"),
        (2, b'"d"', None),
    ]
    assert sorted(recorded) == [(0, 103), (1, 102), (2, 104)]
    assert table.held == 0


def test_records_not_handed_over_when_sending_stops_are_released_through_faust() -> None:
    producer = Producer(stall_at=2)
    table, recorded = table_with(producer)
    released: list[tuple[int, str, bytes | None]] = []

    def send_changelog(partition: int, key: str, value: bytes | None, **_: Any) -> Any:
        released.append((partition, key, value))

    table.send_changelog = send_changelog  # type: ignore[method-assign,assignment]

    async def main() -> None:
        sending = asyncio.ensure_future(table.send_held())
        await asyncio.sleep(0.01)
        sending.cancel()  # the worker stops while the producer waits
        with pytest.raises(asyncio.CancelledError):
            await sending

    asyncio.run(main())
    assert producer.sent == [(0, b'"a"', b"1"), (1, b'"b"', b"2")]
    assert table.held == 2 and recorded == []
    table.release_held()
    assert released == [(0, "c", b"3"), (2, "d", None)]
    assert table.held == 0


@pytest.mark.parametrize(("source", "changelog"), [(4, 0), (0, 4), (None, 4), (4, None)])
def test_a_partition_count_not_known_yet_is_no_mismatch(
    source: int | None, changelog: int | None
) -> None:
    table, _ = table_with(Producer())
    counts = {"clinic.bookings.v1": source, table.changelog_topic_name: changelog}
    table.app.consumer = SimpleNamespace(topic_partitions=counts.get)  # type: ignore[assignment,misc]
    table._verify_source_topic_partitions("clinic.bookings.v1")
    assert "clinic.bookings.v1" not in table._verified_source_topics_for_partitions


def test_a_real_mismatch_is_still_refused() -> None:
    table, _ = table_with(Producer())
    counts = {"clinic.bookings.v1": 4, table.changelog_topic_name: 2}
    table.app.consumer = SimpleNamespace(topic_partitions=counts.get)  # type: ignore[assignment,misc]
    with pytest.raises(faust.exceptions.PartitionsMismatch):
        table._verify_source_topic_partitions("clinic.bookings.v1")
