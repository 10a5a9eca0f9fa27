"""One TCP connection to a server, and one request/response exchange on it.

This is the thin adapter between a socket and the I/O-free HTTP core: it writes the head made by
:func:`socketlab.http.format_request_head`, feeds every received byte to the connection's
:class:`socketlab.http.ResponseParser` and turns its events into a :class:`Reply` (the shape of
h11's ``examples/basic-client.py``). It is also the one place where socket exceptions and the
parser's :class:`~socketlab.http.RemoteProtocolError` become :mod:`.errors` classes, each with a
reason a person can read.
"""

from __future__ import annotations

import contextlib
import errno
import ipaddress
import select
import socket
import struct
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from ..http import END, NEED_DATA, Data, Headers, RemoteProtocolError, Response, ResponseParser
from ..http.writer import format_request_head
from . import errors
from .limits import ByteBudget, Deadline

RECV_SIZE: Final = 65536
"""Bytes asked of each recv(): a whole small response, or a good slice of a large one."""

Address = tuple[Any, ...]
Resolver = Callable[[str, int], Sequence[tuple[int, Address]]]
"""``resolve(host, port)`` -> [(family, sockaddr), ...]; raises ``socket.gaierror``."""


def system_resolver(host: str, port: int) -> list[tuple[int, Address]]:
    """The system's resolver (``/etc/hosts``, then DNS: Docker's 127.0.0.11 in a container).

    An IP address is its own answer, as in a browser: no lookup (getaddrinfo() took about a
    millisecond for 127.0.0.1 the first time in a process, on the page's critical path).
    """
    try:
        ip = ipaddress.ip_address(host) if "%" not in host else None  # a zone: getaddrinfo
    except ValueError:
        ip = None
    if ip is not None:
        if ip.version == 4:
            return [(socket.AF_INET, (host, port))]
        return [(socket.AF_INET6, (host, port, 0, 0))]
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [(family, sockaddr) for family, _type, _proto, _name, sockaddr in infos]


def resolve(resolver: Resolver, host: str, port: int) -> list[tuple[int, Address]]:
    """Addresses for ``host``; :class:`~.errors.UnknownHost` with the resolver's reason."""
    try:
        addresses = list(resolver(host, port))
    except socket.gaierror as exc:
        raise errors.UnknownHost(f"cannot resolve {host!r}: {exc.strerror or exc}") from None
    except (OSError, UnicodeError) as exc:
        raise errors.UnknownHost(f"cannot resolve {host!r}: {exc}") from None
    if not addresses:
        raise errors.UnknownHost(f"cannot resolve {host!r}: no address")
    return addresses


@dataclass(eq=False)
class Connection:
    """A connected socket with its parser. ``requests`` counts the exchanges it carried."""

    id: int
    sock: socket.socket
    host: str
    port: int
    remote: tuple[str, int]
    local: tuple[str, int]
    parser: ResponseParser = field(default_factory=ResponseParser)
    requests: int = 0
    server_view: tuple[str, int] | None = None  # (client_ip, client_port) from /whoami
    server_pid: int | None = None  # the process that answered /whoami on it
    closed: bool = False
    # The SO_SNDTIMEO / SO_RCVTIMEO the socket has now (see _arm).
    send_timeout: float | None = None
    recv_timeout: float | None = None

    def is_stale(self) -> bool:
        """True when an idle connection cannot carry another request: the server closed it
        (a zero-byte read is pending) or sent bytes nobody asked for."""
        if self.closed:
            return True
        try:
            readable, _, _ = select.select([self.sock], [], [], 0)
        except (OSError, ValueError):
            return True
        return bool(readable)

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            with contextlib.suppress(OSError):
                self.sock.close()


