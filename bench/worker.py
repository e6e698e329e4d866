"""One ``python -m services.reminders`` process driven from outside, as in production."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from services.shared.broker import free_port
from services.shared.clock import ScaledClock


class Worker:
    """A reminders worker with its own topics (by prefix), data directory and web port."""

    def __init__(self, bootstrap: str, prefix: str, var_dir: Path, clock: ScaledClock) -> None:
        var_dir.mkdir(parents=True, exist_ok=True)
        self.log_path = var_dir / "worker.log"
        self.env = {
            **os.environ,
            **clock.environment(),
            "CLINIC_BOOTSTRAP_SERVERS": bootstrap,
            "CLINIC_TOPIC_PREFIX": prefix,
            "CLINIC_VAR_DIR": str(var_dir),
            "CLINIC_WORKER_WEB_PORT": str(free_port()),
            "PYTHONUNBUFFERED": "1",
        }
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def start(self) -> Worker:
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "services.reminders"],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        return self

    def wait_ready(self, starts: int = 1, timeout: float = 90.0) -> float:
        """Block until the log holds ``starts`` ready lines; the real time it was seen."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.log_path.read_bytes().count(b"ready, partitions") >= starts:
                return time.time()
            if self.process is None or self.process.poll() is not None:
                raise RuntimeError(f"worker exited:\n{self.tail()}")
            time.sleep(0.05)
        raise TimeoutError(f"worker not ready in {timeout}s:\n{self.tail()}")

    def kill(self) -> float:
        """``kill -9``; the real time it was sent."""
        assert self.process is not None
        at = time.time()
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()
        return at

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def tail(self) -> str:
        return self.log_path.read_text(errors="replace")[-3000:]
