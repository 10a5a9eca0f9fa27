"""threaded-web: the lab's static HTTP/1.1 server on raw sockets: a poller and a thread pool.

Run it from the repository root::

    PYTHONPATH=services python3 -m socketlab.threaded_web \
        --host 127.0.0.1 --port 8080 --root services/www

The main thread runs a poller (:mod:`socketlab.http.poller`, ``selectors``): it accepts, and
holds every connection that is waiting for its client -- still sending its request head or
body, or idle between requests on a kept-alive connection -- at the cost of a descriptor and a
few kilobytes, not a thread. When a whole request is in hand, the connection goes to a worker
thread (made on demand up to ``--max-threads``, then reused), which serves that request and any
pipelined ones already received, and gives the connection back to the poller. So a thread is
busy only while a request is worked on, slow or silent clients cost no thread, and the accept
loop never waits for one: requests queue for the next free thread. A GET or HEAD of a small
file already in memory is the exception: the poller answers it itself, with non-blocking sends
(what the socket does not take it sends when the client reads), since such an answer never
waits and handing it to a thread and back costs more than the answer (``--no-poller-answers``:
every request goes to a thread). Past
``--max-connections`` the oldest idle connection is closed to make room for a new one, and when
none is idle the newcomer gets ``503 Service Unavailable`` with Retry-After at once.

SIGTERM or SIGINT: stop accepting, let requests in flight finish (for at most
``--graceful-timeout`` seconds), close idle keep-alive connections, exit 0.
"""

from __future__ import annotations

import logging
import os
import queue
import signal
import socket
import sys
import threading
import time
from collections.abc import Sequence
from types import FrameType
from typing import Final

from .. import ledger, logs, settings, status, whoami
from ..http import errors
from ..http.connection import DEFAULT_CONFIG, ConnectionConfig, Exchange, Handler
from ..http.parser import Request
from ..http.poller import SWEEP_INTERVAL, ConnectionPoller, Held
from ..http.settings import (
    connection_config,
    max_connections_setting,
    server_settings,
    status_allow_setting,
)
from ..listener import open_listener, raise_descriptor_limit
from ..settings import Setting
from ..static import CACHE_CONTROL_SETTING, StaticFiles, parse_cache_rules

log = logging.getLogger("socketlab.threaded_web")

SERVICE: Final = "threaded-web"

MAX_THREADS: Final = 128
"""Default bound on worker threads: the most requests worked on at once. A thread is held only
while a request is served, so this bounds CPU-bound concurrency, not clients."""

MAX_CONNECTIONS: Final = 20000
"""Default bound on open connections (all held by the poller, or served by a thread). 10,000
idle keep-alive connections must fit; the descriptor limit may set a lower one."""

DESCRIPTOR_RESERVE: Final = 64
"""Descriptors kept for everything but clients: the listener, the poller, files being sent."""

DRAIN_GRACE: Final = 0.1
"""Seconds a stopping server still reads idle connections before it closes them (see _drain)."""

GRACEFUL_TIMEOUT: Final = 5.0
"""Seconds in-flight requests get after SIGTERM; Docker's stop timeout (10 s) leaves room."""

SETTINGS: Final = (
    *server_settings(host="0.0.0.0", port=8080, graceful_timeout=GRACEFUL_TIMEOUT),
    Setting(
        "root",
        str,
        "services/www",
        "document root: the static site to serve",
        metavar="DIR",
        check=settings.check_directory,
    ),
    CACHE_CONTROL_SETTING,
    Setting(
        "max_threads",
        int,
        MAX_THREADS,
        "most requests worked on at once (one worker thread each)",
        minimum=1,
        maximum=10000,
        metavar="N",
    ),
    max_connections_setting(MAX_CONNECTIONS),
    Setting(
        "poller_answers",
        bool,
        True,
        "the poller answers small files already in memory itself, in its own thread (off: "
        "every request goes to a worker thread)",
    ),
    status_allow_setting(),
    logs.level_setting(),
)


WHOAMI_MAX_DELAY: Final = 2.0
"""Longest ``/whoami?delay=<seconds>``: a request that is worked on for a while, so that
requests in progress at once are seen on threads of their own (exercise 06)."""


def whoami_delay(query: str) -> float:
    """The ``delay`` of a /whoami query (0 when absent); HTTPError 400 when it is not a number
    from 0 to :data:`WHOAMI_MAX_DELAY`."""
    for part in query.split("&"):
        name, _, value = part.partition("=")
        if name == "delay":
            try:
                seconds = float(value)
            except ValueError:
                seconds = -1.0
            if not 0 <= seconds <= WHOAMI_MAX_DELAY:
                raise errors.BadRequest(f"delay must be from 0 to {WHOAMI_MAX_DELAY:g} seconds")
            return seconds
    return 0.0


