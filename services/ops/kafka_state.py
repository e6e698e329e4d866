"""What the broker says: reachable or not, topics, end offsets, consumer-group lag.

On the embedded broker (Tansu) the end offset it reports is the last batch's
base offset + 1: short by the records in the last batch less one. Lag read
from it reads low by as much; :func:`services.shared.offsets.true_ends` reads
each last batch to find the real end.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition
from kafka.errors import KafkaError

from services.ops.kafka_io import BrokerUnavailable
from services.shared.kafka_access import KafkaAccess, access_of
from services.shared.offsets import true_ends


@dataclass(frozen=True)
class TopicState:
    name: str
    partitions: int
    end_offsets: dict[int, int] = field(default_factory=dict)

    @property
    def records(self) -> int:
        return sum(self.end_offsets.values())


@dataclass(frozen=True)
class PartitionLag:
    group: str
    topic: str
    partition: int
    committed: int
    end: int

    @property
    def lag(self) -> int:
        return max(0, self.end - self.committed)


def open_admin(kafka: KafkaAccess | str) -> KafkaAdminClient:
    """An admin client; ``BrokerUnavailable`` naming the address if nothing answers."""
    try:
        return KafkaAdminClient(
            **access_of(kafka).client_options(),
            client_id="clinic-ops-status",
            request_timeout_ms=5000,
            bootstrap_timeout_ms=3000,
        )
    except (KafkaError, OSError) as exc:
        raise BrokerUnavailable(
            f"no Kafka broker answered at {access_of(kafka).bootstrap}: {exc}"
        ) from exc


def topic_states(consumer: KafkaConsumer, names: list[str], exact: bool) -> list[TopicState]:
    """Partition count and end offsets of each topic the broker has (others: 0 partitions)."""
    states = []
    for name in names:
        found = sorted(consumer.partitions_for_topic(name) or ())
        parts = [TopicPartition(name, p) for p in found]
        ends: dict[TopicPartition, int] = consumer.end_offsets(parts) if parts else {}
        if exact:
            ends = true_ends(consumer, ends)
        states.append(TopicState(name, len(found), {tp.partition: e for tp, e in ends.items()}))
    return states


def group_lag(admin: KafkaAdminClient, group: str, topics: list[TopicState]) -> list[PartitionLag]:
    """Committed offset against end offset for each partition ``group`` committed on."""
    ends = {(t.name, p): end for t in topics for p, end in t.end_offsets.items()}
    committed = admin.list_group_offsets(group).get(group, {})
    lags = [
        PartitionLag(
            group, tp.topic, tp.partition, meta.offset, ends.get((tp.topic, tp.partition), 0)
        )
        for tp, meta in committed.items()
        if meta.offset >= 0
    ]
    return sorted(lags, key=lambda lag: (lag.topic, lag.partition))
