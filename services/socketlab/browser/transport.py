"""One TCP connection to a server, and one request/response exchange on it.

This is the thin adapter between a socket and the I/O-free HTTP core: it writes the head made by
:func:`socketlab.http.format_request_head`, feeds every received byte to the connection's
:class:`socketlab.http.ResponseParser` and turns its events into a :class:`Reply` (the shape of
h11's ``examples/basic-client.py``). It is also the one place where socket exceptions and the
parser's :class:`~socketlab.http.RemoteProtocolError` become :mod:`.errors` classes, each with a
reason a person can read.

Sockets are non-blocking and every wait happens in the browser's event loop (:mod:`.loop`, on
one thread), bounded by the read timeout and the page's deadline: see :mod:`.browser` for why.
"""

from __future__ import annotations

# _socket, the C module, not socket (here, in loop and in pool): socket.py adds its enums
# (AddressFamily, SocketKind, MsgFlag, AddressInfo), built at import for nothing the browser
# shows, some 15 million instructions, 5 ms, of a page load's start to exit (issue 17). The
# socket type, functions, constants and exceptions are socket.py's own, less the enums.
import _socket
import contextlib
import errno
import os
import time
from collections.abc import Callable, Sequence

from .. import ledger
from ..http import END, NEED_DATA, Data, Headers, RemoteProtocolError, Response, ResponseParser
from ..http.writer import format_request_head
from ..structs import field, record
from . import errors, urls
from .limits import ByteBudget, Deadline
from .loop import _Trap, readable, writable

TYPE_CHECKING = False  # typing is for the type checker only: see socketlab.structs
if TYPE_CHECKING:
    from typing import Any, Final

RECV_SIZE: Final = 65536
"""Bytes asked of each recv(): a whole small response, or a good slice of a large one."""

Address = tuple["Any", ...]  # a string: typing is not imported at run time
Resolver = Callable[[str, int], Sequence[tuple[int, Address]]]
"""``resolve(host, port)`` -> [(family, sockaddr), ...]; raises ``socket.gaierror``."""


def is_ip_literal(host: str) -> bool:
    """True for an IPv4 or IPv6 address (without a zone): no lookup needed, none can block."""
    if "%" in host:
        return False  # a zone index: getaddrinfo knows the interface names
    return urls.is_ip_address(host)


def literal_address(host: str, port: int) -> list[tuple[int, Address]]:
    """The answer for an IP address (see :func:`is_ip_literal`): itself."""
    if ":" in host:
        return [(_socket.AF_INET6, (host, port, 0, 0))]
    return [(_socket.AF_INET, (host, port))]


def system_resolver(host: str, port: int) -> list[tuple[int, Address]]:
    """The system's resolver (``/etc/hosts``, then DNS: Docker's 127.0.0.11 in a container).

    An IP address is its own answer, as in a browser: no lookup (getaddrinfo() took about a
    millisecond for 127.0.0.1 the first time in a process, on the page's critical path).
    """
    if is_ip_literal(host):
        return literal_address(host, port)
    infos = _socket.getaddrinfo(host, port, type=_socket.SOCK_STREAM)
    return [(family, sockaddr) for family, _type, _proto, _name, sockaddr in infos]


def resolve(resolver: Resolver, host: str, port: int) -> list[tuple[int, Address]]:
    """Addresses for ``host``; :class:`~.errors.UnknownHost` with the resolver's reason."""
    try:
        addresses = list(resolver(host, port))
    except _socket.gaierror as exc:
        raise errors.UnknownHost(f"cannot resolve {host!r}: {exc.strerror or exc}") from None
    except (OSError, UnicodeError) as exc:
        raise errors.UnknownHost(f"cannot resolve {host!r}: {exc}") from None
    if not addresses:
        raise errors.UnknownHost(f"cannot resolve {host!r}: no address")
    return addresses


@record(eq=False)
class Connection:
    """A connected, non-blocking socket with its parser. ``requests`` counts the exchanges it
    carried."""

    id: int
    sock: _socket.socket
    host: str
    port: int
    remote: tuple[str, int]
    local: tuple[str, int]
    parser: ResponseParser = field(default_factory=ResponseParser)
    requests: int = 0
    server_view: tuple[str, int] | None = None  # (client_ip, client_port) from /whoami
    server_pid: int | None = None  # the process that answered /whoami on it
    closed: bool = False
    tally: ledger.Tally = field(init=False)

    def __post_init__(self) -> None:
        self.tally = ledger.Tally(self.local, self.remote, role="client", thread="loop")

    def is_stale(self) -> bool:
        """True when an idle connection cannot carry another request: the server closed it
        (a zero-byte read is pending) or sent bytes nobody asked for. One peek, no wait."""
        if self.closed:
            return True
        try:
            self.sock.recv(1, _socket.MSG_PEEK)
        except BlockingIOError:
            return False  # nothing pending: the connection is as we left it
        except OSError:
            return True
        return True  # end of stream, or bytes nobody asked for

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            with contextlib.suppress(OSError):
                self.sock.close()
            self.tally.requests = self.requests
            self.tally.close(connection=self.id, host=f"{self.host}:{self.port}")


