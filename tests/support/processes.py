"""One platform service as its own subprocess: started, SIGKILLed, restarted, stopped."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path


class Service:
    """``python -m services.<module>`` with its output appended to ``log_path``.

    Every start appends to the same log after a line that marks it, so
    ``wait_line(text)`` waits for what the latest start prints, even when an
    earlier start was killed before it printed it.
    """

    def __init__(self, name: str, module: str, log_path: Path) -> None:
        self.name = name
        self.module = module
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0
        self.kills = 0

    def start(self, env: Mapping[str, str]) -> Service:
        assert not self.running, f"{self.name} is already running"
        with open(self.log_path, "ab") as log:
            log.write(self._marker(self.starts + 1).encode())
            log.flush()
            self.process = subprocess.Popen(
                [sys.executable, "-m", self.module],
                env=dict(env),
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.starts += 1
        return self

    @property
    def pid(self) -> int:
        assert self.process is not None, f"{self.name} was never started"
        return self.process.pid

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def wait_line(self, text: str, timeout: float = 90.0, count: int | None = None) -> None:
        """Block until the latest start printed ``text`` (or, given ``count``, until the
        whole log holds it ``count`` times)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.printed(text, count):
                return
            assert self.running, f"{self.name} exited:\n{self.tail()}"
            time.sleep(0.1)
        raise TimeoutError(f"{self.name}: no {text!r} in {timeout}s:\n{self.tail()}")

    def printed(self, text: str, count: int | None = None, since: int | None = None) -> bool:
        """Whether start ``since`` (default: the latest) or one after it printed ``text``;
        with ``count``, whether the whole log holds it that often."""
        log = self.log_path.read_text(errors="replace")
        if count is not None:
            return log.count(text) >= count
        marker = self._marker(self.starts if since is None else since)
        return text in log[log.rfind(marker) :] if marker in log else False

    def _marker(self, start: int) -> str:
        return f"=== start {start} of {self.name}\n"

    def kill(self) -> None:
        """SIGKILL: no clean-up, no commit, no flush; what a crash does."""
        if self.process is not None and self.running:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()
            self.kills += 1

    def stop(self, timeout: float = 20.0) -> None:
        """SIGTERM, then SIGKILL if it does not end within ``timeout`` seconds."""
        if self.process is None or not self.running:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def tail(self, chars: int = 4000) -> str:
        return self.log_path.read_text(errors="replace")[-chars:]
