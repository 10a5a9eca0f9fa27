"""Logging for operators: one configuration for every service, and escaping of peer bytes.

Anything that came from the network (a request target, a header, a nickname, a datagram) goes
through :func:`printable` before it reaches a log line, so a peer cannot forge log lines with
CR/LF or drive the operator's terminal with escape sequences.

Importing this module does not import :mod:`logging` (with it come traceback, linecache,
tokenize, textwrap, string, weakref, warnings: some 30 million instructions, issue 17): the
browser's ``--json`` page load writes its ledger lines without it (see :mod:`socketlab.ledger`).
:func:`setup` imports it, as does everything that logs a record.
"""

from __future__ import annotations

import atexit
import os
import sys
import time
from collections import deque

from .settings import Setting

TYPE_CHECKING = False  # typing is for the type checker only: see socketlab.structs
if TYPE_CHECKING:
    import asyncio  # only for the annotation: the servers without a loop never import asyncio
    import logging
    import signal as _signal  # the same functions, typed: typeshed has no _signal
    import threading  # imported by the first flusher: the browser never starts one
    from typing import Final, TextIO
else:
    import _signal  # not signal, whose enums cost every start: see socketlab.browser.cli

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"

# Printable ASCII stays as it is; backslash is escaped too so the escaping is unambiguous.
_SAFE = {c: chr(c) for c in range(0x20, 0x7F) if c != 0x5C}
_SAFE_BYTES = bytes(_SAFE)  # what bytes.translate() deletes: what is left needs escaping


def printable(data: bytes | str, limit: int = 200) -> str:
    """Return ``data`` as one safe log token: control and non-ASCII bytes as ``\\xNN``.

    Text longer than ``limit`` characters is cut and marked with ``...`` so a huge peer value
    cannot flood the log.
    """
    if isinstance(data, str):
        if len(data) <= limit and data.isascii() and data.isprintable() and "\\" not in data:
            return data  # what the bytes path below gives for it, without encode, search, decode
        raw = data.encode("utf-8", "surrogateescape")
    else:
        raw = data
    if len(raw) <= limit and not bytes(raw).translate(None, _SAFE_BYTES):
        return raw.decode("ascii")  # the common case, without a per-byte loop
    cut = len(raw) > limit
    out = "".join(_SAFE.get(b) or f"\\x{b:02x}" for b in raw[:limit])
    return out + "..." if cut else out


def setup(level: str = "info") -> None:
    """Log to stdout (what `docker logs` shows), one line per record; access lines go through
    :data:`ACCESS` (batched, see :class:`AccessWriter`) as long as this handler is the only one."""
    import logging

    handler = _stdout_handler(sys.stdout)
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    ACCESS.attach(handler)


INFO: Final = 20
"""``logging.INFO``, without importing logging for it (its value is fixed by the docs)."""


ACCESS_LOGGER: Final = "socketlab.access"
"""The logger of every server's access lines (tests capture it with caplog)."""

FLUSH_INTERVAL: Final = 0.05
"""Seconds an access line may wait before it is written: lines are written in batches (one
write(2) for many) instead of one write and flush per request."""

MAX_PENDING: Final = 4096
"""Access lines waiting at most; past it the line's writer writes them itself (stdout blocked,
e.g. a pipe nobody drains, then slows requests down as before instead of growing memory)."""


def _stdout_handler(stream: TextIO) -> logging.StreamHandler[TextIO]:
    """stdout's handler: before a record's line, the access lines logged before it. (Its class
    is made here, at setup's call, so that importing this module does not import logging.)"""
    import logging

    class _Handler(logging.StreamHandler):  # type: ignore[type-arg]
        def emit(self, record: logging.LogRecord) -> None:
            ACCESS.drain_into(self.stream)  # under this handler's lock (Handler.handle holds it)
            super().emit(record)

    return _Handler(stream)


_DIGITS = "0123456789"
_MILLIS: Final = [f",{a}{b}{c}" for a in _DIGITS for b in _DIGITS for c in _DIGITS]
"""The ``,mmm`` of ``asctime`` for each millisecond: a lookup instead of a format per line
(built from digits: a thousand ``:03d`` formats cost 3.5M instructions at every start)."""


# The last whole second formatted and its text, as one tuple: threads swap it, never half of it.
_second: list[tuple[int, str]] = [(-1, "")]


def _new_second(second: int) -> str:
    """The text of ``asctime`` up to the second (local time), kept for the lines to come."""
    text = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(second))
    _second[0] = (second, text)
    return text


def asctime(now: float) -> str:
    """``now`` (a ``time.time()``) as ``%(asctime)s`` shows it with logging's default Formatter
    (``2026-12-01 21:40:02,118``, local time), its text up to the second made once a second."""
    second = int(now)
    cached, text = _second[0]
    if cached != second:
        text = _new_second(second)
    return text + _MILLIS[int((now - second) * 1000)]  # logging's msecs, as asctime shows it