async def connect(
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
        sock = _socket.socket(family, _socket.SOCK_STREAM)
        try:
            sock.setblocking(False)
            code = sock.connect_ex(sockaddr)
            if code == errno.EINPROGRESS:
                await writable(sock, step)  # the handshake ended, one way or the other
                code = sock.getsockopt(_socket.SOL_SOCKET, _socket.SO_ERROR)
            if code:
                raise OSError(code, os.strerror(code))  # ECONNREFUSED: ConnectionRefusedError
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
        except BaseException:  # cancelled: the browser is stopping
            sock.close()
            raise
        try:
            sock.setsockopt(_socket.IPPROTO_TCP, _socket.TCP_NODELAY, 1)
            local = sock.getsockname()
            remote = sock.getpeername()
        except OSError as exc:
            sock.close()
            failure = errors.ConnectError(f"connection to {where} failed: {_strerror(exc)}")
            continue
        return Connection(conn_id, sock, host, port, (remote[0], remote[1]), (local[0], local[1]))
    assert failure is not None  # addresses is never empty (resolve() guarantees it)
    raise failure


@record
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

    def __init__(  # written out: one per request, as fast as generated code
        self,
        status: int,
        reason: str,
        version: str,
        headers: Headers,
        body: bytes,
        head_bytes: int,
        wire_bytes: int,
        keep_alive: bool,
        request_bytes: int,
        send_ms: float,
        wait_ms: float,
        receive_ms: float,
    ) -> None:
        self.status = status
        self.reason = reason
        self.version = version
        self.headers = headers
        self.body = body
        self.head_bytes = head_bytes
        self.wire_bytes = wire_bytes
        self.keep_alive = keep_alive
        self.request_bytes = request_bytes
        self.send_ms = send_ms
        self.wait_ms = wait_ms
        self.receive_ms = receive_ms


@record
class Progress:
    """How far an exchange got: filled in as it goes, so a failure still has its timings."""

    sent_at: float = 0.0
    first_byte_at: float = 0.0
    received: int = 0

    def __init__(  # written out: one per request, as fast as generated code
        self,
        sent_at: float = 0.0,
        first_byte_at: float = 0.0,
        received: int = 0,
    ) -> None:
        self.sent_at = sent_at
        self.first_byte_at = first_byte_at
        self.received = received


async def exchange(
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
    await _send(conn, data, reused, read_timeout, deadline)
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
            chunk = await _recv(conn, reused, progress, read_timeout, deadline)
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


# Sending and receiving: each first tries the socket at once (a request fits the socket's
# buffer, and the next part of a response is often already there), and only when the kernel
# says "would block" waits in the event loop, bounded by the read timeout and the page's
# deadline.


async def _wait(
    ready: Callable[[_socket.socket, float], _Trap],
    conn: Connection,
    read_timeout: float,
    deadline: Deadline,
    timed_out: errors.Timeout,
) -> None:
    """Wait until ``conn``'s socket is ready (``readable`` or ``writable``), at most
    ``read_timeout`` seconds and never past the page's deadline; raise ``timed_out`` or the
    deadline's error when the time is up."""
    step = deadline.bound(read_timeout)
    try:
        await ready(conn.sock, step)
    except TimeoutError:
        if step < read_timeout:
            raise deadline.expiry_error() from None
        raise timed_out from None


async def _send(
    conn: Connection, data: bytes, reused: bool, read_timeout: float, deadline: Deadline
) -> None:
    view = memoryview(data)
    try:
        while view:
            try:
                sent = conn.sock.send(view)
                conn.tally.bytes_out += sent
                view = view[sent:]
                continue
            except BlockingIOError:  # the socket's buffer is full: wait until it drains
                pass
            await _wait(
                writable,
                conn,
                read_timeout,
                deadline,
                errors.WriteTimeout(f"server did not take the request within {read_timeout:g} s"),
            )
    except OSError as exc:
        if reused and exc.errno in (errno.EPIPE, errno.ECONNRESET):
            raise errors.StaleConnection(
                f"server closed the kept-alive connection #{conn.id}"
            ) from None
        raise errors.SendError(f"sending the request failed: {_strerror(exc)}") from None


async def _recv(
    conn: Connection, reused: bool, progress: Progress, read_timeout: float, deadline: Deadline
) -> bytes:
    try:
        while True:
            try:
                data = conn.sock.recv(RECV_SIZE)
                conn.tally.bytes_in += len(data)
                return data
            except BlockingIOError:  # nothing yet: wait until something comes
                pass
            got = f" after {progress.received} bytes" if progress.received else ""
            await _wait(
                readable,
                conn,
                read_timeout,
                deadline,
                errors.ReadTimeout(f"server sent nothing for {read_timeout:g} s{got}"),
            )
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
