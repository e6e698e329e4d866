"""Plain kafka-python helpers: produce, the raw consume baseline, offsets, a due-topic reader."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence

from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from bench.bookings import Record
from services.shared.offsets import true_ends


def produce(bootstrap: str, topic: str, records: Sequence[Record]) -> float:
    """Send every record (acks=all) and flush; returns the real seconds it took."""
    producer = KafkaProducer(
        bootstrap_servers=bootstrap, acks="all", linger_ms=5, batch_size=256 * 1024
    )
    began = time.perf_counter()
    for key, value in records:
        producer.send(topic, key=key, value=value)
    producer.flush()
    took = time.perf_counter() - began
    producer.close()
    return took


def raw_consume(bootstrap: str, topic: str, partitions: int, count: int) -> float:
    """Records per second of a bare kafka-python consumer reading ``count`` records.

    Timed from a consumer already connected, with its partitions and start
    offsets known, to the last record; like the worker's steady rate, it
    leaves out connecting and joining.
    """
    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        max_poll_records=2000,
    )
    parts = [TopicPartition(topic, p) for p in range(partitions)]
    consumer.assign(parts)
    consumer.seek_to_beginning()
    for tp in parts:
        consumer.position(tp)
    seen = 0
    began = time.perf_counter()
    while seen < count:
        seen += sum(len(records) for records in consumer.poll(timeout_ms=500).values())
    took = time.perf_counter() - began
    consumer.close()
    return seen / took


def mean_value_bytes(bootstrap: str, topic: str, partitions: int, sample: int = 1000) -> int:
    """The mean size of up to ``sample`` record values from the start of ``topic``."""
    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap, auto_offset_reset="earliest", enable_auto_commit=False
    )
    consumer.assign([TopicPartition(topic, p) for p in range(partitions)])
    sizes: list[int] = []
    deadline = time.monotonic() + 30
    while len(sizes) < sample and time.monotonic() < deadline:
        for records in consumer.poll(timeout_ms=500).values():
            sizes.extend(len(r.value or b"") for r in records)
    consumer.close()
    if not sizes:
        raise RuntimeError(f"no records on {topic} to size the floor's values by")
    return round(sum(sizes) / len(sizes))


class Offsets:
    """Real end offsets of one topic, summed over its partitions (each last batch read)."""

    def __init__(self, bootstrap: str, topic: str, partitions: int) -> None:
        self._consumer = KafkaConsumer(bootstrap_servers=bootstrap)
        self._parts = [TopicPartition(topic, p) for p in range(partitions)]

    def total(self) -> int:
        reported: dict[TopicPartition, int] = self._consumer.end_offsets(self._parts)
        return sum(true_ends(self._consumer, reported).values())

    def wait_for(self, target: int, timeout: float, every: float = 0.05) -> list[tuple[float, int]]:
        """Poll until the total reaches ``target``; the (time, total) series seen.

        Raises ``TimeoutError`` with the last total when ``timeout`` passes first.
        """
        series: list[tuple[float, int]] = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            total = self.total()
            series.append((time.time(), total))
            if total >= target:
                return series
            time.sleep(every)
        raise TimeoutError(f"offsets reached {series[-1][1] if series else 0} of {target}")

    def close(self) -> None:
        self._consumer.close()


class Arrivals:
    """A thread noting the real arrival time of every record on a topic from now on."""

    def __init__(self, bootstrap: str, topic: str, partitions: int) -> None:
        self._consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
        self._consumer.assign([TopicPartition(topic, p) for p in range(partitions)])
        self._consumer.seek_to_end()
        self.seen: list[tuple[float, bytes]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            for records in self._consumer.poll(timeout_ms=50).values():
                now = time.time()
                self.seen.extend((now, r.value) for r in records)

    def wait_count(self, count: int, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and len(self.seen) < count:
            time.sleep(0.05)
        return len(self.seen) >= count

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._consumer.close()
