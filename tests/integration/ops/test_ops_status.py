"""``clinic-reminders status`` against the real broker, ledger, outbox and a worker view."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import pytest
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.structs import OffsetAndMetadata
from sqlalchemy import create_engine, insert

from services.booking.store.tables import metadata as booking_metadata
from services.booking.store.tables import outbox
from services.cli import main
from services.notifier.delivery.ledger import DeliveryLedger, LedgerState
from services.ops.stores import StoreUnavailable, delivery_counts, outbox_backlog
from services.shared.broker import EmbeddedBroker, free_port
from services.shared.events import Channel
from services.shared.topics import Topics
from tests.support.reminders import reminder

pytestmark = pytest.mark.integration
NOW = datetime.now(UTC)


def fill_ledger(url: str) -> None:
    ledger = DeliveryLedger(url)
    try:
        old, recent = NOW - timedelta(hours=3), NOW - timedelta(minutes=5)
        for n, when in enumerate((old, recent, recent)):
            due = reminder(reminder_id=f"r-sent-{n}")
            ledger.claim(due, Channel.SMS, when)
            ledger.finish(due.reminder_id, Channel.SMS, LedgerState.SENT, when)
        for n, when in enumerate((old, recent, recent)):
            due = reminder(reminder_id=f"r-failed-{n}")
            ledger.claim(due, Channel.EMAIL, when)
            reason = "550 mailbox jane@example.com unknown"
            ledger.finish(due.reminder_id, Channel.EMAIL, LedgerState.FAILED, when, reason)
        ledger.record(
            reminder(reminder_id="r-skip"), Channel.SMS, LedgerState.SKIPPED, "no consent", recent
        )
    finally:
        ledger.close()


def fill_outbox(url: str, pending: int, published: int) -> None:
    engine = create_engine(url)
    booking_metadata.create_all(engine)
    rows = [
        {
            "event_id": f"e{n}",
            "key": "dr-jenny:p-42",
            "topic": "clinic.bookings.v1",
            "payload": "{}",
            "created_at": NOW,
            "published_at": NOW if n < published else None,
        }
        for n in range(pending + published)
    ]
    with engine.begin() as conn:
        conn.execute(insert(outbox), rows)
    engine.dispose()


def test_ledger_counts_and_outbox_backlog_read_both_databases(database_url: str) -> None:
    fill_ledger(database_url)
    fill_outbox(database_url, pending=4, published=2)

    counts = delivery_counts(database_url, NOW - timedelta(hours=1))

    assert counts.all == {"sent": {"sms": 3}, "failed": {"email": 3}, "skipped": {"sms": 1}}
    assert counts.recent == {"sent": {"sms": 2}, "failed": {"email": 2}, "skipped": {"sms": 1}}
    assert counts.failures == [("email", "550 mailbox jane@example.com unknown", 2)]
    assert outbox_backlog(database_url) == 4


def test_a_missing_sqlite_database_is_reported_and_not_created(tmp_path: Path) -> None:
    with pytest.raises(StoreUnavailable, match="no database"):
        outbox_backlog(f"sqlite:///{tmp_path}/booking.db")
    assert not (tmp_path / "booking.db").exists()


STATS = {
    "pending": 12,
    "due_soon": 3,
    "counted": [0, 1, 2, 3],
    "partitions_total": 4,
    "worker": {"id": "1", "url": "http://127.0.0.1:6066", "instance": "i-1"},
}


class StatsView(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        known = self.path == "/reminders/stats"
        body = json.dumps(STATS).encode() if known else b"{}"
        self.send_response(200 if known else 404)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def stats_port() -> Iterator[int]:
    server = HTTPServer(("127.0.0.1", 0), StatsView)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


def commit(bootstrap: str, group: str, topic: str, partition: int, offset: int) -> None:
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False)
    tp = TopicPartition(topic, partition)
    consumer.assign([tp])
    consumer.commit({tp: OffsetAndMetadata(offset, "", -1)})
    consumer.close()


def produce_batch(bootstrap: str, topic: str, partition: int, count: int) -> None:
    producer = KafkaProducer(bootstrap_servers=bootstrap, linger_ms=200)
    for n in range(count):
        producer.send(topic, value=f"r{n}".encode(), partition=partition)
    producer.flush()
    producer.close()


@pytest.fixture
def platform(
    ops_env: Path,
    broker: EmbeddedBroker,
    topics: Topics,
    group_id: str,
    stats_port: int,
    monkeypatch: pytest.MonkeyPatch,
) -> str:
    """Five records batched on due/0 (the notifier committed 2), ledger and outbox filled."""
    ops_env.mkdir(parents=True)
    fill_ledger(f"sqlite:///{ops_env}/notifier.db")
    fill_outbox(f"sqlite:///{ops_env}/booking.db", pending=1, published=3)
    produce_batch(broker.bootstrap, topics.due, 0, 5)
    commit(broker.bootstrap, group_id, topics.due, 0, 2)
    commit(broker.bootstrap, f"{topics.prefix}clinic-reminders", topics.bookings, 1, 0)
    monkeypatch.setenv("CLINIC_CONSUMER_GROUP", group_id)
    monkeypatch.setenv("CLINIC_WORKER_WEB_PORT", str(stats_port))
    return group_id


def test_status_json_gives_every_part_with_exact_lag(
    platform: str, topics: Topics, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["status", "--json"]) == 0
    status = json.loads(capsys.readouterr().out)

    assert status["broker_reachable"] is True
    assert [t["name"] for t in status["topics"]] == topics.all()
    due = next(t for t in status["topics"] if t["name"] == topics.due)
    assert due["partitions"] == 4 and due["end_offsets"]["0"] == 5
    lags = {(row["group"], row["partition"]): row["lag"] for row in status["lag"]}
    assert lags == {(platform, 0): 3, (f"{topics.prefix}clinic-reminders", 1): 0}
    assert status["deliveries"]["recent"]["failed"] == {"email": 2}
    assert status["outbox_backlog"] == 1
    assert status["worker"]["pending"] == 12 and status["worker"]["due_soon"] == 3


def test_status_screen_shows_tables_masks_reasons_and_says_unknown_without_a_view(
    platform: str,
    topics: Topics,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("CLINIC_WORKER_WEB_PORT", str(free_port()))
    assert main(["status"]) == 0
    out = capsys.readouterr().out

    assert "reachable" in out and topics.due in out
    assert "failures in the last hour" in out and "j***@example.com" in out
    assert "jane@example.com" not in out
    assert "reminders pending" in out and "unknown" in out


def test_status_with_no_broker_exits_1_and_still_shows_the_ledger(
    platform: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("CLINIC_BOOTSTRAP_SERVERS", f"127.0.0.1:{free_port()}")
    assert main(["status", "--json"]) == 1
    status = json.loads(capsys.readouterr().out)
    assert status["broker_reachable"] is False and status["topics"] == []
    assert status["deliveries"]["all"]["sent"] == {"sms": 3}
    assert any("no Kafka broker answered" in note for note in status["notes"])
