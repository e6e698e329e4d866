"""Every place the worker reaches past Faust's public API, in one list.

Written against the versions in :data:`PINNED`; a test fails when an installed
version differs and names :data:`PATCHES` to re-check against the new code.
Each patch lives beside what it serves (its module gives the reasons); the
worker takes them from here, and ``create_app`` installs them before the app
starts.
"""

from __future__ import annotations

from services.reminders.worker.batches import one_by_one
from services.reminders.worker.recovery import use_checked_recovery
from services.reminders.worker.store import SCHEME as SHARED_STORE
from services.reminders.worker.transport import use_worker_transport

PINNED = {"faust-streaming": "0.15.3", "aiokafka": "0.14.0"}
PATCHES = (
    "transport.py EagerConsumer._drain_messages restates "
    "faust.transport.consumer.Consumer._drain_messages (a delivery raced only when it waits)",
    "transport.py ExactEndsConsumer.highwaters corrects the end offsets aiokafka reports on Tansu",
    "transport.py use_worker_transport replaces app.transport",
    "batches.py one_by_one sets faust.streams._current_event (private) for each event of a batch",
    "recovery.py CheckedRecovery._build_offsets extends faust.tables.recovery.Recovery, "
    "and use_checked_recovery replaces app.tables._recovery (private)",
    "store.py SharedBudgetOptions.as_options restates the block-based table options of "
    "faust.stores.rocksdb.RocksDBOptions.as_options, and registers in faust.stores.STORES",
)

__all__ = [
    "PATCHES",
    "PINNED",
    "SHARED_STORE",
    "one_by_one",
    "use_checked_recovery",
    "use_worker_transport",
]
