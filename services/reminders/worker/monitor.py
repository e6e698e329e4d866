"""Faust's monitor, keeping per event only what Faust itself reads back.

Faust calls its monitor several times per event (message in and out, stream
event in and out, table get and set, send started and done), and the default
one keeps counters, timings and rolling lists of each. The worker reports its
own figures (``/metrics``, ``/reminders/stats``), so it keeps one of those per
event: when each partition's stream last took an event, which Faust's
consumer reads to tell a stalled stream from an idle one. The rest of the
monitor (commits, rebalances, end offsets) is Faust's own and stays.
"""

from __future__ import annotations

from time import monotonic
from typing import Any

from faust.sensors.monitor import Monitor
from faust.types import TP, CollectionT, EventT, Message, StreamT
from faust.types.transports import ProducerT
from faust.types.tuples import PendingMessage, RecordMetadata


class WorkerMonitor(Monitor):
    """A monitor whose per-event calls note only the stream's last inbound time."""

    def on_message_in(self, tp: TP, offset: int, message: Message) -> None:
        pass

    def on_stream_event_in(
        self, tp: TP, offset: int, stream: StreamT[Any], event: EventT[Any]
    ) -> dict[str, Any] | None:
        self.stream_inbound_time[tp] = monotonic()
        return None

    def on_stream_event_out(
        self,
        tp: TP,
        offset: int,
        stream: StreamT[Any],
        event: EventT[Any],
        state: dict[str, Any] | None = None,
    ) -> None:
        pass

    def on_message_out(self, tp: TP, offset: int, message: Message) -> None:
        pass

    def on_table_get(self, table: CollectionT, key: Any) -> None:
        pass

    def on_table_set(self, table: CollectionT, key: Any, value: Any) -> None:
        pass

    def on_send_initiated(
        self,
        producer: ProducerT,
        topic: str,
        message: PendingMessage,
        keysize: int,
        valsize: int,
    ) -> Any:
        return None

    def on_send_completed(self, producer: ProducerT, state: Any, metadata: RecordMetadata) -> None:
        pass
