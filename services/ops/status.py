"""``status``: one look at the whole platform, gathered from the outside.

Every part is read on its own: a broker that is down, a database that is
missing or a worker without a stats view leaves its part empty with a note
saying why, and the rest is still shown.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any

from kafka.errors import KafkaError

from services.notifier.queries import DeliveryCounts
from services.ops.kafka_io import BrokerUnavailable, open_reader
from services.ops.kafka_state import PartitionLag, TopicState, group_lag, open_admin, topic_states
from services.ops.settings import OpsSettings
from services.ops.stores import StoreUnavailable, delivery_counts, outbox_backlog
from services.ops.worker_merge import merge_counts
from services.ops.worker_registry import worker_addresses
from services.ops.worker_stats import WorkerCounts, read_shares
from services.shared.clock import Clock

WINDOW = timedelta(hours=1)


@dataclass(frozen=True)
class Status:
    """Everything ``status`` shows; ``notes`` say what could not be read and why."""

    at: datetime
    bootstrap: str
    broker_reachable: bool
    exact_offsets: bool
    topics: list[TopicState] = field(default_factory=list)
    lag: list[PartitionLag] = field(default_factory=list)
    deliveries: DeliveryCounts | None = None
    outbox_backlog: int | None = None
    worker: WorkerCounts = field(default_factory=WorkerCounts)
    notes: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["at"] = self.at.isoformat()
        out["topics"] = [{**asdict(t), "records": t.records} for t in self.topics]
        out["lag"] = [{**asdict(lag), "lag": lag.lag} for lag in self.lag]
        if self.deliveries is not None:
            out["deliveries"]["since"] = self.deliveries.since.isoformat()
        return out


def collect(settings: OpsSettings, clock: Clock, groups: list[str]) -> Status:
    """Read broker, ledger, outbox and workers; blocks a few seconds at most per part."""
    now = clock.now()
    notes: list[str] = []
    topics, lag, reachable = _broker(settings, groups, notes)
    counts = _deliveries(settings, now - WINDOW, notes)
    backlog = _outbox(settings, notes)
    worker = worker_counts(settings, reachable, notes)
    return Status(
        now,
        settings.bootstrap_servers,
        reachable,
        settings.on_tansu,
        topics,
        lag,
        counts,
        backlog,
        worker,
        notes,
    )


def _broker(
    settings: OpsSettings, groups: list[str], notes: list[str]
) -> tuple[list[TopicState], list[PartitionLag], bool]:
    try:
        consumer = open_reader(settings.kafka, client_id="clinic-ops-status")
        admin = open_admin(settings.kafka)
    except BrokerUnavailable as exc:
        notes.append(str(exc))
        return [], [], False
    try:
        topics = topic_states(consumer, settings.topics.all(), exact=settings.on_tansu)
        lag = [row for group in groups for row in group_lag(admin, group, topics)]
    except KafkaError as exc:
        notes.append(f"broker answered but could not be read: {exc}")
        return [], [], True
    finally:
        consumer.close()
        admin.close()
    return topics, lag, True


def worker_counts(settings: OpsSettings, registry: bool, notes: list[str]) -> WorkerCounts:
    """Pending and due soon over every reminders worker (the one configured and those on the
    workers topic, read when ``registry``); a note when they are unknown, and why."""
    addresses, unread = worker_addresses(settings, read=registry)
    worker = merge_counts(read_shares(addresses, settings.worker_token))
    if worker.note:
        also = f" ({unread})" if unread else ""
        notes.append(f"pending and due-soon unknown: {worker.note}{also}")
    return worker


def _deliveries(settings: OpsSettings, since: datetime, notes: list[str]) -> DeliveryCounts | None:
    try:
        return delivery_counts(settings.ledger_url, since)
    except StoreUnavailable as exc:
        notes.append(f"delivery ledger: {exc}")
        return None


def _outbox(settings: OpsSettings, notes: list[str]) -> int | None:
    try:
        return outbox_backlog(settings.booking_url)
    except StoreUnavailable as exc:
        notes.append(f"booking outbox: {exc}")
        return None
