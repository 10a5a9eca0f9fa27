"""The connection ledger: one JSON line per finished TCP connection or UDP peer session.

Every service of the lab writes these lines on the logger named ``ledger`` (to stdout, like its
other logs, so `docker compose logs` has them), and `make ledger` joins them into one table of
who talked to whom. Each line says what *that side* saw: its own address (``local``), the
peer's (``remote``), the service, process and thread, how many requests or datagrams, the bytes
each way, when it started and how long it lasted. Where two sides of one conversation disagree
about an address (a published port through docker-proxy, the impair relay), the table shows it.

A line looks like this (one line in the log; wrapped here)::

    2026-12-01 21:40:02,118 INFO ledger {"ledger": "tcp", "service": "threaded-web",
      "role": "server", "local": "10.30.80.10:8080", "remote": "10.30.80.40:52814",
      "pid": 1, "thread": "worker-2", "requests": 3, "bytes_in": 411, "bytes_out": 9120,
      "start": "2026-12-01T21:40:01.874Z", "duration_ms": 243.6}

The ledger is on by default; every service has the setting ``ledger`` (``--no-ledger``,
``SOCKETLAB_LEDGER=0``) to turn it off, and :func:`configure` applies it.

Importing this module does not import :mod:`logging`: the browser's ``--json`` page load writes
its lines to stderr itself (:class:`_StderrLines`, the very text logging's handler wrote), and
imports logging only if it logs something else (issue 17). Everywhere else the ``ledger`` logger
(:data:`LOGGER`) is made at its first use, and writes as before.
"""

from __future__ import annotations

import _thread  # not threading: see _thread_name
import os
import sys
import time
from collections.abc import Callable, Iterator

from . import jsontext, logs
from .settings import Setting
from .structs import field, record

TYPE_CHECKING = False  # typing is for the type checker only: see socketlab.structs
if TYPE_CHECKING:
    import logging
    from typing import Any, Final

    LOGGER: logging.Logger  # made by _make_logger at its first use: see __getattr__ below

SETTING: Final = Setting(
    "ledger",
    bool,
    True,
    "write one JSON line per finished connection or UDP peer session on the 'ledger' logger",
)

_service = "-"


_logger: logging.Logger | None = None  # the "ledger" logger, once _make_logger made it


def _make_logger() -> logging.Logger:
    global _logger
    import logging

    _logger = logging.getLogger("ledger")
    return _logger


if not TYPE_CHECKING:  # for mypy, LOGGER is the attribute declared above

    def __getattr__(name: str) -> Any:
        """``ledger.LOGGER``: the ``ledger`` logger, made (logging imported) when first asked."""
        if name == "LOGGER":
            return _logger or _make_logger()
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class _StderrLines:
    """The ledger's lines on stderr, written as logging's ``StreamHandler`` with ``LOG_FORMAT``
    wrote them -- the same text, one write and flush per line -- without importing logging.

    Writes to whatever ``sys.stderr`` is at the time of each line (tests replace it).
    """

    def __init__(self, on: bool) -> None:
        self.on = on
        # threading.Lock: a line at a time, as the handler's lock made it
        self._lock = _thread.allocate_lock()

    def write(self, message: str) -> None:
        line = f"{logs.asctime(time.time())} INFO ledger {message}\n"
        with self._lock:
            try:
                stream = sys.stderr
                stream.write(line)
                stream.flush()
            except (OSError, ValueError):
                pass  # stderr closed or gone (logging's handleError printed nothing there either)


_stderr: _StderrLines | None = None
"""Set by ``configure(to_stderr=True)``: the lines go there, not to the logger."""


def configure(service: str, enabled: bool = True, *, to_stderr: bool = False) -> None:
    """Name the service the lines are for, and turn the ledger on or off for this process.

    The lines go where the service's other logs go (stdout), or to stderr with ``to_stderr``
    (the browser's ``--json`` output owns stdout), then written without logging.
    """
    global _service, _stderr  # one service per process, set once by its main()
    _service = service
    if to_stderr:
        _stderr = _StderrLines(enabled)
        return
    _stderr = None
    logger = _logger or _make_logger()
    logger.disabled = not enabled
    # Its own level: a service that logs only warnings (the browser) still writes its ledger.
    logger.setLevel(logs.INFO)
    logger.handlers[:] = []
    logger.propagate = True


