"""Figure: SMS handed to a Twilio-compatible server that answers each message after 100 ms.

The server runs in a process of its own (it would otherwise share the
notifier's interpreter lock); the notifier sends through the real twilio
client, ``CONCURRENCY`` messages in flight. The baseline is what that many in
flight would give if nothing but the server's delay took time.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

from bench.kafka_io import produce
from bench.notifier_figure import NOW, assigned_consumer, due_records
from bench.result import Figure
from bench.stack import PARTITIONS
from services.notifier.bootstrap import notifier
from services.notifier.delivery.ledger import DeliveryLedger
from services.notifier.delivery.ledger_reads import LedgerReads
from services.notifier.settings import NotifierSettings
from services.shared.clock import ScaledClock
from services.shared.events import Channel, ReminderDue, decode, encode
from services.shared.topics import Topics, ensure_topics

DELAY = 0.1
CONCURRENCY = 100
TARGET = 500.0


def run(bootstrap: str, var_dir: Path, count: int) -> Figure:
    """Deliver ``count`` SMS reminders, one per patient (a burst at a fixed hour), through
    the delayed server; messages a second."""
    topics = Topics(f"bench-twilio-{int(time.time())}.")
    records = [(key, _sms_only(value)) for key, value in due_records(count, per_patient=1)[0]]
    with _server(DELAY) as base_url:
        settings = NotifierSettings(
            bootstrap_servers=bootstrap,
            topic_prefix=topics.prefix,
            var_dir=var_dir / "twilio",
            default_quiet_hours="",
            sms_provider="twilio",
            twilio_account_sid="AC" + "0" * 32,
            twilio_auth_token="bench-token",
            twilio_from_number="+447700900001",
            twilio_api_base_url=base_url,
            sms_rate_per_second=100_000,
            sms_burst=100_000,
            notifier_concurrency=CONCURRENCY,
        )
        with contextlib.suppress(FileExistsError):
            settings.var_dir.mkdir(parents=True)
        ensure_topics(bootstrap, topics.all(), PARTITIONS)
        produce(bootstrap, topics.due, records)
        rate, ended = _send_all(settings, len(records))
    ideal = CONCURRENCY / DELAY
    return Figure(
        "twilio-100ms",
        rate,
        "messages/s",
        ideal,
        "in-flight/delay",
        target=f">= {TARGET:.0f} messages/s",
        met=rate >= TARGET,
        extra={
            "messages": len(records),
            "in_flight": CONCURRENCY,
            "delay_s": DELAY,
            "not_sent": len(records) - ended.get("sent", 0),
        },
    )


def _sms_only(value: bytes) -> bytes:
    due = decode(ReminderDue, value)
    return encode(due.model_copy(update={"channels": (Channel.SMS,)}))


def _send_all(settings: NotifierSettings, messages: int) -> tuple[float, dict[str, int]]:
    """Messages sent a second, and how many ended in each state."""
    consumer = assigned_consumer(settings)
    stop = threading.Event()
    ledger = DeliveryLedger(settings.database_url)
    with notifier(settings, ScaledClock(scale=1.0, start=NOW), stop, consumer) as loop:
        thread = threading.Thread(target=loop.run, args=(stop,), daemon=True)
        began = time.perf_counter()
        thread.start()
        deadline = time.monotonic() + 600
        while sum((counts := _finished(ledger)).values()) < messages:
            if time.monotonic() > deadline:
                raise TimeoutError(f"fewer than {messages} finished after 600 s: {counts}")
            time.sleep(0.05)
        took = time.perf_counter() - began
        stop.set()
        thread.join(timeout=30)
    ledger.close()
    return counts.get("sent", 0) / took, counts


def _finished(ledger: DeliveryLedger) -> dict[str, int]:
    counts = LedgerReads(ledger.engine).count_by_state()
    return {state: n for state, n in counts.items() if state not in ("sending", "pending")}


@contextlib.contextmanager
def _server(delay: float):  # type: ignore[no-untyped-def]
    """The Twilio-compatible server in a child process; yields its base URL."""
    child = subprocess.Popen(
        [sys.executable, "-m", "bench.twilio_figure", "serve", str(delay)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)},
    )
    try:
        assert child.stdout is not None
        yield child.stdout.readline().strip()
    finally:
        if child.stdin is not None:
            child.stdin.close()
        child.wait(timeout=10)


def _serve(delay: float) -> None:
    from tests.support.twilio_server import TwilioServer

    with TwilioServer(delay=delay) as server:
        print(server.base_url, flush=True)
        sys.stdin.read()  # until the parent closes it


if __name__ == "__main__" and sys.argv[1:2] == ["serve"]:
    _serve(float(sys.argv[2]))
