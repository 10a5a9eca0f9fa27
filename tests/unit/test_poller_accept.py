"""The poller's accept path in prefork's serial mode: what one connection costs.

In process, on 127.0.0.1: a ConnectionPoller as a prefork worker runs it (serial, deferred
sends), serving in the polling thread. Each test drives ``poll()`` itself, so it can tell what
one pass did: which sockets were registered with the selector, how many requests were served.
"""

from __future__ import annotations

import contextlib
import selectors
import socket
import time
from collections.abc import Iterator
from typing import Any

import pytest

from socketlab import status
from socketlab.http.connection import Connection, ConnectionConfig, Exchange
from socketlab.http.outbox import Outbox
from socketlab.http.poller import ConnectionPoller, Held
from socketlab.listener import open_listener

CLIENT_TIMEOUT = 5.0  # seconds a test client waits for an answer at most
ARRIVAL_WAIT = 0.2  # seconds for a request sent on loopback to reach the server's socket
POLL_WAIT = 0.5  # one poll()'s longest wait for events

HTTP10 = b"GET / HTTP/1.0\r\nHost: t\r\n\r\n"
KEEP_ALIVE = b"GET / HTTP/1.1\r\nHost: t\r\n\r\n"


class Harness:
    """A serial, deferred-sends poller on its own listener, and what it did."""

    def __init__(self) -> None:
        self.listener = open_listener("127.0.0.1", 0)
        self.port = self.listener.getsockname()[1]
        self.served: list[Held] = []
        self.nodelay: list[int] = []
        self.poller = ConnectionPoller(
            self.listener,
            self._handle,
            ConnectionConfig(),
            self._dispatch,
            status.Scoreboard("test"),
            max_connections=100,
            serial=True,
            defer_sends=True,
        )
        self.registered: list[Any] = []
        selector = self.poller._selector
        register = selector.register

        def counting(fileobj: Any, events: int, data: Any = None) -> selectors.SelectorKey:
            self.registered.append(fileobj)
            return register(fileobj, events, data)

        selector.register = counting  # type: ignore[method-assign]

    def _handle(self, exchange: Exchange) -> None:
        sock = exchange.connection.sock  # type: ignore[attr-defined]
        self.nodelay.append(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
        exchange.respond(200, [("Content-Type", "text/plain")], b"ok\n")

    def _dispatch(self, held: Held) -> None:
        self.served.append(held)
        try:
            held.conn.serve()
        finally:
            self.poller.give_back(held)

    def connect(self, data: bytes = b"") -> socket.socket:
        client = socket.create_connection(("127.0.0.1", self.port), timeout=CLIENT_TIMEOUT)
        if data:
            client.sendall(data)
        return client

    def connection_sockets_registered(self) -> list[Any]:
        return [obj for obj in self.registered if obj is not self.listener]

    def close(self) -> None:
        self.poller.close_all()
        self.listener.close()


@pytest.fixture
def harness() -> Iterator[Harness]:
    h = Harness()
    try:
        yield h
    finally:
        h.close()


def read_all(client: socket.socket) -> bytes:
    """Everything the server sends until it closes."""
    parts = []
    while piece := client.recv(65536):
        parts.append(piece)
    return b"".join(parts)


def poll_until(harness: Harness, count: int) -> None:
    deadline = time.monotonic() + CLIENT_TIMEOUT
    while len(harness.served) < count and time.monotonic() < deadline:
        harness.poller.poll(POLL_WAIT)
    assert len(harness.served) == count


def test_a_request_that_came_with_the_connection_costs_no_registration(
    harness: Harness,
) -> None:
    with harness.connect(HTTP10) as client:
        time.sleep(ARRIVAL_WAIT)
        poll_until(harness, 1)
        answer = read_all(client)
    assert answer.startswith(b"HTTP/1.1 200 ")
    assert answer.endswith(b"ok\n")
    assert harness.connection_sockets_registered() == []  # read at accept, served, closed
    assert not harness.poller.held


def test_a_connection_whose_request_is_not_there_yet_is_watched(harness: Harness) -> None:
    with harness.connect(HTTP10[:10]) as client:
        time.sleep(ARRIVAL_WAIT)
        harness.poller.poll(POLL_WAIT)
        assert harness.served == []
        (held,) = harness.poller.held
        assert harness.connection_sockets_registered() == [held.conn.sock]
        client.sendall(HTTP10[10:])
        poll_until(harness, 1)
        assert read_all(client).startswith(b"HTTP/1.1 200 ")
    assert not harness.poller.held


def test_one_pass_serves_the_connections_waiting_in_the_backlog(harness: Harness) -> None:
    clients = [harness.connect(HTTP10) for _ in range(3)]
    try:
        time.sleep(ARRIVAL_WAIT)
        harness.poller.poll(POLL_WAIT)
        assert len(harness.served) == 3  # one pass, not one per connection
        for client in clients:
            assert read_all(client).startswith(b"HTTP/1.1 200 ")
    finally:
        for client in clients:
            client.close()


def test_the_burst_stops_while_a_connection_waits_in_the_worker(harness: Harness) -> None:
    kept = harness.connect(KEEP_ALIVE)
    time.sleep(ARRIVAL_WAIT)
    others = [harness.connect(HTTP10) for _ in range(2)]
    try:
        time.sleep(ARRIVAL_WAIT)
        harness.poller.poll(POLL_WAIT)
        # `kept` was served and stays (keep-alive): the others wait for a pass of their own,
        # so that its next request never waits behind a row of new connections.
        assert len(harness.served) == 1
        poll_until(harness, 3)
        for client in others:
            assert read_all(client).startswith(b"HTTP/1.1 200 ")
        assert len(harness.poller.held) == 1
    finally:
        kept.close()
        for client in others:
            client.close()


def test_every_accepted_connection_has_nodelay(harness: Harness) -> None:
    for count in (1, 2, 3):
        with harness.connect(HTTP10) as client:
            time.sleep(ARRIVAL_WAIT)
            poll_until(harness, count)
            read_all(client)
    assert harness.nodelay == [1, 1, 1]


def test_a_connection_given_its_address_and_outbox_asks_the_kernel_nothing() -> None:
    with contextlib.closing(open_listener("127.0.0.1", 0)) as listener:
        port = listener.getsockname()[1]
        with (
            socket.create_connection(("127.0.0.1", port)),
            socket.create_connection(("127.0.0.1", port)),
        ):
            given, _ = listener.accept()
            asked, _ = listener.accept()
            with given, asked:
                outbox = Outbox()
                conn = Connection(
                    given,
                    ("127.0.0.1", 40000),
                    lambda exchange: None,
                    server=("127.0.0.1", 8888),
                    outbox=outbox,
                )
                assert conn.server == ("127.0.0.1", 8888)  # not asked of the socket
                assert conn.outbox is outbox
                assert given.gettimeout() == 0.0  # non-blocking: none of its sends waits
                plain = Connection(asked, ("127.0.0.1", 40001), lambda exchange: None)
                assert plain.server == ("127.0.0.1", port)
                assert plain.outbox is None
                assert asked.gettimeout() is None  # blocking, with the kernel's send timeout
