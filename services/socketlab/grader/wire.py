"""Bounded socket helpers the checks share: every read has a deadline and a byte limit.

The checks talk to untrusted programs, so nothing here waits without a deadline or keeps more
than ``limit`` bytes: a silent peer becomes :class:`~.checks.NoAnswer`, a chatty one a
:class:`~.checks.Failed`. HTTP responses are read the way RFC 9112 §6.3 says a client must find
the end of a body: Content-Length, else chunked, else the close of the connection.
"""

from __future__ import annotations

import dataclasses
import select
import socket
import time
from typing import Final

from .checks import Failed, NoAnswer

# A grader never keeps more than this of one answer: large-message needs 1 MiB, the rest less.
MAX_ANSWER: Final = 4 * 1024 * 1024
# The longest head the grader accepts from a server (the lab's own limit for requests is 8 KiB).
MAX_HEAD: Final = 64 * 1024
Address = tuple[str, int]


class Closed(Failed):
    """The peer closed the connection before it sent a byte of an answer."""


class Deadline:
    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.end = time.monotonic() + seconds

    def left(self) -> float:
        return self.end - time.monotonic()

    def expired(self) -> bool:
        return self.left() <= 0


def connect(address: Address, timeout: float = 5.0) -> socket.socket:
    """A TCP connection to ``address``; OSError (refused, unreachable, timed out) propagates."""
    sock = socket.create_connection(address, timeout=timeout)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def connect_retrying(address: Address, seconds: float) -> socket.socket:
    """Connect, retrying a refused connection for ``seconds``: a program needs time to start."""
    deadline = Deadline(seconds)
    last: OSError | None = None
    while not deadline.expired():
        try:
            return connect(address, timeout=max(0.5, min(3.0, deadline.left())))
        except socket.gaierror:
            last = None
        except OSError as exc:
            last = exc
        time.sleep(0.2)
    if last is None:
        raise Failed(
            f"the name {address[0]!r} does not resolve: nothing by that name is running on the "
            "network (did the program exit? its output is in submission.log)"
        )
    raise last


def recv_some(sock: socket.socket, deadline: Deadline, what: str) -> bytes:
    """The next bytes from ``sock`` (b"" at end of stream), or NoAnswer at the deadline."""
    left = deadline.left()
    if left <= 0:
        raise NoAnswer(deadline.seconds, what)
    ready, _, _ = select.select([sock], [], [], left)
    if not ready:
        raise NoAnswer(deadline.seconds, what)
    return sock.recv(65536)


def recv_exactly(sock: socket.socket, size: int, deadline: Deadline, what: str) -> bytes:
    """Exactly ``size`` bytes; Failed when the peer closes first, NoAnswer at the deadline."""
    parts: list[bytes] = []
    got = 0
    while got < size:
        try:
            chunk = recv_some(sock, deadline, what)
        except NoAnswer:
            raise NoAnswer(deadline.seconds, f"{what}: {got} of {size} bytes had arrived") from None
        if not chunk:
            raise Failed(f"the connection was closed after {got} of {size} bytes of {what}")
        parts.append(chunk)
        got += len(chunk)
    return b"".join(parts)


def recv_until_close(
    sock: socket.socket, deadline: Deadline, what: str, limit: int = MAX_ANSWER
) -> bytes:
    """Everything until the peer closes; NoAnswer if it does not close by the deadline."""
    parts: list[bytes] = []
    got = 0
    while True:
        try:
            chunk = recv_some(sock, deadline, what)
        except ConnectionResetError:
            break  # a reset after the answer ends the answer just the same
        if not chunk:
            break
        parts.append(chunk)
        got += len(chunk)
        if got > limit:
            raise Failed(f"more than {limit} bytes of {what}; the grader stopped reading")
    return b"".join(parts)


def quiet_for(sock: socket.socket, seconds: float) -> bytes:
    """Whatever arrives within ``seconds`` (b"" if nothing did, or the peer closed)."""
    ready, _, _ = select.select([sock], [], [], seconds)
    if not ready:
        return b""
    try:
        return sock.recv(65536)
    except ConnectionResetError:
        return b""


def peer_closed(sock: socket.socket, seconds: float) -> bool:
    """True if the peer closes (or resets) the connection within ``seconds``."""
    deadline = Deadline(seconds)
    while not deadline.expired():
        ready, _, _ = select.select([sock], [], [], deadline.left())
        if not ready:
            return False
        try:
            if not sock.recv(65536):
                return True
        except ConnectionResetError:
            return True
    return False


