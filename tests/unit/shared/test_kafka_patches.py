"""kafka-python's transport, closed while its read waited, closes quietly (kafka_patches)."""

from __future__ import annotations

import logging
import socket

import pytest
from kafka import errors
from kafka.net.transport import KafkaTCPTransport

from services.shared import kafka_patches


def test_a_read_after_the_transport_closed_is_an_error_not_a_traceback(
    caplog: pytest.LogCaptureFixture,
) -> None:
    kafka_patches.apply()
    ours, theirs = socket.socketpair()
    ours.setblocking(False)  # as kafka-python's sockets are
    transport = KafkaTCPTransport(net=None, sock=ours)
    theirs.sendall(b"\x00")
    assert transport._sock_recv() == (b"\x00", None)  # an open one reads as before
    ours.close()
    transport._sock = None  # what a close does, while the read task waits to wake
    theirs.close()
    with caplog.at_level(logging.DEBUG, logger="kafka"):
        data, error = transport._sock_recv()
    assert data == b"" and isinstance(error, errors.KafkaConnectionError)
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
