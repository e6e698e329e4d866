"""The reminders workers' registry: where each worker's views answer.

A worker writes one record to ``clinic.reminders.workers.v1`` once its tables
are recovered, keyed by its web address (UTF-8), and a tombstone (no value)
under the same key when it stops cleanly. The topic is compacted, so it keeps
one record per address. The ops tools read it to find every worker and ask each
for its part. A registration says only where to ask, never what a worker holds:
partitions move at every rebalance, so that is asked each time (each answer
names the partitions it covers).

A worker killed without stopping leaves its record; asking it fails at once
(or after the ops tools' timeout, for a host that is gone), and the answers of
the others still cover its partitions once they have taken them over.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from services.shared.events import SCHEMA_VERSION, Frozen, UtcDatetime

WorkerUrl = Annotated[str, Field(pattern=r"^https?://[A-Za-z0-9._\[\]:-]+/?$", max_length=300)]
"""``http(s)://host:port`` and nothing more: the ops tools send the worker's token there,
so no other scheme, path or credentials."""


class WorkerRegistered(Frozen):
    """Worker ``worker_id`` serves its views at ``url`` (``http://host:port``)."""

    type: Literal["worker.registered"] = "worker.registered"
    schema_version: Literal[1] = SCHEMA_VERSION
    worker_id: str
    url: WorkerUrl
    registered_at: UtcDatetime
