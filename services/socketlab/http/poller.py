"""Connections that wait for their client wait here, in one poller, not in a worker.

A thread or process per connection costs a thread or process for every client that is slow to
send its request (slowloris), slow to send its body, or idle between requests on a kept-alive
connection. :class:`ConnectionPoller` holds all of those in one ``selectors`` poller, the way
Apache's event MPM and gunicorn's gthread worker do, and gives a connection to a worker only
when a whole request is in hand:

* it accepts (never waiting for a worker: a full pool only makes ready requests queue);
* it reads each connection without blocking and feeds the shared parser; when a request head is
  complete and its body (if any) has been received completely -- in memory up to
  :data:`BODY_IN_MEMORY`, spooled to a temporary file beyond, as waitress does -- the
  connection goes to ``dispatch`` (a thread pool's queue, or the caller itself);
* with ``answers_here`` (threaded-web) a request that never waits -- a small file in memory --
  is answered in the poller's own thread instead, with an outbox for what the socket does not
  take at once; the first request ``answers_here`` refuses goes to ``dispatch``, connection and
  all (``Connection.answer_only``, ``for_worker``);
* the worker serves that request and any complete pipelined ones behind it
  (:class:`~socketlab.http.connection.Connection` in ``parkable`` mode) and hands the connection
  back with :meth:`ConnectionPoller.give_back` (from any thread);
* the deadlines are enforced here: ``header_timeout`` for a head from its first byte (408, then a
  lingering close), ``idle_timeout`` between requests and ``header_timeout`` before the first
  (a quiet close), ``io_timeout`` between pieces of a body (408);
* past ``max_connections`` the oldest idle connection is closed to make room for a new one; when
  none is idle the newcomer gets a fast 503 (``errors.busy_response()``);
* with ``defer_sends`` (prefork's workers) each connection gets an
  :class:`~socketlab.http.outbox.Outbox` and stays non-blocking: what a slow reader does not
  take at once is sent from here when its socket is writable (state "sending", ``io_timeout``
  without progress closes it), then the connection waits for its next request -- or is closed,
  with a lingering close, if its last answer said so. A worker is held only while the
  application runs.

Each connection is a row of a :class:`~socketlab.status.Scoreboard` (``/server-status``).
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import select
import selectors
import socket
import tempfile
import threading
import time
from collections.abc import Callable
from typing import BinaryIO, Final, cast

from .. import status
from ..listener import tune_accepted
from . import errors
from .connection import (
    LINGER_SECONDS,
    RECV_SIZE,
    ClientGone,
    Connection,
    ConnectionConfig,
    Handler,
    reject,
)
from .errors import HTTPError
from .outbox import Outbox
from .parser import END, Data, Request
from .writer import CONTINUE

log = logging.getLogger("socketlab.poller")

BODY_IN_MEMORY: Final = 1024 * 1024
"""Bytes of a request body kept in memory while it arrives; a longer body is spooled to a
temporary file (waitress keeps 1 MiB in memory too, its ``inbuf_overflow``)."""

SWEEP_INTERVAL: Final = 0.1
"""Seconds between two passes over the held connections to enforce their deadlines."""

ACCEPT_BURST: Final = 256
"""Most connections accepted in one go before the poller looks at its other sockets."""

EMFILE_PAUSE: Final = 0.1
"""Seconds the poller stops accepting when the process is out of descriptors."""

OVERLOAD_RESPONSE: Final = errors.busy_response()

Dispatch = Callable[["Held"], None]

AnswersHere = Callable[[Request], bool]
"""Says whether the poller may answer a request in its own thread: only one that never waits
(a small file already in memory, see ``LabSite.answers_at_once``); the rest go to ``dispatch``."""


class Held:
    """One connection the poller owns: its state between requests."""

    __slots__ = (
        "armed",
        "body",
        "conn",
        "deadline",
        "fd",
        "head_started",
        "lingering",
        "request",
        "sending",
        "slot",
        "working",
    )

    def __init__(self, conn: Connection, slot: status.Slot, deadline: float) -> None:
        self.conn = conn
        self.slot = slot
        self.deadline = deadline
        self.head_started = 0.0  # when the first byte of the current head arrived (0: none yet)
        self.request: Request | None = None  # a head in hand whose body is still arriving
        self.body: tempfile.SpooledTemporaryFile[bytes] | None = None
        self.lingering = False  # an error was answered: discard what comes until EOF or deadline
        self.working = False  # a worker has it; the poller does not watch it
        self.fd = conn.sock.fileno()  # kept: a closed socket's fileno() is -1
        self.armed = False  # one-shot mode: its next readable event will be reported
        self.sending = False  # the poller sends what its outbox holds (watched for writing)


class ConnectionPoller:
    """Accepts on ``listener``; holds connections until a request is ready, then dispatches."""

    def __init__(
        self,
        listener: socket.socket,
        handler: Handler,
        config: ConnectionConfig,
        dispatch: Dispatch,
        scoreboard: status.Scoreboard,
        *,
        max_connections: int,
        worker: str = "",
        serial: bool = False,
        defer_sends: bool = False,
        answers_here: AnswersHere | None = None,
    ) -> None:
        self.listener = listener
        self.handler = handler
        self.config = config
        self.dispatch = dispatch
        self.scoreboard = scoreboard
        self.max_connections = max_connections
        self.worker = worker  # the Connection's worker label ("" names the serving thread)
        # serial: ``dispatch`` serves in this thread (a prefork worker). Then a connection taken
        # while a request is being served would wait for it, so accept one at a time, and none
        # in a pass that served a request: idle siblings take them.
        self.serial = serial
        self.defer_sends = defer_sends  # sends never block: the rest goes from here (outbox.py)
        # Threads serve, but a request that cannot wait (see AnswersHere) is answered here, in
        # this thread, with a non-blocking send and an outbox for what the socket does not take:
        # no hand-off to a worker and back (two thread switches and the GIL's ping-pong).
        self.answers_here = None if serial else answers_here
        self.draining = False  # set by a stopping server: what is answered here ends the connection
        self._here_label = f"pid={os.getpid()} thread=poller"  # its access lines say so
        self._served_in_pass = False
        self.held: set[Held] = set()
        self.overloaded = 0  # connections answered 503, for tests and logs
        self.evicted = 0  # idle connections closed to make room
        self._idle: dict[Held, None] = {}  # idle ones, oldest first (insertion order)
        self._selector = selectors.DefaultSelector()
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self._selector.register(self._wake_r, selectors.EVENT_READ)
        # Threads serve (not serial) and the kernel has epoll: the connections wait in an epoll
        # of their own, each armed for one event (EPOLLONESHOT), itself watched by the selector.
        # A dispatch then needs no unregister (the event disarmed it), and a worker whose
        # connection waits for its next request re-arms it itself and wakes nobody: two system
        # calls, a wake-up byte and a context switch fewer per request (see give_back).
        self._oneshot: select.epoll | None = None
        self._by_fd: dict[int, Held] = {}
        if not serial and not defer_sends and hasattr(select, "epoll"):
            self._oneshot = select.epoll()
            self._selector.register(self._oneshot.fileno(), selectors.EVENT_READ, self._by_fd)
        self._returned: list[Held] = []
        self._returned_lock = threading.Lock()
        self._woken = False
        self._accepting = False
        self.listener_closed = False
        self._accept_paused_until = 0.0
        self._next_sweep = 0.0
        self._emfile_logged = 0.0
        listener.setblocking(False)
        self.start_accepting()

    # -- from any thread ---------------------------------------------------------------------------

    def give_back(self, held: Held) -> None:
        """A worker is done with ``held`` (parked or closed): the poller takes it again."""
        if self.serial:
            # Served in the poller's own thread: this very pass takes it back (see poll), so no
            # wake-up byte (a send, and a recv and an epoll round after it, per request).
            self._returned.append(held)
            return
        conn = held.conn
        quiet = (
            self._oneshot is not None
            and conn.parked
            and not conn.draining
            and conn.pending is None
            and not conn.parser.buffer
            and conn.sock.gettimeout() == 0.0
        )
        if quiet:
            # Waiting for its client, nothing to do before: re-armed here, after the append, so
            # the poller, which takes the returned ones before it handles events, knows it again
            # before its event; the bookkeeping waits for the poller's next pass. (The system
            # call is made outside the lock: the other workers do not queue behind it.)
            held.armed = True
            with self._returned_lock:
                self._returned.append(held)
            self._arm(held)
            return
        with self._returned_lock:
            self._returned.append(held)
            if self._woken:
                return
            self._woken = True
        self.wake()

    def _arm(self, held: Held) -> None:
        """Watch ``held`` for one event: writable while the poller sends its answer, else
        readable."""
        assert self._oneshot is not None
        held.armed = True
        wanted = select.EPOLLOUT if held.sending else select.EPOLLIN
        with contextlib.suppress(OSError):  # closed meanwhile: the poller forgets it
            self._oneshot.modify(held.fd, wanted | select.EPOLLONESHOT)

    def wake(self) -> None:
        with contextlib.suppress(OSError):
            self._wake_w.send(b"x")

    # -- the loop (one thread) ---------------------------------------------------------------------

    def start_accepting(self) -> None:
        if not self._accepting and self.listener.fileno() >= 0:
            self._selector.register(self.listener, selectors.EVENT_READ)
            self._accepting = True

    def stop_accepting(self) -> None:
        if self._accepting:
            self._selector.unregister(self.listener)
            self._accepting = False

    def poll(self, timeout: float) -> None:
        """One pass: wait up to ``timeout`` for events, handle them, enforce deadlines."""
        now = time.monotonic()
        if not self._accepting and self._accept_paused_until and now >= self._accept_paused_until:
            self._accept_paused_until = 0.0
            self.start_accepting()
        wait = max(0.0, min(timeout, self._next_sweep - now))
        if self._returned:
            wait = 0.0  # given back outside a pass (serial: while closing idle ones): take it now
        self._served_in_pass = False
        accept = False
        for key, _ in self._selector.select(wait):
            obj = key.data
            if isinstance(obj, Held):
                if obj.sending:
                    self._writable(obj)
                else:
                    self._readable(obj)
            elif obj is self._by_fd:
                self._oneshot_events()
            elif key.fileobj is self.listener:
                accept = True  # after the connections: a ready request first
            else:
                self._take_returned(from_wake=True)
        if accept and not (self.serial and self._served_in_pass):
            self._accept()
        while self._returned:  # serial: parking one may serve its next request, and so on
            self._take_returned()
        now = time.monotonic()
        if now >= self._next_sweep:
            self._next_sweep = now + SWEEP_INTERVAL
            self._sweep(now)

    def _oneshot_events(self) -> None:
        assert self._oneshot is not None
        if self._returned:
            self._take_returned()  # re-armed by their workers: known again before their events
        by_fd = self._by_fd
        for fd, _ in self._oneshot.poll(0):
            held = by_fd.get(fd)
            if held is None:
                continue
            if held.working and self._returned:
                self._take_returned()  # given back and re-armed since the first look
            if held.working:
                continue  # not armed while a worker has it: cannot happen, but never read it
            held.armed = False  # the event disarmed it
            if held.sending:
                self._writable(held)
            else:
                self._readable(held)
            if not held.working and not held.armed and by_fd.get(fd) is held:
                self._arm(held)  # still waiting for its client (a head, a body, to take more)

    def close_idle(self) -> int:
        """Graceful stop: close every idle connection (after a last look for a request that
        already arrived, which is then served); returns how many were closed."""
        closed = 0
        for held in list(self._idle):
            self._readable(held)  # a request already in the kernel is taken, not cut off
            if held in self._idle:
                self._close(held)
                closed += 1
        return closed

    def close_all(self) -> None:
        for held in list(self.held):
            if not held.working:
                self._close(held)
        self._selector.close()
        if self._oneshot is not None:
            self._oneshot.close()
        self._wake_r.close()
        self._wake_w.close()

    # -- accepting ---------------------------------------------------------------------------------

    def accept_pending(self) -> int:
        """Stopping: take every connection already waiting in the listen backlog (the kernel
        completed their handshakes; closing the listener would reset them), however many;
        returns how many were taken. Their requests are then served before the stop."""
        if self.listener.fileno() < 0 or self.listener_closed:
            return 0
        before = len(self.held)
        while True:
            try:
                sock, addr = self.listener.accept()
            except (BlockingIOError, InterruptedError):
                break
            except ConnectionAbortedError:
                continue
            except OSError:
                break
            self._admit(sock, (addr[0], addr[1]))
        return len(self.held) - before

    def _accept(self) -> None:
        for _ in range(1 if self.serial else ACCEPT_BURST):
            try:
                sock, addr = self.listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            except ConnectionAbortedError:
                continue
            except OSError as exc:
                self._accept_failed(exc)
                return
            self._admit(sock, (addr[0], addr[1]))

    def _accept_failed(self, exc: OSError) -> None:
        now = time.monotonic()
        if exc.errno in (errno.EINVAL, errno.EBADF):
            # Shut down by another process (prefork's parent, stopping): no more accepting.
            self.listener_closed = True
            self.stop_accepting()
            return
        if exc.errno in (errno.EMFILE, errno.ENFILE):
            if now - self._emfile_logged >= 10:
                self._emfile_logged = now
                import resource

                soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
                log.error(
                    "accept failed: %s; the descriptor limit (soft %d, hard %d) is what stops "
                    "this server at %d connections",
                    exc.strerror,
                    soft,
                    hard,
                    len(self.held),
                )
            if self._idle:  # make room: the oldest idle connection goes
                self._evict()
        else:
            log.error("accept failed: %s", exc)
        self.stop_accepting()
        self._accept_paused_until = now + EMFILE_PAUSE

    def _admit(self, sock: socket.socket, addr: tuple[str, int]) -> None:
        if len(self.held) >= self.max_connections:
            if self._idle:
                self._evict()
            else:
                self._refuse(sock, addr)
                return
        tune_accepted(sock)
        try:
            conn = Connection(sock, addr, self.handler, self.config, worker=self.worker)
        except OSError:  # the client is already gone (getsockname on a reset socket)
            sock.close()
            return
        conn.parkable = True
        if self.defer_sends:
            conn.outbox = Outbox()
        slot = self.scoreboard.open(conn.peer, "poller")
        held = Held(conn, slot, time.monotonic() + self.config.header_timeout)
        self.held.add(held)
        sock.setblocking(False)
        self._watch(held)
        self._idle[held] = None
        log.debug("%s connected", conn.peer)
        self._readable(held)  # the request often came with the handshake: no extra poll

    def _watch(self, held: Held) -> None:
        """Start watching a connection for its client's bytes (ValueError/OSError if it is
        closed or already watched)."""
        if self._oneshot is None:
            self._selector.register(held.conn.sock, selectors.EVENT_READ, held)
            return
        self._oneshot.register(held.fd, select.EPOLLIN | select.EPOLLONESHOT)
        self._by_fd[held.fd] = held
        held.armed = True

    def _unwatch(self, held: Held) -> None:
        if self._oneshot is None:
            with contextlib.suppress(KeyError, ValueError, OSError):
                self._selector.unregister(held.conn.sock)
            return
        if self._by_fd.get(held.fd) is held:  # the number may be a newer connection's by now
            del self._by_fd[held.fd]
            with contextlib.suppress(OSError, ValueError):
                self._oneshot.unregister(held.fd)

    def _evict(self) -> None:
        oldest = next(iter(self._idle))
        log.info("%s: closed (idle) to make room for a new connection", oldest.conn.peer)
        self.evicted += 1
        self._close(oldest)

    def _refuse(self, sock: socket.socket, addr: tuple[str, int]) -> None:
        self.overloaded += 1
        log.warning(
            "%s:%d refused with 503: %d connections open, none idle",
            addr[0],
            addr[1],
            len(self.held),
        )
        try:
            sock.setblocking(False)
            sock.send(OVERLOAD_RESPONSE)
            sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        finally:
            sock.close()

    # -- reading -----------------------------------------------------------------------------------

    def _readable(self, held: Held) -> None:
        conn = held.conn
        try:
            data = conn.sock.recv(RECV_SIZE)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            self._close(held)
            return
        if held.lingering:
            if not data:
                self._close(held)
            return
        if not data:
            if held.request is not None:  # in a body: the parser says what was wrong (400)
                conn.parser.feed_eof()
                self._advance(held, time.monotonic())
                if _lingering(held):
                    return  # answered 400; closed at EOF or after the linger
            elif conn.parser.buffer:
                log.debug("%s closed in the middle of a request head", conn.peer)
            self._close(held)
            return
        self._idle.pop(held, None)
        conn.tally.bytes_in += len(data)  # the connection's ledger line counts these too
        conn.parser.feed(data)
        self._advance(held, time.monotonic())

    def _advance(self, held: Held, now: float) -> None:
        """Take what the parser has: dispatch a ready request, or wait for more bytes."""
        conn = held.conn
        parser = conn.parser
        try:
            while True:
                event = parser.next_event()
                if held.request is None:
                    if event is END:
                        continue  # the end of a body-less request served before
                    if isinstance(event, Request):
                        if not event.has_body:
                            conn.pending = event
                            self._dispatch(held)
                            return
                        self._start_body(held, event, now)
                        continue
                    if parser.buffer:  # part of a head
                        if not held.head_started:
                            held.head_started = now
                            held.deadline = now + self.config.header_timeout
                        held.slot.set(status.READING_HEAD)
                    return
                if isinstance(event, Data):
                    assert held.body is not None
                    held.body.write(event.data)
                    held.deadline = now + self.config.io_timeout
                    continue
                if event is END:
                    assert held.body is not None
                    held.body.seek(0)
                    conn.pending, conn.pending_body = held.request, cast(BinaryIO, held.body)
                    held.request = held.body = None
                    self._dispatch(held)
                    return
                return  # more of the body must arrive
        except HTTPError as exc:
            self._reject(held, exc)

    def _start_body(self, held: Held, request: Request, now: float) -> None:
        held.request = request
        # Closed by whoever ends its use: the Connection after the request, or _close/_reject.
        held.body = tempfile.SpooledTemporaryFile(max_size=BODY_IN_MEMORY)  # noqa: SIM115
        held.deadline = now + self.config.io_timeout
        held.slot.set(status.READING_HEAD)
        if request.expects_continue:
            # RFC 9110 §10.1.1: the client waits for it before it sends the body.
            with contextlib.suppress(OSError):
                held.conn.sock.send(CONTINUE)

    def _dispatch(self, held: Held) -> None:
        if self._oneshot is None:
            self._selector.unregister(held.conn.sock)
        elif held.armed:  # read without an event (just accepted, or taken back with bytes)
            held.armed = False
            self._oneshot.modify(held.fd, 0)
        self._idle.pop(held, None)
        held.working = True
        held.head_started = 0.0
        held.slot.set(status.WORKING)
        # The socket stays non-blocking: the worker's send switches it to blocking only when an
        # answer does not fit the socket buffer (Connection.send_raw; with an outbox, never),
        # so that a small answer costs no setblocking() calls there and back.
        if self.answers_here is not None:
            self._answer_here(held)
            return
        self._served_in_pass = True
        self.dispatch(held)

    def _answer_here(self, held: Held) -> None:
        """Serve ``held``'s requests in this thread as long as ``answers_here`` says yes; the
        first it says no to goes to a worker, with the connection. Never waits: the sends are
        non-blocking, and what the socket does not take now the poller sends when it can."""
        conn = held.conn
        if self.draining:
            conn.draining = True  # Connection: close on this answer, as a worker's would say
        if conn.outbox is None:
            conn.outbox = Outbox()
        conn.answer_only = self.answers_here
        conn.worker = self._here_label
        conn.tally.thread = "poller"
        try:
            conn.serve()
        finally:
            conn.answer_only = None
            conn.worker = self.worker
        if conn.for_worker:
            conn.for_worker = False
            # Nothing is left to send (a request is taken only then): the worker's sends may
            # wait for a slow reader, as a thread's do (Connection.send_raw).
            conn.outbox = None
            self._served_in_pass = True
            self.dispatch(held)
            return
        self._park(held, time.monotonic())

    def _take_returned(self, from_wake: bool = False) -> None:
        with self._returned_lock:
            returned, self._returned = self._returned, []
            woken, self._woken = self._woken, False
        if from_wake or woken:
            # One recv: a batch of give-backs sends one byte (see give_back), stop() a few; a
            # byte still on its way wakes the poller again and is read then (from_wake).
            with contextlib.suppress(OSError):
                self._wake_r.recv(4096)
        now = time.monotonic()
        for held in returned:
            self._park(held, now)

    def _park(self, held: Held, now: float) -> None:
        """A worker is done with ``held``: watch it again, or forget it if it closed."""
        conn = held.conn
        held.working = False
        held.slot.requests = conn.requests
        held.slot.worker = "poller"
        if not conn.parked:
            self._forget(held)
            return
        if conn.sending:
            self._start_sending(held, now)
            return
        if conn.close_after_send:  # answered here, and it must close: the linger is ours
            self._linger_after_send(held)
            return
        if conn.draining:
            self._close(held)
            return
        if conn.sock.gettimeout() != 0.0:  # made blocking by a large answer or a sendfile
            conn.sock.setblocking(False)
        try:
            if self._oneshot is None:
                self._selector.register(conn.sock, selectors.EVENT_READ, held)
            elif not held.armed:
                held.armed = True
                self._oneshot.modify(held.fd, select.EPOLLIN | select.EPOLLONESHOT)
        except (ValueError, OSError):
            self._forget(held)
            return
        self._await_request(held, now)

    def _await_request(self, held: Held, now: float) -> None:
        """``held`` is watched for reading again: idle, or on with what it already sent."""
        conn = held.conn
        held.deadline = now + self.config.idle_timeout
        held.slot.set(status.IDLE)
        self._idle[held] = None
        if conn.pending is not None:  # a pipelined request whose body is still to come
            self._idle.pop(held, None)
            request, conn.pending = conn.pending, None
            self._start_body(held, request, now)
        if conn.parser.buffer or held.request is not None:
            self._idle.pop(held, None)
            self._advance(held, now)

    # -- sending (defer_sends) -----------------------------------------------------------------

    def _start_sending(self, held: Held, now: float) -> None:
        """A worker left part of an answer in the outbox: send it when the socket is writable."""
        held.sending = True
        try:
            if self._oneshot is None:
                self._selector.register(held.conn.sock, selectors.EVENT_WRITE, held)
            else:
                self._arm(held)  # for writing: see _arm
        except (ValueError, OSError):
            held.sending = False
            self._close(held)
            return
        held.deadline = now + self.config.io_timeout
        held.slot.set(status.SENDING)

    def _writable(self, held: Held) -> None:
        conn = held.conn
        now = time.monotonic()
        try:
            sent_before = conn.tally.bytes_out
            done = conn.flush()
        except ClientGone as exc:
            log.debug("%s gone while its answer was sent: %s", conn.peer, exc)
            self._close(held)
            return
        if conn.tally.bytes_out != sent_before:
            held.deadline = now + self.config.io_timeout  # the client is reading, slowly
        if not done:
            return
        held.sending = False
        if conn.close_after_send or conn.draining:
            self._linger_after_send(held)
            return
        self._watch_reading(held)
        self._await_request(held, now)

    def _watch_reading(self, held: Held) -> None:
        """A connection the poller sent to is to be read again (OSError if it is gone)."""
        if self._oneshot is None:
            self._selector.modify(held.conn.sock, selectors.EVENT_READ, held)
        elif not held.armed:
            self._arm(held)

    def _linger_after_send(self, held: Held) -> None:
        """The last answer is out: half-close, then discard what comes until EOF or the
        linger time (so unread bytes cannot make the kernel reset the answer away)."""
        conn = held.conn
        try:
            conn.sock.shutdown(socket.SHUT_WR)
            self._watch_reading(held)
        except (ValueError, OSError):
            self._close(held)
            return
        held.lingering = True
        held.deadline = time.monotonic() + LINGER_SECONDS

    # -- deadlines and closing ---------------------------------------------------------------------

    def _sweep(self, now: float) -> None:
        for held in [held for held in self.held if not held.working and now >= held.deadline]:
            conn = held.conn
            if held.sending:
                log.info(
                    "%s: closed, it took nothing of its answer for %g s",
                    conn.peer,
                    self.config.io_timeout,
                )
                self._close(held)
            elif held.lingering:
                self._close(held)
            elif held.request is not None:
                self._reject(held, errors.RequestTimeout("request body too slow"))
            elif conn.parser.buffer:
                self._reject(held, errors.RequestTimeout("request head not received in time"))
            else:
                self._close(held)  # silent, or idle too long: nothing to answer

    def _reject(self, held: Held, exc: HTTPError) -> None:
        """Answer an error without waiting (the socket is non-blocking), then linger."""
        conn = held.conn
        if held.body is not None:
            held.body.close()
        held.request = held.body = None
        try:
            exchange = reject(conn, exc, conn.requests + 1)
            conn._log_access(exchange)
            if conn.sending:  # the error page did not fit in the socket: send it from here
                self._idle.pop(held, None)
                conn.close_after_send = True
                held.sending = True
                if self._oneshot is None:
                    self._selector.modify(conn.sock, selectors.EVENT_WRITE, held)
                elif not held.armed:
                    self._arm(held)
                held.deadline = time.monotonic() + self.config.io_timeout
                held.slot.set(status.SENDING)
                return
            conn.sock.shutdown(socket.SHUT_WR)
        except (ClientGone, OSError):
            self._close(held)
            return
        self._idle.pop(held, None)
        held.lingering = True
        held.deadline = time.monotonic() + LINGER_SECONDS
        held.slot.set(status.SENDING)

    def _close(self, held: Held) -> None:
        self._unwatch(held)
        held.conn.close()
        if held.body is not None:
            held.body.close()
        self._forget(held)

    def _forget(self, held: Held) -> None:
        log.debug("%s closed after %d requests", held.conn.peer, held.conn.requests)
        if self._oneshot is not None:
            self._unwatch(held)  # closed by its worker: the kernel dropped it from the epoll
        self.held.discard(held)
        self._idle.pop(held, None)
        self.scoreboard.close(held.slot)


def _lingering(held: Held) -> bool:
    return held.lingering