class LabSite:
    """What threaded-web answers: the instruments, then the static site."""

    def __init__(
        self,
        static: StaticFiles,
        scoreboard: status.Scoreboard | None = None,
        status_allow: status.Networks | None = None,
    ) -> None:
        self.static = static
        self.scoreboard = scoreboard
        self.status_allow = (
            status_allow if status_allow is not None else status.parse_allow(status.DEFAULT_ALLOW)
        )

    def answers_at_once(self, request: Request) -> bool:
        """True for a request that can be answered without waiting for anything: a GET or HEAD
        of a small static file whose bytes are in memory. The poller answers those itself
        (see ThreadedServer); /whoami, /healthz, /server-status, errors and every other file
        are a worker thread's."""
        if request.method not in ("GET", "HEAD") or request.has_body:
            return False
        path = request.path
        if path in ("/whoami", "/healthz", status.PATH):
            return False
        return self.static.in_memory(path)

    def __call__(self, exchange: Exchange) -> None:
        path = exchange.request.path
        if path == "/whoami":
            delay = whoami_delay(exchange.request.query)
            if delay:
                time.sleep(delay)  # in this worker thread: the poller and the others go on
            whoami.respond(exchange, SERVICE)
        elif path == "/healthz":
            exchange.respond(200, [("Content-Type", "text/plain; charset=utf-8")], b"ok\n")
        elif path == status.PATH and self.scoreboard is not None:
            status.respond(exchange, self.scoreboard, self.status_allow)
        else:
            self.static.serve(exchange)