class AccessWriter:
    """The access log's hot path: the line ``logging`` would write, without its per-record cost.

    A record through ``logging`` costs a LogRecord, a Formatter pass with strftime, the handler's
    lock and a flush (a write(2)) per request, which the threads of a server then wait for in
    turn. When the root logger's only handler is the one :func:`setup` made and nothing else is
    attached to the access logger, :meth:`write` formats the very same line (``LOG_FORMAT``, the
    time prefix cached per second) and queues it, taking no lock. The connection ledger's lines
    (:mod:`socketlab.ledger`, one per connection: one per request without keep-alive) take the
    same path, checked against their own logger. Queued lines are written:

    * at most :data:`FLUSH_INTERVAL` after the first of them, in one write: by a flusher
      thread, or by an event loop's timer where a one-thread server said so (:meth:`flush_on`);
    * before any other record's line (the handler writes them first: the order stays);
    * by the writer itself past :data:`MAX_PENDING` lines;
    * at exit (``atexit``: SIGTERM makes every server return from main), before a ``fork()``
      (else the child would write the parent's lines again), and by :meth:`flush`, which a
      prefork worker's exit path calls before ``os._exit``.

    Otherwise (caplog in tests, a custom configuration) :meth:`target` is None and the caller
    logs a record as before: the same text reaches the same place either way.
    """

    def __init__(self) -> None:
        self._handler: logging.StreamHandler[TextIO] | None = None
        # The loggers target() checks, set by attach(): logging is imported by then.
        self._root: logging.Logger | None = None
        self._logger: logging.Logger | None = None
        self._pending: deque[str] = deque()  # append and popleft are atomic: no lock
        self._dirty = False
        self._wake: threading.Event  # made with the flusher, which the first line starts
        self._flusher_pid = 0
        self._loop: asyncio.AbstractEventLoop | None = None

    def flush_on(self, loop: asyncio.AbstractEventLoop | None) -> None:
        """Flush on ``loop``'s timers instead of a thread of this writer's own (None: back to
        the thread). coroutine-web is one thread by design; a flusher would be a second."""
        self.flush()
        self._loop = loop

    def attach(self, handler: logging.StreamHandler[TextIO]) -> None:
        import logging

        self.flush()
        self._root = logging.getLogger()
        self._logger = logging.getLogger(ACCESS_LOGGER)
        self._handler = handler

    def target(self, logger: logging.Logger | None = None) -> AccessWriter | None:
        """Self when the fast path writes exactly what logging would for an INFO record of
        ``logger`` (the access logger when None; see the class docstring), else None."""
        handler = self._handler
        root = self._root
        if handler is None or root is None:
            return None  # not attached: nothing to write to (and logging perhaps not imported)
        if logger is None:
            logger = self._logger
            assert logger is not None  # set with root by attach
        root_handlers = root.handlers
        if (
            len(root_handlers) != 1
            or root_handlers[0] is not handler
            or logger.handlers
            or not logger.propagate
            or logger.filters
            or root.filters
            or handler.filters
            or handler.level > INFO
            or not logger.isEnabledFor(INFO)  # False too for a disabled logger
        ):
            return None
        return self

    def write(self, message: str, name: str = ACCESS_LOGGER) -> None:
        """Queue one INFO line of the logger ``name`` (``message`` is what logging's
        ``%(message)s`` would be); only for a logger :meth:`target` accepted."""
        # asctime(), inline: a function call more per line is a measurable part of the
        # log's cost, which issue 17 bounds at 25% of a request's.
        now = time.time()
        second = int(now)
        cached, prefix = _second[0]
        if cached != second:
            prefix = _new_second(second)
        millis = _MILLIS[int((now - second) * 1000)]  # logging's msecs, as asctime shows it
        pending = self._pending
        pending.append(f"{prefix}{millis} INFO {name} {message}\n")
        if len(pending) > MAX_PENDING:
            self.flush()
        elif not self._dirty:
            self._dirty = True
            loop = self._loop
            if loop is not None and loop.is_running():
                # Safe from any thread; a write on the loop's own costs one wake-up byte a batch.
                loop.call_soon_threadsafe(loop.call_later, FLUSH_INTERVAL, self.flush)
                return
            if self._flusher_pid != os.getpid():
                self._start_flusher()
            self._wake.set()

    def drain_into(self, stream: TextIO) -> None:
        """Write the queued lines to ``stream`` (the caller holds the handler's lock)."""
        pending = self._pending
        if pending:
            popleft = pending.popleft
            stream.write("".join([popleft() for _ in range(len(pending))]))

    def flush(self) -> None:
        """Write the queued lines now (safe from any thread; a no-op when none are queued)."""
        handler = self._handler
        if handler is None:
            return
        with handler.lock:  # type: ignore[union-attr]  # made by Handler.__init__
            self._dirty = False
            try:
                self.drain_into(handler.stream)
                handler.stream.flush()
            except (OSError, ValueError):
                pass  # stdout closed or gone: nothing more can be written there

    def _start_flusher(self) -> None:
        # One per process: after a fork the parent's thread is not there (see _after_fork).
        import threading  # here: a process that writes no access log never needs it

        self._flusher_pid = os.getpid()
        self._wake = threading.Event()
        threading.Thread(target=self._flusher, name="access-log-flusher", daemon=True).start()

    def _flusher(self) -> None:
        # Signals stay with the threads that handle them (a prefork worker waits for SIGTERM in
        # a thread of its own, with it blocked everywhere else).
        _signal.pthread_sigmask(_signal.SIG_BLOCK, _signal.valid_signals())
        wake = self._wake
        while True:
            wake.wait()
            time.sleep(FLUSH_INTERVAL)  # let a batch gather
            wake.clear()
            self.flush()

    def _after_fork(self) -> None:
        self._flusher_pid = 0  # the child starts its own flusher with its first line
        self._dirty = False


ACCESS: Final = AccessWriter()
"""The process's access log writer (attached by :func:`setup`)."""

atexit.register(ACCESS.flush)
os.register_at_fork(before=ACCESS.flush, after_in_child=ACCESS._after_fork)


LEVELS = ("debug", "info", "warning", "error")


def level_setting(default: str = "info") -> Setting:
    """The ``log_level`` row of every service's settings table."""
    return Setting("log_level", str, default, "logging level", choices=LEVELS)
