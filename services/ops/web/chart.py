"""A stacked bar chart as plain SVG geometry: drawn by the template, no script, no library."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from services.ops.web.shaping import SERIES, HourCount

WIDTH = 1100
HEIGHT = 200
LEFT = 36
BOTTOM = 22
TOP = 8


@dataclass(frozen=True)
class Bar:
    """One segment: ``series`` for the hour labelled ``label``, ``count`` rows high."""

    x: float
    y: float
    width: float
    height: float
    series: str
    count: int
    label: str


@dataclass(frozen=True)
class Chart:
    width: int
    height: int
    bars: list[Bar]
    peak: int
    ticks: list[tuple[float, str]]
    """(x, label) under every few bars."""
    gridlines: list[tuple[float, int]]
    """(y, value) of horizontal guides."""


def stacked_bars(series: Sequence[HourCount], every: int = 3) -> Chart:
    """Bars for each hour, segments stacked in :data:`SERIES` order, scaled to the peak hour."""
    peak = max((sum(h.counts.values()) for h in series), default=0)
    scale = max(peak, 1)
    plot_h = HEIGHT - BOTTOM - TOP
    slot = (WIDTH - LEFT) / max(len(series), 1)
    bars: list[Bar] = []
    ticks: list[tuple[float, str]] = []
    for n, hour in enumerate(series):
        x = LEFT + n * slot + slot * 0.15
        label = f"{hour.hour:%d %b %H:00}Z"
        base = float(HEIGHT - BOTTOM)
        for name in SERIES:
            count = hour.counts.get(name, 0)
            if count:
                height = plot_h * count / scale
                base -= height
                bars.append(Bar(x, base, slot * 0.7, height, name, count, label))
        if n % every == 0:
            ticks.append((x + slot * 0.35, f"{hour.hour:%H}h"))
    return Chart(WIDTH, HEIGHT, bars, peak, ticks, _grid(peak, plot_h))


def _grid(peak: int, plot_h: float) -> list[tuple[float, int]]:
    if peak == 0:
        return [(HEIGHT - BOTTOM, 0)]
    step = max(1, -(-peak // 4))
    return [(HEIGHT - BOTTOM - plot_h * v / peak, v) for v in range(0, peak + 1, step)]
