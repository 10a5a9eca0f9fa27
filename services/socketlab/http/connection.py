"""The server side of one HTTP/1.1 connection: the thin adapter between a socket and the parser.

:class:`Connection` reads requests from one accepted socket, hands each to a *handler* as an
:class:`Exchange`, writes what the handler answers and keeps the connection alive for the next
request (pipelined ones included, answered in order). It knows nothing about threads or
processes: the threaded server runs one per thread, the multiprocess server one per child or
worker, which is the point: how connections arrive is one thing, what to do with a request
another (the split of CPython's socketserver into server classes and request handlers).

Deadlines keep a silent or slow client from holding a thread or a process forever:

* ``header_timeout`` -- a request head must arrive completely within this time of its first
  byte (slowloris), else 408 and close;
* ``idle_timeout`` -- how long a kept-alive connection may sit with no new request;
* ``io_timeout`` -- the longest a single read of a body or a single write may block.

With an :class:`~socketlab.http.outbox.Outbox` (``Connection.outbox``, set by a poller that
asks for it: prefork's workers) the socket is non-blocking and no send waits: what the client
does not take at once is kept, and the poller sends it after the handler returned. A worker is
then held by a slow reader only for what exceeds the outbox's bound.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import select
import socket
import struct
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import BinaryIO, Final, Protocol

from .. import ledger, logs
from . import errors
from .errors import HTTPError
from .outbox import Outbox, ShortFile
from .parser import DEFAULT_LIMITS, END, Data, Headers, Limits, Request, RequestParser
from .writer import (
    CONTINUE,
    LAST_CHUNK,
    FieldBlock,
    check_field,
    chunk,
    date_and_server_fields,
    status_line,
)

log = logging.getLogger("socketlab.http")
access_log = logging.getLogger("socketlab.access")

RECV_SIZE: Final = 65536
"""Bytes asked of each recv(): one call usually takes a whole request head or a body chunk."""

HEADER_TIMEOUT: Final = 10.0
"""Seconds for a whole request head once it started (nginx's client_header_timeout is 60 s;
a lab server can be stricter so that slowloris demos end quickly)."""

IDLE_TIMEOUT: Final = 15.0
"""Seconds a kept-alive connection may wait for its next request (nginx 75 s, Apache 5 s)."""

IO_TIMEOUT: Final = 30.0
"""Seconds one body read or one write may block before the client is considered gone."""

MAX_REQUESTS_PER_CONNECTION: Final = 1000
"""After this many requests the connection is closed (nginx's keepalive_requests default),
which bounds how long one client can monopolise a thread or worker."""

DRAIN_LIMIT: Final = 65536
"""Unread request body bytes we will read and discard to keep the connection alive; past it we
close instead (a client uploading megabytes to a static file is not worth the wait)."""

JOIN_LIMIT: Final = 16384
"""Bodies up to this size go out in one send() joined to the head; a longer body is sent with
the head by one sendmsg(2) from where both are, instead of being copied once more in Python (a
100 KiB file cost a 100 KiB copy per response)."""

LINGER_SECONDS: Final = 1.0
"""After an error, how long we keep reading (and discarding) before closing, so that the error
response is not destroyed by a TCP RST caused by unread pipelined bytes (Apache's lingering
close)."""


@dataclass(frozen=True)
class ConnectionConfig:
    limits: Limits = DEFAULT_LIMITS
    header_timeout: float = HEADER_TIMEOUT
    idle_timeout: float = IDLE_TIMEOUT
    io_timeout: float = IO_TIMEOUT
    max_requests: int = MAX_REQUESTS_PER_CONNECTION
    # Fields added to every response head, the core's own error answers included (the
    # multiprocess server names the answering process with X-Worker-Pid this way).
    extra_headers: tuple[tuple[str, str], ...] = ()

    @functools.cached_property
    def extra_fields(self) -> bytes:
        """``extra_headers`` as they go into every response head: encoded once per config,
        not once per connection."""
        return "".join(f"{name}: {value}\r\n" for name, value in self.extra_headers).encode(
            "latin-1"
        )


DEFAULT_CONFIG: Final = ConnectionConfig()


class ClientGone(Exception):
    """The client closed or reset the connection, or stopped reading; nothing more can be sent."""


Handler = Callable[["Exchange"], None]


class Wire(Protocol):
    """What an :class:`Exchange` needs of the connection it belongs to.

    :class:`Connection` is the blocking-socket side (threads and processes); coroutine-web's
    connection is the asyncio side, whose sends only queue bytes on the transport and whose
    body reads go through :meth:`Exchange.body_step` instead of :meth:`receive`.
    """

    client: tuple[str, int]
    server: tuple[str, int]
    config: ConnectionConfig
    parser: RequestParser
    draining: bool
    extra_fields: bytes
    peer: str

    def receive(self, timeout: float, on_timeout: Exception) -> None: ...
    def send_raw(self, data: bytes) -> None: ...
    def send_parts(self, *parts: bytes) -> None: ...
    def send_file(self, file: BinaryIO, offset: int, count: int) -> None: ...


class Exchange:
    """One request and its response, as a handler sees it.

    The handler reads the body with :meth:`read`, then answers either at once with
    :meth:`respond` or in pieces: :meth:`start` (status and headers), :meth:`write` and
    :meth:`send_file` any number of times. The head is sent together with the first non-empty
    piece of body (or at the end), so a handler that fails before writing anything still gets
    a clean 500. Framing is chosen here: ``Content-Length`` when the handler gives a length,
    chunked for HTTP/1.1 otherwise, and close-delimited for HTTP/1.0.
    """

    def __init__(self, conn: Wire, request: Request, index: int) -> None:
        self.connection = conn
        self.request = request
        self.request_index = index
        self.client = conn.client
        self.server = conn.server
        self.started_at = time.monotonic()
        self.status: int | None = None
        self.body_bytes = 0
        self.keep_alive = request.keep_alive
        self.note = ""  # a short word for the access log (e.g. "error=..."), set by handlers
        self._head: bytes | None = None
        self._head_sent = False
        self._length: int | None = None
        self._chunked = False
        self._no_body = False
        self._finished = False
        self._body_done = not request.has_body
        self._continue_sent = False
        self._rbuf = b""
        # A body received completely before the handler ran (by a poller, see http/poller.py):
        # reads come from it and never wait on the client.
        self.spool: BinaryIO | None = None

    # -- request body --------------------------------------------------------------------------

    @property
    def head_sent(self) -> bool:
        return self._head_sent

    @property
    def finished(self) -> bool:
        """True once the response is complete (respond() or finish() was called)."""
        return self._finished

    @property
    def body_done(self) -> bool:
        return self._body_done and not self._rbuf

    @property
    def continue_sent(self) -> bool:
        return self._continue_sent

    def body_step(self) -> bytes | None:
        """One I/O-free step of reading the request body: the next piece of it, b"" at its end,
        or None when more bytes must be received first (blocking or asynchronously, as the
        connection does I/O). A 100 Continue goes out the first time the body is waited for."""
        if self._body_done:
            return b""
        if self.spool is not None:
            piece = self.spool.read(RECV_SIZE)
            if not piece:
                self._body_done = True
            return piece
        conn = self.connection
        event = conn.parser.next_event()
        if isinstance(event, Data):
            return event.data
        if event is END:
            self._body_done = True
            return b""
        if self.request.expects_continue and not self._continue_sent:
            # RFC 9110 §10.1.1: the client waits for 100 before sending the body.
            self._continue_sent = True
            conn.send_raw(CONTINUE)
        return None

    def _pull(self) -> bytes:
        """The next piece of request body, or b"" at its end (blocking)."""
        conn = self.connection
        while (piece := self.body_step()) is None:
            conn.receive(conn.config.io_timeout, errors.RequestTimeout("request body too slow"))
        return piece

    def read(self, size: int = -1) -> bytes:
        """Read up to ``size`` bytes of request body (all of it when size < 0); b"" at the end."""
        if size < 0:
            parts = [self._rbuf]
            self._rbuf = b""
            while piece := self._pull():
                parts.append(piece)
            return b"".join(parts)
        while len(self._rbuf) < size and not self._body_done:
            piece = self._pull()
            if not piece:
                break
            self._rbuf += piece
            if self._rbuf:
                break  # return what we have; callers loop (like socket.recv)
        data, self._rbuf = self._rbuf[:size], self._rbuf[size:]
        return data

    def readline(self, limit: int = -1) -> bytes:
        """Read one line of body (up to and including b"\\n"), at most ``limit`` bytes."""
        while b"\n" not in self._rbuf and not self._body_done:
            if 0 <= limit <= len(self._rbuf):
                break
            piece = self._pull()
            if not piece:
                break
            self._rbuf += piece
        end = self._rbuf.find(b"\n") + 1 or len(self._rbuf)
        if 0 <= limit < end:
            end = limit
        line, self._rbuf = self._rbuf[:end], self._rbuf[end:]
        return line

    # -- response --------------------------------------------------------------------------

    def start(
        self,
        status: int,
        headers: Iterable[tuple[str, str]],
        *,
        reason: str | None = None,
        length: int | None = None,
    ) -> None:
        """Set the status and headers; they go out with the first body bytes or at the end.

        ``length`` (or a ``Content-Length`` among ``headers``) fixes the body size; without it
        the body is chunked (HTTP/1.1) or ends when the connection closes (HTTP/1.0).
        Calling start() again before anything was sent replaces the head (WSGI exc_info).
        """
        if self._head_sent:
            raise RuntimeError("response head already sent")
        request = self.request
        fields: list[tuple[str, str]] = []
        if type(headers) is FieldBlock:
            block = headers.encoded  # checked when it was made, and holds no reserved field
        else:
            block = b""
            for name, value in headers:
                check_field(name, value)
                low = name.lower()
                if low == "content-length":
                    length = int(value)
                    continue
                if low in ("transfer-encoding", "date", "server"):
                    continue  # framing and these two are ours to set
                if low == "connection":
                    if "close" in value.lower():
                        self.keep_alive = False
                    continue
                fields.append((name, value))
        self._no_body = request.method == "HEAD" or status < 200 or status in (204, 304)
        self._length = length
        self._chunked = False
        if length is not None and status not in (204, 304) and status >= 200:
            fields.append(("Content-Length", str(length)))
        elif not self._no_body:
            if request.version >= (1, 1):
                self._chunked = True
                fields.append(("Transfer-Encoding", "chunked"))
            else:
                self.keep_alive = False  # HTTP/1.0 without a length: the close ends the body
        conn = self.connection
        if conn.draining or self.request_index >= conn.config.max_requests:
            self.keep_alive = False
        if not self.keep_alive:
            fields.append(("Connection", "close"))
        elif request.version < (1, 1):
            fields.append(("Connection", "keep-alive"))
        self.status = status
        # The fields in the order they always had: the handler's, framing, Connection, the
        # server's extra fields, Date, Server. Values must be latin-1 (checked above).
        self._head = b"".join(
            (
                status_line(status, reason),
                block,
                "".join([f"{name}: {value}\r\n" for name, value in fields]).encode("latin-1"),
                conn.extra_fields,
                date_and_server_fields(),
                b"\r\n",
            )
        )

    def _send(self, data: bytes) -> None:
        if not self._head_sent:
            assert self._head is not None
            self._head_sent = True
            if len(data) > JOIN_LIMIT:
                self.connection.send_parts(self._head, data)
                return
            data = self._head + data
        self.connection.send_raw(data)

    def write(self, data: bytes) -> None:
        """Send a piece of body (empty pieces are ignored, as WSGI requires)."""
        if self._head is None:
            raise RuntimeError("write() before start()")
        if not data:
            return
        if self._no_body:
            if not self._head_sent:
                self._send(b"")
            return
        if self._length is not None and self.body_bytes + len(data) > self._length:
            raise RuntimeError(
                f"handler wrote more than the declared Content-Length of {self._length}"
            )
        self.body_bytes += len(data)
        self._send(chunk(data) if self._chunked else data)

    def send_file(self, file: BinaryIO, offset: int, count: int) -> None:
        """Send ``count`` bytes of ``file`` from ``offset`` with sendfile(2): no copy in Python."""
        if self._head is None:
            raise RuntimeError("send_file() before start()")
        if self._no_body or count <= 0:
            if not self._head_sent:
                self._send(b"")
            return
        if self._chunked:
            # sendfile cannot add chunk framing; frame the whole file as one chunk.
            self._send(b"%x\r\n" % count)
            self.connection.send_file(file, offset, count)
            self.connection.send_raw(b"\r\n")
        else:
            if not self._head_sent:
                self._send(b"")
            self.connection.send_file(file, offset, count)
        self.body_bytes += count

    def respond(
        self,
        status: int,
        headers: Iterable[tuple[str, str]],
        body: bytes = b"",
        *,
        reason: str | None = None,
    ) -> None:
        """Send a whole response with a known body in one go (one send for small answers)."""
        self.start(status, headers, reason=reason, length=len(body))
        if self._no_body:
            self._send(b"")
        else:
            self.body_bytes += len(body)
            self._send(body)
        self._finished = True

    def answer_failure(self, exc: Exception, peer: str) -> bool:
        """Answer a handler that raised: an :class:`HTTPError` with its own status, anything else
        with 500 (logged with its traceback, never shown to the client). False when the head was
        already sent: the response is half out, and only closing the connection tells the client.
        Every server's connection calls this, so a failure means the same in each of them."""
        if isinstance(exc, HTTPError):
            if self.head_sent:
                log.error("%s: %s after the response started; closing", peer, exc)
                return False
            self.respond_error(exc)
            return True
        log.error(
            "%s: handler failed on %s %s",
            peer,
            self.request.method,
            logs.printable(self.request.target.encode("latin-1")),
            exc_info=exc,
        )
        if self.head_sent:
            return False
        self.keep_alive = False
        self.respond_error(errors.InternalServerError("the server failed"))
        return True

    def respond_error(self, exc: HTTPError) -> None:
        """Answer with the error's status and page, and close the connection afterwards."""
        if exc.peer_fault or exc.status >= 500:
            self.keep_alive = False
        headers = [*exc.headers, ("Content-Type", "text/html; charset=utf-8")]
        self.note = exc.detail and "error=" + logs.printable(exc.detail, 80)
        self.respond(exc.status, headers, exc.render_html())

    def finish(self) -> None:
        """Complete the response: send the head if still unsent, end chunked framing."""
        if self._finished:
            return
        self._finished = True
        if self._head is None:
            raise RuntimeError("handler returned without answering")
        if self._chunked:
            self._send(LAST_CHUNK)
        elif not self._head_sent:
            self._send(b"")
        if self._length is not None and not self._no_body and self.body_bytes != self._length:
            # The declared length was a lie: the client cannot find the next response.
            log.error(
                "%s: response body had %d bytes but Content-Length said %d; closing",
                self.connection.peer,
                self.body_bytes,
                self._length,
            )
            self.keep_alive = False


class Connection:
    """Serve the requests of one accepted socket until it closes; never raises."""

    def __init__(
        self,
        sock: socket.socket,
        client: tuple[str, int],
        handler: Handler,
        config: ConnectionConfig = DEFAULT_CONFIG,
        worker: str = "",
        *,
        server: tuple[str, int] | None = None,
        outbox: Outbox | None = None,
    ) -> None:
        """``server``: the local address when the caller knows it (a listener bound to one
        address: every connection it accepts has that address), which spares a getsockname(2).
        ``outbox``: deferred sends from the start (see :attr:`outbox`); the socket is then made
        non-blocking here, and needs no send timeout (no send ever waits)."""
        self.sock = sock
        self.client = (client[0], client[1])
        if server is None:
            local = sock.getsockname()
            server = (local[0], local[1])
        self.server = server
        self.handler = handler
        self.config = config
        self.parser = RequestParser(config.limits)
        self.extra_fields = config.extra_fields
        self.peer = f"{self.client[0]}:{self.client[1]}"
        self.worker = worker
        self.draining = False
        self.requests = 0
        # Poller mode (http/poller.py): instead of waiting for the next request, serve() returns
        # with ``parked`` set, and the poller waits for the bytes; it hands a request it already
        # took from the parser back in ``pending`` (and its received body in ``pending_body``).
        self.parkable = False
        self.parked = False
        self.pending: Request | None = None
        self.pending_body: BinaryIO | None = None
        # Deferred sends (see outbox.py): given by a poller that sends the rest;
        # ``close_after_send`` asks it to close (with a lingering close) once all is sent.
        self.outbox = outbox
        self.close_after_send = False
        # Answered by a poller in its own thread (http/poller.py, ``answers_here``): a request
        # this says no to is left in ``pending`` with ``for_worker`` set, for a worker thread.
        self.answer_only: Callable[[Request], bool] | None = None
        self.for_worker = False
        self._spool: BinaryIO | None = None
        self._lock = threading.Lock()
        self._waiting_idle = False
        self._closed = False
        self._recv_timeout: float | None = None
        # Bytes each way and requests, for the connection's ledger line (written by close()).
        self.tally = ledger.Tally(self.server, self.client)
        if outbox is not None:
            sock.setblocking(False)
            return
        sock.settimeout(None)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, _timeval(config.io_timeout))

    # -- socket I/O --------------------------------------------------------------------------
    #
    # The socket stays in blocking mode and the deadlines are the kernel's SO_RCVTIMEO and
    # SO_SNDTIMEO. A Python socket with settimeout() polls before every recv and send, and each
    # of those system calls releases and retakes the GIL; with dozens of threads that doubles
    # the GIL hand-offs per request, which is what limits a threaded Python server.

    def _set_recv_timeout(self, seconds: float) -> None:
        # Only touch the socket option when the wanted deadline differs noticeably: the loop in
        # _next_request re-checks the real deadline after every wake-up anyway.
        current = self._recv_timeout
        if current is None or current > seconds + 0.05 or current < seconds - 0.25:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, _timeval(seconds))
            self._recv_timeout = seconds

    def receive(self, timeout: float, on_timeout: Exception) -> None:
        """recv() once into the parser; raise ``on_timeout`` or ClientGone as fits."""
        if self.outbox is None and self.sock.gettimeout() == 0.0:
            self._blocking()  # handed over non-blocking by a poller: SO_RCVTIMEO is the deadline
        self._set_recv_timeout(max(timeout, 0.001))
        try:
            data = self.sock.recv(RECV_SIZE)
        except BlockingIOError:  # EAGAIN: SO_RCVTIMEO expired
            raise on_timeout from None
        except OSError as exc:
            raise ClientGone(str(exc)) from None
        if data:
            self.tally.bytes_in += len(data)
            self.parser.feed(data)
        else:
            self.parser.feed_eof()

    def _blocking(self) -> None:
        """The socket is non-blocking (a poller hands it over so, see http/poller.py) and must
        wait now: make it blocking, with SO_SNDTIMEO and SO_RCVTIMEO as the deadlines again."""
        self.sock.setblocking(True)

    def _try_send(self, data: bytes) -> int:
        """Bytes of ``data`` one non-blocking send() took (0 when the buffer is full)."""
        try:
            return self.sock.send(data)
        except BlockingIOError:
            return 0

    def send_raw(self, data: bytes) -> None:
        if self.outbox is not None:
            self._defer(data)
            return
        sock = self.sock
        try:
            if sock.gettimeout() == 0.0:
                # A poller's connection is non-blocking, and a small answer fits the socket
                # buffer: one send, with no switch to blocking and back (two system calls, and
                # two GIL hand-offs, per request). Only what does not fit waits, as before.
                sent = self._try_send(data)
                if sent < len(data):
                    self._blocking()
                    sock.sendall(memoryview(data)[sent:])
            else:
                sock.sendall(data)
            self.tally.bytes_out += len(data)
        except OSError as exc:  # EAGAIN here means SO_SNDTIMEO expired: the client stopped reading
            raise ClientGone(str(exc) or type(exc).__name__) from None

    def send_parts(self, *parts: bytes) -> None:
        """Send ``parts`` one after the other with one sendmsg(2) (gather: nothing is joined)."""
        if self.outbox is not None:
            self._defer(*parts)
            return
        try:
            if self.sock.gettimeout() == 0.0:
                self._blocking()  # large answers: blocking, as before (see send_raw)
            sent = self.sock.sendmsg(parts)
            total = sum(len(part) for part in parts)
            if sent < total:  # the send timeout cut it short: try the rest once more
                self.sock.sendall(memoryview(b"".join(parts))[sent:])
            self.tally.bytes_out += total
        except OSError as exc:  # EAGAIN: SO_SNDTIMEO expired, the client stopped reading
            raise ClientGone(str(exc) or type(exc).__name__) from None

    def send_file(self, file: BinaryIO, offset: int, count: int) -> None:
        if self.outbox is not None:
            self._defer_file(file, offset, count)
            return
        # socket.sendfile() waits with select() on EAGAIN, so it needs a Python-level timeout.
        self.sock.settimeout(self.config.io_timeout)
        try:
            sent = self.sock.sendfile(file, offset, count)
        except (OSError, TimeoutError) as exc:
            raise ClientGone(str(exc) or type(exc).__name__) from None
        finally:
            self.sock.settimeout(None)
        self.tally.bytes_out += sent
        if sent != count:
            raise ClientGone(f"file shrank while being sent ({sent} of {count} bytes)")

    # -- deferred sends (an outbox, a non-blocking socket) ------------------------------------

    @property
    def sending(self) -> bool:
        """True while the outbox holds bytes the client has not taken yet."""
        return self.outbox is not None and not self.outbox.empty

    def _defer(self, *parts: bytes) -> None:
        outbox = self.outbox
        assert outbox is not None
        for part in parts:
            outbox.add(part)
        self.flush()
        if outbox.full and self.answer_only is None:
            # (Answered by a poller, it never waits: one answer, a small file, may pass the
            # bound, and the request loop stops while the outbox holds anything, see _serve.)
            self._wait_for_room()

    def _defer_file(self, file: BinaryIO, offset: int, count: int) -> None:
        outbox = self.outbox
        assert outbox is not None
        try:
            fileno = file.fileno()
        except (AttributeError, OSError, ValueError):
            fileno = -1  # not a real file (io.BytesIO...): its bytes go through memory
        if fileno < 0:
            file.seek(offset)
            while count > 0 and (piece := file.read(min(count, RECV_SIZE))):
                count -= len(piece)
                self._defer(piece)
            if count > 0:
                raise ClientGone(f"file shrank while being sent ({count} bytes short)")
            return
        outbox.add_file(fileno, offset, count)
        self.flush()
        if outbox.full and self.answer_only is None:  # a poller never waits (see _defer)
            self._wait_for_room()

    def flush(self) -> bool:
        """Send what the outbox holds, as far as the socket takes it now; True when all went.
        Raises ClientGone when the client is gone (or a file shrank)."""
        outbox = self.outbox
        if outbox is None or outbox.empty:
            return True
        try:
            self.tally.bytes_out += outbox.flush(self.sock)
        except (OSError, ShortFile) as exc:
            outbox.clear()
            raise ClientGone(str(exc) or type(exc).__name__) from None
        return outbox.empty

    def _wait_for_room(self) -> None:
        """The outbox is past its bound: wait for the client to take some (the back-pressure
        that bounds memory), at most ``io_timeout`` without progress."""
        self.wait_sent(self.config.io_timeout, until_empty=False)

    def wait_sent(self, timeout: float, *, until_empty: bool = True) -> None:
        """Block until the outbox is empty (or back under its bound), giving up after
        ``timeout`` seconds in which the client took nothing (ClientGone)."""
        outbox = self.outbox
        if outbox is None:
            return
        waiter = select.poll()
        waiter.register(self.sock.fileno(), select.POLLOUT)
        while not outbox.empty and (until_empty or outbox.full):
            if not waiter.poll(timeout * 1000):
                outbox.clear()
                raise ClientGone(f"the client took nothing for {timeout:g} s")
            self.flush()

    # -- the request loop ----------------------------------------------------------------------

    def _next_request(self) -> Request | None:
        """Wait for the next request head; None when the client closed or stayed idle."""
        if self.pending is not None:
            request, self.pending = self.pending, None
            return request
        parser = self.parser
        first = self.requests == 0
        idle_deadline = time.monotonic() + (
            self.config.header_timeout if first else self.config.idle_timeout
        )
        head_deadline: float | None = None
        while True:
            event = parser.next_event()
            if isinstance(event, Request):
                if self.parkable and event.has_body:
                    # The poller receives the body before a worker runs the handler.
                    self.pending, self.parked = event, True
                    return None
                return event
            if event is END:
                continue  # the previous request's end marker (a body-less request)
            if parser.eof:
                if parser.buffer:
                    log.debug("%s closed in the middle of a request head", self.peer)
                return None
            if self.parkable:
                self.parked = True  # nothing complete is buffered: the poller waits for it
                return None
            now = time.monotonic()
            if parser.buffer:
                if head_deadline is None:
                    head_deadline = now + self.config.header_timeout
                deadline = head_deadline
            else:
                deadline = idle_deadline
            if now >= deadline:
                if parser.buffer:
                    raise errors.RequestTimeout("request head not received in time")
                return None
            with self._lock:
                if self.draining and not parser.buffer:
                    return None
                self._waiting_idle = not parser.buffer
            try:
                self.receive(deadline - now, _IdleTimeout())
            except _IdleTimeout:
                continue  # loop: the deadline check decides between 408 and a quiet close
            finally:
                with self._lock:
                    self._waiting_idle = False

    def serve(self) -> None:
        """Serve requests until the connection closes (or, when ``parkable``, until no complete
        request is buffered: then ``parked`` is True and the socket stays open)."""
        self.parked = False
        try:
            self._serve()
        except ClientGone as exc:
            self.parked = False
            log.debug("%s gone: %s", self.peer, exc)
        except Exception:
            self.parked = False
            log.exception("%s: unexpected error in connection handling", self.peer)
        finally:
            self._close_spool()
            if not self.parked:
                self.close()

    def _close_spool(self) -> None:
        """Drop the received body of the last request (its temporary file, if it had one)."""
        if self._spool is not None:
            self._spool.close()
            self._spool = None

    def _serve(self) -> None:
        while True:
            if self.sending:
                # An answer is still on its way: the poller sends it before the next request
                # (a pipelined one, left in the parser) is served, so that answers keep their
                # order and the outbox its bound.
                self.parked = True
                return
            try:
                request = self._next_request()
            except HTTPError as exc:
                self._reject(exc)
                return
            if request is None:
                return
            if self.answer_only is not None and not self.answer_only(request):
                self.pending, self.parked, self.for_worker = request, True, True
                return
            self.requests += 1
            exchange = Exchange(self, request, self.requests)
            self._close_spool()
            exchange.spool = self._spool = self.pending_body
            self.pending_body = None
            if exchange.spool is not None:
                exchange._continue_sent = True  # the poller sent it, if it was asked for
            try:
                self.handler(exchange)
                if not exchange._finished:
                    exchange.finish()
            except ClientGone:
                self._log_access(exchange)
                raise
            except Exception as exc:  # noqa: BLE001 -- any failure is answered (answer_failure logs it)
                if not exchange.answer_failure(exc, self.peer):
                    return
            self._log_access(exchange)
            if not exchange.keep_alive:
                self._closing(linger=not exchange.body_done)
                return
            if not exchange.body_done and not self._drain_body(exchange):
                return

    def _drain_body(self, exchange: Exchange) -> bool:
        """Read and discard a body the handler left unread; False if the connection must close."""
        if exchange.request.expects_continue and not exchange._continue_sent:
            return False  # the client has not sent it; closing is the only clean answer
        drained = 0
        try:
            while piece := exchange.read(RECV_SIZE):
                drained += len(piece)
                if drained > DRAIN_LIMIT:
                    return False
        except (HTTPError, ClientGone):
            return False
        return True

    def _reject(self, exc: HTTPError) -> None:
        """Answer a request we could not even parse, then close (after lingering)."""
        exchange = reject(self, exc, self.requests + 1)
        self._log_access(exchange)
        self._closing(linger=True)

    def _closing(self, *, linger: bool) -> None:
        """The last answer is written: close, after a lingering close if ``linger``. With part
        of it still in the outbox the poller sends it first, then lingers and closes."""
        if self.sending or (linger and self.answer_only is not None):
            # The poller sends the rest, and lingers: it never waits here (answer_only: this
            # runs in the poller's own thread).
            self.close_after_send = self.parked = True
            return
        if linger:
            self._linger()

    def _linger(self) -> None:
        try:
            self.sock.shutdown(socket.SHUT_WR)
            deadline = time.monotonic() + LINGER_SECONDS
            while (left := deadline - time.monotonic()) > 0:
                self.sock.settimeout(left)
                if not self.sock.recv(RECV_SIZE):
                    break
        except OSError:
            pass

    def _log_access(self, exchange: Exchange) -> None:
        if access_log.isEnabledFor(logging.INFO):
            log_access(
                exchange,
                self.worker or f"pid={cached_pid()} thread={threading.current_thread().name}",
            )

    # -- shutdown ------------------------------------------------------------------------------

    @property
    def idle(self) -> bool:
        """True while the connection waits for its next request with nothing received of it:
        closing now loses nothing (see :meth:`drain`)."""
        return self._waiting_idle and not self._closed

    def drain(self) -> None:
        """Graceful stop: finish the request in flight, then close; wake an idle connection now.

        An idle connection is shut down only when nothing of a next request has reached the
        kernel: a request that arrived just before the stop (its bytes already buffered, the
        serving thread not yet woken) is answered, with ``Connection: close``, instead of being
        cut off. The window left is the one any server has between its last look and close(2);
        a client whose request meets the close sees it closed unanswered and may retry it
        (RFC 9112 §9.3.1)."""
        with self._lock:
            self.draining = True
            if self._waiting_idle and not self._closed and not self._bytes_waiting():
                with contextlib.suppress(OSError):
                    self.sock.shutdown(socket.SHUT_RDWR)

    def _bytes_waiting(self) -> bool:
        """True when the kernel holds received bytes not yet read (or the peer's EOF)."""
        try:
            return bool(self.sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT))
        except BlockingIOError:
            return False
        except OSError:
            return True  # reset or similar: the reading thread finds out by itself

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
        if self.outbox is not None:
            self.outbox.clear()
        with contextlib.suppress(OSError):
            self.sock.close()
        self.tally.requests = self.requests
        self.tally.close()