def connect(
    conn_id: int,
    host: str,
    port: int,
    addresses: Sequence[tuple[int, Address]],
    *,
    timeout: float,
    deadline: Deadline,
) -> Connection:
    """Connect to the first address that accepts (tried in the resolver's order)."""
    failure: errors.BrowserError | None = None
    for family, sockaddr in addresses:
        where = _show(sockaddr)
        step = deadline.bound(timeout)
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.settimeout(step)
            sock.connect(sockaddr)
        except TimeoutError:
            sock.close()
            if step < timeout:
                raise deadline.expiry_error() from None
            failure = errors.ConnectTimeout(f"no answer from {where} within {timeout:g} s")
            continue
        except ConnectionRefusedError:
            sock.close()
            failure = errors.ConnectionRefused(f"connection refused by {where}")
            continue
        except OSError as exc:
            sock.close()
            failure = errors.ConnectError(f"cannot connect to {where}: {_strerror(exc)}")
            continue
        try:
            sock.settimeout(None)  # blocking from now on: the kernel keeps the deadlines (_arm)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            local = sock.getsockname()
            remote = sock.getpeername()
        except OSError as exc:
            sock.close()
            failure = errors.ConnectError(f"connection to {where} failed: {_strerror(exc)}")
            continue
        return Connection(conn_id, sock, host, port, (remote[0], remote[1]), (local[0], local[1]))
    assert failure is not None  # addresses is never empty (resolve() guarantees it)
    raise failure


@dataclass
class Reply:
    """A complete response as received, with its sizes and phase timings (milliseconds)."""

    status: int
    reason: str
    version: str
    headers: Headers
    body: bytes
    head_bytes: int
    wire_bytes: int
    keep_alive: bool
    request_bytes: int
    send_ms: float
    wait_ms: float
    receive_ms: float


@dataclass
class Progress:
    """How far an exchange got: filled in as it goes, so a failure still has its timings."""

    sent_at: float = 0.0
    first_byte_at: float = 0.0
    received: int = 0


def exchange(
    conn: Connection,
    method: str,
    target: str,
    headers: Sequence[tuple[str, str]],
    body: bytes,
    *,
    read_timeout: float,
    deadline: Deadline,
    budget: ByteBudget,
    progress: Progress | None = None,
) -> Reply:
    """Send one request on ``conn`` and read its whole response.

    The connection is left ready for another exchange when ``Reply.keep_alive`` is true; the
    caller closes it otherwise, and always after an exception.
    """
    progress = progress or Progress()
    reused = conn.requests > 0
    conn.requests += 1
    try:
        data = format_request_head(method, target, headers) + body
    except ValueError as exc:
        raise errors.InvalidURL(str(exc)) from None
    started = time.perf_counter()
    _send(conn, data, reused, read_timeout, deadline)
    progress.sent_at = time.perf_counter()

    parser = conn.parser
    parser.expect(method)
    response: Response | None = None
    chunks: list[bytes] = []
    head_bytes = 0
    while True:
        before = len(parser.buffer)
        try:
            event = parser.next_event()
        except RemoteProtocolError as exc:
            if reused and progress.received == 0:
                raise errors.StaleConnection(
                    f"server closed the kept-alive connection #{conn.id} before answering"
                ) from None
            raise errors.ProtocolError(str(exc)) from None
        if event is NEED_DATA:
            chunk = _recv(conn, reused, progress, read_timeout, deadline)
            if not progress.first_byte_at:
                progress.first_byte_at = time.perf_counter()
            if chunk:
                progress.received += len(chunk)
                parser.feed(chunk)
            else:
                parser.feed_eof()
        elif isinstance(event, Response):
            head_bytes += before - len(parser.buffer)
            if event.status == 101:
                raise errors.ProtocolError("101 Switching Protocols to a request that asked none")
            if event.status >= 200:
                response = event
        elif isinstance(event, Data):
            budget.take(len(event.data))
            chunks.append(event.data)
        elif event is END:
            break
    assert response is not None  # the parser yields a final head before END
    done = time.perf_counter()
    first = progress.first_byte_at or done
    # Reusable only if the framing said so and nothing unasked-for is waiting in the buffer.
    keep_alive = response.keep_alive and not parser.eof and not parser.buffer
    return Reply(
        status=response.status,
        reason=response.reason,
        version=f"HTTP/{response.version[0]}.{response.version[1]}",
        headers=response.headers,
        body=b"".join(chunks),
        head_bytes=head_bytes,
        wire_bytes=progress.received,
        keep_alive=keep_alive,
        request_bytes=len(data),
        send_ms=(progress.sent_at - started) * 1000,
        wait_ms=(first - progress.sent_at) * 1000,
        receive_ms=(done - first) * 1000,
    )


