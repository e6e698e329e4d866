"""Child processes of ``clinic-reminders run``: started, watched, prefixed, stopped."""

from __future__ import annotations

import signal
import subprocess
import threading
import time
from collections.abc import Callable, Mapping, Sequence

from services.shared.broker import die_with_parent


def _nothing() -> None:
    pass


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
            preexec_fn=die_with_parent,
            start_new_session=True,
        )
        self._children[name] = child
        threading.Thread(target=self._relay, args=(name, child), daemon=True).start()

    def wait_any(self, stop: threading.Event, every_second: Callable[[], None] = _nothing) -> bool:
        """Block until ``stop`` is set (False) or a child exits on its own (True).

        Calls ``every_second`` about once a second meanwhile.
        """
        ticks = 0
        while not stop.wait(0.2):
            ticks += 1
            if ticks % 5 == 0:
                every_second()
            for name, child in self._children.items():
                if child.poll() is not None:
                    print(f"[platform] {name} exited with code {child.returncode}", flush=True)
                    return True
        return False

    def stop_all(self, grace: float = 8.0) -> list[str]:
        """SIGTERM every child, wait up to ``grace`` seconds in all, then SIGKILL.

        Returns one word per child, in start order: ``name`` when it stopped on
        its own, ``name (killed)`` when it had to be killed, ``name (had exited)``.
        """
        running = {name for name, child in self._children.items() if child.poll() is None}
        for name in running:
            self._children[name].send_signal(signal.SIGTERM)
        deadline = time.monotonic() + grace
        said = []
        for name, child in self._children.items():
            try:
                child.wait(timeout=max(0.1, deadline - time.monotonic()))
                said.append(name if name in running else f"{name} (had exited)")
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
                said.append(f"{name} (killed)")
        return said

    @staticmethod
    def _relay(name: str, child: subprocess.Popen[str]) -> None:
        assert child.stdout is not None
        for line in child.stdout:
            print(f"[{name}] {line.rstrip()}", flush=True)
