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

import _socket  # not socket: see transport
import collections
import contextlib
import itertools
import time
from collections.abc import Collection

from ..structs import record
from . import errors
from .limits import MAX_CONNECTIONS_PER_HOST, Deadline
from .loop import Loop, Wait
from .threads import start
from .transport import (
    Address,
    Connection,
    Resolver,
    connect,
    is_ip_literal,
    literal_address,
    resolve,
    system_resolver,
)

HostKey = tuple[str, int]


@record
class Lease:
    """A connection handed to one request, and what it cost to get it (milliseconds, -1 when
    the step did not happen)."""

    conn: Connection
    reused: bool
    blocked_ms: float
    dns_ms: float = -1.0
    connect_ms: float = -1.0

    def __init__(  # written out: one per request, as fast as generated code
        self,
        conn: Connection,
        reused: bool,
        blocked_ms: float,
        dns_ms: float = -1.0,
        connect_ms: float = -1.0,
    ) -> None:
        self.conn = conn
        self.reused = reused
        self.blocked_ms = blocked_ms
        self.dns_ms = dns_ms
        self.connect_ms = connect_ms


class ConnectionPool:
    """Connections by (host, port): at most ``max_per_host`` open at once for each.

    Used from the browser's event loop, on one thread: nothing here needs a lock. Only
    :meth:`abort` may be called from another thread.
    """

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
        self._idle: dict[HostKey, list[Connection]] = {}
        self._open: dict[HostKey, int] = {}
        # Requests waiting for a connection, first come first served. A released connection
        # (or the room a closed one leaves) is handed to the first of them directly.
        self._waiters: dict[HostKey, collections.deque[Wait[Connection | None]]] = {}
        self._dns: dict[HostKey, Wait[list[tuple[int, Address]]]] = {}
        self.loop: Loop | None = None  # the browser's, for the lookup threads to report to
        self._ids = itertools.count(1)
        self.opened: list[Connection] = []
        self._closed = False

    async def acquire(
        self, host: str, port: int, deadline: Deadline, *, fresh: bool = False
    ) -> Lease:
        """A connection for one exchange. ``fresh`` skips idle ones (a retry after a stale one).

        Raises :class:`~.errors.PageTimeout` when no connection frees up before the deadline,
        or the resolver's / connect's error.
        """
        key = (host, port)
        started = time.perf_counter()
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
                return Lease(conn, reused=True, blocked_ms=_since(started))
            if self._open.get(key, 0) < self.max_per_host:
                self._open[key] = self._open.get(key, 0) + 1
                break
            if fresh and idle:
                # Room for a fresh connection: retire the oldest idle one.
                idle.pop(0).close()
                self._open[key] -= 1
                continue
            handed = await self._wait_for_release(key, deadline)
            if self.closing:  # closed while we waited
                self._pass_on(key, handed)
                raise errors.Cancelled("the browser is closing")
            if handed is None:
                break  # a connection closed: its room is ours (already counted as open)
            if not fresh and not handed.is_stale():
                return Lease(handed, reused=True, blocked_ms=_since(started))
            handed.close()  # dead, or a retry that wants a new one: take its room instead
            break
        blocked = _since(started)
        try:
            addresses, dns_ms = await self._resolve(key, deadline)
            connect_start = time.perf_counter()
            conn = await connect(
                next(self._ids),
                host,
                port,
                addresses,
                timeout=self.connect_timeout,
                deadline=deadline,
            )
            connect_ms = _since(connect_start)
        except BaseException:
            self._free_room(key)
            raise
        self.opened.append(conn)
        return Lease(conn, reused=False, blocked_ms=blocked, dns_ms=dns_ms, connect_ms=connect_ms)

    async def _wait_for_release(self, key: HostKey, deadline: Deadline) -> Connection | None:
        """Wait in line for ``key``'s next released connection (or the room of a closed one)."""
        left = deadline.remaining()
        if left <= 0:
            raise self._timed_out(key, deadline)
        waiter: Wait[Connection | None] = Wait()
        line = self._waiters.setdefault(key, collections.deque())
        line.append(waiter)
        try:
            return await waiter.get(left)
        except BaseException as exc:  # timed out, or cancelled (the browser is stopping)
            if waiter.done:
                # Handed a connection in the same instant the wait was given up: pass it on
                # rather than lose it.
                self._pass_on(key, waiter.result())
            else:
                waiter.abandoned = True
                with contextlib.suppress(ValueError):
                    line.remove(waiter)
            if isinstance(exc, TimeoutError):
                raise self._timed_out(key, deadline) from None
            raise

    def _pass_on(self, key: HostKey, handed: Connection | None) -> None:
        if handed is None:
            self._free_room(key)
        else:
            self.release(handed, reusable=True)

    @property
    def closing(self) -> bool:
        """True once :meth:`close` or :meth:`abort` was called."""
        return self._closed

    def _timed_out(self, key: HostKey, deadline: Deadline) -> errors.PageTimeout:
        return errors.PageTimeout(
            f"the page's deadline of {deadline.seconds:g} s ran out while waiting "
            f"for one of the {self.max_per_host} connections to {key[0]}:{key[1]}"
        )

    async def _resolve(
        self, key: HostKey, deadline: Deadline
    ) -> tuple[list[tuple[int, Address]], float]:
        """The addresses for ``key``'s host, looked up once per host for the browser's life.

        An IP address is its own answer, whatever the resolver. A name is looked up by the
        resolver on a thread of its own (getaddrinfo blocks), so that a slow or silent DNS
        server holds up only the requests for that host; the wait is bounded by the page's
        deadline. Requests that arrive while the lookup runs share it and report no DNS time
        of their own.
        """
        known = self._dns.get(key)
        if known is not None and not _failed(known):
            addresses = await self._await_lookup(known, key, deadline)
            return addresses, -1.0
        started = time.perf_counter()
        lookup: Wait[list[tuple[int, Address]]] = Wait()
        if is_ip_literal(key[0]):
            lookup.set(literal_address(*key))
        else:
            self._look_up(lookup, key)
        self._dns[key] = lookup
        addresses = await self._await_lookup(lookup, key, deadline)
        return addresses, _since(started)

    def _look_up(self, lookup: Wait[list[tuple[int, Address]]], key: HostKey) -> None:
        """Look ``key``'s host up on a daemon thread (one that never returns, for a DNS server
        that does not answer, must not keep the program from exiting); its answer settles
        ``lookup`` on the loop's thread."""
        loop = self.loop
        assert loop is not None, "the browser gives its pool the loop before the first request"

        def work() -> None:
            try:
                answer = resolve(self.resolver, *key)
            except errors.BrowserError as exc:
                error: errors.BrowserError = exc
            except Exception as exc:  # noqa: BLE001 -- a resolver's bug: an answer, not a hang
                error = errors.UnknownHost(f"cannot resolve {key[0]!r}: {exc!r}")
            else:
                with contextlib.suppress(RuntimeError):  # the loop is closed: nobody waits
                    loop.call_soon_threadsafe(lambda: lookup.set(answer))
                return
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(lambda: lookup.fail(error))

        start(work)  # a daemon thread: a lookup that never ends does not hold up the exit

    @staticmethod
    async def _await_lookup(
        lookup: Wait[list[tuple[int, Address]]], key: HostKey, deadline: Deadline
    ) -> list[tuple[int, Address]]:
        if lookup.done:
            return lookup.result()
        try:
            # Giving up waiting leaves the lookup to the others who share it.
            return await lookup.get(deadline.bound(deadline.seconds))
        except TimeoutError:
            raise errors.PageTimeout(
                f"the page's deadline of {deadline.seconds:g} s ran out while looking up {key[0]!r}"
            ) from None

    def release(self, conn: Connection, reusable: bool) -> None:
        """Give ``conn`` back after an exchange; it is closed unless ``reusable``. The first
        request waiting for its host gets it (or, when it is closed, its room)."""
        key = (conn.host, conn.port)
        keep = reusable and not conn.closed and not self._closed
        if not keep:
            conn.close()
            self._free_room(key)
            return
        line = self._waiters.get(key)
        while line:
            waiter = line.popleft()
            if not waiter.done and not waiter.abandoned:
                waiter.set(conn)
                return
        self._idle.setdefault(key, []).append(conn)

    def _free_room(self, key: HostKey) -> None:
        """A connection to ``key`` is gone: its room goes to the first waiting request."""
        line = self._waiters.get(key)
        while line:
            waiter = line.popleft()
            if not waiter.done and not waiter.abandoned:
                waiter.set(None)
                return
        self._open[key] -= 1

    def take_idle(self, ids: Collection[int]) -> list[Connection]:
        """Remove and return the idle connections among ``ids`` that are still open (to probe
        each of them); the caller releases them again."""
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
        """Shut down every open connection, leased ones included, from any thread. The browser
        cancels its requests in flight too (:meth:`.Browser.abort`); their owners close them."""
        self._closed = True
        for conn in list(self.opened):
            if not conn.closed:
                with contextlib.suppress(OSError):
                    conn.sock.shutdown(_socket.SHUT_RDWR)

    def close(self) -> None:
        """Close every idle connection; connections still leased are closed on release."""
        self._closed = True
        for key, idle in self._idle.items():
            for conn in idle:
                conn.close()
                self._open[key] -= 1
            idle.clear()
        # A lookup still running is given up on: its thread ends alone, and the loop it would
        # report to is closed (call_soon_threadsafe then raises, and the thread ignores it).


def _failed(lookup: Wait[list[tuple[int, Address]]]) -> bool:
    """A lookup that ended without addresses: the next request for the host tries again."""
    if not lookup.done:
        return False
    try:
        lookup.result()
    except BaseException:  # noqa: BLE001 -- any error: the lookup failed
        return True
    return False


def _since(started: float) -> float:
    return (time.perf_counter() - started) * 1000
