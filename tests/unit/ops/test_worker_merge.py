"""Several reminders workers' answers made one: right totals, or unknown with the reason."""

from __future__ import annotations

import json
from typing import Any

import pytest

from services.ops.records import Record
from services.ops.web.worker import plan_of
from services.ops.worker_merge import merge_counts
from services.ops.worker_registry import registered
from services.ops.worker_stats import Reply, WorkerShare, share_of
from services.shared.events import encode
from services.shared.workers import WorkerRegistered
from tests.unit.reminders.factories import BOOKED_AT

A, B, C = "http://worker-a:6066", "http://worker-b:6066", "http://worker-c:6066"
IDS = {A: "1", B: "2", C: "3"}


def share(url: str, counted: list[int], pending: int = 0, due: int = 0, **more: Any) -> WorkerShare:
    instance = more.pop("instance", url)
    return WorkerShare(url, IDS[url], instance, tuple(counted), 4, pending, due, **more)


def down(url: str) -> WorkerShare:
    return WorkerShare(url, note=f"{url}/reminders/stats not readable: connection refused")


def test_one_worker_holding_every_partition_gives_its_own_counts() -> None:
    merged = merge_counts([share(A, [0, 1, 2, 3], pending=12, due=3)])
    assert (merged.pending, merged.due_soon, merged.note) == (12, 3, None)


def test_two_workers_splitting_the_partitions_are_added_up() -> None:
    merged = merge_counts([share(A, [0, 2], 7, 1), share(B, [1, 3], 5, 2)])
    assert (merged.pending, merged.due_soon, merged.note) == (12, 3, None)
    assert [w.url for w in merged.workers] == [A, B]


def test_one_worker_asked_at_two_addresses_is_counted_once() -> None:
    """The configured address and the registered one are the same process."""
    merged = merge_counts([share(A, [0, 1, 2, 3], 9, 1), share(B, [0, 1, 2, 3], 9, 1, instance=A)])
    assert (merged.pending, merged.note) == (9, None)


def test_a_partition_counted_by_two_workers_makes_the_total_unknown() -> None:
    """Mid-rebalance: the old owner still counts partition 1 and the new one already does."""
    merged = merge_counts([share(A, [0, 1], 7, 1), share(B, [1, 2, 3], 8, 2)])
    assert merged.pending is None and merged.due_soon is None
    assert merged.note is not None
    assert f"partition 1 is counted by worker 1 at {A} and worker 2 at {B}" in merged.note
    assert "moving between them" in merged.note


def test_a_dead_workers_partitions_make_the_total_unknown_and_say_what_is_known() -> None:
    merged = merge_counts([share(A, [0, 2], 7, 1), down(B)])
    assert merged.pending is None
    assert merged.note == (
        "partitions 1 and 3 are not counted by any worker that answered (one is down, "
        "starting, or taking them over); partitions 0 and 2 hold 7 pending, 1 due within "
        f"the hour; {B}/reminders/stats not readable: connection refused"
    )


def test_a_dead_workers_registration_is_harmless_once_others_took_its_partitions() -> None:
    merged = merge_counts([share(A, [0, 2], 7, 1), down(B), share(C, [1, 3], 4, 0)])
    assert (merged.pending, merged.due_soon, merged.note) == (11, 1, None)
    assert [w.note is None for w in merged.workers] == [True, True, False]


def test_a_worker_between_partitions_counts_for_nothing() -> None:
    """Its counts still hold a partition taken away, so it stands for none (``counted`` [])."""
    merged = merge_counts([share(A, [], 99, 9), share(B, [0, 1, 2, 3], 12, 3)])
    assert (merged.pending, merged.due_soon) == (12, 3)
    alone = merge_counts([share(A, [], 99, 9)])
    assert alone.pending is None and alone.note is not None
    assert "partitions 0, 1, 2 and 3 are not counted" in alone.note
    assert "no partition is counted yet" in alone.note