def enabled() -> bool:
    stderr = _stderr
    if stderr is not None:
        return stderr.on
    logger = _logger or _make_logger()
    return not logger.disabled and logger.isEnabledFor(logs.INFO)


def show(addr: tuple[Any, ...] | None) -> str:
    """``host:port`` (``[host]:port`` for IPv6), or ``-`` when the address is unknown."""
    if not addr:
        return "-"
    host, port = str(addr[0]), addr[1]
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


# The last whole second stamped and its text, as one tuple: threads swap it, never half of it.
_second: list[tuple[float, str]] = [(-1.0, "")]


def stamp(wall: float) -> str:
    """A wall-clock time as ISO 8601 in UTC with milliseconds (``2026-12-01T21:40:01.874Z``):
    what ``datetime.fromtimestamp(wall, UTC)`` shows (microseconds rounded half to even, then
    cut to milliseconds), its text up to the second made once per second."""
    whole, fraction = divmod(wall, 1.0)
    micros = round(fraction * 1_000_000)
    if micros >= 1_000_000:
        whole, micros = whole + 1, micros - 1_000_000
    second, text = _second[0]
    if second != whole:
        text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole))
        _second[0] = (whole, text)
    return f"{text}.{micros // 1000:03d}Z"


_MAIN_THREAD: Final = _thread.get_ident()  # this module is imported on the main thread


def _thread_name() -> str:
    """``threading.current_thread().name``, without importing threading where nothing has.

    A process that has not imported :mod:`threading` has started no thread of it: its own
    threads, if any, came from :mod:`_thread` (the browser's: see socketlab.browser.threads),
    and they have no names; the main thread is threading's ``MainThread``."""
    threading = sys.modules.get("threading")
    if threading is not None:
        name: str = threading.current_thread().name
        return name
    ident = _thread.get_ident()
    return "MainThread" if ident == _MAIN_THREAD else f"thread {ident}"


_pid = [os.getpid()]  # getpid(2) once per process, not per line
os.register_at_fork(after_in_child=lambda: _pid.__setitem__(0, os.getpid()))


def write(kind: str, role: str, fields: dict[str, Any]) -> None:
    """Write one ledger line: ``kind`` is ``tcp`` or ``udp``, ``role`` server, client or relay."""
    if not enabled():
        return
    line = {"ledger": kind, "service": _service, "role": role, "pid": _pid[0]}
    line.setdefault("thread", _thread_name())
    line.update(fields)
    text = jsontext.dumps(line)  # json.dumps's text, without importing json (and re)
    # A line per connection, so per request without keep-alive: through logging's record, its
    # lock and a write(2) each, it cost a prefork worker as much as the request itself.
    stderr = _stderr
    if stderr is not None:
        stderr.write(text)
        return
    logger = _logger or _make_logger()
    fast = logs.ACCESS.target(logger)
    if fast is not None:
        fast.write(text, logger.name)
    else:
        logger.info("%s", text)


@record
class Tally:
    """What one TCP connection carried, counted by whoever owns the socket.

    Made when the connection starts; :meth:`close` writes its line once (a second call is a
    no-op, so every path that ends a connection may call it).
    """

    local: tuple[Any, ...] | None
    remote: tuple[Any, ...] | None
    role: str = "server"
    thread: str = field(default_factory=lambda: _thread_name())
    bytes_in: int = 0
    bytes_out: int = 0
    requests: int = 0
    started_wall: float = field(default_factory=time.time)
    started: float = field(default_factory=time.monotonic)
    closed: bool = False

    def __init__(  # written out: one per connection on the servers, as fast as generated code
        self,
        local: tuple[Any, ...] | None,
        remote: tuple[Any, ...] | None,
        role: str = "server",
        thread: str | None = None,
        bytes_in: int = 0,
        bytes_out: int = 0,
        requests: int = 0,
        started_wall: float | None = None,
        started: float | None = None,
        closed: bool = False,
    ) -> None:
        self.local = local
        self.remote = remote
        self.role = role
        self.thread = _thread_name() if thread is None else thread
        self.bytes_in = bytes_in
        self.bytes_out = bytes_out
        self.requests = requests
        self.started_wall = time.time() if started_wall is None else started_wall
        self.started = time.monotonic() if started is None else started
        self.closed = closed

    def close(self, **extra: Any) -> None:
        if self.closed:
            return
        self.closed = True
        if not enabled():
            return  # the ledger is off: its line would be built (stamp, addresses) to be dropped
        write(
            "tcp",
            self.role,
            {
                "thread": self.thread,
                "local": show(self.local),
                "remote": show(self.remote),
                "requests": self.requests,
                "bytes_in": self.bytes_in,
                "bytes_out": self.bytes_out,
                "start": stamp(self.started_wall),
                "duration_ms": round((time.monotonic() - self.started) * 1000, 1),
                **extra,
            },
        )


