"""Runs an ASGI app with uvicorn in a thread beside the consumer loop."""

from __future__ import annotations

import socket
import threading
import time
from types import TracebackType

import uvicorn
from fastapi import FastAPI


class PortUnavailable(OSError):
    """The address cannot be listened on (taken, or not this machine's)."""


def listen(host: str, port: int) -> socket.socket:
    """A socket listening on ``host:port`` (0 picks a free port); :class:`PortUnavailable` if not.

    For when the address must be known before the app is made (see :func:`address_of`).
    """
    try:
        return socket.create_server((host, port))
    except OSError as exc:
        raise PortUnavailable(f"cannot listen on {host}:{port}: {exc.strerror}") from exc


def address_of(listening: socket.socket) -> str:
    """``http://host:port`` of a listening socket."""
    host, port = listening.getsockname()[:2]
    return f"http://{host}:{port}"


class HttpServer:
    """Binds at construction (:class:`PortUnavailable` if it cannot), or takes a socket
    :func:`listen` bound; serves from start to stop.

    Signals stay with the main thread: uvicorn installs no handlers off it, so
    the process's own SIGINT/SIGTERM handling decides when :meth:`stop` runs.
    """

    def __init__(
        self,
        app: FastAPI,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        listening: socket.socket | None = None,
    ) -> None:
        self._socket = listening if listening is not None else listen(host, port)
        config = uvicorn.Config(
            app, log_level="warning", access_log=False, lifespan="off", log_config=None
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._socket]}, daemon=True
        )

    @property
    def address(self) -> str:
        return address_of(self._socket)

    def start(self, timeout: float = 10.0) -> None:
        """Return once the server accepts requests; RuntimeError if it did not start."""
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"the HTTP server on {self.address} did not start")
            time.sleep(0.02)

    def stop(self) -> None:
        """Finish requests in flight, then close the port (waits up to 10 seconds)."""
        self._server.should_exit = True
        if self._thread.is_alive():
            self._thread.join(timeout=10)
        self._socket.close()

    def __enter__(self) -> HttpServer:
        self.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