class ThreadedServer:
    """Accepts on ``listener``; holds waiting connections in a poller; a pool of worker threads
    serves the requests (see the module docstring)."""

    def __init__(
        self,
        listener: socket.socket,
        handler: Handler,
        config: ConnectionConfig = DEFAULT_CONFIG,
        *,
        max_threads: int = MAX_THREADS,
        max_connections: int = MAX_CONNECTIONS,
        graceful_timeout: float = GRACEFUL_TIMEOUT,
        scoreboard: status.Scoreboard | None = None,
        poller_answers: bool = True,
    ) -> None:
        self.listener = listener
        self.handler = handler
        self.config = config
        self.max_threads = max_threads
        self.max_connections = max_connections
        self.graceful_timeout = graceful_timeout
        self.address = listener.getsockname()[:2]
        self.scoreboard = scoreboard if scoreboard is not None else status.Scoreboard(SERVICE)
        self.poller = ConnectionPoller(
            listener,
            handler,
            config,
            self._dispatch,
            self.scoreboard,
            max_connections=max_connections,
            answers_here=getattr(handler, "answers_at_once", None) if poller_answers else None,
        )
        self._work: queue.SimpleQueue[Held | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._idle_threads = 0
        self._working: set[Held] = set()
        self._stopping = False
        self.stop_reason = ""

    @property
    def overloaded(self) -> int:
        """Connections answered 503 because even the poller was full (for tests and logs)."""
        return self.poller.overloaded

    # -- the poller (the main thread) ------------------------------------------------------------

    def serve_forever(self) -> None:
        """Accept and serve until :meth:`stop` is called, then drain and return."""
        log.info(
            "listening on %s:%d (a poller holds up to %d connections; max %d worker threads)",
            *self.address,
            self.max_connections,
            self.max_threads,
        )
        try:
            while not self._stopping:
                self.poller.poll(SWEEP_INTERVAL)
        finally:
            self._drain()

    def _dispatch(self, held: Held) -> None:
        """A complete request is in hand: give the connection to a free thread (or a new one);
        when all are busy it waits in the queue. Never blocks."""
        with self._lock:
            self._working.add(held)
            if self._stopping:
                held.conn.draining = True
            if self._idle_threads > 0:
                self._idle_threads -= 1
            elif len(self._threads) < self.max_threads:
                thread = threading.Thread(
                    target=self._worker, name=f"worker-{len(self._threads) + 1}", daemon=True
                )
                self._threads.append(thread)
                thread.start()
        self._work.put(held)

    def _worker(self) -> None:
        name = threading.current_thread().name
        while True:
            held = self._work.get()
            if held is None:
                return
            held.slot.worker = f"thread={name}"
            held.conn.tally.thread = name  # the ledger names the last thread that served it
            try:
                held.conn.serve()
            finally:
                with self._lock:
                    self._working.discard(held)
                    self._idle_threads += 1
                self.poller.give_back(held)

    # -- stopping --------------------------------------------------------------------------------

    def stop(self, reason: str = "stop requested") -> None:
        """Ask the server to stop; safe to call from a signal handler or another thread."""
        self.stop_reason = reason
        self._stopping = True
        self.poller.draining = True  # what the poller answers from now on ends its connection
        # Requests being worked on end with Connection: close from now on, not only once the
        # poller drains (a worker may build its answer's head before that). No lock here: this
        # may run in a signal handler on the thread that holds it; list() of a set is atomic.
        for held in list(self._working):
            held.conn.draining = True
        self.poller.wake()

    def _drain(self) -> None:
        poller = self.poller
        poller.stop_accepting()
        poller.accept_pending()  # handshakes the kernel completed are not reset by the close
        self.listener.close()
        with self._lock:
            working = list(self._working)
            for held in working:
                held.conn.drain()  # the request in flight ends with Connection: close
        log.info(
            "%s: stopping; %d connections open (%d in a request), waiting up to %.1fs for "
            "requests in flight",
            self.stop_reason,
            len(poller.held),
            len(working),
            self.graceful_timeout,
        )
        deadline = time.monotonic() + self.graceful_timeout
        # A moment for requests already on their way (sent, not yet delivered by the kernel
        # under load) to arrive on idle connections: they are served, with Connection: close.
        grace = time.monotonic() + DRAIN_GRACE
        while time.monotonic() < grace:
            poller.poll(DRAIN_GRACE / 2)
        while True:
            poller.close_idle()  # idle ones now; a request that already arrived is served
            with self._lock:
                busy = bool(self._working)
            if (not busy and not poller.held) or time.monotonic() >= deadline:
                break
            poller.poll(SWEEP_INTERVAL)
        with self._lock:
            left = list(self._working)
        for held in left:
            log.warning(
                "%s: still busy after %.1fs, closing", held.conn.peer, self.graceful_timeout
            )
            held.conn.close()
        poller.close_all()
        for _ in self._threads:
            self._work.put(None)
        for thread in self._threads:
            thread.join(max(0.0, deadline + 1 - time.monotonic()))
        log.info("stopped")


def descriptor_bound(max_connections: int) -> int:
    """Raise the descriptor limit as far as the hard limit allows; the connection bound that
    then fits (logged when the limit, not the setting, is what stops the server)."""
    soft, hard = raise_descriptor_limit()
    fits = max(1, soft - DESCRIPTOR_RESERVE)
    if fits < max_connections:
        log.warning(
            "the descriptor limit (soft %d, hard %d) holds %d connections, not the %d of "
            "max_connections: it is what stops this server (raise it with ulimit -n or "
            "docker run --ulimit nofile=...)",
            soft,
            hard,
            fits,
            max_connections,
        )
        return fits
    log.info("descriptor limit %d (hard %d)", soft, hard)
    return max_connections


def main(argv: Sequence[str] | None = None) -> int:
    args = settings.load(
        SETTINGS,
        argv,
        prog="python3 -m socketlab.threaded_web",
        description=__doc__.split("\n\n")[0],
    )
    logs.setup(args.log_level)
    ledger.configure(SERVICE, args.ledger)
    try:
        static = StaticFiles(args.root, parse_cache_rules(args.cache_control))
    except OSError as exc:
        print(
            f"threaded_web: error: document root {args.root!r}: {exc.strerror or exc}",
            file=sys.stderr,
        )
        return 2
    try:
        listener = open_listener(args.host, args.port, args.backlog)
    except OSError as exc:
        print(
            f"threaded_web: error: cannot listen on {args.host}:{args.port}: {exc.strerror}",
            file=sys.stderr,
        )
        return 1
    board = status.Scoreboard(SERVICE)
    server = ThreadedServer(
        listener,
        LabSite(static, board, status.parse_allow(args.status_allow)),
        connection_config(args),
        max_threads=args.max_threads,
        max_connections=descriptor_bound(args.max_connections),
        graceful_timeout=args.graceful_timeout,
        scoreboard=board,
        poller_answers=args.poller_answers,
    )

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        server.stop(signal.Signals(signum).name)  # only record it: the poller acts

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    log.info("serving %s (pid %d)", static.root, os.getpid())
    server.serve_forever()
    return 0
