"""A producer whose broker went away still closes, within its timeout, and stops its thread."""

from __future__ import annotations

import time

import pytest
from kafka import KafkaProducer

from services.shared import kafka_patches
from services.shared.broker import EmbeddedBroker
from services.shared.topics import ensure_topics

pytestmark = pytest.mark.integration


def test_close_with_records_the_broker_never_took_returns_and_stops_the_producer() -> None:
    kafka_patches.apply()
    with EmbeddedBroker() as broker:
        ensure_topics(broker.bootstrap, ["closing"], 1)
        producer = KafkaProducer(bootstrap_servers=broker.bootstrap, acks="all")
        producer.send("closing", b"taken").get(timeout=10)
    producer.send("closing", b"never taken")  # the broker is gone
    began = time.monotonic()
    producer.close(timeout=1)
    assert time.monotonic() - began < 5
    assert producer._closed
    producer._sender.join(timeout=5)  # force-closed: it ends at its next turn
    assert not producer._sender.is_alive()
