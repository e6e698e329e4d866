"""The token bucket every notifier replica shares, on a fake clock and an in-memory store."""

from __future__ import annotations

import pytest
from sqlalchemy.exc import OperationalError

from services.notifier.exceptions import RetryableSendError
from services.notifier.senders.rate_buckets import BucketState, Rate, reserve
from services.notifier.senders.ratelimit import HOLD_SECONDS, SharedTokenBucket


class FakeTime:
    def __init__(self) -> None:
        self.now = 1_000.0

    def wall(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


class MemoryBuckets:
    """The rows of :class:`RateBuckets` in a dict, counting the transactions."""

    def __init__(self) -> None:
        self.rows: dict[str, BucketState] = {}
        self.transactions = 0

    def reserve(self, sender: str, tokens: float, rate: Rate, now: float) -> float:
        self.transactions += 1
        state = self.rows.get(sender, BucketState(rate.burst, now))
        self.rows[sender], ready = reserve(state, tokens, rate, now)
        return ready


class Unreachable:
    def reserve(self, sender: str, tokens: float, rate: Rate, now: float) -> float:
        raise OperationalError("SELECT ...", {}, Exception("connection refused\nat line 2"))


def test_a_reservation_follows_the_token_buckets_rule() -> None:
    rate = Rate(per_second=1.0, burst=2)
    state, readies = BucketState(2, 0.0), []
    for _ in range(4):
        state, ready = reserve(state, 1, rate, 0.0)
        readies.append(ready)
    assert readies == [0.0, 0.0, 1.0, 2.0]  # promised in turn, each a second after the last


def test_more_than_the_burst_waits_for_a_full_bucket_and_leaves_a_debt() -> None:
    rate = Rate(per_second=1.0, burst=1)
    state, ready = reserve(BucketState(1, 0.0), 3, rate, 0.0)
    assert ready == 0.0 and state == BucketState(-2, 0.0)
    assert reserve(state, 1, rate, 0.0)[1] == 3.0


def test_two_replicas_on_one_bucket_send_at_the_rate_together() -> None:
    time, store = FakeTime(), MemoryBuckets()
    rate = Rate(per_second=20, burst=5)
    replicas = [
        SharedTokenBucket(store, "twilio:+44", rate, wall=time.wall, sleep=time.sleep)
        for _ in range(2)
    ]
    sent_at: list[float] = []
    for i in range(200):
        replicas[i % 2].take()
        sent_at.append(time.now)
    assert sent_at[-1] - sent_at[0] == pytest.approx((200 - 5) / 20, abs=0.3)
    for start in sent_at:  # never more than the burst and a second's rate within a second
        assert sum(start <= at < start + 1 for at in sent_at) <= 5 + 20


def test_a_replica_reserves_a_slice_of_tokens_at_a_time() -> None:
    time, store = FakeTime(), MemoryBuckets()
    bucket = SharedTokenBucket(
        store, "twilio:+44", Rate(per_second=20, burst=5), wall=time.wall, sleep=time.sleep
    )
    for _ in range(100):
        bucket.take()
    assert store.transactions == 20  # a quarter of a second's worth (5) per transaction


def test_the_slice_is_never_more_than_the_burst() -> None:
    time, store = FakeTime(), MemoryBuckets()
    bucket = SharedTokenBucket(
        store, "twilio:+44", Rate(per_second=100, burst=1), wall=time.wall, sleep=time.sleep
    )
    assert [bucket.take() for _ in range(3)] == pytest.approx([0.0, 0.01, 0.01])
    assert store.transactions == 3


def test_tokens_of_a_slice_left_unused_are_given_up_after_a_while() -> None:
    time, store = FakeTime(), MemoryBuckets()
    bucket = SharedTokenBucket(
        store, "twilio:+44", Rate(per_second=20, burst=5), wall=time.wall, sleep=time.sleep
    )
    bucket.take()
    time.now += HOLD_SECONDS + 0.1
    bucket.take()
    assert store.transactions == 2


def test_a_long_text_spends_what_is_held_and_reserves_one_slice_more() -> None:
    time, store = FakeTime(), MemoryBuckets()
    bucket = SharedTokenBucket(
        store, "twilio:+44", Rate(per_second=20, burst=5), wall=time.wall, sleep=time.sleep
    )
    bucket.take()  # a slice of 5 reserved, 4 held
    assert bucket.take(6) == pytest.approx(0.25)  # 4 held and the next slice of 5
    assert bucket.take(3) == 0.0  # what was left of it
    assert store.transactions == 2


def test_senders_have_buckets_of_their_own() -> None:
    time, store = FakeTime(), MemoryBuckets()
    rate = Rate(per_second=1, burst=1)
    first = SharedTokenBucket(store, "twilio:+441", rate, wall=time.wall, sleep=time.sleep)
    second = SharedTokenBucket(store, "twilio:+442", rate, wall=time.wall, sleep=time.sleep)
    assert (first.take(), second.take()) == (0.0, 0.0)


def test_a_database_out_of_reach_is_a_retryable_failure_with_nothing_sent() -> None:
    bucket = SharedTokenBucket(Unreachable(), "twilio:+44", Rate(per_second=1, burst=1))
    with pytest.raises(RetryableSendError, match=r"rate bucket twilio:\+44 unreachable: "):
        bucket.take()
