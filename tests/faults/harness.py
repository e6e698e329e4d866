"""The platform split into its three services, each its own process, with real providers.

On the embedded broker, the broker runs on a fixed port so that it can be
stopped (losing everything) and started again where every service expects it.
Durable truth lives outside it: the booking store and the delivery ledger, both
in files (or PostgreSQL). On a three-node Apache Kafka cluster (replication
factor 3, ``min.insync.replicas=2``) nodes are killed one at a time instead, and
the services must carry on through the failover without a restart.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
from kafka import KafkaConsumer, TopicPartition
from sqlalchemy import create_engine, func, select

from services.notifier.delivery.ledger import deliveries
from services.notifier.settings import NotifierSettings
from services.ops.kafka_state import group_lag, open_admin, topic_states
from services.shared.apache_kafka import ApacheKafka
from services.shared.broker import EmbeddedBroker, free_port
from services.shared.clock import ScaledClock
from services.shared.events import NotificationStatus, ReminderDue, decode
from services.shared.topics import Topics, ensure_topics
from tests.support.processes import Service

PARTITIONS = 4
READY = {"worker": "reminders worker ready", "notifier": "notifier ready"}
"""The line each restartable service prints once it has its partitions."""
SESSION_TIMEOUT_MS = 3000
"""How soon the group drops a killed worker or notifier, letting its restart in: every
real second of it is a platform hour at x3600 (production keeps its defaults)."""
TWILIO_SID = "AC" + "f" * 32


class StatusTap:
    """Reads the status and due topics in a thread (the broker forgets them): every status
    for the count, and when the worker first emitted each due reminder, so that a late one
    shows whether the worker or the notifier held it."""

    def __init__(self, bootstrap: str, status_topic: str, due_topic: str) -> None:
        self._bootstrap = bootstrap
        self._topics = (status_topic, due_topic)
        self.statuses: list[NotificationStatus] = []
        self.emitted: dict[str, datetime] = {}
        """Reminder id to the ``emitted_at`` of its first emission."""
        self._next: dict[tuple[str, int], int] = {}
        """The offset after the last record read, per topic and partition."""
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._stop.clear()
        self._next.clear()  # a broker started again starts its offsets again
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def _read(self) -> None:
        consumer = KafkaConsumer(
            bootstrap_servers=self._bootstrap,
            auto_offset_reset="earliest",
            enable_auto_commit=False,
        )
        consumer.assign([TopicPartition(t, p) for t in self._topics for p in range(PARTITIONS)])
        try:
            while not self._stop.is_set():
                for tp, records in consumer.poll(timeout_ms=200).items():
                    self._keep(tp.topic, records)
                    self._next[(tp.topic, tp.partition)] = records[-1].offset + 1
        finally:
            consumer.close()

    def catch_up(self, timeout: float = 60.0) -> bool:
        """Wait until every record the broker holds now has been read; False on timeout.

        The count reads what the tap kept: a tap still behind (its client finding the
        new leaders after a failover) would turn a reported skip into a loss.
        """
        consumer = KafkaConsumer(bootstrap_servers=self._bootstrap)
        try:
            states = topic_states(consumer, list(self._topics), exact=True)
        finally:
            consumer.close()
        ends = {(s.name, p): end for s in states for p, end in s.end_offsets.items()}
        deadline = time.monotonic() + timeout
        while any(self._next.get(tp, 0) < end for tp, end in ends.items()):
            if time.monotonic() > deadline:
                return False
            time.sleep(0.2)
        return True

    def _keep(self, topic: str, records: list[Any]) -> None:
        if topic == self._topics[0]:
            self.statuses.extend(decode(NotificationStatus, r.value) for r in records)
            return
        for r in records:
            reminder = decode(ReminderDue, r.value)
            self.emitted.setdefault(reminder.reminder_id, reminder.emitted_at)


class FaultPlatform:
    """Broker, booking service, reminders worker and notifier, each restartable on its own."""

    def __init__(
        self,
        var_dir: Path,
        clock: ScaledClock,
        twilio_url: str,
        smtp_port: int,
        booking_db: str | None = None,
        ledger_db: str | None = None,
        broker: str = "tansu",
    ) -> None:
        var_dir.mkdir(parents=True, exist_ok=True)
        self.var_dir = var_dir
        self.clock = clock
        self.cluster = (
            ApacheKafka(size=3, data_dir=var_dir / "kafka", partitions=PARTITIONS, tied=True)
            if broker == "cluster"
            else None
        )
        self.broker = self.cluster or EmbeddedBroker(free_port(), log_path=var_dir / "broker.log")
        self.topics = Topics("")
        self.booking_db = booking_db or f"sqlite:///{var_dir / 'booking.db'}"
        self.ledger_db = ledger_db or f"sqlite:///{var_dir / 'notifier.db'}"
        self.booking_url = f"http://127.0.0.1:{free_port()}"
        self._twilio_url = twilio_url
        self._smtp_port = smtp_port
        self.booking = Service("booking", "services.booking", var_dir / "booking.log")
        self.worker = Service("reminders", "services.reminders", var_dir / "reminders.log")
        self.notifier = Service("notifier", "services.notifier", var_dir / "notifier.log")
        self.tap = StatusTap(self.broker.bootstrap, self.topics.status, self.topics.due)
        self.broker_restarts = 0

    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            **self.clock.environment(),
            "PYTHONUNBUFFERED": "1",
            "CLINIC_BOOTSTRAP_SERVERS": self.broker.bootstrap,
            "CLINIC_VAR_DIR": str(self.var_dir),
            "CLINIC_PARTITIONS": str(PARTITIONS),
            "CLINIC_BOOKING_DATABASE_URL": self.booking_db,
            "CLINIC_ON_TANSU": "false" if self.cluster else "true",
        }

    def booking_env(self) -> dict[str, str]:
        return {**self.env(), "CLINIC_BOOKING_PORT": self.booking_url.rsplit(":", 1)[1]}

    def worker_env(self) -> dict[str, str]:
        return {
            **self.env(),
            "CLINIC_WORKER_WEB_PORT": str(free_port()),
            "CLINIC_SESSION_TIMEOUT_SECONDS": str(SESSION_TIMEOUT_MS / 1000),
        }

    def notifier_env(self) -> dict[str, str]:
        return {
            **self.env(),
            "CLINIC_NOTIFIER_DATABASE_URL": self.ledger_db,
            "CLINIC_NOTIFIER_HTTP_PORT": "0",
            "CLINIC_SESSION_TIMEOUT_MS": str(SESSION_TIMEOUT_MS),
            "CLINIC_HEARTBEAT_INTERVAL_MS": str(SESSION_TIMEOUT_MS // 6),
            "CLINIC_SMS_PROVIDER": "twilio",
            "CLINIC_TWILIO_ACCOUNT_SID": TWILIO_SID,
            "CLINIC_TWILIO_AUTH_TOKEN": "fault-token",
            "CLINIC_TWILIO_FROM_NUMBER": "+447700900000",
            "CLINIC_TWILIO_API_BASE_URL": self._twilio_url,
            # The run tests faults, not the rate limit: a text a real second would stretch it.
            "CLINIC_SMS_RATE_PER_SECOND": "200",
            "CLINIC_SMS_BURST": "50",
            "CLINIC_EMAIL_PROVIDER": "smtp",
            "CLINIC_SMTP_HOST": "127.0.0.1",
            "CLINIC_SMTP_PORT": str(self._smtp_port),
            "CLINIC_SMTP_TIMEOUT_SECONDS": "5",
            "CLINIC_BACKOFF_BASE_SECONDS": "0.2",
            "CLINIC_BACKOFF_MAX_SECONDS": "2",
        }

    def start(self) -> None:
        """Broker, topics, then the three services; blocks until each says it is ready."""
        self.broker.start()
        ensure_topics(self.broker.bootstrap, self.topics.all(), PARTITIONS)
        self.tap.start()
        self.booking.start(self.booking_env())
        self.worker.start(self.worker_env())
        self.notifier.start(self.notifier_env())
        self.booking.wait_line("booking service on")
        self.worker.wait_line(READY["worker"])
        self.notifier.wait_line(READY["notifier"])

    def service(self, which: str) -> Service:
        return self.worker if which == "worker" else self.notifier

    def launch(self, which: str) -> None:
        """Start the worker or the notifier process without waiting for it to be ready."""
        env = self.worker_env() if which == "worker" else self.notifier_env()
        self.service(which).start(env)

    def ready(self, which: str, since: int) -> bool:
        """Whether start ``since`` of the service, or a later one, said it is ready."""
        return self.service(which).printed(READY[which], since=since)

    def overdue_retries(self) -> int:
        """Deferred deliveries in the ledger whose next attempt is already due."""
        engine = create_engine(self.ledger_db)
        query = select(func.count()).where(
            deliveries.c.state == "pending", deliveries.c.next_attempt_at <= self.now()
        )
        try:
            with engine.connect() as conn:
                return int(conn.execute(query).scalar_one())
        finally:
            engine.dispose()

    def restart_broker(self) -> None:
        """Stop the broker (all topics, offsets and groups gone), start it on the same port.

        The worker and the notifier are stopped first and started afterwards on
        the empty broker; the booking service keeps running (its relay waits).
        """
        self.tap.stop()
        both = ["worker", "notifier"]
        _side_by_side(lambda which: self.service(which).stop(), both)
        self.broker.stop()
        self.broker.start()
        self.broker_restarts += 1
        ensure_topics(self.broker.bootstrap, self.topics.all(), PARTITIONS)
        self.tap.start()
        shutil.rmtree(self.var_dir / "reminders", ignore_errors=True)
        self.launch("worker")
        self.launch("notifier")
        _side_by_side(lambda which: self.service(which).wait_line(READY[which]), both)

    def kill_busiest_leader(self) -> int:
        """SIGKILL the node that leads the most partitions of the platform's topics."""
        assert self.cluster is not None
        self.cluster.wait_for_brokers(len(self.cluster.nodes))
        node, _ = self.cluster.leaders(self.topics.all()).most_common(1)[0]
        self.cluster.kill_node(node)
        return node

    def kill_active_controller(self) -> int:
        """SIGKILL the KRaft quorum's leader (the active controller)."""
        assert self.cluster is not None
        self.cluster.wait_for_brokers(len(self.cluster.nodes))
        node = self.cluster.active_controller()
        self.cluster.kill_node(node)
        return node

    def start_stopped_brokers(self) -> list[int]:
        """Start every killed node again on its own ports and data, without waiting for it
        to join (a JVM's start is seconds, hours of the run's clock): the next step that
        kills a node waits for the whole cluster first."""
        assert self.cluster is not None
        stopped = [node.node_id for node in self.cluster.nodes if not node.running]
        for node_id in stopped:
            self.cluster.start_node(node_id, timeout=None)
        return stopped

    def resync(self) -> str:
        """``clinic-reminders resync`` against the booking store; returns its output."""
        done = subprocess.run(
            [sys.executable, "-m", "services.cli", "resync"],
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout.strip()

    def due_backlog(self) -> int:
        """Due reminders the notifier has not taken yet: the topic's real ends less its commits."""
        consumer = KafkaConsumer(bootstrap_servers=self.broker.bootstrap)
        admin = open_admin(self.broker.bootstrap)
        try:
            [due] = topic_states(consumer, [self.topics.due], exact=True)
            group = NotifierSettings.model_fields["consumer_group"].default
            lags = {lag.partition: lag.lag for lag in group_lag(admin, group, [due])}
            return sum(lags.get(p, end) for p, end in due.end_offsets.items())
        finally:
            consumer.close()
            admin.close()

    def post(self, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        response = httpx.post(f"{self.booking_url}{path}", json=body or {}, timeout=15)
        assert response.status_code in (200, 201), (path, response.status_code, response.text)
        result: dict[str, Any] = response.json()
        return result

    def now(self) -> datetime:
        return self.clock.now()

    def stop(self) -> None:
        for service in (self.notifier, self.worker, self.booking):
            service.stop()
        self.tap.stop()
        self.broker.stop()


def _side_by_side(action: Callable[[str], None], services: list[str]) -> None:
    """``action`` for each service at the same time; the first error is raised."""
    with ThreadPoolExecutor(max_workers=len(services)) as pool:
        for done in [pool.submit(action, which) for which in services]:
            done.result()
