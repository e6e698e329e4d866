"""The senders' shared buckets on the real databases: one row per sender, reserved in turn."""

from __future__ import annotations

import threading

import pytest

from services.notifier.senders.rate_buckets import Rate, RateBuckets

pytestmark = pytest.mark.integration

NOW = 1_000.0


def test_replicas_reserving_at_once_are_given_one_instant_each(database_url: str) -> None:
    replicas = [RateBuckets(database_url) for _ in range(2)]
    rate = Rate(per_second=10, burst=1)
    replicas[0].reserve("twilio:+44", 1, rate, NOW)  # the row made before the race
    readies: list[float] = []

    def reserve_many(store: RateBuckets) -> None:
        for _ in range(40):
            readies.append(store.reserve("twilio:+44", 1, rate, NOW))

    threads = [threading.Thread(target=reserve_many, args=(replicas[i % 2],)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for store in replicas:
        store.close()
    # Every reservation saw the one before it: a tenth of a second apart, none shared.
    assert sorted(readies) == pytest.approx([NOW + (i + 1) / 10 for i in range(160)])


def test_a_bucket_outlives_the_replica_that_reserved(database_url: str) -> None:
    rate = Rate(per_second=2, burst=2)
    first = RateBuckets(database_url)
    assert first.reserve("twilio:+44", 5, rate, NOW) == NOW  # a full bucket, then 3 owed
    first.close()
    later = RateBuckets(database_url)
    assert later.reserve("twilio:+44", 1, rate, NOW) == NOW + 2.0
    assert later.reserve("twilio:MG1", 1, rate, NOW) == NOW  # another sender, its own row
    later.close()
