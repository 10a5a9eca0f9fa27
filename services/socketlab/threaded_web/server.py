"""threaded-web: the lab's static HTTP/1.1 server on raw sockets, a thread per connection.

Run it from the repository root::

    PYTHONPATH=services python3 -m socketlab.threaded_web \
        --host 127.0.0.1 --port 8080 --root services/www

The main thread only accepts. Each accepted connection is served by one worker thread for its
whole life (keep-alive included); threads are created on demand up to ``--max-threads`` and then
reused. When every thread is busy, new connections wait in the listen backlog for up to
``--overload-wait`` seconds and are then answered ``503 Service Unavailable`` with Retry-After,
so the server degrades instead of falling over.

SIGTERM or SIGINT: stop accepting, let requests in flight finish (for at most
``--graceful-timeout`` seconds), close idle keep-alive connections, exit 0.
"""

from __future__ import annotations

import contextlib
import logging
import os
import queue
import selectors
import signal
import socket
import sys
import threading
import time
from collections.abc import Sequence
from types import FrameType
from typing import Final

from .. import ledger, logs, settings, whoami
from ..http import errors
from ..http.connection import DEFAULT_CONFIG, Connection, ConnectionConfig, Exchange, Handler
from ..http.settings import connection_config, server_settings
from ..listener import open_listener, tune_accepted
from ..settings import Setting
from ..static import StaticFiles

log = logging.getLogger("socketlab.threaded_web")

SERVICE: Final = "threaded-web"

MAX_THREADS: Final = 128
"""Default bound on worker threads (= connections served at once). Each idle keep-alive client
holds a thread, so the bound is well above a browser's 6 connections times a classroom."""

OVERLOAD_WAIT: Final = 1.0
"""Seconds a new connection may wait for a free thread before it gets 503."""

GRACEFUL_TIMEOUT: Final = 5.0
"""Seconds in-flight requests get after SIGTERM; Docker's stop timeout (10 s) leaves room."""

OVERLOAD_RESPONSE: Final = errors.busy_response()
"""What a connection gets when no thread became free within ``overload_wait``."""

SETTINGS: Final = (
    *server_settings(host="0.0.0.0", port=8080, graceful_timeout=GRACEFUL_TIMEOUT),
    Setting("root", str, "services/www", "document root: the static site to serve", metavar="DIR"),
    Setting(
        "max_threads",
        int,
        MAX_THREADS,
        "most connections served at once (one thread each)",
        minimum=1,
        maximum=10000,
        metavar="N",
    ),
    Setting(
        "overload_wait",
        float,
        OVERLOAD_WAIT,
        "seconds a connection waits for a free thread before getting 503",
        minimum=0,
        maximum=60,
        metavar="SECONDS",
    ),
    logs.level_setting(),
)


class LabSite:
    """What threaded-web answers: the instruments, then the static site."""

    def __init__(self, static: StaticFiles) -> None:
        self.static = static

    def __call__(self, exchange: Exchange) -> None:
        path = exchange.request.path
        if path == "/whoami":
            whoami.respond(exchange, SERVICE)
        elif path == "/healthz":
            exchange.respond(200, [("Content-Type", "text/plain; charset=utf-8")], b"ok\n")
        else:
            self.static.serve(exchange)


