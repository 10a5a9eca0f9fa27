"""Keep-alive connections, reused and bounded per host the way browsers do for HTTP/1.1.

A request asks the pool for a connection to its host:port. The pool hands out an idle one if it
has one (the most recently used first: it is the least likely to have been closed by the
server's idle timeout), opens a new one while fewer than ``max_per_host`` are open, and
otherwise makes the request wait (queue, "blocked" in HAR terms) until one is released or the
page's deadline runs out. After the exchange the connection comes back: kept if the response
allowed it, closed otherwise.

Names are resolved once per host and remembered for the browser's life, as browsers cache
DNS answers; the first connection's entry carries the DNS time, later ones report none (-1).
"""

from __future__ import annotations

import contextlib
import itertools
import socket
import threading
import time
from collections.abc import Collection
from dataclasses import dataclass

from . import errors
from .limits import MAX_CONNECTIONS_PER_HOST, Deadline
from .transport import Address, Connection, Resolver, connect, resolve, system_resolver

HostKey = tuple[str, int]


@dataclass
class Lease:
    """A connection handed to one request, and what it cost to get it (milliseconds, -1 when
    the step did not happen)."""

    conn: Connection
    reused: bool
    blocked_ms: float
    dns_ms: float = -1.0
    connect_ms: float = -1.0


class ConnectionPool:
    """Connections by (host, port): at most ``max_per_host`` open at once for each."""

    def __init__(
        self,
        *,
        max_per_host: int = MAX_CONNECTIONS_PER_HOST,
        connect_timeout: float,
        resolver: Resolver = system_resolver,
    ) -> None:
        self.max_per_host = max_per_host
        self.connect_timeout = connect_timeout
        self.resolver = resolver
        self._cond = threading.Condition()
        self._idle: dict[HostKey, list[Connection]] = {}
        self._open: dict[HostKey, int] = {}
        self._dns: dict[HostKey, list[tuple[int, Address]]] = {}
        self._dns_locks: dict[HostKey, threading.Lock] = {}
        self._ids = itertools.count(1)
        self.opened: list[Connection] = []
        self._closed = False

    def acquire(self, host: str, port: int, deadline: Deadline, *, fresh: bool = False) -> Lease:
        """A connection for one exchange. ``fresh`` skips idle ones (a retry after a stale one).

        Raises :class:`~.errors.PageTimeout` when no connection frees up before the deadline,
        or the resolver's / connect's error.
        """
        key = (host, port)
        started = time.perf_counter()
        with self._cond:
            while True:
                if self._closed:
                    raise errors.Cancelled("the browser is closing")
                idle = self._idle.get(key, [])
                while idle and not fresh:
                    conn = idle.pop()
                    if conn.is_stale():
                        conn.close()
                        self._open[key] -= 1
                        continue
                    blocked = (time.perf_counter() - started) * 1000
                    return Lease(conn, reused=True, blocked_ms=blocked)
                if self._open.get(key, 0) < self.max_per_host:
                    self._open[key] = self._open.get(key, 0) + 1
                    break
                if fresh and idle:
                    # Room for a fresh connection: retire the oldest idle one.
                    idle.pop(0).close()
                    self._open[key] -= 1
                    continue
                left = deadline.remaining()
                if left <= 0:
                    raise errors.PageTimeout(
                        f"the page's deadline of {deadline.seconds:g} s ran out while waiting "
                        f"for one of the {self.max_per_host} connections to {host}:{port}"
                    )
                self._cond.wait(left)
        blocked = (time.perf_counter() - started) * 1000
        try:
            addresses, dns_ms = self._resolve(key)
            connect_start = time.perf_counter()
            conn = connect(
                next(self._ids),
                host,
                port,
                addresses,
                timeout=self.connect_timeout,
                deadline=deadline,
            )
            connect_ms = (time.perf_counter() - connect_start) * 1000
        except BaseException:
            with self._cond:
                self._open[key] -= 1
                self._cond.notify()
            raise
        with self._cond:
            self.opened.append(conn)
        return Lease(conn, reused=False, blocked_ms=blocked, dns_ms=dns_ms, connect_ms=connect_ms)

    def _resolve(self, key: HostKey) -> tuple[list[tuple[int, Address]], float]:
        with self._cond:
            lock = self._dns_locks.setdefault(key, threading.Lock())
        # One lookup per host even when six threads open connections at once.
        with lock:
            cached = self._dns.get(key)
            if cached is not None:
                return cached, -1.0
            started = time.perf_counter()
            addresses = resolve(self.resolver, key[0], key[1])
            self._dns[key] = addresses
            return addresses, (time.perf_counter() - started) * 1000

    def release(self, conn: Connection, reusable: bool) -> None:
        """Give ``conn`` back after an exchange; it is closed unless ``reusable``."""
        key = (conn.host, conn.port)
        with self._cond:
            if reusable and not conn.closed and not self._closed:
                self._idle.setdefault(key, []).append(conn)
            else:
                conn.close()
                self._open[key] -= 1
            self._cond.notify()

    def take_idle(self, ids: Collection[int]) -> list[Connection]:
        """Remove and return the idle connections among ``ids`` that are still open (to probe
        each of them); the caller releases them again."""
        with self._cond:
            out: list[Connection] = []
            for key, idle in self._idle.items():
                keep: list[Connection] = []
                for conn in idle:
                    if conn.id not in ids:
                        keep.append(conn)
                    elif conn.is_stale():
                        conn.close()
                        self._open[key] -= 1
                    else:
                        out.append(conn)
                idle[:] = keep
            return sorted(out, key=lambda c: c.id)

    def abort(self) -> None:
        """Shut down every open connection, leased ones included, from any thread: a request
        blocked in recv() returns at once (the browser is stopping). Their owners close them."""
        with self._cond:
            self._closed = True
            for conn in self.opened:
                if not conn.closed:
                    with contextlib.suppress(OSError):
                        conn.sock.shutdown(socket.SHUT_RDWR)
            self._cond.notify_all()

    def close(self) -> None:
        """Close every idle connection; connections still leased are closed on release."""
        with self._cond:
            self._closed = True
            for key, idle in self._idle.items():
                for conn in idle:
                    conn.close()
                    self._open[key] -= 1
                idle.clear()
            self._cond.notify_all()
