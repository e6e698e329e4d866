"""The worker's consumer and batches on the real broker: each event handled once, on its partition.

``one_by_one`` takes events in batches and makes each current in turn. The
probe awaits mid-batch, as a tick does while its due reminders are sent: the
moment Faust's batch reader files the next event. Making events current the
wrong way lost one event and handled another twice at each such moment.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from services.shared.broker import EmbeddedBroker
from services.shared.offsets import true_ends
from services.shared.topics import ensure_topics
from tests.support.processes import Service

pytestmark = pytest.mark.integration

COUNT = 4000
PARTITIONS = 4


def test_batched_events_are_each_handled_once_and_written_to_their_own_partition(
    broker: EmbeddedBroker, tmp_path: Path
) -> None:
    topic = f"probe{os.getpid()}-{tmp_path.name[-12:]}".replace("_", "-")
    ensure_topics(broker.bootstrap, [topic], PARTITIONS)
    producer = KafkaProducer(bootstrap_servers=broker.bootstrap, linger_ms=5)
    for n in range(COUNT):
        producer.send(topic, value=str(n).encode(), partition=n % PARTITIONS)
    producer.flush()
    producer.close()
    result = tmp_path / "handled.json"
    probe = Service("probe", "tests.support.batch_probe", tmp_path / "probe.log")
    probe.start(
        {
            **os.environ,
            "PROBE_BOOTSTRAP": broker.bootstrap,
            "PROBE_TOPIC": topic,
            "PROBE_COUNT": str(COUNT),
            "PROBE_RESULT": str(result),
        }
    )
    try:
        probe.wait_line("probe done", timeout=120)
    finally:
        probe.kill()  # it has written what it saw; its changelog writes are acknowledged
    seen = json.loads(result.read_text())
    handled = seen["handled"]
    assert seen["waited"] > 0, "no delivery waited: the racing path was not run"
    assert len(handled) == COUNT, f"never handled: {COUNT - len(handled)}"
    assert {v for v, n in handled.items() if n > 1} == set()
    changelog = f"{topic}-probe-written-changelog"
    assert written_partitions(broker.bootstrap, changelog) == {
        str(n): n % PARTITIONS for n in range(COUNT)
    }


def written_partitions(bootstrap: str, changelog: str) -> dict[str, int]:
    """Each key of the probe's table changelog, and the partition it was written to."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    try:
        tps = [TopicPartition(changelog, p) for p in range(PARTITIONS)]
        ends = true_ends(consumer, consumer.end_offsets(tps))
        consumer.assign(tps)
        consumer.seek_to_beginning()
        seen: dict[str, int] = {}
        while any(consumer.position(tp) < ends[tp] for tp in tps):
            for tp, records in consumer.poll(timeout_ms=500).items():
                for record in records:
                    seen[json.loads(record.key)] = tp.partition
        return seen
    finally:
        consumer.close()