class ThreadedServer:
    """Accepts on ``listener`` and serves each connection in a worker thread."""

    def __init__(
        self,
        listener: socket.socket,
        handler: Handler,
        config: ConnectionConfig = DEFAULT_CONFIG,
        *,
        max_threads: int = MAX_THREADS,
        overload_wait: float = OVERLOAD_WAIT,
        graceful_timeout: float = GRACEFUL_TIMEOUT,
    ) -> None:
        self.listener = listener
        self.handler = handler
        self.config = config
        self.max_threads = max_threads
        self.overload_wait = overload_wait
        self.graceful_timeout = graceful_timeout
        self.address = listener.getsockname()[:2]
        self._work: queue.SimpleQueue[tuple[socket.socket, tuple[str, int]] | None] = (
            queue.SimpleQueue()
        )
        self._lock = threading.Lock()
        self._freed = threading.Condition(self._lock)
        self._threads: list[threading.Thread] = []
        self._idle = 0
        self._active: set[Connection] = set()
        self._stopping = False
        self.stop_reason = ""
        self._wake_r, self._wake_w = socket.socketpair()
        self.overloaded = 0  # connections answered 503, for tests and logs

    # -- accepting -------------------------------------------------------------------------------

    def serve_forever(self) -> None:
        """Accept until :meth:`stop` is called, then drain and return."""
        selector = selectors.DefaultSelector()
        selector.register(self.listener, selectors.EVENT_READ)
        selector.register(self._wake_r, selectors.EVENT_READ)
        self.listener.setblocking(False)
        log.info("listening on %s:%d (max %d threads)", *self.address, self.max_threads)
        try:
            while not self._stopping:
                for key, _ in selector.select():
                    if key.fileobj is self.listener:
                        self._accept_ready()
        finally:
            selector.close()
            self._drain()

    def _accept_ready(self) -> None:
        # Accept everything that is queued: one select() per burst instead of per connection.
        while not self._stopping:
            try:
                sock, addr = self.listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                # EMFILE/ENFILE/ENOBUFS: out of descriptors or memory. Log, breathe, go on.
                log.error("accept failed: %s", exc)
                time.sleep(0.05)
                return
            sock.setblocking(True)
            tune_accepted(sock)
            if not self._dispatch(sock, (addr[0], addr[1])):
                self._refuse(sock, addr)

    def _dispatch(self, sock: socket.socket, addr: tuple[str, int]) -> bool:
        """Hand the connection to an idle thread, a new one, or wait briefly for one."""
        deadline = time.monotonic() + self.overload_wait
        with self._lock:
            while True:
                if self._idle > 0:
                    self._idle -= 1
                    break
                if len(self._threads) < self.max_threads:
                    thread = threading.Thread(
                        target=self._worker, name=f"worker-{len(self._threads) + 1}", daemon=True
                    )
                    self._threads.append(thread)
                    thread.start()
                    break
                left = deadline - time.monotonic()
                if left <= 0 or self._stopping:
                    return False
                self._freed.wait(left)
        self._work.put((sock, addr))
        return True

    def _refuse(self, sock: socket.socket, addr: tuple[str, int]) -> None:
        self.overloaded += 1
        log.warning(
            "%s:%d refused with 503: all %d threads busy", addr[0], addr[1], self.max_threads
        )
        try:
            sock.settimeout(0.5)
            sock.sendall(OVERLOAD_RESPONSE)
            sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        finally:
            sock.close()

    def _worker(self) -> None:
        while True:
            item = self._work.get()
            if item is None:
                return
            sock, addr = item
            conn = Connection(sock, addr, self.handler, self.config)
            with self._lock:
                self._active.add(conn)
                if self._stopping:
                    conn.drain()
            log.debug("%s:%d connected", *addr)
            try:
                conn.serve()
            finally:
                log.debug("%s:%d closed after %d requests", addr[0], addr[1], conn.requests)
                with self._lock:
                    self._active.discard(conn)
                    self._idle += 1
                    self._freed.notify()

    # -- stopping --------------------------------------------------------------------------------

    def stop(self, reason: str = "stop requested") -> None:
        """Ask the server to stop; safe to call from a signal handler or another thread."""
        self.stop_reason = reason
        self._stopping = True
        with contextlib.suppress(OSError):
            self._wake_w.send(b"x")

    def _drain(self) -> None:
        self.listener.close()
        with self._lock:
            active = list(self._active)
            self._freed.notify_all()
        log.info(
            "%s: stopping; %d connections open, waiting up to %.1fs for requests in flight",
            self.stop_reason,
            len(active),
            self.graceful_timeout,
        )
        for conn in active:
            conn.drain()
        for _ in self._threads:
            self._work.put(None)
        deadline = time.monotonic() + self.graceful_timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        with self._lock:
            left = list(self._active)
        for conn in left:
            log.warning("%s: still busy after %.1fs, closing", conn.peer, self.graceful_timeout)
            conn.close()
        self._wake_r.close()
        self._wake_w.close()
        log.info("stopped")


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
        static = StaticFiles(args.root)
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
    server = ThreadedServer(
        listener,
        LabSite(static),
        connection_config(args),
        max_threads=args.max_threads,
        overload_wait=args.overload_wait,
        graceful_timeout=args.graceful_timeout,
    )

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        server.stop(signal.Signals(signum).name)  # only record it: the accept loop acts

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    log.info("serving %s (pid %d)", static.root, os.getpid())
    server.serve_forever()
    return 0

