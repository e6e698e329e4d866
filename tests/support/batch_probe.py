"""``python -m tests.support.batch_probe``: a Faust agent reading through ``one_by_one``.

It handles ``PROBE_COUNT`` events of ``PROBE_TOPIC`` the way the reminders
worker does: the worker's consumer, each event made current in turn, a table
write per event (its changelog records held and sent once per batch), and
every ``PROBE_AWAIT_EVERY``-th event awaiting the loop mid-batch (as a tick
does while its due reminders are sent). Its stream buffer is small, so the
consumer often finds it full and its deliveries wait. It then writes what it
saw to ``PROBE_RESULT`` (JSON: how many times each value was handled, and how
many deliveries waited) and exits.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections import Counter
from pathlib import Path
from typing import cast

import faust

from services.reminders.worker.batches import one_by_one
from services.reminders.worker.changelog import held_changelog_table
from services.reminders.worker.transport import EagerConsumer, use_worker_transport

TOPIC = os.environ["PROBE_TOPIC"]
COUNT = int(os.environ["PROBE_COUNT"])
AWAIT_EVERY = int(os.environ.get("PROBE_AWAIT_EVERY", "40"))
RESULT = Path(os.environ["PROBE_RESULT"])

app = faust.App(
    f"{TOPIC}-probe",
    broker=f"kafka://{os.environ['PROBE_BOOTSTRAP']}",
    store="memory://",
    web_enabled=False,
    topic_partitions=4,
    consumer_auto_offset_reset="earliest",
    datadir=str(RESULT.parent / "probe-data"),
    broker_session_timeout=6.0,  # as the worker: the broker settles its group sooner
    broker_heartbeat_interval=1.0,
    stream_buffer_maxsize=32,  # full often: deliveries wait for room
)
use_worker_transport(app, exact_ends=True)
raw: faust.Schema[bytes, bytes] = faust.Schema(
    key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw"
)
source = app.topic(TOPIC, schema=raw, partitions=4)
written = held_changelog_table(app, "written", partitions=4, key_type=str, value_type=int)
handled: Counter[str] = Counter()
handled_total = 0  # events handled, repeats included


@app.agent(source)
async def probe(stream: faust.StreamT[bytes]) -> None:
    global handled_total
    async for event in one_by_one(stream, written):
        value = (event.message.value or b"").decode()
        handled[value] += 1
        handled_total += 1
        written[value] = event.message.partition  # lands on the current event's partition
        if int(value) % AWAIT_EVERY == 0:
            await asyncio.sleep(0.001)
        if handled_total == COUNT:
            await written.send_held()  # this batch's records, before the batch ends
            await app.producer.buffer.flush()  # every table write acknowledged first
            await app.producer.flush()
            waited = cast(EagerConsumer, app.consumer).deliveries_waited
            RESULT.write_text(json.dumps({"handled": handled, "waited": waited}))
            print("probe done", flush=True)


if __name__ == "__main__":
    sys.argv[1:] = ["worker", "--loglevel", "warn", "--without-web"]
    app.main()
