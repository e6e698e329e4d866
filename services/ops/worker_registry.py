"""Where the reminders workers' views answer: the workers topic, and the address configured.

See :mod:`services.shared.workers` for what the workers write there.
"""

from __future__ import annotations

from collections.abc import Iterable

from kafka.errors import KafkaError

from services.ops.kafka_io import BrokerUnavailable, TopicNotFound, read_all
from services.ops.records import Record
from services.ops.settings import OpsSettings
from services.shared.events import InvalidEvent, decode
from services.shared.workers import WorkerRegistered


def registered(records: Iterable[Record]) -> list[str]:
    """The addresses registered now: each key's last record, less tombstones and records
    that do not read as a registration."""
    latest: dict[bytes, bytes | None] = {}
    for record in records:
        if record.key is not None:
            latest[record.key] = record.value
    urls = []
    for value in latest.values():
        if not value:
            continue
        try:
            urls.append(decode(WorkerRegistered, value).url)
        except InvalidEvent:
            continue
    return sorted(set(urls))


def worker_addresses(settings: OpsSettings, read: bool = True) -> tuple[list[str], str | None]:
    """The configured worker's address, then every registered one, each once; and why the
    registry could not be read, if it could not (or ``read`` is False: the broker is down).

    Blocks while it reads the workers topic to its end (a few seconds at most).
    """
    configured = settings.worker_web_url
    topic = settings.topics.workers
    if not read:
        return [configured], f"the workers registry ({topic}) was not read: no broker"
    try:
        found = registered(read_all(settings.kafka, topic, timeout=5.0))
    except (BrokerUnavailable, TopicNotFound, KafkaError) as exc:
        return [configured], f"the workers registry ({topic}) could not be read: {exc}"
    return list(dict.fromkeys([configured, *found])), None
