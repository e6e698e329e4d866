"""One ``python -m services.reminders`` process driven from outside, as in production."""

from __future__ import annotations

import os
import time
from pathlib import Path

from services.shared.broker import free_port
from services.shared.clock import ScaledClock
from tests.support.processes import Service


class Worker:
    """A reminders worker with its own topics (by prefix), data directory and web port;
    ``module`` runs another worker on the same settings (the framework floor's)."""

    def __init__(
        self,
        bootstrap: str,
        prefix: str,
        var_dir: Path,
        clock: ScaledClock,
        module: str = "services.reminders",
        extra_env: dict[str, str] | None = None,
    ) -> None:
        var_dir.mkdir(parents=True, exist_ok=True)
        self.service = Service("worker", module, var_dir / "worker.log")
        self.env = {
            **os.environ,
            **clock.environment(),
            "CLINIC_BOOTSTRAP_SERVERS": bootstrap,
            "CLINIC_TOPIC_PREFIX": prefix,
            "CLINIC_VAR_DIR": str(var_dir),
            "CLINIC_WORKER_WEB_PORT": str(free_port()),
            "PYTHONUNBUFFERED": "1",
            **(extra_env or {}),
        }

    @property
    def pid(self) -> int:
        return self.service.pid

    def start(self) -> Worker:
        self.service.start(self.env)
        return self

    def wait_ready(self, starts: int = 1, timeout: float = 90.0) -> float:
        """Block until the log holds ``starts`` ready lines; the real time it was seen."""
        self.service.wait_line("ready, partitions", timeout, count=starts)
        return time.time()

    def kill(self) -> float:
        """``kill -9``; the real time it was sent."""
        at = time.time()
        self.service.kill()
        return at

    def stop(self) -> None:
        self.service.stop()

    def tail(self) -> str:
        return self.service.tail()