def reject(conn: Wire, exc: HTTPError, index: int) -> Exchange:
    """Answer a request that could not even be parsed with the error's status; the exchange is
    returned for the access log, and the connection must close (after lingering)."""
    raw_line = conn.parser.last_line.decode("latin-1")
    request = Request("-", raw_line or "-", (1, 1), Headers(), keep_alive=False)
    exchange = Exchange(conn, request, index)
    exchange._body_done = True
    exchange.respond_error(exc)
    return exchange


def log_access(exchange: Exchange, worker: str) -> None:
    """The access log line of one exchange, the same for every server of the lab: both
    addresses, the request line (escaped), status, body bytes, duration and who answered.

    The text is a contract (tests, scripts/ledger_table.py and readers of ``docker logs`` parse
    it): ``logs.ACCESS`` writes exactly what the ``logging`` record would, only cheaper."""
    request = exchange.request
    duration_ms = (time.monotonic() - exchange.started_at) * 1000
    method = request.method
    target = request.target  # each character one byte of the request line (latin-1)
    target = logs.printable(target if target.isascii() else target.encode("latin-1"))
    version = request.http_version if method != "-" else "-"
    status = exchange.status if exchange.status is not None else "-"
    note = " " + exchange.note if exchange.note else ""
    fast = logs.ACCESS.target()
    if fast is not None:
        fast.write(
            f'{exchange.connection.peer} "{method} {target} {version}" {status} '
            f"{exchange.body_bytes} {duration_ms:.1f}ms {worker}{note}"
        )
        return
    access_log.info(
        '%s "%s %s %s" %s %d %.1fms %s%s',
        exchange.connection.peer,
        method,
        target,
        version,
        status,
        exchange.body_bytes,
        duration_ms,
        worker,
        note,
    )


_PID: list[int] = [os.getpid()]
os.register_at_fork(after_in_child=lambda: _PID.__setitem__(0, os.getpid()))


def cached_pid() -> int:
    """os.getpid() without its system call per access line (kept right across fork)."""
    return _PID[0]


class _IdleTimeout(Exception):
    pass


def _timeval(seconds: float) -> bytes:
    """A struct timeval for SO_RCVTIMEO/SO_SNDTIMEO."""
    whole = int(seconds)
    return struct.pack("@ll", whole, int((seconds - whole) * 1_000_000))
