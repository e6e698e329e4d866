"""The platform's clock: injected everywhere so that weeks can play in seconds.

Every process of one platform computes the same time from three settings:
``CLINIC_CLOCK_ANCHOR`` (a real Unix time shared by all of them, set by the
launcher), ``CLINIC_CLOCK_START`` (the platform instant at the anchor) and
``CLINIC_TIME_SCALE`` (platform seconds per real second).
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    """Source of the current instant (always UTC, time-zone-aware)."""

    @property
    def scale(self) -> float: ...

    def now(self) -> datetime: ...

    def real_seconds_until(self, instant: datetime) -> float:
        """Real seconds to wait for ``instant`` on this clock (0 if past)."""
        ...


class ScaledClock:
    """Wall-clock time, optionally shifted to ``start`` and sped up by ``scale``."""

    def __init__(
        self, scale: float = 1.0, start: datetime | None = None, anchor: float | None = None
    ) -> None:
        if scale <= 0:
            raise ValueError(f"CLINIC_TIME_SCALE must be positive, got {scale}")
        if start is not None and start.tzinfo is None:
            raise ValueError("CLINIC_CLOCK_START must carry a UTC offset, e.g. 2026-12-01T09:00Z")
        self._scale = scale
        self._anchor = time.time() if anchor is None else anchor
        self._start = (start or datetime.fromtimestamp(self._anchor, UTC)).astimezone(UTC)

    @property
    def scale(self) -> float:
        return self._scale

    @property
    def anchor(self) -> float:
        return self._anchor

    @property
    def start(self) -> datetime:
        return self._start

    def now(self) -> datetime:
        return self._start + timedelta(seconds=(time.time() - self._anchor) * self._scale)

    def real_seconds_until(self, instant: datetime) -> float:
        return max(0.0, (instant - self.now()).total_seconds() / self._scale)

    def environment(self) -> dict[str, str]:
        """The variables that give a child process this very clock."""
        return {
            "CLINIC_TIME_SCALE": repr(self._scale),
            "CLINIC_CLOCK_START": self._start.isoformat(),
            "CLINIC_CLOCK_ANCHOR": repr(self._anchor),
        }

    @classmethod
    def from_environment(cls, env: Mapping[str, str] | None = None) -> ScaledClock:
        """Build the clock from ``CLINIC_*`` variables; ValueError names the bad one."""
        env = os.environ if env is None else env
        try:
            scale = float(env.get("CLINIC_TIME_SCALE", "1") or "1")
        except ValueError as exc:
            raise ValueError(
                f"CLINIC_TIME_SCALE is not a number: {env['CLINIC_TIME_SCALE']!r}"
            ) from exc
        start = None
        if raw := env.get("CLINIC_CLOCK_START"):
            try:
                start = datetime.fromisoformat(raw)
            except ValueError as exc:
                raise ValueError(f"CLINIC_CLOCK_START is not ISO 8601: {raw!r}") from exc
        anchor = None
        if raw := env.get("CLINIC_CLOCK_ANCHOR"):
            try:
                anchor = float(raw)
            except ValueError as exc:
                raise ValueError(f"CLINIC_CLOCK_ANCHOR is not a Unix time: {raw!r}") from exc
        return cls(scale=scale, start=start, anchor=anchor)


class ManualClock:
    """A clock that moves only when told to: the twin of :class:`ScaledClock` for tests."""

    def __init__(self, start: datetime, scale: float = 1.0) -> None:
        if start.tzinfo is None:
            raise ValueError("ManualClock needs an aware datetime")
        self._now = start.astimezone(UTC)
        self._scale = scale

    @property
    def scale(self) -> float:
        return self._scale

    def now(self) -> datetime:
        return self._now

    def advance(self, delta: timedelta) -> datetime:
        self._now += delta
        return self._now

    def set(self, instant: datetime) -> None:
        self._now = instant.astimezone(UTC)

    def real_seconds_until(self, instant: datetime) -> float:
        return max(0.0, (instant - self._now).total_seconds() / self._scale)


async def sleep_until(clock: Clock, instant: datetime, max_wait: float = 1.0) -> None:
    """Sleep until ``instant`` on ``clock``, waking at least every ``max_wait`` real seconds."""
    await asyncio.sleep(min(max_wait, clock.real_seconds_until(instant)))
