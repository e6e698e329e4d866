"""The in-memory due-time index: what it lists early, against a plain scan."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from services.reminders.schedule.due_index import DueIndex

entries = st.lists(
    st.tuples(st.integers(0, 3), st.integers(0, 50), st.sampled_from("abcdefgh")), max_size=60
)


@given(entries, st.integers(-1, 55), st.integers(0, 3), st.integers(0, 50))
def test_listed_until_and_first_bucket_agree_with_a_scan(
    added: list[tuple[int, int, str]], until: int, taken_partition: int, taken_until: int
) -> None:
    index = DueIndex()
    for partition, bucket, key in added:
        index.add(partition, bucket, key)
    taken = index.take_due(taken_partition, taken_until)
    left = [(p, b, k) for p, b, k in added if not (p == taken_partition and b <= taken_until)]
    gone = {k for p, b, k in added if p == taken_partition and b <= taken_until}
    assert sorted(taken) == sorted(gone)  # each key once, however many of its buckets
    assert len(index) == len(set(left))  # a key listed twice in one bucket counts once
    assert sorted(index.listed_until(until)) == sorted({k for _, b, k in left if b <= until})
    assert index.first_bucket() == min((b for _, b, _ in left), default=None)
