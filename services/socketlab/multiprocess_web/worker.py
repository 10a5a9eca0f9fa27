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

Prefork: a worker holds its connections in a poller (:mod:`socketlab.http.poller`): a
connection still sending its head or its body, or idle between requests, waits there and costs
the worker nothing; a request reaches the application only once its head and its whole body
are in hand (the body in memory, or spooled to a temporary file when long), so ``wsgi.input``
never waits on a slow client. The worker then serves that request in its main thread, and the
next ready one after it. A worker busy in a long request does not accept; its siblings do.
Its sends never block either (the poller's ``defer_sends``): what a slow reader does not take
at once waits in the connection's outbox (:mod:`socketlab.http.outbox`, bounded) and the poller
sends it while the worker serves others. So a worker is held only while an application runs.

Stopping: SIGTERM (or SIGINT) is not handled asynchronously at all. Both are blocked in the main
thread, and a small thread takes them with ``sigwait()`` and asks the connection in flight to
drain (``Connection.drain()``: the current request finishes with ``Connection: close``, an idle
keep-alive connection is closed at once) -- the same call threaded-web makes from its main
thread. So a signal never interrupts an application in the middle of its work, and the main
thread needs no signal handler that does anything but raise :class:`WorkerTimeout`.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import threading
import time
from collections.abc import Callable
from types import FrameType
from typing import Final

from .. import logs, status
from ..http import errors
from ..http.connection import (
    ClientGone,
    Connection,
    ConnectionConfig,
    Exchange,
    Handler,
    log_access,
)
from ..http.poller import ConnectionPoller, Held
from ..listener import tune_accepted
from .board import PUBLISH_INTERVAL, WorkerBoard
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

DRAIN_GRACE: Final = 0.1
"""Seconds a stopping worker still reads its idle connections before it closes them: a request
sent just before the stop, not yet delivered by a loaded kernel, is then answered."""

TIMEOUT_ANSWER_WAIT: Final = 1.0
"""Seconds a worker past its deadline waits for its client to take the 504 before it exits."""

STOP_SIGNALS: Final = frozenset({signal.SIGTERM, signal.SIGINT})


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
        board: WorkerBoard | None = None,
        scoreboard: status.Scoreboard | None = None,
        max_connections: int = 1000,
    ) -> None:
        self.pid = os.getpid()
        self.board = board
        self.scoreboard = scoreboard if scoreboard is not None else status.Scoreboard("worker")
        self.max_connections = max_connections
        self._poller: ConnectionPoller | None = None
        self._published = 0.0
        self._fork_slot: status.Slot | None = None
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
        self._stopping = False

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
        if self._poller is not None:
            self._poller.wake()

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
        self._fork_slot = self.scoreboard.open(conn.peer, self.label)
        self._publish(force=True)
        try:
            conn.serve()
        finally:
            with self._lock:
                self._conn = None
            self.scoreboard.close(self._fork_slot)
            self._fork_slot = None
            if self.board is not None:
                self.board.vacate(self.slot)

    def serve_listener(self, listener: socket.socket) -> None:
        """Accept and serve connections on a listener shared with sibling workers, until stopped.

        Every worker polls the same socket and all of them wake up for a new connection; one
        wins accept(), the others get EAGAIN (the "thundering herd", harmless for a handful of
        workers). Waiting connections stay in this worker's poller; ready requests are served
        here, in the main thread (where SIGABRT can interrupt the application).
        """
        poller = ConnectionPoller(
            listener,
            self._handle,
            self.config,
            self._serve_now,
            self.scoreboard,
            max_connections=self.max_connections,
            worker=self.label,
            serial=True,
            defer_sends=True,
        )
        self._poller = poller
        idle_allowance = max(self.timeout, 2 * ACCEPT_TICK)
        parent_seen = 0.0
        # On the board from the start: a worker whose first pass takes a long request would
        # otherwise publish its row only after it, and /server-status would not list it.
        self._publish(force=True)
        try:
            while not self._stopping:
                now = time.monotonic()
                self.deadlines.idle(self.slot, now + idle_allowance)
                if now - parent_seen >= ACCEPT_TICK:
                    parent_seen = now
                    if os.getppid() != self.parent_pid:
                        log.warning(
                            "worker %d: parent %d is gone, exiting", self.pid, self.parent_pid
                        )
                        return
                poller.poll(min(ACCEPT_TICK, PUBLISH_INTERVAL))
                self._publish()
                if poller.listener_closed:
                    break  # the parent shut the listener down: the server is stopping
            self._drain(poller)
        finally:
            poller.close_all()
            self._poller = None

    def _serve_now(self, held: Held) -> None:
        """The poller has a complete request on ``held``: serve it (and the ready ones after
        it) in this thread, then give the connection back."""
        conn = held.conn
        with self._lock:
            self._conn = conn
            if self._stopping:
                conn.drain()
        held.slot.worker = self.label
        try:
            conn.serve()
        finally:
            with self._lock:
                self._conn = None
            assert self._poller is not None
            self._poller.give_back(held)

    def _drain(self, poller: ConnectionPoller) -> None:
        """Stopping: accept nothing more, close idle connections, finish what has arrived."""
        poller.stop_accepting()
        # What waits in the backlog was accepted by the kernel: take it to serve it, then shut
        # the listener down, which refuses new connections for every process that holds it.
        poller.accept_pending()
        with contextlib.suppress(OSError):
            poller.listener.shutdown(socket.SHUT_RDWR)
        deadline = time.monotonic() + self.between_requests
        grace = time.monotonic() + DRAIN_GRACE  # requests already on their way may arrive
        while poller.held and time.monotonic() < grace:
            poller.poll(DRAIN_GRACE / 2)
        while poller.held and time.monotonic() < deadline:
            poller.close_idle()
            if not poller.held:
                break
            poller.poll(0.05)

    def publish(self) -> None:
        """Put this child's row on the worker board now."""
        self._publish(force=True)

    def _publish(self, force: bool = False) -> None:
        """Put this child's counts (fork mode: its one connection) on the worker board."""
        board = self.board
        if board is None:
            return
        now = time.monotonic()
        if not force and now - self._published < PUBLISH_INTERVAL:
            return
        self._published = now
        fork_slot = self._fork_slot
        if fork_slot is not None:
            board.publish(
                self.slot,
                self.pid,
                {fork_slot.state: 1},
                self.requests,
                fork_slot.opened,
                fork_slot.peer,
            )
        else:
            board.publish(self.slot, self.pid, self.scoreboard.counts(), self.requests)

    def _handle(self, exchange: Exchange) -> None:
        request = exchange.request
        self.requests += 1
        started = time.monotonic()
        # As it is: the table cuts it to its TARGET_BYTES, and the parent escapes it when it
        # logs it (%r), so that this, once per request, is only an f-string.
        self.deadlines.busy(self.slot, started + self.timeout, f"{request.method} {request.target}")
        fork_slot = self._fork_slot
        if fork_slot is not None:
            fork_slot.requests += 1
            fork_slot.set(status.WORKING)
            self._publish(force=True)
        try:
            self.site(exchange)
        except WorkerTimeout:
            self._timed_out(exchange, time.monotonic() - started)
            raise
        finally:
            self.deadlines.idle(self.slot, time.monotonic() + self.between_requests)
            if fork_slot is not None:
                fork_slot.set(status.IDLE)
                self._publish(force=True)

    def _timed_out(self, exchange: Exchange, elapsed: float) -> None:
        request = exchange.request
        answered = "connection closed"
        if not exchange.head_sent:
            try:
                exchange.respond_error(
                    GatewayTimeout(f"the application did not answer within {self.timeout:g} s")
                )
                conn = exchange.connection
                if isinstance(conn, Connection):  # the worker exits: no poller sends the rest
                    conn.wait_sent(TIMEOUT_ANSWER_WAIT)
                answered = "answered 504"
            except (ClientGone, OSError, RuntimeError):
                pass
        # The connection never gets to log this exchange: the worker exits from here.
        log_access(exchange, self.label)
        log.error(
            '%s "%s %s" stopped after %.1fs: past the %g s worker timeout; %s; worker %d exits',
            exchange.connection.peer,
            request.method,
            logs.printable(request.target),
            elapsed,
            self.timeout,
            answered,
            self.pid,
        )


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
