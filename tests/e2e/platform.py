"""The whole platform as ``make run`` starts it, driven over HTTP like a clinic would."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

from services.shared.broker import free_port


class Platform:
    """``clinic-reminders run`` in a subprocess, with its own ports, var dir and clock.

    On the embedded broker by default; given ``bootstrap``, on that broker
    (Apache Kafka) with the production settings, as docs/deploy.md runs it.
    """

    def __init__(
        self,
        var_dir: Path,
        scale: float,
        clock_start: datetime,
        bootstrap: str | None = None,
        env: dict[str, str] | None = None,
    ) -> None:
        self.var_dir = var_dir
        self.broker = "external" if bootstrap else "embedded"
        self.booking_url = f"http://127.0.0.1:{free_port()}"
        self.notifier_url = f"http://127.0.0.1:{free_port()}"
        self.env = {
            **os.environ,
            "CLINIC_VAR_DIR": str(var_dir),
            "CLINIC_BOOTSTRAP_SERVERS": bootstrap or f"127.0.0.1:{free_port()}",
            "CLINIC_ON_TANSU": "false" if bootstrap else "true",
            "CLINIC_BOOKING_PORT": self.booking_url.rsplit(":", 1)[1],
            "CLINIC_NOTIFIER_HTTP_PORT": self.notifier_url.rsplit(":", 1)[1],
            "CLINIC_WORKER_WEB_PORT": str(free_port()),
            "CLINIC_OPS_PORT": str(free_port()),
            "CLINIC_TIME_SCALE": str(scale),
            "CLINIC_CLOCK_START": clock_start.isoformat(),
            "PYTHONUNBUFFERED": "1",
            **(env or {}),
        }
        self.lines: list[str] = []
        self.process: subprocess.Popen[str] | None = None

    def start(self, timeout: float = 90.0) -> Platform:
        command = [sys.executable, "-m", "services.cli", "run", "--broker", self.broker]
        self.process = subprocess.Popen(
            command,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            bufsize=1,
        )
        threading.Thread(target=self._read, daemon=True).start()
        self.wait_for_line("[booking] booking service on", timeout)
        self.wait_for_line("reminders worker ready", timeout)
        self.wait_for_line("notifier ready", timeout)
        return self

    def wait_for_line(self, text: str, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in list(self.lines):
                if text in line:
                    return line
            assert self.process is not None and self.process.poll() is None, self.output()
            time.sleep(0.1)
        raise TimeoutError(f"no line with {text!r} in {timeout}s:\n{self.output()}")

    def post(self, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        response = httpx.post(f"{self.booking_url}{path}", json=body or {}, timeout=10)
        assert response.status_code in (200, 201), (path, response.status_code, response.text)
        result: dict[str, Any] = response.json()
        return result

    def now(self) -> datetime:
        body = httpx.get(f"{self.booking_url}/v1/clock", timeout=10).json()
        return datetime.fromisoformat(body["now"])

    def wait_until(self, instant: datetime, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while self.now() < instant:
            assert time.monotonic() < deadline, f"platform clock never reached {instant}"
            time.sleep(0.1)

    def worker_view(self, path: str) -> dict[str, Any]:
        """GET one of the reminders worker's JSON views, with the token in the var dir."""
        token = (self.var_dir / "worker-web.token").read_text().strip()
        port = self.env["CLINIC_WORKER_WEB_PORT"]
        response = httpx.get(
            f"http://127.0.0.1:{port}{path}",
            headers={"Authorization": f"Bearer {token}"},
            timeout=10,
        )
        response.raise_for_status()
        body: dict[str, Any] = response.json()
        return body

    def sent(self, channel: str) -> list[dict[str, Any]]:
        path = self.var_dir / "outbox" / f"{channel}.jsonl"
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]

    def stop(self, timeout: float = 30.0) -> int:
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
                raise
        return self.process.returncode

    def processes_left(self) -> list[int]:
        """Pids of any process still running with this platform's var dir in its environment."""
        marker = f"CLINIC_VAR_DIR={self.var_dir}".encode()
        left = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit() or int(entry.name) == os.getpid():
                continue
            try:
                if marker in (entry / "environ").read_bytes().split(b"\0"):
                    left.append(int(entry.name))
            except OSError:
                continue
        return left

    def kill_everything(self) -> None:
        """What a lost machine does: every process of the platform killed at once."""
        for pid in self.processes_left():
            os.kill(pid, signal.SIGKILL)
        assert self.process is not None
        self.process.wait()
        deadline = time.monotonic() + 10
        while self.processes_left() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert self.processes_left() == []

    def output(self) -> str:
        return "\n".join(self.lines[-80:])

    def _read(self) -> None:
        assert self.process is not None and self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line.rstrip())


@contextmanager
def running(var_dir: Path, scale: float, clock_start: datetime) -> Iterator[Platform]:
    """A started platform, stopped afterwards unless the test stopped it itself."""
    platform = Platform(var_dir, scale, clock_start).start()
    try:
        yield platform
    finally:
        if platform.process is not None and platform.process.poll() is None:
            platform.stop()
