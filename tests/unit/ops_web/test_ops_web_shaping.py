"""Hourly series, reconciliation and chart geometry: the arithmetic behind the page."""

from __future__ import annotations

from datetime import timedelta

from services.ops.web.chart import HEIGHT, stacked_bars
from services.ops.web.reconcile import reconcile
from services.ops.web.shaping import hourly_series, totals
from tests.unit.ops_web.fakes import NOW, due, hours_ago, row

DAY = timedelta(hours=24)


def test_rows_fall_in_the_hour_of_their_last_change_per_clinic() -> None:
    rows = [
        row("r1", "sent", hours_ago(0.2)),
        row("r2", "sending", hours_ago(0.3)),
        row("r3", "failed", hours_ago(2)),
        row("r4", "sent", hours_ago(2), clinic="leeds"),
        row("r5", "sent", hours_ago(30)),
    ]
    series = hourly_series(rows, NOW)

    assert list(series) == ["dr-jenny", "leeds"]
    jenny = series["dr-jenny"]
    assert len(jenny) == 24 and jenny[-1].hour == NOW.replace(minute=0)
    assert jenny[-1].counts == {"sent": 1, "failed": 0, "skipped": 0, "pending": 1, "unknown": 0}
    assert jenny[-3].counts["failed"] == 1
    assert totals(jenny) == {"sent": 1, "failed": 1, "skipped": 0, "pending": 1, "unknown": 0}
    assert totals(series["leeds"])["sent"] == 1


def test_reconciliation_counts_each_channel_and_shows_what_has_no_outcome() -> None:
    scheduled = [
        due("a", hours_ago(3), channels=("sms", "email")),
        due("b", hours_ago(2)),
        due("b", hours_ago(2)),  # replayed on the topic: counted once
        due("c", hours_ago(1)),
        due("old", hours_ago(30)),
        due("later", NOW + timedelta(hours=1)),
    ]
    rows = [
        row("a", "sent", hours_ago(3)),
        row("a", "failed", hours_ago(3), channel="email"),
        row("b", "sending", hours_ago(2)),
        row("x", "skipped", hours_ago(5)),
        row("old", "sent", hours_ago(29)),
    ]
    [jenny] = reconcile(scheduled, rows, NOW - DAY, NOW)

    assert (jenny.scheduled, jenny.sent, jenny.failed, jenny.skipped) == (4, 1, 1, 0)
    assert (jenny.in_progress, jenny.missing, jenny.unplanned) == (1, 1, 1)
    assert jenny.missing_ids == ["c (sms)"]
    assert jenny.difference == 2


def test_a_day_where_everything_was_settled_reconciles_to_zero() -> None:
    scheduled = [due(f"r{n}", hours_ago(n), clinic="leeds") for n in range(1, 5)]
    rows = [
        row(f"r{n}", state, hours_ago(n), clinic="leeds")
        for n, state in zip(range(1, 5), ["sent", "failed", "skipped", "sent"], strict=True)
    ]
    [leeds] = reconcile(scheduled, rows, NOW - DAY, NOW)
    assert leeds.difference == 0 and leeds.missing == 0 and leeds.scheduled == 4


def test_bars_stack_in_series_order_and_the_peak_hour_fills_the_plot() -> None:
    series = hourly_series(
        [row("a", "sent", hours_ago(1)), row("b", "sent", hours_ago(1)), row("c", "failed", NOW)],
        NOW,
    )["dr-jenny"]
    chart = stacked_bars(series)

    assert chart.peak == 2
    assert [(b.series, b.count) for b in chart.bars] == [("sent", 2), ("failed", 1)]
    sent, failed = chart.bars
    assert failed.height == sent.height / 2
    assert sent.y + sent.height == HEIGHT - 22


def test_an_empty_day_draws_no_bars() -> None:
    chart = stacked_bars(hourly_series([], NOW).get("dr-jenny", []))
    assert chart.bars == [] and chart.peak == 0


def test_a_text_the_provider_confirmed_delivered_counts_as_sent() -> None:
    scheduled = [due("d", hours_ago(2))]
    rows = [row("d", "delivered", hours_ago(2))]
    [jenny] = reconcile(scheduled, rows, NOW - DAY, NOW)
    assert (jenny.sent, jenny.in_progress, jenny.difference) == (1, 0, 0)
    assert totals(hourly_series(rows, NOW)["dr-jenny"])["sent"] == 1
