"""The launcher's clock, which carries on across restarts of a sped-up or shifted platform.

A demo clock (``CLINIC_TIME_SCALE`` or ``CLINIC_CLOCK_START``) would start
again from the same instant at every ``make run``: the platform's time would
jump back by however long it ran. The launcher keeps the platform's instant in
``var/clock.json`` while it runs (once a second, so a killed launcher loses at
most a second of it) and the next start with the same settings carries on from
there. The platform's time stands still while it is down. New settings (another
start or scale) start afresh; the real clock (no settings) is never saved.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path

from services.shared.clock import ScaledClock

SETTINGS = ("CLINIC_TIME_SCALE", "CLINIC_CLOCK_START")


class SavedClock:
    """The platform's clock and the file it is carried on in."""

    def __init__(self, path: Path, env: Mapping[str, str] | None = None) -> None:
        env = os.environ if env is None else env
        self._path = path
        self._settings = {name: env.get(name, "") for name in SETTINGS}
        self.clock = ScaledClock.from_environment(env)
        self.resumed = False
        if self.is_demo and (saved := self._saved()) is not None:
            self.clock = ScaledClock(scale=self.clock.scale, start=saved)
            self.resumed = True

    @property
    def is_demo(self) -> bool:
        """True unless the platform runs on the real time."""
        return any(self._settings.values())

    def save(self) -> None:
        """Write the platform's current instant (atomically: a kill never leaves half a file)."""
        if not self.is_demo:
            return
        body = {"settings": self._settings, "now": self.clock.now().isoformat()}
        partial = self._path.with_suffix(".tmp")
        partial.write_text(json.dumps(body))
        partial.replace(self._path)

    def _saved(self) -> datetime | None:
        try:
            body = json.loads(self._path.read_text())
            if body.get("settings") != self._settings:
                return None
            saved = datetime.fromisoformat(body["now"])
        except (OSError, ValueError, KeyError, TypeError):
            return None
        return saved if saved.tzinfo is not None else None
