"""The udp-chat socket loop's sending half, with a socket whose sendto is scripted: a failure to
one receiver of a fan-out is handled as for a single datagram and the others still get theirs."""

from __future__ import annotations

import errno
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from socketlab.udp_chat.protocol import Addr
from socketlab.udp_chat.relay import Fanout, Relay, Send
from socketlab.udp_chat.server import SOCKET_RECV_BUFFER, ChatServer, bind, receive_queue

A: Addr = ("127.0.0.1", 1001)
B: Addr = ("127.0.0.1", 1002)
C: Addr = ("127.0.0.1", 1003)


class ScriptedSocket:
    """Records every sendto; raises the exception scripted for an address instead of sending."""

    def __init__(self, failures: dict[Addr, OSError]) -> None:
        self.failures = failures
        self.sent: list[Send] = []

    def sendto(self, data: bytes, addr: Addr) -> int:
        if addr in self.failures:
            raise self.failures[addr]
        self.sent.append(Send(addr, data))
        return len(data)


@pytest.fixture
def server() -> Iterator[ChatServer]:
    sock = bind("127.0.0.1", 0)
    chat = ChatServer(Relay(), sock)
    yield chat
    chat.sock = sock  # the real one again, for close()
    chat.close()


def scripted(server: ChatServer, failures: dict[Addr, OSError]) -> ScriptedSocket:
    sock = ScriptedSocket(failures)
    server.sock = sock  # type: ignore[assignment]
    return sock


def test_fanouts_and_sends_leave_in_order(server: ChatServer) -> None:
    sock = scripted(server, {})
    server._send([Send(A, b"ACK 1"), Fanout((B, C), b"MSG x 1 hi"), Fanout((A,), b"MSG x 1 hi\n")])
    assert sock.sent == [
        Send(A, b"ACK 1"),
        Send(B, b"MSG x 1 hi"),
        Send(C, b"MSG x 1 hi"),
        Send(A, b"MSG x 1 hi\n"),
    ]


@pytest.mark.parametrize(
    ("failure", "level", "icmp"),
    [
        (BlockingIOError(errno.EAGAIN, "full"), logging.WARNING, 0),
        (ConnectionRefusedError(errno.ECONNREFUSED, "refused"), logging.INFO, 1),
        (OSError(errno.EHOSTUNREACH, "no route"), logging.INFO, 0),
    ],
)
def test_a_failed_receiver_of_a_fanout_does_not_stop_the_others(
    server: ChatServer,
    caplog: pytest.LogCaptureFixture,
    failure: OSError,
    level: int,
    icmp: int,
) -> None:
    sock = scripted(server, {B: failure})
    with caplog.at_level(logging.DEBUG, logger="socketlab.udp_chat"):
        server._send([Fanout((A, B, C), b"MSG x 1 hi")])
    assert sock.sent == [Send(A, b"MSG x 1 hi"), Send(C, b"MSG x 1 hi")]
    assert server.icmp_errors == icmp
    assert [(r.levelno, r.getMessage().split(" ")[0]) for r in caplog.records] == [
        (level, "127.0.0.1:1002")
    ]


def test_an_unexpected_send_error_is_not_swallowed(server: ChatServer) -> None:
    scripted(server, {B: OSError(errno.EBADF, "bad file descriptor")})
    with pytest.raises(OSError, match="bad file descriptor"):
        server._send([Fanout((A, B, C), b"MSG x 1 hi")])


def test_the_relays_socket_asks_for_a_deep_receive_queue() -> None:
    """A flood must not fill the kernel's queue before the relay can rate-limit it: the socket
    gets SOCKET_RECV_BUFFER, or all that net.core.rmem_max allows (and then the log says so)."""
    rmem_max = int(Path("/proc/sys/net/core/rmem_max").read_text())
    sock = bind("127.0.0.1", 0)
    try:
        assert receive_queue(sock) == min(SOCKET_RECV_BUFFER, rmem_max)
    finally:
        sock.close()
