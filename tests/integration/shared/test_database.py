"""Tables made at start on the real PostgreSQL, by replicas starting at the same moment."""

from __future__ import annotations

import threading

import pytest

from services.notifier.delivery import ledger
from services.notifier.patients import registry
from services.shared.database import create_tables, make_engine

pytestmark = pytest.mark.integration


def test_replicas_starting_together_on_a_fresh_database_all_find_their_tables(
    postgres_schema_url: str,
) -> None:
    engines = [make_engine(postgres_schema_url) for _ in range(4)]
    together = threading.Barrier(len(engines))
    failures: list[Exception] = []

    def start(engine_index: int) -> None:
        together.wait()
        try:
            for metadata in (ledger.metadata, registry.metadata):
                create_tables(metadata, engines[engine_index])
        except Exception as exc:
            failures.append(exc)

    threads = [threading.Thread(target=start, args=(i,)) for i in range(len(engines))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for engine in engines:
        engine.dispose()
    assert failures == []
