"""The relay's wake socket when two replicas on one machine share the port (SQLite, no NOTIFY)."""

from __future__ import annotations

import threading
import time

from shared.messaging.outbox import Waker
from shared.messaging.relay import OutboxRelay
from tests.support.ports import free_port


def _relay(port: int, poll: float) -> OutboxRelay:
    return OutboxRelay(None, lambda: None, name="scheduling", wake_port=port, poll_interval=poll)


def test_a_replica_that_found_the_wake_port_taken_takes_it_over_once_the_other_stops():
    """Before, the replica that lost the bind polled on its timer for the rest of its life: after the other
    replica stopped, every hop waited out the poll interval (≈ 1 s per hop on SQLite)."""
    port = free_port()
    first, second = _relay(port, poll=0.05), _relay(port, poll=0.05)
    first._listen()
    second._listen()
    assert first._sock is not None and second._sock is None, "one socket per port"

    first.close()
    stop = threading.Event()
    second._sleep(stop)  # the sleep before its next pass binds the freed port
    assert second._sock is not None

    second.poll_interval = 60.0
    threading.Timer(0.2, Waker(port).notify).start()
    started = time.monotonic()
    second._sleep(stop)
    assert time.monotonic() - started < 5, "woken by the datagram, not by the 60 s timer"
    second.close()


def test_a_replica_holding_the_port_keeps_it_and_the_other_keeps_polling():
    port = free_port()
    first, second = _relay(port, poll=0.05), _relay(port, poll=0.05)
    first._listen()
    held = first._sock
    stop = threading.Event()
    for _ in range(3):
        second._sleep(stop)
        first._sleep(stop)
    assert first._sock is held and second._sock is None
    first.close()
    second.close()