def test_no_worker_answering_is_said_with_each_reason() -> None:
    merged = merge_counts([down(A), down(B)])
    assert merged.pending is None
    assert merged.note == "; ".join(
        [
            "no reminders worker answered",
            f"{A}/reminders/stats not readable: connection refused",
            f"{B}/reminders/stats not readable: connection refused",
        ]
    )


def test_an_answer_that_names_no_partitions_is_not_added_up() -> None:
    """A worker older than the ops tools: its number may be any share of the whole."""
    old = share_of(A, Reply(A + "/reminders/stats", 200, {"pending": 12, "due_next_hour": 3}))
    assert (
        old.note
        == f"{A}/reminders/stats does not say which partitions it counts (an older worker?)"
    )
    assert merge_counts([old]).pending is None


def test_a_stats_answer_is_read_with_its_share() -> None:
    body = {
        "pending": 5,
        "due_next_hour": 2,
        "counted": [3, 1],
        "partitions_total": 4,
        "worker": {"id": "2", "url": B, "instance": "i-2"},
    }
    read = share_of(B, Reply(B + "/reminders/stats", 200, body))
    assert read == WorkerShare(B, "2", "i-2", (1, 3), 4, 5, 2)


def part(url: str, counted: list[int]) -> dict[str, Any]:
    return {"worker": {"id": IDS[url], "url": url, "instance": url}, "counted": counted}


def reply(url: str, status: int, counted: list[int], **body: Any) -> Reply:
    return Reply(url + "/reminders/bookings/bk-1", status, {**body, **part(url, counted)})


def test_a_plan_is_taken_from_the_worker_that_holds_it() -> None:
    replies = [reply(A, 404, [0, 2], partitions_total=4), reply(B, 200, [1, 3], pending=[1])]
    answer = plan_of([A, B], replies)
    assert answer.body is not None and answer.body["pending"] == [1]


def test_a_plan_found_nowhere_is_absent_only_when_every_partition_was_looked_in() -> None:
    both = [reply(A, 404, [0, 2], partitions_total=4), reply(B, 404, [1, 3], partitions_total=4)]
    assert plan_of([A, B], both).absent

    gone = Reply(B + "/reminders/bookings/bk-1", note="connection refused")
    answer = plan_of([A, B], [both[0], gone])
    assert not answer.absent and answer.note is not None
    assert answer.note.startswith("the plan is not known: partitions 1 and 3 are not counted")
    assert answer.note.endswith("; connection refused")


def test_a_plan_is_still_shown_when_another_worker_is_down() -> None:
    gone = Reply(A + "/reminders/bookings/bk-1", note="connection refused")
    answer = plan_of([A, B], [gone, reply(B, 200, [1, 3], pending=[])])
    assert answer.body is not None and answer.note is None


def registration(url: str, worker_id: str = "1") -> bytes:
    return encode(WorkerRegistered(worker_id=worker_id, url=url, registered_at=BOOKED_AT))


def record(offset: int, key: str, value: bytes | None) -> Record:
    return Record("clinic.reminders.workers.v1", 0, offset, None, key.encode(), value)


def test_the_registry_keeps_each_addresses_last_record_and_drops_tombstones() -> None:
    records = [
        record(0, A, registration(A)),
        record(1, B, registration(B, "2")),
        record(2, C, registration(C, "3")),
        record(3, B, None),
        record(4, C, b"not a registration"),
        record(5, A, registration(A, "1b")),
    ]
    assert registered(records) == [A]


@pytest.mark.parametrize(
    "url",
    ["file:///etc/passwd", "gopher://10.0.0.1:70", "http://user:pw@evil.example",
     "http://10.0.0.1:6066/steal?x=", "javascript:alert(1)"],
)  # fmt: skip
def test_a_registration_that_is_not_a_plain_http_address_is_not_asked(url: str) -> None:
    """The ops tools send the worker's bearer token to each address registered."""
    odd = json.dumps({"type": "worker.registered", "schema_version": 1, "worker_id": "9",
                      "url": url, "registered_at": BOOKED_AT.isoformat()}).encode()  # fmt: skip
    assert registered([record(0, A, registration(A)), record(1, url, odd)]) == [A]