TIMEOUT_SLACK: Final = 0.05
"""Seconds a socket's send or receive timeout may exceed the step it guards before it is set
again (the page deadline shrinks with every step; re-arming on every call would cost a system
call each time for nothing)."""

TIMEOUT_REARM: Final = 0.25
"""Seconds by which the timeout may fall short of the step before it is set again."""


def _arm(conn: Connection, receive: bool, seconds: float) -> None:
    """Give ``conn``'s blocking socket a send or receive timeout of about ``seconds``.

    The socket is blocking and the kernel enforces SO_SNDTIMEO / SO_RCVTIMEO, as in the
    servers' core: a Python-level timeout (settimeout) polls before every send and receive and
    switches the socket's mode each time, three system calls instead of one, each of them a
    hand-off of the interpreter lock between the fetch threads.
    """
    seconds = max(seconds, 0.001)  # 0 would mean "wait forever"
    current = conn.recv_timeout if receive else conn.send_timeout
    if current is None or current > seconds + TIMEOUT_SLACK or current < seconds - TIMEOUT_REARM:
        whole = int(seconds)
        value = struct.pack("@ll", whole, int((seconds - whole) * 1_000_000))
        option = socket.SO_RCVTIMEO if receive else socket.SO_SNDTIMEO
        conn.sock.setsockopt(socket.SOL_SOCKET, option, value)
        if receive:
            conn.recv_timeout = seconds
        else:
            conn.send_timeout = seconds


def _send(
    conn: Connection, data: bytes, reused: bool, read_timeout: float, deadline: Deadline
) -> None:
    step = deadline.bound(read_timeout)
    try:
        _arm(conn, False, step)
        conn.sock.sendall(data)
    except (TimeoutError, BlockingIOError):  # BlockingIOError: SO_SNDTIMEO expired
        if step < read_timeout:
            raise deadline.expiry_error() from None
        raise errors.WriteTimeout(
            f"server did not take the request within {read_timeout:g} s"
        ) from None
    except OSError as exc:
        if reused and exc.errno in (errno.EPIPE, errno.ECONNRESET):
            raise errors.StaleConnection(
                f"server closed the kept-alive connection #{conn.id}"
            ) from None
        raise errors.SendError(f"sending the request failed: {_strerror(exc)}") from None


def _recv(
    conn: Connection, reused: bool, progress: Progress, read_timeout: float, deadline: Deadline
) -> bytes:
    step = deadline.bound(read_timeout)
    try:
        _arm(conn, True, step)
        return conn.sock.recv(RECV_SIZE)
    except (TimeoutError, BlockingIOError):  # BlockingIOError: SO_RCVTIMEO expired
        if step < read_timeout:
            raise deadline.expiry_error() from None
        got = f" after {progress.received} bytes" if progress.received else ""
        raise errors.ReadTimeout(f"server sent nothing for {read_timeout:g} s{got}") from None
    except OSError as exc:
        if reused and progress.received == 0 and exc.errno == errno.ECONNRESET:
            raise errors.StaleConnection(
                f"server reset the kept-alive connection #{conn.id}"
            ) from None
        if exc.errno == errno.ECONNRESET:
            raise errors.ReceiveError(
                f"connection reset by the server after {progress.received} bytes"
            ) from None
        raise errors.ReceiveError(f"receiving the response failed: {_strerror(exc)}") from None


def _show(sockaddr: Address) -> str:
    host, port = sockaddr[0], sockaddr[1]
    return f"[{host}]:{port}" if ":" in str(host) else f"{host}:{port}"


def _strerror(exc: OSError) -> str:
    return (exc.strerror or str(exc)).lower()
