"""Child processes of ``clinic-reminders run``: started, watched, prefixed, stopped."""

from __future__ import annotations

import ctypes
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence

_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    """In the child: ask the kernel to SIGTERM it if the launcher dies, even by kill -9."""
    if sys.platform.startswith("linux"):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


class Supervisor:
    """Runs named services, printing each output line as ``[name] line``."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self._env = dict(env)
        self._children: dict[str, subprocess.Popen[str]] = {}

    def start(self, name: str, command: Sequence[str]) -> None:
        child = subprocess.Popen(
            list(command),
            env=self._env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            bufsize=1,
            preexec_fn=_die_with_parent,
            start_new_session=True,
        )
        self._children[name] = child
        threading.Thread(target=self._relay, args=(name, child), daemon=True).start()

    def wait_any(self, stop: threading.Event) -> bool:
        """Block until ``stop`` is set (False) or a child exits on its own (True)."""
        while not stop.wait(0.2):
            for name, child in self._children.items():
                if child.poll() is not None:
                    print(f"[platform] {name} exited with code {child.returncode}", flush=True)
                    return True
        return False

    def stop_all(self, grace: float = 10.0) -> None:
        """SIGTERM every child, wait up to ``grace`` seconds in all, then SIGKILL."""
        for child in self._children.values():
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + grace
        for child in self._children.values():
            try:
                child.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()

    @staticmethod
    def _relay(name: str, child: subprocess.Popen[str]) -> None:
        assert child.stdout is not None
        for line in child.stdout:
            print(f"[{name}] {line.rstrip()}", flush=True)