def rst_close(sock: socket.socket) -> None:
    """Close with a RST instead of a FIN: SO_LINGER with a zero timeout, a vanished client."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    sock.close()


# --- HTTP ------------------------------------------------------------------------------------


@dataclasses.dataclass
class Response:
    """A response as the bytes came: status line, fields, body, and how its end was found."""

    status_line: bytes
    status: int
    fields: list[tuple[str, str]]
    body: bytes
    framing: str  # "content-length", "chunked", "close" or "none" (a HEAD, 204, 304)
    raw_head: bytes

    def field(self, name: str) -> str | None:
        name = name.lower()
        for key, value in self.fields:
            if key.lower() == name:
                return value
        return None

    def describe(self) -> str:
        length = self.field("Content-Length")
        ctype = self.field("Content-Type")
        return (
            f"{self.status_line.decode('latin-1')!r}, {len(self.body)} body bytes"
            f" ({self.framing}), Content-Length {length or 'absent'},"
            f" Content-Type {ctype or 'absent'}"
        )


def request(method: str, path: str, host: str, *fields: str, close: bool = True) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}", "User-Agent: socketlab-grader"]
    lines += list(fields)
    if close:
        lines.append("Connection: close")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


class Reader:
    """Reads responses from one connection, keeping bytes that belong to the next one."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buffer = b""

    def _fill(self, deadline: Deadline, what: str) -> bool:
        try:
            chunk = recv_some(self.sock, deadline, what)
        except ConnectionResetError:
            chunk = b""
        if not chunk:
            return False
        self.buffer += chunk
        if len(self.buffer) > MAX_ANSWER:
            raise Failed(f"more than {MAX_ANSWER} bytes in one answer; the grader stopped reading")
        return True

    def head(self, deadline: Deadline) -> bytes:
        while True:
            end = self.buffer.find(b"\r\n\r\n")
            if end >= 0:
                head, self.buffer = self.buffer[: end + 4], self.buffer[end + 4 :]
                return head
            if len(self.buffer) > MAX_HEAD:
                raise Failed(f"no end of the response head in the first {MAX_HEAD} bytes")
            if not self._fill(deadline, "the response head"):
                if not self.buffer:
                    raise Closed("the server closed the connection without answering")
                bare = self.buffer.find(b"\n\n")
                if bare >= 0:
                    raise Failed(
                        f"the head ends in a bare LF LF, not CRLF CRLF: {self.buffer[:60]!r}",
                        "a head whose lines end in \\r\\n and that ends with \\r\\n\\r\\n",
                    )
                raise Failed(
                    f"the connection closed before the head ended (no CRLF CRLF): "
                    f"{self.buffer[:80]!r}"
                )

    def exactly(self, size: int, deadline: Deadline, what: str) -> bytes:
        while len(self.buffer) < size:
            try:
                more = self._fill(deadline, what)
            except NoAnswer:
                raise NoAnswer(
                    deadline.seconds, f"{what}: {len(self.buffer)} of {size} bytes had arrived"
                ) from None
            if not more:
                raise Failed(
                    f"the connection closed after {len(self.buffer)} of {size} bytes of {what}"
                )
        data, self.buffer = self.buffer[:size], self.buffer[size:]
        return data

    def line(self, deadline: Deadline, what: str) -> bytes:
        while b"\r\n" not in self.buffer:
            if len(self.buffer) > 4096:
                raise Failed(f"no CRLF in 4096 bytes of {what}")
            if not self._fill(deadline, what):
                raise Failed(f"the connection closed in the middle of {what}")
        line, self.buffer = self.buffer.split(b"\r\n", 1)
        return line

    def until_close(self, deadline: Deadline, what: str) -> bytes:
        try:
            while self._fill(deadline, what):
                pass
        except NoAnswer:
            raise NoAnswer(
                deadline.seconds,
                f"the end of {what}: no Content-Length, not chunked, and the connection stayed "
                f"open ({len(self.buffer)} bytes had arrived)",
            ) from None
        data, self.buffer = self.buffer, b""
        return data

    def response(self, deadline: Deadline, *, head_request: bool = False) -> Response:
        raw = self.head(deadline)
        status_line, _, rest = raw[:-4].partition(b"\r\n")
        parts = status_line.split(b" ", 2)
        try:
            status = int(parts[1])
        except (IndexError, ValueError):
            raise Failed(
                f"not an HTTP status line: {status_line[:80]!r}", "HTTP/1.1 <code> <reason>"
            ) from None
        fields: list[tuple[str, str]] = []
        for line in rest.split(b"\r\n") if rest else []:
            name, sep, value = line.partition(b":")
            if not sep:
                raise Failed(f"a head line that is not a field: {line[:80]!r}", "Name: value")
            fields.append((name.decode("latin-1").strip(), value.decode("latin-1").strip()))
        answer = Response(status_line, status, fields, b"", "none", raw)
        if head_request or status in (204, 304) or 100 <= status < 200:
            return answer
        encoding = (answer.field("Transfer-Encoding") or "").lower()
        length = answer.field("Content-Length")
        if "chunked" in encoding:
            answer.framing = "chunked"
            answer.body = self._chunked(deadline)
        elif length is not None:
            if not length.isdigit():
                raise Failed(f"Content-Length is not a number: {length!r}")
            answer.framing = "content-length"
            answer.body = self.exactly(int(length), deadline, "the body")
        else:
            answer.framing = "close"
            answer.body = self.until_close(deadline, "the body")
        return answer

    def _chunked(self, deadline: Deadline) -> bytes:
        body: list[bytes] = []
        total = 0
        while True:
            size_line = self.line(deadline, "a chunk size")
            try:
                size = int(size_line.split(b";", 1)[0].strip(), 16)
            except ValueError:
                raise Failed(f"not a chunk size: {size_line[:40]!r}") from None
            if size == 0:
                while self.line(deadline, "the trailer"):
                    pass
                return b"".join(body)
            total += size
            if total > MAX_ANSWER:
                raise Failed(f"more than {MAX_ANSWER} bytes of chunks")
            body.append(self.exactly(size, deadline, "a chunk"))
            if self.exactly(2, deadline, "the CRLF after a chunk") != b"\r\n":
                raise Failed("a chunk is not followed by CRLF")


def exchange(
    address: Address, data: bytes, seconds: float, *, head_request: bool = False
) -> Response:
    """Send ``data`` on a new connection and read one response."""
    with connect(address) as sock:
        sock.sendall(data)
        return Reader(sock).response(Deadline(seconds), head_request=head_request)
