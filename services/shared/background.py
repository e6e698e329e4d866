"""A service's own thread beside its main work (a sweep, a follower, a sender)."""

from __future__ import annotations

import threading


class Background:
    """Starts :meth:`run` on a daemon thread of its own; :meth:`stop` asks it to end and waits.

    ``run`` watches ``self.stopping`` (an :class:`threading.Event`) and returns once it is set.
    """

    name = "background"

    def __init__(self) -> None:
        self.stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Run in the background; returns at once."""
        self.stopping.clear()
        self._thread = threading.Thread(target=self.run, name=self.name, daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self.stopping.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def run(self) -> None:
        raise NotImplementedError
