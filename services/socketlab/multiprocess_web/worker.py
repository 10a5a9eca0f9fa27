"""What runs inside one child of multiprocess-web: serve connections, report in, stop well.

A :class:`Worker` lives in a forked child, in either mode:

* ``fork`` mode -- :meth:`Worker.serve_connection` serves the one connection its parent accepted
  (all its keep-alive requests), then the child exits;
* ``prefork`` mode -- :meth:`Worker.serve_listener` accepts on the listening socket it shares
  with its siblings until it is told to stop.

Either way each connection goes through the shared HTTP core
(:class:`~socketlab.http.connection.Connection`), so this module is only the process layer.

Reporting in: before each request the worker writes into its deadline slot (see
:mod:`.deadlines`) that it must be done within ``timeout`` seconds; between requests it
allows for the core's own waits (idle, head, I/O). A worker past its deadline gets SIGABRT from
its parent, which raises :class:`WorkerTimeout` in its main thread: the client gets ``504`` if no
byte of the answer was sent yet, and the worker exits (its state is suspect; a fresh one replaces
it). SIGKILL follows if even that does not end it.

Keep-alive in prefork mode: a worker serves one connection at a time, so a connection it keeps
alive holds the worker while others queue in the listen backlog (gunicorn's sync worker refuses
keep-alive for this reason). Here a connection stays persistent only while nobody waits: each
response is sent with ``Connection: close`` when a connection is queued, and a kept-alive
connection that sits idle while one is queued is closed after :data:`IDLE_YIELD` (a thread
watches the backlog). Under light load clients keep their connections; under heavy load every
client gets its turn, and no client waits for another's idle timeout.

Stopping: SIGTERM (or SIGINT) is not handled asynchronously at all. Both are blocked in the main
thread, and a small thread takes them with ``sigwait()`` and asks the connection in flight to
drain (``Connection.drain()``: the current request finishes with ``Connection: close``, an idle
keep-alive connection is closed at once) -- the same call threaded-web makes from its main
thread. So a signal never interrupts an application in the middle of its work, and the main
thread needs no signal handler that does anything but raise :class:`WorkerTimeout`.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import select
import selectors
import signal
import socket
import threading
import time
from collections.abc import Callable
from types import FrameType
from typing import Final

from .. import logs
from ..http import errors
from ..http.connection import ClientGone, Connection, ConnectionConfig, Exchange, Handler
from ..listener import tune_accepted
from .deadlines import DeadlineTable

log = logging.getLogger("socketlab.worker")

EXIT_OK: Final = 0
EXIT_ERROR: Final = 1
EXIT_TIMEOUT: Final = 3
"""Exit status of a worker that stopped because its parent found it past its deadline: the
parent logs it as a timeout, not as a crash (and does not count it as a failed start)."""

ACCEPT_TICK: Final = 1.0
"""Seconds an idle prefork worker waits in select() before it reports in again and checks that
its parent is still alive (gunicorn's sync worker wakes up at timeout / 2)."""

ACCEPT_ERROR_PAUSE: Final = 0.05
"""Seconds to pause after accept() fails for lack of descriptors or memory (EMFILE, ENOBUFS):
retrying at once would only spin."""

STOP_SIGNALS: Final = frozenset({signal.SIGTERM, signal.SIGINT})

IDLE_YIELD: Final = 0.5
"""Prefork: seconds a kept-alive connection may sit idle between requests while another
connection waits to be accepted, before this worker closes it and takes the waiting one. Short
next to any idle timeout, long next to the microseconds in which a client sends its next
request on a busy connection (RFC 9112 §9.6 lets a server close an idle connection at any time;
clients retry their request on a new one)."""


class WorkerTimeout(BaseException):
    """Raised in a worker's main thread when its parent found it past its deadline (SIGABRT).

    A BaseException, so that an application's ``except Exception`` cannot swallow it.
    """


class GatewayTimeout(errors.HTTPError):
    """504: the application did not answer within the worker timeout."""

    status = 504


class Worker:
    """The serving side of one child process. Create it after the fork, in the child."""

    def __init__(
        self,
        site: Handler,
        config: ConnectionConfig,
        *,
        deadlines: DeadlineTable,
        slot: int,
        timeout: float,
        parent_pid: int,
    ) -> None:
        self.pid = os.getpid()
        self.site = site
        self.config = config
        self.deadlines = deadlines
        self.slot = slot
        self.timeout = timeout
        self.parent_pid = parent_pid
        self.label = f"pid={self.pid}"
        # Between requests the core itself bounds every wait: the idle wait for the next request,
        # the wait for its head, and the last writes or body drain of the previous one.
        self.between_requests = (
            config.idle_timeout + 2 * config.header_timeout + config.io_timeout + timeout
        )
        self.requests = 0
        self._lock = threading.Lock()
        self._conn: Connection | None = None
        self._backlog: select.poll | None = None  # prefork: is a connection queued?
        self._stopping = False
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_w, False)

    # -- signals ---------------------------------------------------------------------------------

    def install_signals(self) -> None:
        """SIGTERM/SIGINT to the signal thread, SIGABRT to :class:`WorkerTimeout`."""
        signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
        for signum in STOP_SIGNALS:
            signal.signal(signum, signal.SIG_DFL)
        signal.signal(signal.SIGABRT, self._on_abort)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGABRT, signal.SIGCHLD})
        threading.Thread(target=self._signal_thread, name="signals", daemon=True).start()

    def _on_abort(self, _signum: int, _frame: FrameType | None) -> None:
        raise WorkerTimeout

    def _signal_thread(self) -> None:
        # Every signal blocked here: asynchronous ones (SIGABRT) must reach the main thread,
        # where the application runs, and sigwait() needs its own signals blocked.
        signal.pthread_sigmask(signal.SIG_BLOCK, signal.valid_signals())
        signum = signal.sigwait(STOP_SIGNALS)
        self.stop(signal.Signals(signum).name)

    def stop(self, reason: str = "stop requested") -> None:
        """Finish the request in flight, accept nothing more; safe from any thread but the main."""
        with self._lock:
            if self._stopping:
                return
            self._stopping = True
            conn = self._conn
        log.debug("worker %d: %s, draining", self.pid, reason)
        if conn is not None:
            conn.drain()
        with contextlib.suppress(OSError):
            os.write(self._wake_w, b"x")

    @property
    def stopping(self) -> bool:
        return self._stopping

    # -- serving ---------------------------------------------------------------------------------

    def serve_connection(self, sock: socket.socket, addr: tuple[str, int]) -> None:
        """Serve every request of one accepted connection, then return."""
        tune_accepted(sock)
        conn = Connection(sock, addr, self._handle, self.config, worker=self.label)
        with self._lock:
            self._conn = conn
            if self._stopping:
                conn.drain()
        self.deadlines.idle(self.slot, time.monotonic() + self.between_requests)
        try:
            conn.serve()
        finally:
            with self._lock:
                self._conn = None

    def serve_listener(self, listener: socket.socket) -> None:
        """Accept and serve connections on a listener shared with sibling workers, until stopped.

        Every idle worker waits in select() on the same socket and all of them wake up for a new
        connection; one wins accept(), the others get EAGAIN and wait again (the "thundering
        herd", harmless for a handful of workers; gunicorn's sync worker does the same).
        """
        listener.setblocking(False)
        selector = selectors.PollSelector()  # poll(2): no descriptor of its own to leak
        selector.register(listener, selectors.EVENT_READ)
        selector.register(self._wake_r, selectors.EVENT_READ)
        self._backlog = _listener_poll(listener)
        watcher = threading.Thread(
            target=self._yield_idle_connections, args=(listener,), name="idle-yield", daemon=True
        )
        # Started with every signal blocked, which it inherits: SIGABRT must interrupt the main
        # thread, where the application runs (see _signal_thread).
        mask = signal.pthread_sigmask(signal.SIG_BLOCK, signal.valid_signals())
        try:
            watcher.start()
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, mask)
        idle_allowance = max(self.timeout, 2 * ACCEPT_TICK)
        # Right after a connection, another is usually queued (under load always): try
        # accept() before sleeping in select(), which saves a poll(2) per connection; and look
        # at the parent once per ACCEPT_TICK rather than once per connection.
        queued = False
        parent_seen = 0.0
        while True:
            if self._stopping:
                return
            now = time.monotonic()
            self.deadlines.idle(self.slot, now + idle_allowance)
            if now - parent_seen >= ACCEPT_TICK:
                parent_seen = now
                if os.getppid() != self.parent_pid:
                    log.warning("worker %d: parent %d is gone, exiting", self.pid,
                                self.parent_pid)
                    return
            if not queued and (not selector.select(ACCEPT_TICK) or self._stopping):
                continue
            queued = False
            try:
                sock, addr = listener.accept()
            except (BlockingIOError, InterruptedError, ConnectionAbortedError):
                continue  # a sibling was faster, or the client gave up in the queue
            except OSError as exc:
                if exc.errno in (errno.EINVAL, errno.EBADF):
                    return  # the parent shut the listener down: the server is stopping
                log.error("worker %d: accept failed: %s", self.pid, exc)
                time.sleep(ACCEPT_ERROR_PAUSE)
                continue
            # Blocking already: Python gives an accepted socket the default timeout (None),
            # and the Connection sets its deadlines in the kernel.
            self.serve_connection(sock, (addr[0], addr[1]))
            queued = True

    def _yield_idle_connections(self, listener: socket.socket) -> None:
        """Prefork, a thread: close the connection in hand if it sat idle for IDLE_YIELD while
        another connection waited in the backlog (see the module's docstring)."""
        backlog = _listener_poll(listener)  # poll objects are not shared between threads
        seen: tuple[int, int] | None = None  # (connection, requests served) first seen idle
        since = 0.0
        tick = int(IDLE_YIELD * 1000 / 2)
        while not self._stopping:
            try:
                if not backlog.poll(tick):
                    seen = None
                    continue
            except (OSError, ValueError):
                return  # the listener was closed: the worker is stopping
            conn = self._conn
            if conn is not None and conn.requests > 0 and conn.idle:
                key = (id(conn), conn.requests)
                now = time.monotonic()
                if seen != key:
                    seen, since = key, now
                elif now - since >= IDLE_YIELD:
                    log.debug("worker %d: %s idle while a connection waits: closing it",
                              self.pid, conn.peer)
                    conn.drain()
                    seen = None
            # The backlog stays readable until someone accepts: look again a little later.
            time.sleep(IDLE_YIELD / 4)

    def _handle(self, exchange: Exchange) -> None:
        request = exchange.request
        self.requests += 1
        backlog = self._backlog
        if backlog is not None and exchange.keep_alive and backlog.poll(0):
            exchange.keep_alive = False  # someone is queued: this connection ends here
        started = time.monotonic()
        self.deadlines.busy(self.slot, started + self.timeout,
                            f"{request.method} {logs.printable(request.target, 48)}")
        try:
            self.site(exchange)
        except WorkerTimeout:
            self._timed_out(exchange, time.monotonic() - started)
            raise
        finally:
            self.deadlines.idle(self.slot, time.monotonic() + self.between_requests)

    def _timed_out(self, exchange: Exchange, elapsed: float) -> None:
        request = exchange.request
        answered = "connection closed"
        if not exchange.head_sent:
            try:
                exchange.respond_error(GatewayTimeout(
                    f"the application did not answer within {self.timeout:g} s"))
                answered = "answered 504"
            except (ClientGone, OSError, RuntimeError):
                pass
        log.error(
            '%s "%s %s" stopped after %.1fs: past the %g s worker timeout; %s; worker %d exits',
            exchange.connection.peer, request.method, logs.printable(request.target),
            elapsed, self.timeout, answered, self.pid,
        )


def _listener_poll(listener: socket.socket) -> select.poll:
    """A poll object that says whether a connection waits in ``listener``'s backlog."""
    poller = select.poll()
    poller.register(listener.fileno(), select.POLLIN)
    return poller


def run_child(body: Callable[[], None]) -> int:
    """Run a worker's body and turn how it ended into an exit status (for os._exit)."""
    try:
        body()
    except WorkerTimeout:
        return EXIT_TIMEOUT
    except Exception:
        log.exception("worker %d failed", os.getpid())
        return EXIT_ERROR
    return EXIT_OK
