"""Topics are made on the real broker with their settings (the dead letters' retention)."""

from __future__ import annotations

import pytest
from kafka.admin import KafkaAdminClient

from services.shared.broker import EmbeddedBroker
from services.shared.topics import Topics, ensure_topics

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
