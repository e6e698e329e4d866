"""``python -m bench.floor_worker``: the worker's framework floor, as issue 30 defines it.

A Faust agent that reads the same booking events from the same topic and
partitions, decodes the same JSON, and writes one table value of the same size
per event (``FLOOR_VALUE_BYTES``) to a RocksDB store with its changelog. No plan,
no due index, no ticks. Two kinds (``FLOOR_KIND``):

- ``bare``: Faust as it comes: its RocksDB store, its table, its transport and
  producer settings, its agent taking one event at a time. This is the floor
  the worker's throughput figure is judged against. On the embedded broker it
  takes the worker's transport, which reads Tansu's end offsets right: stock
  Faust reads them short and stops at start (``ConsistencyError``).
- ``tuned``: Faust as the worker runs it: the worker's shared-cache store, its
  changelog held to the end of a batch, its transport, batches and producer
  settings. What the worker's own planning costs shows against this one.

It reads the same
settings as the worker (``CLINIC_BOOTSTRAP_SERVERS``, ``CLINIC_TOPIC_PREFIX``,
``CLINIC_VAR_DIR``, ``CLINIC_PARTITIONS``, ``CLINIC_WORKER_WEB_PORT``) and says
"floor worker ready, partitions [...]" as the worker says it is ready.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import faust
from faust.types import EventT

from services.reminders.worker.app import PRODUCER_OPTIONS, ROCKSDB_OPTIONS
from services.reminders.worker.batches import BATCH_MAX
from services.reminders.worker.changelog import held_changelog_table
from services.reminders.worker.faust_patches import SHARED_STORE, one_by_one, use_worker_transport
from services.shared.events import BookingEvent, decode
from services.shared.topics import Topics


class FloorWorker(faust.Worker):
    """Says when it is ready, in the words the bench waits for."""

    async def on_startup_finished(self) -> None:
        await super().on_startup_finished()
        held = sorted(tp.partition for tp in self.app.consumer.assignment())
        print(f"floor worker ready, partitions {sorted(set(held))}", flush=True)


def create_app() -> faust.App:
    prefix = os.environ.get("CLINIC_TOPIC_PREFIX", "")
    partitions = int(os.environ.get("CLINIC_PARTITIONS", "4"))
    size = int(os.environ["FLOOR_VALUE_BYTES"])
    tuned = os.environ.get("FLOOR_KIND", "bare") == "tuned"
    bootstrap = os.environ.get("CLINIC_BOOTSTRAP_SERVERS", "127.0.0.1:9092")
    app = faust.App(
        f"{prefix}clinic-reminders",  # the worker's id: the same changelog topic's name
        broker=";".join(f"kafka://{a.strip()}" for a in bootstrap.split(",")),
        store=f"{SHARED_STORE}://" if tuned else "rocksdb://",
        datadir=str(Path(os.environ.get("CLINIC_VAR_DIR", "var")) / "floor"),
        web_port=int(os.environ.get("CLINIC_WORKER_WEB_PORT", "6066")),
        web_host="127.0.0.1",
        web_bind="127.0.0.1",
        topic_partitions=partitions,
        topic_disable_leader=True,
        processing_guarantee="at_least_once",
        consumer_auto_offset_reset="earliest",
        table_standby_replicas=0,
        **(PRODUCER_OPTIONS if tuned else {}),
    )
    raw: faust.Schema[bytes, bytes] = faust.Schema(
        key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw"
    )
    bookings = app.topic(Topics(prefix).bookings, schema=raw, partitions=partitions)
    options: dict[str, Any] = {
        "partitions": partitions,
        "key_type": str,
        "value_type": bytes,
        "options": dict(ROCKSDB_OPTIONS),
    }
    value = b"x" * size

    def write(event: EventT[Any], table: Any) -> None:
        key = event.key
        assert isinstance(key, bytes)
        decode(BookingEvent, event.value)
        table[key.decode()] = value

    on_tansu = os.environ.get("CLINIC_ON_TANSU", "true") == "true"
    if on_tansu or tuned:  # stock Faust misreads Tansu's end offsets and cannot recover there
        use_worker_transport(app, exact_ends=on_tansu)
    if not tuned:
        table = app.Table("patients", **options)

        @app.agent(bookings, name="floor")
        async def bare(stream: faust.StreamT[Any]) -> None:
            async for event in stream.events():
                write(event, table)

        return app

    app.producer.buffer.max_messages = 2 * BATCH_MAX  # as the worker: room for two batches
    held = held_changelog_table(app, "patients", **options)

    @app.agent(bookings, name="floor")
    async def floor(stream: faust.StreamT[Any]) -> None:
        async for event in one_by_one(stream, held):
            write(event, held)

    return app


def main() -> None:
    logging.basicConfig(level=logging.WARNING)  # Faust's own warnings and a crash, in its log
    worker = FloorWorker(create_app(), override_logging=False, redirect_stdouts=False)
    worker.spinner = None
    worker.execute_from_commandline()


if __name__ == "__main__":
    main()
