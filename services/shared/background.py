"""A service's own thread beside its main work (a sweep, a follower, a sender)."""

from __future__ import annotations

import logging
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


class Repeats:
    """How loudly a failure that is tried again is said: the first in a row at INFO (a
    broker still starting, a connection dropped once: the next try mends it), from the
    second in a row at WARNING (it may need a look)."""

    def __init__(self) -> None:
        self._in_a_row = 0

    def level(self) -> int:
        """The level for one more failure in a row."""
        self._in_a_row += 1
        return logging.WARNING if self._in_a_row > 1 else logging.INFO

    def mended(self) -> None:
        self._in_a_row = 0


class Retrying(Background):
    """Runs :meth:`follow` until stopped, and again after each failure, waiting 1 s, then
    twice as long each time up to 10 s: ``retryable`` failures are a warning, anything
    else is logged with its traceback (a fault of ours: said loudly, and never the end of
    the thread). ``name`` says whose, in the log."""

    retryable: tuple[type[BaseException], ...] = (OSError,)

    def follow(self) -> None:
        raise NotImplementedError

    def run(self) -> None:
        log = logging.getLogger(type(self).__module__)
        repeats = Repeats()
        wait = 1.0
        while not self.stopping.is_set():
            try:
                self.follow()
            except self.retryable as exc:
                log.log(repeats.level(), "%s: %s; reading again in %.0fs", self.name, exc, wait)
            except Exception:
                log.exception("%s failed; reading again in %.0fs", self.name, wait)
            self.stopping.wait(wait)
            wait = min(wait * 2, 10.0)
