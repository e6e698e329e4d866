"""Publishing from the HTTP side: each record acknowledged by the broker before the answer."""

from __future__ import annotations

from kafka import KafkaProducer

from services.shared.metrics import PlatformMetrics


class Publisher:
    """Sends records with the notifier's producer (thread-safe) and counts them."""

    def __init__(
        self, producer: KafkaProducer, metrics: PlatformMetrics, timeout: float = 10.0
    ) -> None:
        self._producer = producer
        self._metrics = metrics
        self._timeout = timeout

    def publish(self, topic: str, key: str | None, value: bytes) -> None:
        """Block until the broker has the record; raises the client's ``KafkaError`` if not.

        A webhook answers only after this returns, so a change the provider was
        told we took is a change on the topic.
        """
        future = self._producer.send(topic, key=key.encode() if key else None, value=value)
        future.get(timeout=self._timeout)
        self._metrics.record_produced(topic)
