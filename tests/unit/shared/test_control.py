"""When the booking service's latest resync already covers a worker's lost plans."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from services.shared.control import BrokerMarker, ControlState, ResyncDone

AT = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
KEPT = {0: (0, 120), 1: (0, 80)}


def marked(begins: dict[int, int] | None, at: datetime = AT) -> BrokerMarker:
    return BrokerMarker(store_id="store-1", written_at=at, bookings_from=begins)


def test_a_worker_reading_from_before_the_resync_reads_every_snapshot() -> None:
    state = ControlState(marker=marked({0: 100, 1: 60}))
    assert state.covers({0: 0, 1: 60}, KEPT)


def test_a_worker_reading_from_after_where_the_resync_begins_must_ask() -> None:
    state = ControlState(marker=marked({0: 100, 1: 60}))
    assert not state.covers({0: 0, 1: 61}, KEPT)


def test_a_resync_whose_beginning_is_unknown_covers_nothing() -> None:
    assert not ControlState(marker=marked(None)).covers({0: 0}, KEPT)
    assert not ControlState().covers({0: 0}, KEPT)


def test_a_partition_the_resync_does_not_name_must_ask() -> None:
    assert not ControlState(marker=marked({0: 100})).covers({0: 0, 1: 0}, KEPT)


def test_snapshots_removed_by_retention_or_lost_with_the_topic_cover_nothing() -> None:
    state = ControlState(marker=marked({0: 100, 1: 60}))
    assert not state.covers({0: 0}, {0: (101, 200), 1: (0, 80)})  # retention passed them
    assert not state.covers({0: 0}, {0: (0, 20), 1: (0, 80)})  # the topic began again


def test_the_latest_resync_counts_a_later_answer_over_an_earlier_marker() -> None:
    done = ResyncDone(
        request_id="r-1", bookings=3, done_at=AT + timedelta(minutes=5), bookings_from={0: 110}
    )
    state = ControlState(marker=marked({0: 100}), done=done)
    assert state.covers({0: 110}, KEPT)  # only the later answer's snapshots lie past 100
    assert not state.covers({0: 111}, KEPT)
    later_marker = ControlState(marker=marked({0: 90}, AT + timedelta(hours=1)), done=done)
    assert not later_marker.covers({0: 110}, KEPT)
