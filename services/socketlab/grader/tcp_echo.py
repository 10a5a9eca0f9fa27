"""tcp-echo: a TCP server that sends back every byte it receives, to many clients at once.

The checks follow docs/labs/13-write-your-own-tcp-echo.md, one section per check id.
"""

from __future__ import annotations

import os
import socket
import threading
from typing import Final

from . import wire
from .checks import Failed, NoAnswer, Suite, reason
from .target import ServerTarget

DOC: Final = "docs/labs/13-write-your-own-tcp-echo.md"
LARGE: Final = 1024 * 1024  # 1 MiB: one recv(1024), or even one recv(65536), cannot hold it
ANSWER_WITHIN: Final = 5.0

suite: Suite[ServerTarget] = Suite("tcp-echo", DOC)


def _echo(sock: socket.socket, message: bytes, seconds: float = ANSWER_WITHIN) -> None:
    sock.sendall(message)
    got = wire.recv_exactly(sock, len(message), wire.Deadline(seconds), "the echo")
    if got != message:
        first = next(i for i, (a, b) in enumerate(zip(got, message, strict=True)) if a != b)
        raise Failed(f"the echo differs from byte {first} on: {got[first : first + 20]!r}")


@suite.check(
    "connect",
    "the server accepts a TCP connection on the port it was given",
    rationale="A server must listen on the port the grader chooses (argv[1] and $PORT), on "
    "every address of its container (0.0.0.0), not on a port written into the program.",
    expected="a TCP connection to the given port is accepted",
)
def connect(target: ServerTarget) -> str:
    with wire.connect_retrying(target.address, target.startup):
        return f"connected to {target.host_field}"


@suite.check(
    "echo",
    "a short message comes back unchanged",
    rationale="Echo means the same bytes back: no decoding, no added newline, no prefix.",
    expected="the 25 bytes sent come back, byte for byte",
    requires=("connect",),
)
def echo(target: ServerTarget) -> str:
    message = b"hello " + os.urandom(8).hex().encode() + b"\r\n\x00\xff"
    with wire.connect(target.address) as sock:
        _echo(sock, message)
    return f"{len(message)} bytes came back unchanged"


@suite.check(
    "split-message",
    "a message sent in pieces comes back whole",
    rationale="TCP is a stream: the pieces a client sends are not the pieces a server reads. A "
    "server that answers after one recv() and closes loses the rest.",
    expected="three pieces sent 0.3 s apart all come back, and the connection stays open",
    requires=("echo",),
)
def split_message(target: ServerTarget) -> str:
    pieces = [b"first piece " + os.urandom(4).hex().encode() for _ in range(3)]
    with wire.connect(target.address) as sock:
        for number, piece in enumerate(pieces, 1):
            try:
                _echo(sock, piece)
            except (Failed, OSError) as exc:
                raise Failed(f"piece {number} of 3: {reason(exc)}") from None
    return "3 pieces, each echoed, on one connection"


@suite.check(
    "large-message",
    "1 MiB comes back complete",
    rationale="recv(1024) returns at most 1024 bytes; a server must loop until the client is "
    "done, and send everything (sendall), while the client is still sending.",
    expected=f"all {LARGE} bytes come back in order within 15 s",
    requires=("echo",),
)
def large_message(target: ServerTarget) -> str:
    message = os.urandom(LARGE)
    errors: list[BaseException] = []
    with wire.connect(target.address, timeout=15.0) as sock:

        def send() -> None:  # sent while reading, or both sides block with full buffers
            try:
                sock.sendall(message)
            except OSError as exc:
                errors.append(exc)

        sender = threading.Thread(target=send, daemon=True)
        sender.start()
        got = bytearray()
        deadline = wire.Deadline(15.0)
        while len(got) < LARGE:
            try:
                chunk = wire.recv_some(sock, deadline, "the echo of 1 MiB")
            except NoAnswer:
                raise NoAnswer(15.0, f"the echo: {len(got)} of {LARGE} bytes came") from None
            if not chunk:
                raise Failed(f"the connection closed after {len(got)} of {LARGE} bytes")
            got += chunk
        sender.join(5.0)
    if bytes(got[:LARGE]) != message:
        raise Failed("all bytes came back, but not the same bytes in the same order")
    return f"{LARGE} bytes came back unchanged"


@suite.check(
    "many-clients",
    "three clients are served at once",
    rationale="A server that serves one client until it leaves makes every other client wait: "
    "each connection needs its own thread, process, or a select() loop.",
    expected="with three connections open, each one's message is echoed, the last one first",
    requires=("echo",),
)
def many_clients(target: ServerTarget) -> str:
    socks = [wire.connect(target.address) for _ in range(3)]
    try:
        for number in (3, 2, 1):
            try:
                _echo(socks[number - 1], f"client {number} {os.urandom(4).hex()}".encode())
            except (Failed, OSError) as exc:
                raise Failed(f"client {number} (of 3 open at once): {reason(exc)}") from None
    finally:
        for sock in socks:
            sock.close()
    return "3 connections open at once, each echoed"


@suite.check(
    "client-close",
    "the server survives clients that vanish",
    rationale="Clients disappear: one closes without a word, one resets mid-message. recv() "
    "then returns b'' or raises ConnectionResetError; the server must end that connection only.",
    expected="after a silent close and a reset, a new client is still echoed",
    requires=("echo",),
)
def client_close(target: ServerTarget) -> str:
    with wire.connect(target.address):
        pass  # connected, said nothing, left
    sock = wire.connect(target.address)
    sock.sendall(b"half a message that nobody waits for")
    wire.rst_close(sock)
    sock = wire.connect(target.address)
    sock.sendall(os.urandom(4096))
    wire.rst_close(sock)
    try:
        with wire.connect_retrying(target.address, 2.0) as sock:
            _echo(sock, b"still there? " + os.urandom(4).hex().encode())
    except (Failed, OSError) as exc:
        raise Failed(f"after one client closed and two reset: {reason(exc)}") from None
    return "still echoing after a silent close and two resets"
