"""One HTTP/1.1 connection on the event loop: an asyncio Protocol and the task that serves it.

The protocol side only moves bytes: ``data_received`` feeds the shared I/O-free parser and wakes
the connection's task; ``pause_writing``/``resume_writing`` and the read pause are the flow
control. The task (one per connection, named ``conn-<n>``) runs the same request loop as the
blocking :class:`socketlab.http.connection.Connection` -- keep-alive, pipelining, the three
deadlines, lingering close after an error, the access log -- with the same
:class:`~socketlab.http.connection.Exchange` building every response head, so both servers
answer byte for byte alike.

Flow control, both ways (the facts follow uvicorn's h11 protocol):

* reading pauses once the parser holds more than :data:`HIGH_WATER` unconsumed bytes (a client
  pipelining faster than we answer) and resumes whenever the task waits for more bytes;
* a write only queues bytes on the transport; after each response (and each ASGI body message)
  the task waits until the transport's buffer is back under its high-water mark, so a client
  that does not read holds one message of memory, not the whole response. That wait, like a
  body read, is bounded by ``io_timeout``.

Deadlines are not one timer per wait: each connection keeps the monotonic time by which its
current wait must end, and the server's sweeper (:data:`SWEEP_INTERVAL`) wakes the ones past it.
An idle connection then costs its objects and no timer handle.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import os
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, BinaryIO, Final

from .. import ledger, status
from ..http import errors
from ..http.connection import (
    DRAIN_LIMIT,
    LINGER_SECONDS,
    ClientGone,
    ConnectionConfig,
    Exchange,
    access_log,
    cached_pid,
    log_access,
    reject,
)
from ..http.errors import HTTPError
from ..http.parser import END, Request, RequestParser

if TYPE_CHECKING:
    from .server import CoroutineServer

log = logging.getLogger("socketlab.coroutine_web")

HIGH_WATER: Final = 65536
"""Unparsed bytes a connection buffers before it stops reading from the socket (uvicorn's
HIGH_WATER_LIMIT is the same 64 KiB; it is also the parser's largest request head)."""

SWEEP_INTERVAL: Final = 0.1
"""Seconds between two looks at every connection's deadline: a deadline fires at most this
late. 10,000 connections cost about a millisecond per look."""

AsyncHandler = Callable[["HTTPConnection", Exchange], Awaitable[None]]

# What the task waits for (one thing at a time): bytes, room in the send buffer, the end.
_READ: Final = 1
_WRITE: Final = 2
_LOST: Final = 3

_numbers = itertools.count(1)


class HTTPConnection(asyncio.Protocol):
    """The protocol object of one accepted TCP connection (also the Exchange's ``Wire``)."""

    def __init__(self, server: CoroutineServer) -> None:
        self.owner = server
        self.config: ConnectionConfig = server.config
        self.parser = RequestParser(server.config.limits)
        self.extra_fields = server.extra_fields
        self.draining = False
        self.requests = 0
        self.deadline = 0.0  # when the current wait must end (0: no deadline)
        self.client = ("", 0)
        self.server = ("", 0)
        self.peer = ""
        # Bytes each way and requests, for the connection's ledger line (connection_lost).
        self.tally = ledger.Tally(None, None)
        self.name = ""
        self._access_label = ""
        self.slot: status.Slot | None = None
        self.task: asyncio.Task[None] | None = None
        self.transport: asyncio.Transport | None = None
        self._waiter: asyncio.Future[bool] | None = None
        self._waiting_for = 0
        self._read_paused = False
        self._write_paused = False
        self._lost = False
        self._discard = False  # lingering: the bytes that still come are thrown away
        self._files: list[bytes | _File] | None = None  # output queued behind a file

    # -- asyncio.Protocol ------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        peer = transport.get_extra_info("peername") or ("", 0)
        local = transport.get_extra_info("sockname") or ("", 0)
        self.client = (str(peer[0]), int(peer[1]))
        self.server = (str(local[0]), int(local[1]))
        self.peer = f"{self.client[0]}:{self.client[1]}"
        self.name = f"conn-{next(_numbers)}"
        self.tally.local, self.tally.remote, self.tally.thread = self.server, self.client, self.name
        owner = self.owner
        self.slot = owner.scoreboard.open(self.peer, f"task={self.name}")
        owner.connections.add(self)
        if owner.refuse_new(self):
            return
        self.deadline = owner.loop.time() + self.config.header_timeout
        self.task = owner.loop.create_task(self._run(), name=self.name)

    def data_received(self, data: bytes) -> None:
        if self._discard:
            return
        parser = self.parser
        self.tally.bytes_in += len(data)
        try:
            parser.feed(data)
        except RuntimeError:  # bytes after the peer's FIN cannot happen on TCP; be safe
            return
        if len(parser.buffer) > HIGH_WATER and not self._read_paused and self.transport:
            self._read_paused = True
            self.transport.pause_reading()
        if self._waiting_for == _READ:
            self._wake(True)

    def eof_received(self) -> bool:
        # Keep our half open: a request that came before the FIN still gets its answer.
        self.parser.feed_eof()
        if self._waiting_for in (_READ, _LOST):
            self._wake(True)
        return True

    def connection_lost(self, exc: Exception | None) -> None:
        self._lost = True
        if not self.parser.eof:
            self.parser.feed_eof()
        self._wake(True)
        owner = self.owner
        owner.connections.discard(self)
        self.tally.requests = self.requests
        self.tally.close()
        if self.slot is not None:
            owner.scoreboard.close(self.slot)

    def pause_writing(self) -> None:
        self._write_paused = True

    def resume_writing(self) -> None:
        self._write_paused = False
        if self._waiting_for == _WRITE:
            self._wake(True)

    # -- waiting ---------------------------------------------------------------------------------

    def _wake(self, arrived: bool) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(arrived)

    def expire(self, now: float) -> None:
        """Called by the server's sweeper: end the current wait if its deadline has passed."""
        if self.deadline and now >= self.deadline and self._waiter is not None:
            self._wake(False)

    async def _wait(self, what: int, deadline: float) -> bool:
        """Wait for ``what`` until ``deadline`` (loop time; 0 = none); False on timeout."""
        if self._lost:
            return True
        waiter: asyncio.Future[bool] = self.owner.loop.create_future()
        self._waiter = waiter
        self._waiting_for = what
        self.deadline = deadline
        try:
            return await waiter
        finally:
            self._waiter = None
            self._waiting_for = 0
            self.deadline = 0.0

    async def wait_data(self, deadline: float) -> bool:
        """Wait for more request bytes (or the peer's close); False when the deadline passed."""
        if self._read_paused and self.transport is not None:
            self._read_paused = False  # the task wants bytes: the buffer is consumable now
            self.transport.resume_reading()
        if self.parser.eof:
            return True
        return await self._wait(_READ, deadline)

    async def wait_lost(self) -> None:
        """Wait until the client closed its side or the connection is gone (an ASGI app
        awaiting http.disconnect: a client that sent its FIN has left, as far as it knows)."""
        while not self._lost and not self.parser.eof:
            await self._wait(_LOST, 0.0)

    async def read_body(self, exchange: Exchange) -> bytes:
        """The next piece of the request body, b"" at its end (io_timeout per wait)."""
        while (piece := exchange.body_step()) is None:
            deadline = self.owner.loop.time() + self.config.io_timeout
            if not await self.wait_data(deadline):
                raise errors.RequestTimeout("request body too slow")
        return piece

    async def drain(self) -> None:
        """Wait until the transport's buffer is under its high-water mark (io_timeout)."""
        if self._files:
            await self._send_queued()
        if self._lost:
            raise ClientGone("connection lost")
        if not self._write_paused:
            return
        deadline = self.owner.loop.time() + self.config.io_timeout
        while self._blocked():
            if not await self._wait(_WRITE, deadline):
                raise ClientGone("client stopped reading (send timed out)")
        self._check_lost()

    def _blocked(self) -> bool:
        """The transport's buffer is over its high-water mark and the peer is still there."""
        return self._write_paused and not self._lost

    def _check_lost(self) -> None:
        if self._lost:
            raise ClientGone("connection lost")

    # -- the Exchange's Wire: sends only queue bytes -------------------------------------------

    def receive(self, timeout: float, on_timeout: Exception) -> None:
        raise RuntimeError("coroutine-web reads request bodies with read_body(), not receive()")

    def send_raw(self, data: bytes) -> None:
        if self._files is not None:
            self._files.append(data)
        elif self.transport is not None and not self._lost:
            self.transport.write(data)
            self.tally.bytes_out += len(data)

    def send_parts(self, *parts: bytes) -> None:
        if self._files is not None:
            self._files.extend(parts)
        elif self.transport is not None and not self._lost:
            self.transport.writelines(parts)
            self.tally.bytes_out += sum(len(part) for part in parts)

    def send_file(self, file: BinaryIO, offset: int, count: int) -> None:
        # The handler closes its file when it returns; the loop sends it later from a copy of
        # the descriptor, and any bytes written after it wait in line behind it.
        copy = os.fdopen(os.dup(file.fileno()), "rb")
        if self._files is None:
            self._files = []
        self._files.append(_File(copy, offset, count))

    async def _send_queued(self) -> None:
        queue, self._files = self._files or [], None
        try:
            for item in queue:
                if isinstance(item, bytes):
                    self.send_raw(item)
                    continue
                transport = self.transport
                if transport is None or self._lost:
                    raise ClientGone("connection lost")
                # loop.sendfile waits until the buffered head is out, then hands the socket
                # to sendfile(2) (loop.sock_sendfile): the file never passes through Python.
                limit = self.config.io_timeout + item.count / MIN_SEND_RATE
                try:
                    sent = await asyncio.wait_for(
                        self.owner.loop.sendfile(transport, item.file, item.offset, item.count),
                        limit,
                    )
                except (OSError, RuntimeError, TimeoutError) as exc:
                    raise ClientGone(str(exc) or type(exc).__name__) from None
                self.tally.bytes_out += sent
                if sent != item.count:
                    raise ClientGone(f"file shrank while being sent ({sent} of {item.count})")
        finally:
            for item in queue:
                if isinstance(item, _File):
                    item.file.close()

    # -- the request loop ----------------------------------------------------------------------

    def _set_state(self, state: str) -> None:
        slot = self.slot
        if slot is not None and slot.state != state:
            slot.set(state)

    async def _next_request(self) -> Request | None:
        """Wait for the next request head; None when the client closed or stayed idle."""
        parser = self.parser
        loop = self.owner.loop
        config = self.config
        first = self.requests == 0
        idle_deadline = loop.time() + (config.header_timeout if first else config.idle_timeout)
        head_deadline = 0.0
        while True:
            event = parser.next_event()
            if isinstance(event, Request):
                return event
            if event is END:
                continue  # the previous request's end marker (a body-less request)
            if parser.eof:
                if parser.buffer:
                    log.debug("%s closed in the middle of a request head", self.peer)
                return None
            if parser.buffer:
                if not head_deadline:
                    head_deadline = loop.time() + config.header_timeout
                    self._set_state(status.READING_HEAD)
                deadline = head_deadline
            else:
                if self.draining:
                    return None
                deadline = idle_deadline
                self._set_state(status.READING_HEAD if first else status.IDLE)
            if not await self.wait_data(deadline):
                if parser.buffer:
                    raise errors.RequestTimeout("request head not received in time")
                return None

    @property
    def idle(self) -> bool:
        """True while waiting for a request with nothing of it received: closing loses nothing."""
        return self._waiting_for == _READ and self.parser.idle and not self._lost

    async def _run(self) -> None:
        try:
            await self._serve()
        except ClientGone as exc:
            log.debug("%s gone: %s", self.peer, exc)
        except asyncio.CancelledError:
            log.debug("%s cancelled", self.peer)
        except Exception:
            log.exception("%s: unexpected error in connection handling", self.peer)
        finally:
            self.close()

    async def _serve(self) -> None:
        handler = self.owner.handler
        while True:
            try:
                request = await self._next_request()
            except HTTPError as exc:
                await self._reject(exc)
                return
            if request is None:
                return
            self.requests += 1
            if self.slot is not None:
                self.slot.requests = self.requests
            self._set_state(status.WORKING)
            exchange = Exchange(self, request, self.requests)
            try:
                await handler(self, exchange)
                if not exchange.finished:
                    exchange.finish()
            except ClientGone:
                self._log_access(exchange)
                raise
            except Exception as exc:  # noqa: BLE001 -- any failure is answered (answer_failure logs it)
                if not exchange.answer_failure(exc, self.peer):
                    return
            self._set_state(status.SENDING)
            try:
                await self.drain()
            finally:
                self._log_access(exchange)
            if not exchange.keep_alive:
                if not exchange.body_done:
                    await self._linger()
                return
            if not exchange.body_done and not await self._drain_body(exchange):
                return

    async def _drain_body(self, exchange: Exchange) -> bool:
        """Read and discard a body the handler left unread; False if the connection must close."""
        if exchange.request.expects_continue and not exchange.continue_sent:
            return False  # the client has not sent it; closing is the only clean answer
        drained = 0
        try:
            while piece := await self.read_body(exchange):
                drained += len(piece)
                if drained > DRAIN_LIMIT:
                    return False
        except (HTTPError, ClientGone):
            return False
        return True

    async def _reject(self, exc: HTTPError) -> None:
        exchange = reject(self, exc, self.requests + 1)
        self._set_state(status.SENDING)
        try:
            await self.drain()
        finally:
            self._log_access(exchange)
        await self._linger()

    async def _linger(self) -> None:
        """Shut our side, read and drop what still comes for LINGER_SECONDS, then close."""
        transport = self.transport
        if transport is None or self._lost:
            return
        self._discard = True
        self.parser.buffer.clear()
        if self._read_paused:
            self._read_paused = False
            transport.resume_reading()
        with contextlib.suppress(OSError, RuntimeError):
            transport.write_eof()
        deadline = self.owner.loop.time() + LINGER_SECONDS
        while not self._lost and self.owner.loop.time() < deadline:
            await self._wait(_LOST, deadline)

    def _log_access(self, exchange: Exchange) -> None:
        if access_log.isEnabledFor(logging.INFO):
            label = self._access_label  # made once per connection: it is the same every line
            if not label:
                label = self._access_label = f"pid={cached_pid()} task={self.name}"
            log_access(exchange, label)

    def close(self) -> None:
        transport = self.transport
        if transport is not None and not transport.is_closing():
            transport.close()
        if self._files:
            for item in self._files:
                if isinstance(item, _File):
                    item.file.close()
            self._files = None

    def abort(self) -> None:
        """Close at once, dropping what is unsent (the graceful stop ran out of time)."""
        if self.transport is not None:
            self.transport.abort()


MIN_SEND_RATE: Final = 16384
"""Bytes per second a client must at least read of a file: io_timeout plus size / rate bounds a
sendfile (a 3 MiB file gets 30 s + 192 s on a modem-slow client, then the client is gone)."""


class _File:
    __slots__ = ("count", "file", "offset")

    def __init__(self, file: BinaryIO, offset: int, count: int) -> None:
        self.file = file
        self.offset = offset
        self.count = count
