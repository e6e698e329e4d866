"""Topics are made on the real broker with their settings (the dead letters' retention)."""

from __future__ import annotations

import pytest
from kafka.admin import ConfigResource, KafkaAdminClient

from services.shared.apache_kafka import ApacheKafka
from services.shared.broker import EmbeddedBroker
from services.shared.topics import Topics, ensure_topics
from tests.support.waiting import wait_until

pytestmark = [pytest.mark.integration, pytest.mark.both_brokers]


def test_every_topic_is_made_with_its_settings_and_a_second_call_changes_nothing(
    broker: EmbeddedBroker,
) -> None:
    topics = Topics("made-with-settings.", dead_letter_days=3)
    ensure_topics(broker.bootstrap, topics.all(), 2, configs=topics.configs())
    ensure_topics(broker.bootstrap, topics.all(), 2, configs=topics.configs())
    admin = KafkaAdminClient(bootstrap_servers=broker.bootstrap)
    try:
        described = {t["name"]: t for t in admin.describe_topics(topics.all())}
    finally:
        admin.close()
    assert set(described) == set(topics.all())
    assert all(len(t["partitions"]) == 2 for t in described.values())


def test_erasure_records_are_kept_for_good_and_dead_letters_as_long_as_set(
    apache_kafka: ApacheKafka,
) -> None:
    """An erasure's record must outlive every copy it hides (a dead letter is kept 30 days):
    the broker's default of 7 days would let an erased patient's dead letters show again."""
    topics = Topics("kept-for-good.", dead_letter_days=3)
    ensure_topics(apache_kafka.bootstrap, topics.all(), 2, configs=topics.configs())
    admin = KafkaAdminClient(bootstrap_servers=apache_kafka.bootstrap)
    wanted = {topics.erasures: "-1", topics.bookings_dlq: str(3 * 24 * 3600 * 1000)}

    def retention() -> dict[str, str | None]:
        shown = admin.describe_configs([ConfigResource("topic", name) for name in wanted])
        return {name: c.get("retention.ms", {}).get("value") for name, c in shown["topic"].items()}

    try:
        wait_until(lambda: retention() == wanted, f"retention {wanted}", 15)
    finally:
        admin.close()