@record
class _Peer:
    started_wall: float
    started: float
    last: float
    datagrams_in: int = 0
    datagrams_out: int = 0
    bytes_in: int = 0
    bytes_out: int = 0
    extra: dict[str, Any] = field(default_factory=dict)


class UdpSessions:
    """UDP has no connections: a peer session is every datagram to and from one address until
    that address has been silent for ``idle`` seconds (or the socket closes).

    The socket loop calls :meth:`received` and :meth:`sent` per datagram and :meth:`expire`
    now and then; each ended session becomes one ledger line. ``local`` is the socket's own
    address. ``clock`` is injectable so that tests need not sleep.
    """

    def __init__(
        self,
        local: tuple[Any, ...],
        idle: float,
        role: str = "server",
        clock: Callable[[], float] = time.monotonic,
        on_end: Callable[[tuple[Any, ...]], None] | None = None,
    ) -> None:
        self.local = local
        self.idle = idle
        self.role = role
        self.clock = clock
        self.on_end = on_end
        self.peers: dict[tuple[Any, ...], _Peer] = {}
        self._next_expiry = clock() + idle

    def _peer(self, addr: tuple[Any, ...]) -> _Peer:
        now = self.clock()
        peer = self.peers.get(addr)
        if peer is None:
            peer = self.peers[addr] = _Peer(time.time(), now, now)
        peer.last = now
        return peer

    def received(self, addr: tuple[Any, ...], size: int) -> None:
        peer = self._peer(addr)
        peer.datagrams_in += 1
        peer.bytes_in += size

    def sent(self, addr: tuple[Any, ...], size: int) -> None:
        peer = self._peer(addr)
        peer.datagrams_out += 1
        peer.bytes_out += size

    def note(self, addr: tuple[Any, ...], **fields: Any) -> None:
        """Add fields to the line of ``addr``'s session (the relay names its upstream leg)."""
        self._peer(addr).extra.update(fields)

    def expire(self) -> None:
        """End the sessions of peers silent for ``idle`` seconds (cheap when nothing is due)."""
        now = self.clock()
        if now < self._next_expiry:
            return
        self._next_expiry = now + min(self.idle, 1.0)
        for addr in [a for a, p in self.peers.items() if now - p.last >= self.idle]:
            self._end(addr, "idle")

    def close(self) -> None:
        """End every open session (the socket is closing)."""
        for addr in list(self.peers):
            self._end(addr, "closed")

    def _end(self, addr: tuple[Any, ...], why: str) -> None:
        peer = self.peers.pop(addr)
        if self.on_end is not None:
            self.on_end(addr)
        write(
            "udp",
            self.role,
            {
                "local": show(self.local),
                "remote": show(addr),
                "datagrams_in": peer.datagrams_in,
                "datagrams_out": peer.datagrams_out,
                "bytes_in": peer.bytes_in,
                "bytes_out": peer.bytes_out,
                "start": stamp(peer.started_wall),
                "duration_ms": round((peer.last - peer.started) * 1000, 1),
                "ended": why,
                **peer.extra,
            },
        )

    def __iter__(self) -> Iterator[tuple[Any, ...]]:
        return iter(self.peers)
