"""Topic names and their explicit creation.

Topics are created at start with a configured partition count: a broker that
auto-creates a missing topic picks its own count, which breaks the
co-partitioning the reminders worker relies on.
"""

from __future__ import annotations

import contextlib
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass

from kafka.admin import KafkaAdminClient, NewTopic
from kafka.errors import KafkaError, TopicAlreadyExistsError

from services.shared.kafka_access import KafkaAccess, access_of

_TOPIC_PART = re.compile(r"[A-Za-z0-9._-]{1,200}")


@dataclass(frozen=True)
class Topics:
    """The platform's topic names; ``prefix`` gives tests their own set.

    ``dead_letter_days`` is how long a broker keeps a dead letter (``retention.ms``
    of both dead-letter topics, set when they are created).
    """

    prefix: str = ""
    dead_letter_days: int = 30

    @property
    def bookings(self) -> str:
        return f"{self.prefix}clinic.bookings.v1"

    @property
    def bookings_dlq(self) -> str:
        return f"{self.prefix}clinic.bookings.dlq.v1"

    @property
    def due(self) -> str:
        return f"{self.prefix}clinic.reminders.due.v1"

    @property
    def ticks(self) -> str:
        return f"{self.prefix}clinic.reminders.ticks.v1"

    @property
    def status(self) -> str:
        return f"{self.prefix}clinic.notifications.status.v1"

    @property
    def notifications_dlq(self) -> str:
        return f"{self.prefix}clinic.notifications.dlq.v1"

    @property
    def consent(self) -> str:
        return f"{self.prefix}clinic.consent.v1"

    @property
    def replies(self) -> str:
        """What patients asked for by text (confirm, rearrange), keyed ``clinic:patient``."""
        return f"{self.prefix}clinic.replies.v1"

    @property
    def control(self) -> str:
        """Markers and resync requests, on partition 0 (see :mod:`services.shared.control`)."""
        return f"{self.prefix}clinic.platform.v1"

    @property
    def erasures(self) -> str:
        """Each service's audit record of each erasure (no personal data; see
        :mod:`services.shared.erasure`), and what views read to hide erased patients."""
        return f"{self.prefix}clinic.erasures.v1"

    @property
    def workers(self) -> str:
        """Where each reminders worker's views answer, keyed by that address; compacted
        (see :mod:`services.shared.workers`)."""
        return f"{self.prefix}clinic.reminders.workers.v1"

    def ingress(self, clinic_id: str) -> str:
        """Where a clinic that produces to Kafka directly writes its booking events
        (only that clinic may; the booking service relays them). ``ValueError`` for a
        clinic id that a topic name cannot carry (Kafka's names allow ``A-Za-z0-9._-``)."""
        if not _TOPIC_PART.fullmatch(clinic_id) or clinic_id.strip(".") == "":
            raise ValueError(f"clinic id {clinic_id!r} cannot name a Kafka topic (A-Za-z0-9._-)")
        return f"{self.ingress_prefix}{clinic_id}.v1"

    @property
    def ingress_prefix(self) -> str:
        return f"{self.prefix}clinic.ingress."

    def ingress_clinic(self, topic: str) -> str | None:
        """The clinic whose ingress topic ``topic`` is; None if it is none's."""
        if not (topic.startswith(self.ingress_prefix) and topic.endswith(".v1")):
            return None
        clinic = topic[len(self.ingress_prefix) : -len(".v1")]
        return clinic if clinic and _TOPIC_PART.fullmatch(clinic) else None

    def all(self) -> list[str]:
        return [
            self.bookings,
            self.bookings_dlq,
            self.due,
            self.ticks,
            self.status,
            self.notifications_dlq,
            self.consent,
            self.replies,
            self.control,
            self.erasures,
            self.workers,
        ]

    def configs(self) -> dict[str, dict[str, str]]:
        """Topic settings: the dead letters' retention, the erasure records kept for good
        (they hold no personal data, and every copy of a patient anywhere, a dead letter
        among them, must stay hidden as long as it lasts), and the workers registry
        compacted to one record per address."""
        kept = str(self.dead_letter_days * 24 * 3600 * 1000)
        configs = {
            name: {"retention.ms": kept} for name in (self.bookings_dlq, self.notifications_dlq)
        }
        return {
            **configs,
            self.erasures: {"retention.ms": "-1", "retention.bytes": "-1"},
            self.workers: {"cleanup.policy": "compact"},
        }


BROKER_DEFAULT = -1
"""Replicas of a new topic: the broker's ``default.replication.factor`` (1 on one node,
3 on the cluster docs/deploy.md describes), so a cluster's topics survive a lost broker."""


def ensure_topics(
    kafka: KafkaAccess | str,
    names: list[str],
    partitions: int,
    timeout: float = 30.0,
    configs: Mapping[str, Mapping[str, str]] | None = None,
) -> None:
    """Create each missing topic with ``partitions`` partitions; wait for the broker.

    ``configs`` gives a topic its settings (e.g. ``retention.ms``) when it is created.

    Blocks until the broker answers or ``timeout`` seconds pass, then raises
    ``RuntimeError`` naming the address.
    """
    deadline = time.monotonic() + timeout
    while True:
        try:
            admin = KafkaAdminClient(
                **access_of(kafka).client_options(),
                client_id="clinic-topics",
                request_timeout_ms=5000,
                bootstrap_timeout_ms=int(max(1.0, deadline - time.monotonic()) * 1000),
            )
            break
        except (KafkaError, OSError) as exc:
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"no Kafka broker answered at {access_of(kafka).bootstrap}"
                ) from exc
            time.sleep(0.2)
    settings = configs or {}
    try:
        existing = set(admin.list_topics())
        missing = [n for n in names if n not in existing]
        if missing:
            with contextlib.suppress(TopicAlreadyExistsError):
                made = [
                    NewTopic(n, partitions, BROKER_DEFAULT, topic_configs=dict(settings.get(n, {})))
                    for n in missing
                ]
                admin.create_topics(made)
    finally:
        admin.close()
