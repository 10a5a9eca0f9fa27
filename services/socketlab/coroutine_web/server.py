"""The accepting side of coroutine-web: one event loop, one listening socket, a task per connection.

:class:`CoroutineServer` hands the listening socket to ``loop.create_server``; asyncio accepts
(a burst at a time) and makes an :class:`~.connection.HTTPConnection` per connection, whose task
serves it. The server adds what asyncio does not do: the deadline sweeper, the connection bound
(past ``max_connections`` the oldest idle connection is closed to make room, else the newcomer
gets a fast 503) and the graceful stop.

Stop (SIGTERM or SIGINT, or :meth:`stop`): stop accepting, close the idle keep-alive
connections, let requests in flight finish for at most ``graceful_timeout`` seconds (their
responses say ``Connection: close``), then cut the rest off; the lifespan shutdown runs last.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Awaitable, Callable
from typing import Final

from .. import logs, status
from ..http.connection import DEFAULT_CONFIG, ConnectionConfig, Exchange
from .connection import SWEEP_INTERVAL, HTTPConnection

log = logging.getLogger("socketlab.coroutine_web")

MAX_CONNECTIONS: Final = 20000
"""Default bound on open connections: above the 10,000 idle ones the benchmark holds, below the
descriptor limit the server raises itself to (a connection is one descriptor)."""

GRACEFUL_TIMEOUT: Final = 12.0
"""Seconds requests in flight get after SIGTERM: longer than the longest /delay (10 s), shorter
than compose's stop_grace_period (15 s), so Docker never has to SIGKILL the server."""

OVERLOAD_RESPONSE: Final = (
    b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain; charset=utf-8\r\n"
    b"Retry-After: 1\r\nContent-Length: 30\r\nConnection: close\r\n\r\n"
    b"server busy, try again shortly\n"
)

Handler = Callable[[HTTPConnection, Exchange], Awaitable[None]]


class CoroutineServer:
    """Serves ``listener`` with ``handler`` on the running loop until :meth:`stop`."""

    def __init__(
        self,
        listener: socket.socket,
        handler: Handler,
        config: ConnectionConfig = DEFAULT_CONFIG,
        *,
        scoreboard: status.Scoreboard | None = None,
        max_connections: int = MAX_CONNECTIONS,
        graceful_timeout: float = GRACEFUL_TIMEOUT,
        backlog: int = 1024,
    ) -> None:
        self.listener = listener
        self.handler = handler
        self.config = config
        self.extra_fields = "".join(
            f"{name}: {value}\r\n" for name, value in config.extra_headers
        ).encode("latin-1")
        self.scoreboard = (
            scoreboard if scoreboard is not None else status.Scoreboard("coroutine-web")
        )
        self.max_connections = max_connections
        self.graceful_timeout = graceful_timeout
        self.backlog = backlog
        self.address = listener.getsockname()[:2]
        self.connections: set[HTTPConnection] = set()
        self.overloaded = 0  # connections answered 503, for tests and logs
        self.stop_reason = ""
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._started: asyncio.Event | None = None

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        assert self._loop is not None, "the server is not running"
        return self._loop

    # -- admission -------------------------------------------------------------------------------

    def refuse_new(self, conn: HTTPConnection) -> bool:
        """Over the bound: close the oldest idle connection for room, else answer 503 (True)."""
        if len(self.connections) <= self.max_connections:
            return False
        oldest: HTTPConnection | None = None
        for other in self.connections:
            if other is not conn and other.idle and (oldest is None or other.name < oldest.name):
                oldest = other
        if oldest is not None:
            log.info("%s: closing idle %s to make room", conn.peer, oldest.peer)
            oldest.close()
            return False
        self.overloaded += 1
        log.warning("%s refused with 503: %d connections open", conn.peer, len(self.connections))
        if conn.transport is not None:
            conn.transport.write(OVERLOAD_RESPONSE)
            conn.transport.close()
        return True

    # -- running ---------------------------------------------------------------------------------

    async def serve(self) -> None:
        """Accept and serve until :meth:`stop` is called, then stop gracefully and return."""
        self._loop = asyncio.get_running_loop()
        logs.ACCESS.flush_on(self._loop)  # one thread: the loop flushes the access log too
        self._stop = asyncio.Event()
        if self.stop_reason:
            self._stop.set()
        self.listener.setblocking(False)
        server = await self._loop.create_server(
            lambda: HTTPConnection(self), sock=self.listener, backlog=self.backlog
        )
        sweeper = self._loop.create_task(self._sweep(), name="deadline-sweeper")
        log.info(
            "listening on %s:%d (one thread, one event loop, max %d connections)",
            *self.address,
            self.max_connections,
        )
        try:
            await self._stop.wait()
        finally:
            server.close()  # stop accepting; the listening socket is closed
            await self._drain()
            sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sweeper
            logs.ACCESS.flush_on(None)
            log.info("stopped")

    async def _sweep(self) -> None:
        loop = self.loop
        while True:
            await asyncio.sleep(SWEEP_INTERVAL)
            now = loop.time()
            for conn in list(self.connections):
                if conn.deadline and now >= conn.deadline:
                    conn.expire(now)

    def stop(self, reason: str = "stop requested") -> None:
        """Ask the server to stop; call it on the loop (a signal handler added with
        ``loop.add_signal_handler`` is), or from another thread through :meth:`stop_threadsafe`."""
        self.stop_reason = reason
        if self._stop is not None:
            self._stop.set()

    def stop_threadsafe(self, reason: str = "stop requested") -> None:
        if self._loop is None:
            self.stop_reason = reason
            return
        with contextlib.suppress(RuntimeError):  # the loop is already closed
            self._loop.call_soon_threadsafe(self.stop, reason)

    async def _drain(self) -> None:
        conns = list(self.connections)
        log.info(
            "%s: stopping; %d connections open, waiting up to %.1fs for requests in flight",
            self.stop_reason,
            len(conns),
            self.graceful_timeout,
        )
        tasks = []
        for conn in conns:
            conn.draining = True
            if conn.idle:
                conn.close()
            if conn.task is not None and not conn.task.done():
                tasks.append(conn.task)
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=self.graceful_timeout)
            for task in pending:
                log.warning(
                    "%s: still busy after %.1fs, closing", task.get_name(), self.graceful_timeout
                )
                task.cancel()
            if pending:
                await asyncio.wait(pending, timeout=1.0)
        for conn in list(self.connections):
            conn.abort()
        await asyncio.sleep(0)  # let the transports' connection_lost callbacks run
